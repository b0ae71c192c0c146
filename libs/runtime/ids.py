"""Event ids.

An event emitted while handling another gets an id derived from its cause, so a
handler that runs again after a crash emits the *same* ids and downstream inboxes
drop the repeats. The cause is named by (tenant, source, id), the triple that identifies a
CloudEvent (an id is unique only per source, and tenants never share ids), so two causes that
share an id never derive the same ids. Events with no cause (an API call) get a random UUID, unless a
deterministic factory is injected (the simulator), so the same input always
gives the same output.
"""

from __future__ import annotations

import itertools
import uuid

NAMESPACE = uuid.UUID("5b0c6d0e-8f49-4d8e-9d7c-c0b7a2a0e001")


def cause_key(tenant: str, source: str, event_id: str) -> str:
    """The name of a causing event in derived ids (and the inbox's notion of "the same event")."""
    return f"{tenant}|{source}|{event_id}"


def derived_id(cause: str, service: str, index: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{cause}|{service}|{index}"))


class IdFactory:
    """Random ids for uncaused events (production)."""

    def new(self, scope: str) -> str:
        return str(uuid.uuid4())


class SequentialIdFactory(IdFactory):
    """Deterministic ids for uncaused events (simulator, tests)."""

    def __init__(self, seed: str = "sim") -> None:
        self._seed = seed
        self._counter = itertools.count(1)

    def new(self, scope: str) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self._seed}|{scope}|{next(self._counter)}"))
