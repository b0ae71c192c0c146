"""Idempotency keys under concurrency: a retry racing the original waits and replays it."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi.responses import JSONResponse

from libs.runtime.uow import UnitOfWork
from services.ingest.entrypoints.idempotency import REPLAYED_HEADER, request_hash, run_command


def test_concurrent_retry_replays_instead_of_running_twice(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    ran: list[str] = []
    inside = threading.Event()
    responses: dict[str, JSONResponse] = {}

    def command(name: str):  # type: ignore[no-untyped-def]
        def run(uow: UnitOfWork) -> tuple[int, dict[str, Any]]:
            ran.append(name)
            inside.set()
            time.sleep(0.3)  # hold the transaction open while the retry arrives
            return 202, {"ran": name}

        return run

    def call(name: str) -> None:
        responses[name] = run_command(
            ctx,
            tenant="default",
            source="api",
            key="same",
            operation="POST /x",
            body={"a": 1},
            command=command(name),
        )

    first = threading.Thread(target=call, args=("first",))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=call, args=("second",))
    second.start()
    first.join(10)
    second.join(10)
    assert ran == ["first"]
    assert responses["second"].body == responses["first"].body
    assert responses["second"].status_code == 202
    assert responses["second"].headers[REPLAYED_HEADER] == "true"


def test_request_hash_depends_on_operation_and_body_not_key_order() -> None:
    assert request_hash("POST /x", {"a": 1, "b": 2}) == request_hash("POST /x", {"b": 2, "a": 1})
    assert request_hash("POST /x", {"a": 1}) != request_hash("POST /y", {"a": 1})
    assert request_hash("POST /x", {"a": 1}) != request_hash("POST /x", {"a": 2})
