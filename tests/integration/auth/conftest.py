"""Fixtures for the credential tests: every service on one database, a key per role."""

from __future__ import annotations

import pytest

from libs.auth.principal import ROLES
from libs.platform.registry import SERVICE_NAMES
from libs.runtime.transport.memory import InMemoryPlatform
from tests.support.auth import new_key


@pytest.fixture
def everything(make_platform) -> InMemoryPlatform:  # type: ignore[no-untyped-def]
    platform: InMemoryPlatform = make_platform(list(SERVICE_NAMES))
    return platform


@pytest.fixture
def role_keys(everything: InMemoryPlatform) -> dict[str, str]:
    """role -> a key of that role in tenant ``default``."""
    ctx = everything.context("ingest")
    return {role: new_key(ctx, role, "default") for role in ROLES}
