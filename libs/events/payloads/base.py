"""Base class for event payloads: one pydantic model per event type and version."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class EventPayload(BaseModel):
    """The ``data`` of one CloudEvent type at one schema version.

    Subclasses set ``event_type`` (the CloudEvents ``type``), ``version`` and
    ``topic``. Unknown fields are ignored so that adding an optional field is a
    compatible change (tolerant reader); removing or retyping one needs a new
    version and an upcaster (see ``libs.events.registry``).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1
    topic: ClassVar[str]

    def subject(self) -> str | None:
        """The Kafka key and CloudEvents subject: the account id where there is one."""
        return getattr(self, "account_id", None)
