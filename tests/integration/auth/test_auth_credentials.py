"""API keys through the CLI (shown once, last word; listed without secret; revoked -> 401) and
OIDC JWTs against a JWKS file (accepted; bad signature, wrong audience, expired refused)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from libs.auth.guard import Authenticator
from libs.auth.orm import api_keys
from libs.auth.settings import AuthSettings
from libs.platform.auth_cli import admin_key_lines, read_api_key
from libs.platform.cli import app as cli
from libs.runtime.http import create_app
from libs.runtime.settings import PlatformSettings
from libs.runtime.transport.memory import InMemoryPlatform
from tests.support.auth import bearer, database_url


@pytest.fixture
def platform(make_platform) -> InMemoryPlatform:  # type: ignore[no-untyped-def]
    built: InMemoryPlatform = make_platform(["aging"])
    return built


def run(url: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["auth", "key", *args], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result


def test_cli_key_create_list_revoke(platform: InMemoryPlatform) -> None:
    ctx = platform.context("aging")
    url = database_url(ctx)
    created = run(url, "create", "--tenant", "acme", "--role", "bi", "--name", "tableau")
    token = created.output.split()[-1]
    assert token.startswith("cbz_")
    key_id = token.split("_")[1]
    client = TestClient(create_app(ctx))
    assert client.get("/v1/buckets", headers=bearer(token)).json()["tenant"] == "acme"

    listed = [json.loads(line) for line in run(url, "list", "--tenant", "acme").output.splitlines()]
    assert [(k["key_id"], k["role"], k["name"], k["revoked_at"]) for k in listed] == [
        (key_id, "bi", "tableau", None)
    ]
    assert listed[0]["last_used_at"] is not None
    assert token.split("_", 2)[2] not in run(url, "list").output
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(api_keys.c.secret_sha256)).scalars().all()
    assert token.split("_", 2)[2] not in stored  # only the digest is kept

    run(url, "revoke", key_id)
    refused = client.get("/v1/buckets", headers=bearer(token))
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert json.loads(run(url, "list").output.splitlines()[0])["revoked_at"] is not None


def test_cli_refuses_an_unknown_role(platform: InMemoryPlatform) -> None:
    url = database_url(platform.context("aging"))
    result = CliRunner().invoke(
        cli, ["auth", "key", "create", "--tenant", "t", "--role", "root"], env={"DATABASE_URL": url}
    )
    assert result.exit_code == 2 and "unknown role" in result.output


# --- OIDC ------------------------------------------------------------------------------------

ISSUER = "https://idp.example.test/realms/cobranza"
AUDIENCE = "cobranza-api"


def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return private_key()


@pytest.fixture
def jwt_client(platform: InMemoryPlatform, signing_key: rsa.RSAPrivateKey, tmp_path: Path) -> TestClient:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    settings = AuthSettings(
        oidc_jwks_file=jwks, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_roles_claim="realm.roles"
    )
    ctx = platform.context("aging")
    ctx.extras["authenticator"] = Authenticator(ctx.engine, settings)
    return TestClient(create_app(ctx))


def token(key: rsa.RSAPrivateKey, **changes: Any) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ana@example.test",
        "tenant": "acme",
        "realm": {"roles": ["agent", "offline_access"]},
        "iat": now,
        "exp": now + timedelta(minutes=5),
        **changes,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def test_a_valid_jwt_carries_role_and_tenant(jwt_client: TestClient, signing_key: rsa.RSAPrivateKey) -> None:
    got = jwt_client.get("/v1/buckets", headers=bearer(token(signing_key)))
    assert got.status_code == 200 and got.json()["tenant"] == "acme"
    # an agent may not read the audit log: the role came from the token
    assert jwt_client.get("/v1/audit", headers=bearer(token(signing_key))).status_code == 403


@pytest.mark.parametrize(
    "bad",
    [
        {"aud": "someone-else"},
        {"iss": "https://evil.example.test"},
        {"exp": datetime.now(UTC) - timedelta(hours=1)},
        {"realm": {"roles": ["root"]}},
        {"tenant": None},
    ],
    ids=["wrong audience", "wrong issuer", "expired", "no known role", "no tenant"],
)
def test_bad_jwts_are_401(
    jwt_client: TestClient, signing_key: rsa.RSAPrivateKey, bad: dict[str, Any]
) -> None:
    got = jwt_client.get("/v1/buckets", headers=bearer(token(signing_key, **bad)))
    assert got.status_code == 401 and got.headers["www-authenticate"] == "Bearer"


def test_a_jwt_signed_by_another_key_is_401(jwt_client: TestClient) -> None:
    assert jwt_client.get("/v1/buckets", headers=bearer(token(private_key()))).status_code == 401


def test_the_embedded_admin_key_is_made_once_and_kept_0600(
    platform: InMemoryPlatform, tmp_path: Path
) -> None:
    ctx = platform.context("aging")
    url = database_url(ctx)
    first = admin_key_lines(url, tmp_path)
    path = tmp_path / "admin.key"
    token = path.read_text().strip()
    assert path.stat().st_mode & 0o777 == 0o600
    assert first[0].split()[-1] == token and "new" in first[1]
    again = admin_key_lines(url, tmp_path)
    assert again[0].split()[-1] == token and "new" not in again[1]  # reused, no second key
    assert TestClient(create_app(ctx)).get("/v1/buckets", headers=bearer(token)).status_code == 200
    assert read_api_key(None, PlatformSettings(state_dir=tmp_path)) == token
    assert read_api_key("cbz_explicit", PlatformSettings(state_dir=tmp_path)) == "cbz_explicit"
