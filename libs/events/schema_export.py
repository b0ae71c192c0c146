"""JSON Schema for every event type: the envelope with ``data`` replaced by the payload's schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from libs.events.envelope import Envelope
from libs.events.registry import all_payload_models

SCHEMA_DIR = Path(__file__).parent / "schemas"


def event_schema(event_type: str) -> dict[str, Any]:
    model = all_payload_models()[event_type]
    envelope = Envelope.model_json_schema(mode="validation")
    data = model.model_json_schema(mode="serialization")
    envelope["title"] = f"{event_type} v{model.version}"
    envelope["description"] = (model.__doc__ or "").strip() or event_type
    envelope["$defs"] = {**envelope.get("$defs", {}), **data.pop("$defs", {})}
    envelope["properties"]["type"] = {"const": event_type, "type": "string"}
    envelope["properties"]["schemaversion"] = {"const": model.version, "type": "integer"}
    envelope["properties"]["data"] = data
    envelope["x-topic"] = model.topic
    return envelope


def write_schemas(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type, model in all_payload_models().items():
        path = out / f"{event_type}.v{model.version}.json"
        path.write_text(json.dumps(event_schema(event_type), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
