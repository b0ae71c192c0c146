"""Which invoices a payment pays, in the order the business agreed (issue #3).

1. ``reference``: the payment names an open invoice id of the account (the canonical id, or the
   ``natural_id`` its source system uses when ingest had to mint ``<source>:<id>``);
2. ``normalized_reference``: the reference equals an invoice (or natural) id or policy number once spaces,
   dashes, leading zeros and case are ignored ("POL-000123" ~ "pol 123");
3. ``exact_amount``: exactly one open invoice owes exactly the amount paid;
4. ``oldest_first``: spread over the open invoices, oldest due date first;
5. whatever is left (or everything, with no open invoice) becomes credit balance.

An underpayment within the tenant's tolerance closes the invoice it leaves open and
records the write-off; the rule is then ``tolerance`` and ``matched_by`` keeps the match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache

from services.reconciliation.domain.model import (
    NO_TOLERANCE,
    ZERO,
    Allocation,
    Application,
    IncomingPayment,
    InvoiceState,
    Rule,
    Tolerance,
)

_SEPARATORS = re.compile(r"[\s\-_./#]+")
_TOKEN_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")


@lru_cache(maxsize=1 << 16)
def normalize_reference(value: str | None) -> str:
    """Case, spaces, dashes and leading zeros of each number dropped: 'POL-000123' -> 'pol123'."""
    if not value:
        return ""
    text = _SEPARATORS.sub("", value.strip().lower())
    return _TOKEN_ZEROS.sub("", text)


def reference_keys(value: str | None, max_words: int = 3) -> frozenset[str]:
    """Every way a remittance text can name an invoice or policy: the whole text normalised, and each
    run of 1 to ``max_words`` adjacent words ('PAGO POLIZA AUTO-1001' names 'auto1001';
    'POL 123' names 'pol123'). Whole words only, so '1' inside '1001' never matches."""
    if not value:
        return frozenset()
    words = value.split()
    keys = {normalize_reference(value)}
    for size in range(1, max_words + 1):
        for start in range(len(words) - size + 1):
            keys.add(normalize_reference(" ".join(words[start : start + size])))
    keys.discard("")
    return frozenset(keys)


def invoice_keys(invoice: InvoiceState) -> frozenset[str]:
    """The normalised keys a remittance can name the invoice by: its id, its source's id, its policy."""
    keys = {
        normalize_reference(invoice.invoice_id),
        normalize_reference(invoice.natural_id),
        normalize_reference(invoice.policy_number),
    }
    keys.discard("")
    return frozenset(keys)


def names_exactly(invoice: InvoiceState, reference: str) -> bool:
    """The reference is the invoice's id, or the id its source system knows it by."""
    return invoice.invoice_id == reference or invoice.natural_id == reference


def _names(invoice: InvoiceState, keys: frozenset[str]) -> bool:
    return not invoice_keys(invoice).isdisjoint(keys)


def oldest_first(invoices: Sequence[InvoiceState]) -> list[InvoiceState]:
    return sorted(invoices, key=lambda i: (i.due_on, i.issued_on, i.invoice_id))


def _open_in_currency(invoices: Sequence[InvoiceState], currency: str) -> list[InvoiceState]:
    return [i for i in invoices if i.currency == currency and i.is_open]


def allocate(
    payment_id: str,
    amount: Decimal,
    targets: Sequence[InvoiceState],
    tolerance: Tolerance = NO_TOLERANCE,
) -> tuple[list[Allocation], Decimal]:
    """Spread ``amount`` over ``targets`` in order; returns the allocations and what is left.

    When the money runs out on an invoice and what it still owes is within
    ``tolerance``, that shortfall is written off and the invoice closes.
    """
    remaining = amount
    allocations: list[Allocation] = []
    for invoice in targets:
        if remaining <= 0:
            break
        if not invoice.is_open:
            continue
        take = min(remaining, invoice.open_amount)
        remaining -= take
        open_after = invoice.open_amount - take
        written_off = ZERO
        if remaining == 0 and tolerance.allows(open_after, invoice.amount):
            written_off, open_after = open_after, ZERO
        allocations.append(Allocation(payment_id, invoice.invoice_id, take, open_after, written_off))
    return allocations, remaining


def _finish(
    payment: IncomingPayment,
    rule: Rule,
    targets: Sequence[InvoiceState],
    tolerance: Tolerance,
) -> Application:
    allocations, left = allocate(payment.payment_id, payment.amount, targets, tolerance)
    wrote_off = any(a.written_off > 0 for a in allocations)
    return Application(
        payment_id=payment.payment_id,
        account_id=payment.account_id,
        currency=payment.currency,
        rule="tolerance" if wrote_off else rule,
        matched_by=rule if wrote_off else None,
        allocations=tuple(allocations),
        credit_created=left,
    )


def _then_the_rest(
    first: Sequence[InvoiceState], open_invoices: Sequence[InvoiceState]
) -> list[InvoiceState]:
    chosen = {i.invoice_id for i in first}
    return [*first, *(i for i in oldest_first(open_invoices) if i.invoice_id not in chosen)]


def match_payment(
    payment: IncomingPayment,
    invoices: Sequence[InvoiceState],
    tolerance: Tolerance = NO_TOLERANCE,
) -> Application:
    """Apply a payment of a known account to that account's invoices (any state; filtered here)."""
    open_invoices = oldest_first(
        _open_in_currency([i for i in invoices if i.account_id == payment.account_id], payment.currency)
    )
    if not open_invoices:
        return Application(
            payment.payment_id, payment.account_id, payment.currency, "credit_balance", (), payment.amount
        )
    reference = (payment.reference or "").strip()
    if reference:
        exact = [i for i in open_invoices if names_exactly(i, reference)]
        if exact:
            return _finish(payment, "reference", _then_the_rest(exact, open_invoices), tolerance)
        keys = reference_keys(reference)
        if keys:
            named = [i for i in open_invoices if _names(i, keys)]
            if named:
                return _finish(
                    payment, "normalized_reference", _then_the_rest(named, open_invoices), tolerance
                )
    same_amount = [i for i in open_invoices if i.open_amount == payment.amount]
    if len(same_amount) == 1:
        return _finish(payment, "exact_amount", same_amount, tolerance)
    return _finish(payment, "oldest_first", open_invoices, tolerance)


def apply_manually(
    payment: IncomingPayment,
    invoices: Sequence[InvoiceState],
    invoice_id: str | None,
) -> Application:
    """An operator's decision: the chosen invoice first, the rest oldest first, then credit."""
    open_invoices = oldest_first(
        _open_in_currency([i for i in invoices if i.account_id == payment.account_id], payment.currency)
    )
    first = [i for i in open_invoices if i.invoice_id == invoice_id]
    allocations, left = allocate(payment.payment_id, payment.amount, _then_the_rest(first, open_invoices))
    return Application(
        payment.payment_id, payment.account_id, payment.currency, "manual", tuple(allocations), left
    )


def resolve_account(
    reference: str | None,
    currency: str,
    invoices: Sequence[InvoiceState],
) -> tuple[str | None, Rule | None, bool]:
    """For a payment without account: the account its reference points to, the rule, and ambiguity.

    Exact invoice ids win (canonical or natural: two sources' ``INV-1`` on two accounts is
    ambiguous); otherwise a normalised invoice or policy number must point to one account only
    (two accounts sharing a policy number is ambiguous and goes to suspense).
    """
    ref = (reference or "").strip()
    if not ref:
        return None, None, False
    exact = {i.account_id for i in invoices if names_exactly(i, ref)}
    if len(exact) == 1:
        return exact.pop(), "reference", False
    keys = reference_keys(ref)
    if not keys:
        return None, None, False
    named = {i.account_id for i in invoices if _names(i, keys)}
    preferred = {i.account_id for i in invoices if _names(i, keys) and i.currency == currency}
    if len(preferred) == 1:
        return preferred.pop(), "normalized_reference", False
    if len(named) == 1:
        return named.pop(), "normalized_reference", False
    return None, None, len(named) > 1
