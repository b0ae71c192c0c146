"""Which pydantic model reads which CloudEvents type at which schema version.

Evolution rules (docs/events.md):
* adding an optional field is compatible: same version, old fixtures still parse;
* renaming, retyping or removing a field is a new version: register the new
  model and an upcaster ``(data: dict) -> dict`` from the previous version, so
  consumers always handle the newest shape.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from libs.events import payloads
from libs.events.envelope import Envelope
from libs.events.payloads.base import EventPayload

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(LookupError):
    pass


class InvalidEvent(ValueError):
    """An event whose envelope or payload does not validate; ``reason`` names the field paths."""

    def __init__(self, reason: str, envelope: Envelope | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.envelope = envelope


P = TypeVar("P", bound=EventPayload, covariant=True)


@dataclass(frozen=True)
class DecodedEvent(Generic[P]):
    """An envelope plus its validated payload, upcast to the newest version."""

    envelope: Envelope
    payload: P

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type


_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register ``fn`` to turn ``event_type`` data at ``from_version`` into ``from_version + 1``."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def _load_payload_modules() -> None:
    for module in pkgutil.iter_modules(payloads.__path__):
        importlib.import_module(f"{payloads.__name__}.{module.name}")


def _walk(cls: type[EventPayload]) -> Iterator[type[EventPayload]]:
    for sub in cls.__subclasses__():
        if "event_type" in sub.__dict__:
            yield sub
        yield from _walk(sub)


def all_payload_models() -> dict[str, type[EventPayload]]:
    """Newest model per event type."""
    _load_payload_modules()
    newest: dict[str, type[EventPayload]] = {}
    for model in _walk(EventPayload):
        current = newest.get(model.event_type)
        if current is None or model.version > current.version:
            newest[model.event_type] = model
    return dict(sorted(newest.items()))


_MODELS: dict[str, type[EventPayload]] | None = None


def model_for(event_type: str) -> type[EventPayload]:
    global _MODELS
    if _MODELS is None:
        _MODELS = all_payload_models()
    try:
        return _MODELS[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors():
        path = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        parts.append(f"{path or '<root>'}: {err['msg']}")
    return "; ".join(parts)


def upcast(event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    target = model_for(event_type).version
    while version < target:
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise InvalidEvent(f"no upcaster for {event_type} v{version} -> v{version + 1}")
        data = step(data)
        version += 1
    if version > target:
        raise InvalidEvent(f"{event_type} v{version} is newer than this consumer understands (v{target})")
    return data


def decode_envelope(envelope: Envelope) -> DecodedEvent[EventPayload]:
    model = model_for(envelope.type)
    data = envelope.data
    if envelope.schemaversion != model.version:  # the newest shape needs no upcast (the usual case)
        try:
            data = upcast(envelope.type, envelope.schemaversion, data)
        except InvalidEvent as exc:  # dead-lettered with the envelope's id, type and subject
            raise InvalidEvent(exc.reason, envelope) from exc
    try:
        payload = model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(format_validation_error(exc, "data"), envelope) from exc
    return DecodedEvent(envelope, payload)


_validate_envelope_json = Envelope.__pydantic_validator__.validate_json


def decode(raw: bytes | str) -> DecodedEvent[EventPayload]:
    """Parse a CloudEvents JSON record, raising ``InvalidEvent`` with field paths on any problem.

    One JSON parse (the envelope, ``data`` kept as the raw object for dead letters and upcasters)
    and one validation of ``data`` by the type's payload model."""
    try:
        envelope: Envelope = _validate_envelope_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(format_validation_error(exc)) from exc
    try:
        return decode_envelope(envelope)
    except UnknownEventType as exc:
        raise InvalidEvent(str(exc), envelope) from exc
