"""The CloudEvents 1.0 envelope (structured JSON mode) every cobranza event travels in.

Extension attributes follow the CloudEvents naming rule (lower-case letters and
digits only): ``tenantid``, ``correlationid``, ``causationid``, ``schemaversion``
and the Distributed Tracing extension's ``traceparent``/``tracestate``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from libs.events.types import printable_identifier

SPEC_VERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE: Literal["application/json"] = "application/json"


class Envelope(BaseModel):
    """A CloudEvent whose ``data`` is still the raw JSON object.

    Decoding is two steps on purpose: the envelope is parsed first so a bad
    payload can still be dead-lettered with its id, type and subject.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = SPEC_VERSION
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: str = Field(min_length=1, max_length=200, pattern=r"^cobranza\.[a-z_]+(\.[a-z_]+)+$")
    time: AwareDatetime
    subject: str | None = Field(default=None, max_length=200)
    datacontenttype: Literal["application/json"] = CONTENT_TYPE
    dataschema: str | None = None
    data: dict[str, Any]
    tenantid: str = Field(default="default", min_length=1, max_length=64)
    correlationid: str | None = Field(default=None, max_length=200)
    causationid: str | None = Field(default=None, max_length=200)
    schemaversion: int = Field(default=1, ge=1)
    traceparent: str | None = None
    tracestate: str | None = None

    @field_validator("id", "source", "type", "subject", "tenantid", "correlationid", "causationid")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return printable_identifier(value) if value is not None else None

    @property
    def account_id(self) -> str | None:
        """Events about an account carry it as the CloudEvents subject."""
        return self.subject

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    def to_json_line(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        return cls.model_validate_json(raw)

    def with_data(self, data: dict[str, Any], **changes: Any) -> Envelope:
        values = self.model_dump()
        values.update(changes)
        values["data"] = data
        return Envelope.model_validate(values)


def isoformat(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def dumps(obj: Any) -> str:
    """Canonical compact JSON used for payload storage and hashing."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, default=str)
