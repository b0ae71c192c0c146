"""What the importer does with bank statement lines that are not plain credits.

- Credits are payments (``ingest_payments``); their matching keys (end-to-end id,
  mandate + amount, reference) are remembered in ``received`` (kind ``statement_key``,
  pointing at the payment's event) so a later return can find the payment it takes back.
- Returns and reversals become ``cobranza.payment.reversed`` of the original payment
  (``reverse_payment``) when one of the tenant's earlier payments carries the bank
  reference or one of the keys; otherwise the line is rejected with "return, original not
  found: …" for a person to resolve. Nothing is skipped in silence.
- Debits (fees, outgoing transfers), reversed debits and entries not booked yet are not
  debtor payments: each is a rejected row that says so (``NOT_A_PAYMENT``), remembered
  (kind ``statement_line``, no event) so the same statement imported again is all duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import and_, select

from libs.runtime.uow import UnitOfWork
from services.ingest.adapters.orm import received
from services.ingest.adapters.statements.model import StatementLine
from services.ingest.domain.requests import ReversalIn
from services.ingest.service_layer.commands import FieldError, ItemResult, reverse_payment
from services.ingest.service_layer.documents import natural_event_id, record_new

KEY_KIND = "statement_key"
AMBIGUOUS_KIND = "statement_key_ambiguous"
LINE_KIND = "statement_line"
NOT_A_PAYMENT = "not a debtor payment"
NOT_FOUND = "return, original not found"


def not_payments(
    uow: UnitOfWork, source: str, lines: Sequence[tuple[int, StatementLine]]
) -> list[ItemResult]:
    """Report each line that is not a debtor payment; one already reported by an earlier import
    of the statement is a duplicate. One insert for the chunk."""
    ids = {line.payment_id for _, line in lines if line.payment_id}
    new = record_new(
        uow,
        source,
        LINE_KIND,
        [(i, natural_event_id(uow.tenant, source, LINE_KIND, i), None, None) for i in sorted(ids)],
    )
    reported: set[str] = set()
    results = []
    for index, line in lines:
        pid = line.payment_id
        if pid is not None and (pid not in new or pid in reported):
            results.append(ItemResult(index, "duplicate", pid))
        else:
            results.append(not_a_payment(index, line))
        if pid is not None:
            reported.add(pid)
    return results


def not_a_payment(index: int, line: StatementLine) -> ItemResult:
    amount = " ".join(v for v in (line.payment.get("amount"), line.payment.get("currency")) if v)
    what = {
        "debit": f"debit of {amount} (bank fees, outgoing transfer)",
        "reversed_debit": f"reversal of a debit, {amount} back on an outgoing payment",
        "not_booked": f"entry of {amount} not booked by the bank yet (pending): the statement that books it brings it",
    }[line.movement]
    detail = f": {line.description}" if line.description else ""
    return ItemResult(
        index, "rejected", line.payment_id, errors=[FieldError("", f"{NOT_A_PAYMENT}: {what}{detail}")]
    )


def remember_credits(
    uow: UnitOfWork, source: str, credits: Sequence[tuple[StatementLine, ItemResult]]
) -> None:
    """Record the matching keys of accepted (or already known) statement credits.

    A key that already names another payment (a debtor reusing an end-to-end id, a mandate
    collecting the same amount every month) is marked ambiguous: a return never takes back a
    payment it cannot tell apart from another. One insert, one read, one insert per chunk.
    """
    rows = [
        (key, result.event_id, line.payment.get("account_id"), line.payment.get("currency"))
        for line, result in credits
        if result.status in ("accepted", "duplicate") and result.event_id
        for key in line.keys
    ]
    new = record_new(uow, source, KEY_KIND, rows)
    wanted: dict[str, set[str]] = {}
    for key, event_id, _, _ in rows:
        wanted.setdefault(key, set()).add(event_id)
    known = [key for key, events in wanted.items() if key not in new or len(events) > 1]
    if not known:
        return
    c = received.c
    stored = {
        row.external_id: row.event_id
        for row in uow.session.execute(
            select(c.external_id, c.event_id).where(
                c.tenant_id == uow.tenant, c.source == source, c.kind == KEY_KIND, c.external_id.in_(known)
            )
        )
    }
    ambiguous = sorted(key for key in known if wanted[key] - {stored.get(key)})
    record_new(
        uow, source, AMBIGUOUS_KIND, [(key, stored[key], None, None) for key in ambiguous if key in stored]
    )


def settle_returns(
    uow: UnitOfWork, source: str, returns: Sequence[tuple[int, StatementLine]]
) -> list[ItemResult]:
    """Reverse the original payment of each return found; reject the others with the reason."""
    originals, ambiguous = find_originals(uow, source, [line for _, line in returns])
    results = []
    for index, line in returns:
        reversed_on = _date(line.payment.get("received_on"))
        if reversed_on is None:
            results.append(
                ItemResult(
                    index,
                    "rejected",
                    line.payment_id,
                    errors=[FieldError("received_on", "the return has no date")],
                )
            )
            continue
        found = originals.get(id(line))
        if found is None:
            results.append(
                ItemResult(
                    index, "rejected", line.payment_id, errors=[FieldError("", _not_found(line, ambiguous))]
                )
            )
            continue
        original_source, payment_id = found
        body = ReversalIn(
            reversed_on=reversed_on,
            reason=_reason_label(line),
            note=f"bank statement return ({line.return_reason}) {line.description}".strip()[:500],
        )
        outcome = reverse_payment(uow, original_source, payment_id, body)
        results.append(
            ItemResult(index, outcome.status, payment_id, outcome.event_id, canonical_id=outcome.canonical_id)
        )
    return results


def find_originals(
    uow: UnitOfWork, source: str, lines: Sequence[StatementLine]
) -> tuple[dict[int, tuple[str, str]], set[str]]:
    """``id(line)`` -> (source, payment id) of the payment each return takes back, and the
    keys that could not decide because they name several payments.

    Three reads for the whole chunk, all within the tenant: payments of this bank (source)
    whose id is the return's bank reference; payments of any of the tenant's banks a
    remembered key points at (by the payment's event id); and the keys that are ambiguous.
    The return's own source wins over another source of the tenant; the bank reference wins
    over the keys, the keys in their order.
    """
    ids = sorted({ref for line in lines for ref in line.original_ids})
    keys = sorted({key for line in lines for key in line.keys})
    by_id: dict[str, list[tuple[str, str]]] = {}
    if ids:
        for row in uow.session.execute(
            select(received.c.source, received.c.external_id).where(
                received.c.tenant_id == uow.tenant,
                received.c.source == source,  # a bank reference means something at its own bank only
                received.c.kind == "payment",
                received.c.external_id.in_(ids),
            )
        ):
            by_id.setdefault(row.external_id, []).append((row.source, row.external_id))
    by_key: dict[str, list[tuple[str, str]]] = {}
    if keys:
        key_row, payment_row = received.alias("key_row"), received.alias("payment_row")
        joined = key_row.join(
            payment_row,
            and_(
                payment_row.c.tenant_id == key_row.c.tenant_id,
                payment_row.c.source == key_row.c.source,
                payment_row.c.kind == "payment",
                payment_row.c.event_id == key_row.c.event_id,
            ),
        )
        for hit in uow.session.execute(
            select(key_row.c.external_id.label("key"), payment_row.c.source, payment_row.c.external_id)
            .select_from(joined)
            .where(
                key_row.c.tenant_id == uow.tenant,
                key_row.c.kind == KEY_KIND,
                key_row.c.external_id.in_(keys),
            )
        ):
            by_key.setdefault(hit.key, []).append((hit.source, hit.external_id))
    ambiguous = _ambiguous(uow, keys)
    undecided: set[str] = set()
    found: dict[int, tuple[str, str]] = {}
    for line in lines:
        candidates = [c for ref in line.original_ids for c in by_id.get(ref, [])]
        for key in line.keys:
            for candidate in by_key.get(key, []):
                if (candidate[0], key) in ambiguous:
                    undecided.add(key)
                else:
                    candidates.append(candidate)
        if candidates:
            found[id(line)] = next((c for c in candidates if c[0] == source), candidates[0])
    return found, undecided


def _ambiguous(uow: UnitOfWork, keys: Sequence[str]) -> set[tuple[str, str]]:
    """(source, key) of the keys that name more than one payment."""
    if not keys:
        return set()
    c = received.c
    rows = uow.session.execute(
        select(c.source, c.external_id).where(
            c.tenant_id == uow.tenant, c.kind == AMBIGUOUS_KIND, c.external_id.in_(keys)
        )
    )
    return {(row.source, row.external_id) for row in rows}


def _not_found(line: StatementLine, undecided: set[str]) -> str:
    looked = [f"bank reference {ref}" for ref in line.original_ids]
    for key in line.keys:
        kind, _, value = key.partition(":")
        label = {"e2e": "end-to-end id", "mandate": "mandate", "ref": "reference"}[kind]
        several = " (names several payments)" if key in undecided else ""
        looked.append(f"{label} {value.split(':')[0] if kind == 'mandate' else value}{several}")
    amount = " ".join(v for v in (line.payment.get("amount"), line.payment.get("currency")) if v)
    searched = ", ".join(looked) if looked else "the line names no reference of the original payment"
    return f"{NOT_FOUND}: {amount} taken back ({line.return_reason}); looked for {searched}"


def _reason_label(line: StatementLine) -> str:
    """The reversal reason label; the contract's vocabulary normalises it."""
    if line.return_reason and line.return_reason != "reversal":
        return "direct_debit_return"
    return "reversal"


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
