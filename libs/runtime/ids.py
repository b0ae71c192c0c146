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

import hashlib
import itertools
import uuid

NAMESPACE = uuid.UUID("5b0c6d0e-8f49-4d8e-9d7c-c0b7a2a0e001")
_NAMESPACE_BYTES = NAMESPACE.bytes


def uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))`` without building a ``UUID`` (the hot path of every
    emitted event's id): SHA-1 of namespace and name, version 5 and the RFC 4122 variant set."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def cause_key(tenant: str, source: str, event_id: str) -> str:
    """The name of a causing event in derived ids (and the inbox's notion of "the same event")."""
    return f"{tenant}|{source}|{event_id}"


def derived_id(cause: str, service: str, index: int) -> str:
    return uuid5_text(f"{cause}|{service}|{index}")


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
        return uuid5_text(f"{self._seed}|{scope}|{next(self._counter)}")
