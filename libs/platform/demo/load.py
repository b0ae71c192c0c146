"""``cobranza demo load``: feed a portfolio file to a running platform through ingest.

Every event goes where a core system would send it: invoices, payments and customers to the
bulk endpoints (``batch`` items a request), reference data to its PUT endpoint,
adjustments, cancellations and reversals to theirs, and the rest (promises) to the Kafka
inbound topic. The file is read as a stream, in chunks; inside a chunk the events go in
dependency order (reference, customers, invoices, adjustments, cancellations, inbound,
payments, reversals), so a payment never arrives before the invoice it pays when both are
in the same chunk. Each request carries the event's tenant and source system
(``/sources/<name>`` -> ``X-Source-System: <name>``) and an ``Idempotency-Key`` unique to the
run, so tenacity's retries (connection errors, 429, 5xx) replay instead of duplicating.
Nothing is dropped silently: every rejected item is reported with its line, id and reason.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import format_validation_error
from libs.runtime.transport.base import OutgoingRecord, Publisher

TENANT_HEADER = "X-Cobranza-Tenant"
SOURCE_HEADER = "X-Source-System"
REFERENCE_PATHS = {
    "product_line": "product-lines",
    "office": "offices",
    "advisor": "advisors",
    "agency": "agencies",
}


@dataclass(frozen=True)
class Item:
    line: int
    envelope: Envelope

    @property
    def source_system(self) -> str:
        return self.envelope.source.removeprefix("/sources/")[:100] or "api"


@dataclass(frozen=True)
class Reject:
    line: int
    event_type: str
    item_id: str | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.event_type} {self.item_id or '?'} rejected: {self.reason}"


@dataclass
class Counts:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0


@dataclass
class LoadSummary:
    by_type: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    rejects: list[Reject] = field(default_factory=list)
    lines: int = 0

    def count(self, event_type: str, status: str) -> None:
        counts = self.by_type[event_type]
        setattr(counts, status, getattr(counts, status) + 1)

    @property
    def totals(self) -> Counts:
        total = Counts()
        for counts in self.by_type.values():
            total.accepted += counts.accepted
            total.duplicate += counts.duplicate
            total.rejected += counts.rejected
        return total


class ServerError(Exception):
    """A response worth retrying (5xx, 429)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}: {response.text[:300]}")
        self.response = response


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ServerError | httpx.TransportError)


@dataclass(frozen=True)
class Route:
    """How one event type reaches ingest: a bulk endpoint, a single endpoint, or the inbound topic."""

    phase: int
    bulk_path: str | None = None
    single: Callable[[dict[str, Any]], tuple[str, str, dict[str, Any]]] | None = None  # (method, path, body)
    id_field: str | None = None
    bulk_item: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """A bulk item from the event's data (default: the data as is)."""


def _without(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in names}


def _reference(data: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    path = (
        f"/v1/reference/{REFERENCE_PATHS.get(data['entity_type'], data['entity_type'])}/{data['entity_id']}"
    )
    return "PUT", path, _without(data, "entity_type", "entity_id")


ROUTES: dict[str, Route] = {
    "cobranza.reference.upserted": Route(0, single=_reference, id_field="entity_id"),
    "cobranza.customer.upserted": Route(
        1,
        bulk_path="/v1/customers:bulk",
        id_field="customer_id",
        bulk_item=lambda d: _without(d, "linked_customer_ids", "link_rule"),  # ingest links them itself
    ),
    "cobranza.invoice.issued": Route(2, bulk_path="/v1/invoices:bulk", id_field="invoice_id"),
    "cobranza.invoice.adjusted": Route(
        3,
        single=lambda d: ("POST", f"/v1/invoices/{d['invoice_id']}/adjustments", _without(d, "invoice_id")),
        id_field="adjustment_id",
    ),
    "cobranza.invoice.cancelled": Route(
        4,
        single=lambda d: ("POST", f"/v1/invoices/{d['invoice_id']}/cancellation", _without(d, "invoice_id")),
        id_field="invoice_id",
    ),
    "cobranza.payment.received": Route(6, bulk_path="/v1/payments:bulk", id_field="payment_id"),
    "cobranza.payment.reversed": Route(
        7,
        single=lambda d: ("POST", f"/v1/payments/{d['payment_id']}/reversal", _without(d, "payment_id")),
        id_field="payment_id",
    ),
}
INBOUND = Route(5)
"""Types ingest has no REST endpoint for (promises, anything new) go to ``cobranza.inbound``."""


def route_for(event_type: str) -> Route:
    return ROUTES.get(event_type, INBOUND)


def _item_id(item: Item) -> str | None:
    name = route_for(item.envelope.type).id_field or "id"
    value = item.envelope.data.get(name, item.envelope.id)
    return str(value) if value is not None else None


def _reference_level(item: Item) -> int:
    """Parents before children: plain entities, then those with a parent, then advisors."""
    data = item.envelope.data
    if data.get("entity_type") == "advisor":
        return 2
    return 1 if data.get("parent_id") else 0


def _waves(items: list[Item], event_type: str) -> list[list[Item]]:
    """Split single-endpoint items into waves that may run concurrently: the n-th change of one
    object goes in wave n (its order kept); reference data also waits for its parents."""
    waves: dict[tuple[int, int], list[Item]] = defaultdict(list)
    seen: dict[str, int] = defaultdict(int)
    for item in items:
        key = _item_id(item) or str(item.line)
        level = _reference_level(item) if event_type == "cobranza.reference.upserted" else 0
        waves[(level, seen[key])].append(item)
        seen[key] += 1
    return [waves[k] for k in sorted(waves)]


class Loader:
    """Sends items to ingest and keeps the tally; one instance per ``demo load`` run."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        batch: int = 500,
        workers: int = 4,
        publisher: Publisher | None = None,
        topic: str = Topics.INBOUND,
        attempts: int = 6,
        max_wait_s: float = 10.0,
        on_reject: Callable[[Reject], None] | None = None,
    ) -> None:
        if not 1 <= batch <= 10_000:
            raise ValueError("--batch must be between 1 and 10000 (ingest's bulk limit)")
        self.client = client
        self.batch = batch
        self.workers = max(1, workers)
        self.publisher = publisher
        self.topic = topic
        self.summary = LoadSummary()
        self.on_reject = on_reject
        self._run = uuid.uuid4().hex[:12]
        self._requests = itertools.count(1)
        self._retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.25, max=max_wait_s),
            reraise=True,
        )

    # -- bookkeeping ---------------------------------------------------------------------

    def _reject(self, item: Item, reason: str) -> None:
        reject = Reject(item.line, item.envelope.type, _item_id(item), reason)
        self.summary.count(item.envelope.type, "rejected")
        self.summary.rejects.append(reject)
        if self.on_reject is not None:
            self.on_reject(reject)

    def reject_line(self, line: int, reason: str) -> None:
        reject = Reject(line, "<unparsed>", None, reason)
        self.summary.count("<unparsed>", "rejected")
        self.summary.rejects.append(reject)
        if self.on_reject is not None:
            self.on_reject(reject)

    def _send(self, method: str, path: str, body: dict[str, Any], item: Item) -> httpx.Response:
        headers = {
            TENANT_HEADER: item.envelope.tenantid,
            SOURCE_HEADER: item.source_system,
            "Idempotency-Key": f"demo-load-{self._run}-{next(self._requests)}",
        }

        def attempt() -> httpx.Response:
            response = self.client.request(method, path, json=body, headers=headers)
            if response.status_code >= 500 or response.status_code == 429:
                raise ServerError(response)
            return response

        return self._retrying(attempt)

    # -- sending -------------------------------------------------------------------------

    def send_chunk(self, items: Iterable[Item]) -> None:
        """Send one chunk: grouped by (tenant, source, type), in phase order."""
        groups: dict[tuple[int, str, str, str], list[Item]] = defaultdict(list)
        for item in items:
            route = route_for(item.envelope.type)
            groups[(route.phase, item.envelope.tenantid, item.source_system, item.envelope.type)].append(item)
        for (_, _, _, event_type), group in sorted(groups.items(), key=lambda kv: kv[0]):
            route = route_for(event_type)
            if route.bulk_path is not None:
                for start in range(0, len(group), self.batch):
                    self._bulk(route, group[start : start + self.batch])
            elif route.single is not None:
                for wave in _waves(group, event_type):
                    self._singles(route, wave)
            else:
                self._inbound(group)

    def _bulk(self, route: Route, items: list[Item]) -> None:
        assert route.bulk_path is not None
        shape = route.bulk_item or (lambda data: data)
        try:
            body = {"items": [shape(i.envelope.data) for i in items]}
            response = self._send("POST", route.bulk_path, body, items[0])
        except (ServerError, httpx.TransportError) as exc:
            for item in items:
                self._reject(item, f"not sent: {exc}")
            return
        if response.status_code != 200:
            for item in items:
                self._reject(item, f"HTTP {response.status_code}: {response.text[:500]}")
            return
        try:
            results = {int(r["index"]): r for r in response.json()["items"]}
        except (ValueError, KeyError, TypeError) as exc:
            results, answer = {}, f"unreadable bulk answer ({exc!r}): {response.text[:300]}"
        for index, item in enumerate(items):
            result = results.get(index)
            if result is None:
                self._reject(item, answer if not results else "no result for this item in the bulk answer")
            elif result.get("status") in ("accepted", "duplicate"):
                self.summary.count(item.envelope.type, result["status"])
            else:
                self._reject(item, result.get("reason") or f"status {result.get('status')!r}")

    def _singles(self, route: Route, items: list[Item]) -> None:
        assert route.single is not None
        single = route.single

        def one(item: Item) -> tuple[Item, httpx.Response | Exception]:
            method, path, body = single(item.envelope.data)
            try:
                return item, self._send(method, path, body, item)
            except (ServerError, httpx.TransportError) as exc:
                return item, exc

        if self.workers == 1 or len(items) == 1:
            outcomes: Iterator[tuple[Item, httpx.Response | Exception]] = map(one, items)
            self._record_singles(outcomes)
            return
        with ThreadPoolExecutor(self.workers) as pool:
            self._record_singles(pool.map(one, items))

    def _record_singles(self, outcomes: Iterable[tuple[Item, httpx.Response | Exception]]) -> None:
        for item, outcome in outcomes:
            if isinstance(outcome, Exception):
                self._reject(item, f"not sent: {outcome}")
            elif outcome.status_code in (200, 201, 202):
                body = outcome.json() if outcome.content else {}
                status = "duplicate" if body.get("status") == "duplicate" else "accepted"
                self.summary.count(item.envelope.type, status)
            else:
                self._reject(item, _error_text(outcome))

    def _inbound(self, items: list[Item]) -> None:
        if self.publisher is None:
            for item in items:
                self._reject(item, "no REST endpoint and no Kafka (set KAFKA_BOOTSTRAP_SERVERS)")
            return
        records = [
            OutgoingRecord(
                self.topic, i.envelope.subject, i.envelope.to_json_bytes(), {"ce_type": i.envelope.type}
            )
            for i in items
        ]
        for item, error in zip(items, self.publisher.publish(records), strict=True):
            if error is None:
                self.summary.count(item.envelope.type, "accepted")
            else:
                self._reject(item, f"Kafka: {error}")


def _error_text(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    if isinstance(detail, list):
        parts = [f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail]
        return f"HTTP {response.status_code}: " + "; ".join(parts)
    return f"HTTP {response.status_code}: {detail}"


def read_items(path: Path, loader: Loader, progress: Callable[[int], None] | None = None) -> Iterator[Item]:
    """Parse the file line by line; a line that is not a CloudEvent is reported, not fatal."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if progress is not None:
                progress(len(raw))
            if not raw.strip():
                continue
            loader.summary.lines += 1
            try:
                yield Item(number, Envelope.from_json(raw))
            except ValidationError as exc:
                loader.reject_line(number, format_validation_error(exc))


def load_file(path: Path, loader: Loader, progress: Callable[[int], None] | None = None) -> LoadSummary:
    """Stream ``path`` to ingest in chunks of at most ``batch`` events of one kind."""
    pending: list[Item] = []
    per_type: dict[str, int] = defaultdict(int)
    for item in read_items(path, loader, progress):
        pending.append(item)
        per_type[item.envelope.type] += 1
        if per_type[item.envelope.type] >= loader.batch or len(pending) >= loader.batch * 4:
            loader.send_chunk(pending)
            pending, per_type = [], defaultdict(int)
    if pending:
        loader.send_chunk(pending)
    if loader.publisher is not None and hasattr(loader.publisher, "close"):
        loader.publisher.close()
    return loader.summary
