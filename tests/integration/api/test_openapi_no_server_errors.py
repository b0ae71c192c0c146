"""Every service's OpenAPI schema, fuzzed by schemathesis: whatever a caller sends, no answer is a 5xx.

Each service's API runs in-process (ASGI) on a fresh migrated database. Schemathesis
generates valid and invalid requests (bodies, path, query and header parameters) for
every operation of the published schema; every response must be a success or a client
error, never a server error, and an error body stays small (a 422 never echoes
megabytes back). Schemathesis' own pytest loader needs pytest internals that pytest 9
removed, so each operation's strategy is driven by Hypothesis directly.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from libs.platform.registry import load_spec
from libs.runtime.context import ServiceContext
from libs.runtime.http import create_app
from tests.support.auth import bearer, new_key

SERVICES = ["ingest", "aging", "segmentation", "strategy", "notifier", "reconciliation", "reporting"]
MAX_ERROR_BODY = 64 * 1024
EXAMPLES_PER_OPERATION = 12


@pytest.mark.parametrize("service", SERVICES)
def test_no_server_errors(service: str, service_database: Callable[[list[str]], str]) -> None:
    ctx = ServiceContext.create(load_spec(service), service_database([service]), pool_size=2)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx))
        credential = bearer(new_key(ctx))
        operations = [result.ok() for result in schema.get_all_operations()]
        assert operations, f"{service} publishes no operation"
        failures: list[str] = []
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failure = _fuzz(operation, mode, credential)
                if failure:
                    failures.append(failure)
        assert not failures, "\n".join(failures)
    finally:
        ctx.dispose()


def _fuzz(
    operation: schemathesis.APIOperation, mode: GenerationMode, credential: dict[str, str]
) -> str | None:
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers=credential)
        where = f"{case.method} {case.formatted_path} ({mode.value})"
        if response.status_code >= 500:
            found.append(f"{where} -> {response.status_code}: {response.text[:500]}")
        elif response.status_code >= 400 and len(response.content) > MAX_ERROR_BODY:
            found.append(f"{where} -> {response.status_code} with a {len(response.content)}-byte body")

    try:
        check()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # an operation without parameters or body has no invalid request to generate
    return found[0] if found else None
