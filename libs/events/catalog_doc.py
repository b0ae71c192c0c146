"""docs/events.md, rendered from the models and the topic catalog so it cannot drift from them."""

from __future__ import annotations

from typing import Any

from libs.events.catalog import CATALOG
from libs.events.registry import all_payload_models

HEADER = """# Event catalog

Every event is a **CloudEvents 1.0** JSON document (structured mode) on a Kafka topic whose record key
is the account id (so one account's events stay in order). JSON Schemas for every type are in
[`libs/events/schemas/`](../libs/events/schemas) (regenerate with `cobranza events schema --out DIR`).
This page is generated: `cobranza events docs --out docs/events.md`.

## Envelope

| attribute | meaning |
| --- | --- |
| `specversion` | `1.0` |
| `id` | unique per (`tenantid`, `source`) only: two sources may reuse an id; consumers de-duplicate on (tenant, source, id) |
| `source` | who published it: `/sources/<system>` for core systems, `/cobranza/<service>` for ours |
| `type` | one of the types below |
| `time` | timezone-aware ISO-8601 time of the fact (in the simulator: the simulated moment) |
| `subject` | the Kafka key: the account id (the customer id on `cobranza.customers`) |
| `datacontenttype` | `application/json` |
| `data` | the payload (below) |
| `tenantid` | tenant (default `default`) |
| `correlationid`, `causationid` | the conversation, and the event that caused this one |
| `schemaversion` | the payload's version |
| `traceparent`, `tracestate` | W3C trace context (Distributed Tracing extension) |

Money is a **decimal string** plus an ISO-4217 `currency` (a JSON number is rejected) with at most
14 digits before the point and 4 after (every service stores NUMERIC(18, 4)); dates are
`YYYY-MM-DD`; times carry an offset. Unknown fields are ignored by consumers. Ids are 1 to 128
printable characters; no field accepts NUL or other control characters (free text may hold tabs
and newlines).

Ids from outside are unique per (tenant, source system) only. ingest keeps a document's natural id
when no other source of the tenant holds it and otherwise mints `<source>:<id>`, so the same
`INV-1` from two core systems is two invoices in every service; account ids are shared by the
tenant's sources (a bank's payment names the core system's account). See
[architecture.md](architecture.md#identity).

## How core systems publish

* Kafka: publish contract events to `cobranza.inbound`; ingest validates, standardises, de-duplicates
  (the same invoice or payment id from the same `source`) and forwards them, with the same `id`, to
  their topic. Invalid ones go to `cobranza.deadletter` with the reason (field paths) in the
  `dlq_reason` header; `cobranza dlq list` shows them.
* REST and files: see [ingest.md](ingest.md).
"""

FOOTER = """## Evolution rules

1. Adding an optional field is compatible: same version; consumers ignore what they do not know.
2. Renaming, retyping or removing a field, or making one required, is a **new version**: register the
   new model (`version = 2`) and an upcaster (`@upcaster(event_type, from_version=1)` in
   `libs/events/registry.py`), so consumers always handle the newest shape while old records keep flowing.
3. **Labels from outside are open vocabularies.** `method` of a payment and the `reason` of an
   adjustment, cancellation or reversal are normalised (case, accents and punctuation ignored) through
   the synonym tables in `libs/events/vocabulary.py` ("Transferencia", "wire" → `bank_transfer`;
   "nequi" → `wallet`; "tarjeta" → `card`; "AM04" → `direct_debit_return` …); any other label becomes
   `other` and the original is kept in `method_detail` / `reason_detail`. Money is never rejected or
   dead-lettered for a label, and consumers tolerate enum values they do not know (a new canonical
   value is added to the vocabulary, never required of old consumers).
4. A type is never reused for a different meaning; topics are never repurposed.
5. `tests/contract/` keeps one published fixture per type and version and checks that it still parses,
   and that the committed JSON Schemas and this page match the models (CI fails on drift).
"""


def _type_of(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return " \\| ".join(str(v) for v in prop["enum"])
    if "const" in prop:
        return str(prop["const"])
    if "anyOf" in prop:
        return " \\| ".join(_type_of(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    return str(prop.get("format") or prop.get("type") or "any")


def render() -> str:
    lines = [
        HEADER,
        "## Topics",
        "",
        "| topic | key | partitions | retention | cleanup | carries |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for t in CATALOG:
        retention = "forever" if t.retention_ms < 0 else f"{t.retention_ms // 86_400_000} days"
        lines.append(
            f"| `{t.name}` | {t.key} | {t.partitions} | {retention} | {t.cleanup_policy} | {t.description} |"
        )
    lines += ["", "## Event types", ""]
    for event_type, model in all_payload_models().items():
        lines += [f"### `{event_type}` (v{model.version}, topic `{model.topic}`)", ""]
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if doc:
            lines += [doc, ""]
        schema = model.model_json_schema(mode="serialization")
        required = set(schema.get("required", []))
        lines += ["| field | type | required | notes |", "| --- | --- | --- | --- |"]
        for name, prop in schema["properties"].items():
            note = str(prop.get("description", "")).replace("|", "\\|")
            lines.append(f"| `{name}` | {_type_of(prop)} | {'yes' if name in required else 'no'} | {note} |")
        lines.append("")
    lines.append(FOOTER)
    return "\n".join(lines)
