"""Segment membership, owned by segmentation."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import Identifier, Label


class SegmentReason(BaseModel):
    """Why the account landed in its segment: the rule and the attribute values it matched."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    rule: Label
    description: Label | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class SegmentChanged(EventPayload):
    event_type = "cobranza.segment.changed"
    topic = Topics.SEGMENTS

    account_id: Identifier
    segment: Label
    previous_segment: Label | None = None
    reasons: list[SegmentReason] = Field(default_factory=list)
