"""Which tenant a Kafka producer may publish for: the inbound topic's binding to credentials.

A core system that produces to the inbound topic is bound to its tenant by its ingest API key:
``cobranza auth key create --tenant T --role ingest --source S`` registers source system S for T,
and the envelope's ``source`` (``/sources/S``) names it. An inbound event is dead-lettered when

* its source is registered to other tenants and not to the event's tenant (a producer writing into
  a tenant it does not own), or
* its tenant has registered sources and this is not one of them, or
* ``COBRANZA_AUTH_INBOUND_BINDING=strict`` and its source is not registered for its tenant at all.

The default (``registered``) lets a tenant that registered no ingest source yet (a fresh embedded
platform) use the topic as before; production sets ``strict``. The rule is checked once per batch
(one query for every source in it) before ``forward_inbound`` sees the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.auth.keys import source_owners
from libs.events.registry import DecodedEvent, InvalidEvent
from libs.runtime.uow import UnitOfWork
from services.ingest.domain.identity import source_system
from services.ingest.service_layer.handlers import forward_inbound


class InboundBindingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COBRANZA_AUTH_", extra="ignore")

    inbound_binding: Literal["registered", "strict"] = "registered"


class SourceNotOwned(InvalidEvent):
    """The event's tenant does not own the source that produced it: dead-lettered at once with this
    reason (an ``InvalidEvent``: retrying cannot make it valid)."""


def refused(tenant: str, source: str, own: set[str], owners: dict[str, set[str]], strict: bool) -> str | None:
    """Why SOURCE may not publish for TENANT, or None when it may."""
    if source in own:
        return None
    if owners.get(source):
        return f"source {source!r} is registered to another tenant, not to tenant {tenant!r}"
    if own:
        return f"source {source!r} is not one of tenant {tenant!r}'s registered ingest sources"
    if strict:
        return f"source {source!r} has no ingest key for tenant {tenant!r} (strict inbound binding)"
    return None


def guarded_inbound(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
    """``forward_inbound`` behind the tenant binding (one tenant per batch, like every batch handler)."""
    sources = sorted({source_system(e.envelope.source) for e in events})
    own, owners = source_owners(uow.session.connection(), uow.tenant, sources)
    strict = InboundBindingSettings().inbound_binding == "strict"
    for event in events:
        reason = refused(uow.tenant, source_system(event.envelope.source), own, owners, strict)
        if reason is not None:
            raise SourceNotOwned(f"inbound event {event.envelope.id}: {reason}", event.envelope)
    forward_inbound(events, uow)
