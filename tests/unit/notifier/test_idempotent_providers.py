"""The file providers run inside the handler's transaction: a batch replayed after a crash between
the write and the commit must not send a message twice (messages sent are not idempotent by key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notifier.adapters import providers
from services.notifier.adapters.providers import (
    Delivery,
    HttpMessagingProvider,
    LogFileMessagingProvider,
    Recipient,
)
from services.notifier.domain.messages import Message


def _delivery(contact_id: str, tenant: str = "default") -> Delivery:
    return Delivery(
        contact_id, "A1", "sms", Recipient("Ana", phone="+573001234567"), Message("s", "Pague"), tenant
    )


def _sent(path: Path) -> list[str]:
    return [json.loads(line)["contact_id"] for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "_SENT_INDEXES", {})


def test_a_replayed_message_is_logged_once_and_reported_sent(tmp_path: Path) -> None:
    provider = LogFileMessagingProvider(tmp_path, "sms")
    first = provider.deliver(_delivery("K1"))
    again = provider.deliver(_delivery("K1"))
    provider.deliver(_delivery("K2"))
    assert (first.status, again.status) == ("sent", "sent")
    assert _sent(tmp_path / "sms.log") == ["K1", "K2"]


def test_a_restarted_process_reads_what_the_log_already_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    LogFileMessagingProvider(tmp_path, "sms").deliver(_delivery("K1"))
    monkeypatch.setattr(providers, "_SENT_INDEXES", {})  # kill -9 and start again
    LogFileMessagingProvider(tmp_path, "sms").deliver(_delivery("K1"))
    LogFileMessagingProvider(tmp_path, "sms").deliver(_delivery("K3"))
    assert _sent(tmp_path / "sms.log") == ["K1", "K3"]


def test_another_replica_s_appends_are_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = LogFileMessagingProvider(tmp_path, "sms")
    mine.deliver(_delivery("K1"))
    log = tmp_path / "sms.log"
    with log.open("a", encoding="utf-8") as handle:  # the other replica, before a rebalance
        handle.write(json.dumps({"contact_id": "K2", "to": "+57", "body": "x"}) + "\n")
    mine.deliver(_delivery("K2"))
    assert _sent(log) == ["K1", "K2"]


def test_the_same_contact_id_in_two_tenants_is_two_messages(tmp_path: Path) -> None:
    provider = LogFileMessagingProvider(tmp_path, "sms")
    provider.deliver(_delivery("K1", "default"))
    provider.deliver(_delivery("K1", "aseguradora"))
    assert _sent(tmp_path / "sms.log") == ["K1"]
    assert _sent(tmp_path / "tenants" / "aseguradora" / "sms.log") == ["K1"]


def test_only_the_tail_of_a_long_log_is_read_on_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "sms.log"
    old = [json.dumps({"contact_id": f"OLD{n:04d}", "to": "+57", "body": "x" * 40}) for n in range(200)]
    log.write_text("\n".join([*old, json.dumps({"contact_id": "K9", "to": "+57", "body": "y"})]) + "\n")
    monkeypatch.setattr(providers._SentIndex, "TAIL_BYTES", 1000)
    provider = LogFileMessagingProvider(tmp_path, "sms")
    provider.deliver(_delivery("K9"))  # in the tail: not sent again
    index = next(iter(providers._SENT_INDEXES.values()))
    assert "K9" in index and "OLD0000" not in index
    assert all(cid.startswith("OLD") or cid == "K9" for cid in index.ids)  # no half-read line
    assert _sent(log).count("K9") == 1


def test_a_truncated_log_starts_a_fresh_index(tmp_path: Path) -> None:
    provider = LogFileMessagingProvider(tmp_path, "sms")
    provider.deliver(_delivery("K1"))
    (tmp_path / "sms.log").write_text("", encoding="utf-8")  # rotated by the operator
    provider.deliver(_delivery("K2"))
    assert _sent(tmp_path / "sms.log") == ["K2"]


def test_the_http_gateway_gets_an_idempotency_key(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def post(url: str, json: Any, headers: dict[str, str], timeout: float) -> httpx.Response:
        seen.update(headers)
        return httpx.Response(202, request=httpx.Request("POST", url))

    monkeypatch.setattr(providers.httpx, "post", post)
    result = HttpMessagingProvider("http://gateway/sms", "sms", "t0k", 1.0).deliver(_delivery("K1", "aseg"))
    assert result.status == "sent"
    assert seen == {"Idempotency-Key": "aseg:K1", "Authorization": "Bearer t0k"}
