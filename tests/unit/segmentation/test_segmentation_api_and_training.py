"""The REST API (segment, totals, preview, activation) and training from segmentation's tables."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from segmentation_helpers import INVOICE, aged, changes, envelope
from sqlalchemy import select
from typer.testing import CliRunner

from libs.events.catalog import Topics
from libs.platform.cli import app as cli_app
from services.segmentation.adapters.orm import accounts, models, rule_sets
from services.segmentation.adapters.synthetic_load import load_portfolio
from services.segmentation.domain.model import NotEnoughHistory
from services.segmentation.domain.synthetic import generate_portfolio
from services.segmentation.service_layer.commands import PACKAGED_RULES, rescore_all, train_model
from tests.support.auth import api_client

RULES = yaml.safe_load(PACKAGED_RULES.read_text(encoding="utf-8"))


def seeded(make_platform) -> Any:
    platform = make_platform(["segmentation"])
    platform.publish(envelope("cobranza.invoice.issued", dict(INVOICE, amount="2500000")), Topics.INVOICES)
    platform.publish(
        envelope("cobranza.invoice.issued", dict(INVOICE, account_id="A2", invoice_id="I2")), Topics.INVOICES
    )
    platform.run_until_quiet()
    platform.publish(aged("dpd_31_60", 31, "2500000"), Topics.ACCOUNTS)
    platform.publish(aged("dpd_1_30", 3, "300000", account_id="A2"), Topics.ACCOUNTS)
    platform.run_until_quiet()
    return platform


def test_account_segment_and_segment_totals(make_platform) -> None:
    platform = seeded(make_platform)
    client = api_client(platform.context("segmentation"))

    body = client.get("/v1/accounts/A1/segment").json()
    assert body["segment"] == "early_high_value" and body["rule"] == "early_high_value"
    assert body["score_source"] == "fallback" and body["score_band"] in "ABCDE"
    assert body["best_channel"] == "voice"
    assert float(body["expected_recovery"]) == pytest.approx(body["score"] * 2_500_000, abs=0.01)
    assert [h["segment"] for h in body["history"]] == ["early_high_value", "current_good"]
    assert client.get("/v1/accounts/NOPE/segment").status_code == 404

    totals = client.get("/v1/segments").json()
    assert totals["rules_version"] == "2026.01"
    assert {s["segment"]: (s["accounts"], s["overdue_balance"]) for s in totals["segments"]} == {
        "early_high_value": (1, "2500000.0000"),
        "early_low_value": (1, "300000.0000"),
    }


def test_preview_then_activate_a_new_rule_set(make_platform) -> None:
    platform = seeded(make_platform)
    client = api_client(platform.context("segmentation"))
    candidate = copy.deepcopy(RULES)
    candidate["version"] = "2026.02"
    for rule in candidate["rules"]:
        if rule["name"] == "early_high_value":
            rule["when"][1]["value"] = 200000  # a lower bar for agent attention

    preview = client.post("/v1/segments/preview", json=candidate).json()
    assert preview["moving"] == {
        "accounts": 1,
        "overdue_balance": "300000.0000",
        "total_balance": "300000.0000",
    }
    assert {
        "from": "early_low_value",
        "to": "early_high_value",
        "accounts": 1,
        "overdue_balance": "300000.0000",
        "total_balance": "300000.0000",
    } in preview["matrix"]
    assert (
        changes(platform)[-1]["data"]["segment"] != "early_high_value" or len(changes(platform)) == 4
    )  # nothing emitted by preview
    before = len(changes(platform))

    activated = client.put("/v1/rules", json=candidate)
    assert activated.json() == {"version": "2026.02", "accounts": 2, "moved": 1, "already_active": False}
    platform.run_until_quiet()
    emitted = changes(platform)[before:]
    assert [(e["subject"], e["data"]["previous_segment"], e["data"]["segment"]) for e in emitted] == [
        ("A2", "early_low_value", "early_high_value")
    ]
    assert client.get("/v1/rules").json()["version"] == "2026.02"
    assert client.put("/v1/rules", json=candidate).json()["already_active"] is True

    conflicting = copy.deepcopy(candidate)
    conflicting["description"] = "edited without a new version"
    assert client.put("/v1/rules", json=conflicting).status_code == 409
    with platform.context("segmentation").sessions() as session:
        versions = dict(session.execute(select(rule_sets.c.version, rule_sets.c.active)).all())
    assert versions == {"2026.01": False, "2026.02": True}


def test_invalid_rules_are_422_naming_the_rule(make_platform) -> None:
    platform = make_platform(["segmentation"])
    client = api_client(platform.context("segmentation"))
    bad = copy.deepcopy(RULES)
    bad["rules"][3]["when"][0]["attribute"] = "balanse"
    for method in (client.put, client.post):
        response = method("/v1/rules" if method == client.put else "/v1/segments/preview", json=bad)
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"] == "rules[3] 'late_company': unknown attribute 'balanse'"


def test_train_from_tables_stores_a_versioned_model_and_rescores(make_platform, tmp_path: Path) -> None:
    platform = seeded(make_platform)
    ctx = platform.context("segmentation")
    end = date(2025, 12, 31)
    with ctx.unit_of_work() as uow:
        with pytest.raises(NotEnoughHistory):
            train_model(uow.session, uow.tenant, now=uow.now(), as_of=end)
        load_portfolio(
            uow.session, generate_portfolio(300, date(2025, 1, 1), end, seed=5), uow.tenant, uow.now()
        )
    with ctx.unit_of_work() as uow:
        report = train_model(uow.session, uow.tenant, now=uow.now(), as_of=end, out_dir=tmp_path)
        rescore_all(uow)
    assert report.version == 1 and report.model.auc > 0.6
    assert report.path is not None and report.path.exists()
    assert json.loads(report.path.with_suffix(".json").read_text())["auc"] == report.model.auc
    with ctx.sessions() as session:
        row = session.execute(select(models)).one()
        sources = set(session.execute(select(accounts.c.score_source)).scalars())
    assert (row.version, row.active, row.auc) == (1, True, report.model.auc)
    assert row.features[0] == "on_time_ratio" and "30 days" in row.label
    assert sources == {"model:v1"}

    # the next event for an account is scored by the model too
    platform.publish(aged("dpd_61_90", 61, "2500000"), Topics.ACCOUNTS)
    platform.run_until_quiet()
    attributes = changes(platform)[-1]["data"]["reasons"][0]["attributes"]
    assert 0 < attributes["score"] < 1
    with ctx.sessions() as session:
        assert (
            session.execute(select(accounts.c.score_source).where(accounts.c.account_id == "A1")).scalar()
            == "model:v1"
        )


def test_cli_validate_and_preview(make_platform, tmp_path: Path, monkeypatch) -> None:
    runner = CliRunner()
    bad = copy.deepcopy(RULES)
    bad["rules"][0]["when"][0]["attribute"] = "broken_promise"
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(yaml.safe_dump(bad), encoding="utf-8")
    result = runner.invoke(cli_app, ["segments", "validate", str(bad_file)])
    assert result.exit_code == 1
    assert "rules[0] 'hardship': unknown attribute 'broken_promise'" in result.output

    platform = seeded(make_platform)
    url = platform.context("segmentation").engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    good = copy.deepcopy(RULES)
    good["version"] = "x"
    good["rules"] = [r for r in good["rules"] if r["name"] != "early_high_value"]
    good_file = tmp_path / "good.yaml"
    good_file.write_text(yaml.safe_dump(good), encoding="utf-8")
    result = runner.invoke(cli_app, ["segments", "preview", "--rules", str(good_file)])
    assert result.exit_code == 0, result.output
    assert (
        "early_high_value" in result.output
        and "moving (*): 1 accounts, overdue 2500000.0000" in result.output
    )


def test_cli_train_refuses_thin_history_then_trains(make_platform, tmp_path: Path, monkeypatch) -> None:
    platform = seeded(make_platform)
    ctx = platform.context("segmentation")
    monkeypatch.setenv("DATABASE_URL", ctx.engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    args = ["segments", "train", "--out", str(tmp_path), "--as-of", "2025-12-31"]
    thin = runner.invoke(cli_app, args)
    assert thin.exit_code == 1
    assert "the rule-based fallback score stays in use" in thin.output
    with ctx.unit_of_work() as uow:
        load_portfolio(
            uow.session,
            generate_portfolio(300, date(2025, 1, 1), date(2025, 12, 31), seed=9),
            uow.tenant,
            uow.now(),
        )
    trained = runner.invoke(cli_app, args)
    assert trained.exit_code == 0, trained.output
    assert "model v1: AUC" in trained.output
    assert (tmp_path / "segmentation-default-v1.skops").exists()
    with ctx.sessions() as session:
        assert session.execute(select(models.c.version, models.c.active)).one() == (1, True)


def test_the_api_answers_for_the_requests_tenant(make_platform) -> None:
    platform = seeded(make_platform)  # the default tenant's A1 and A2
    platform.publish(envelope("cobranza.invoice.issued", INVOICE, tenant="otra"), Topics.INVOICES)
    platform.run_until_quiet()
    client = api_client(platform.context("segmentation"))
    other = {"X-Cobranza-Tenant": "otra"}

    assert client.get("/v1/accounts/A1/segment").json()["segment"] == "early_high_value"
    assert client.get("/v1/accounts/A1/segment", headers=other).json()["segment"] == "current_good"
    assert client.get("/v1/accounts/A2/segment", headers=other).status_code == 404
    totals = client.get("/v1/segments", headers=other).json()["segments"]
    assert [(s["segment"], s["accounts"]) for s in totals] == [("current_good", 1)]
    bad = client.get("/v1/accounts/A%001/segment")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "account_id"]

    renamed = copy.deepcopy(RULES)
    renamed["version"] = "otra-2"
    activated = client.put("/v1/rules", json=renamed, headers=other).json()
    assert (activated["version"], activated["accounts"]) == ("otra-2", 1)
    assert client.get("/v1/rules", headers=other).json()["version"] == "otra-2"
    assert client.get("/v1/rules").json()["version"] == "2026.01"
