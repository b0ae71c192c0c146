"""The dashboard asks for a login: the form takes an API key (or a bearer token), keeps it in an
HttpOnly SameSite=Strict cookie, and the dashboard accepts that cookie."""

from __future__ import annotations

from fastapi.testclient import TestClient

from libs.auth.guard import COOKIE
from libs.runtime.http import create_app
from libs.runtime.transport.memory import InMemoryPlatform
from tests.support.auth import new_key


def test_login_form_cookie_and_dashboard(make_platform) -> None:  # type: ignore[no-untyped-def]
    platform: InMemoryPlatform = make_platform(["reporting"])
    ctx = platform.context("reporting")
    browser = TestClient(create_app(ctx), follow_redirects=False)

    anonymous = browser.get("/dashboard", headers={"Accept": "text/html"})
    assert anonymous.status_code == 401 and "/login?next=%2Fdashboard" in anonymous.text
    assert browser.get("/dashboard").status_code == 401  # an API client gets the JSON 401
    assert browser.get("/login").status_code == 200 and 'name="credential"' in browser.get("/login").text

    refused = browser.post("/login", data={"credential": "cbz_nope"})
    assert refused.status_code == 401 and COOKIE not in refused.cookies
    provider = browser.post("/login", data={"credential": new_key(ctx, "provider", "acme")})
    assert provider.status_code == 403 and COOKIE not in provider.cookies

    logged = browser.post(
        "/login", data={"credential": new_key(ctx, "bi", "acme"), "next": "https://evil.test"}
    )
    assert logged.status_code == 303 and logged.headers["location"] == "/dashboard"
    cookie = logged.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    page = browser.get("/dashboard")
    assert page.status_code == 200 and "acme" in page.text
    # the cookie is for pages: a mutating request still needs the header
    assert browser.post("/logout").status_code == 303
    assert browser.get("/dashboard").status_code == 401
