"""Property: money is conserved. For any sequence of invoices, payments (to known, unknown or
no account), customer links, reversals and cancellations, per (account, currency): live
allocations + credit balance of the payments placed on the account == those payments not
reversed, and suspense == the parked payments not reversed; every invoice owes exactly its
amount minus the cash and write-offs applied to it; a payment that named an account is only
ever placed on that account.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.reconciliation.domain.ledger import apply_credit, reverse, shrink
from services.reconciliation.domain.matching import match_payment, resolve_account
from services.reconciliation.domain.model import (
    ZERO,
    Allocation,
    Application,
    CreditLot,
    IncomingPayment,
    InvoiceState,
    Tolerance,
)
from services.reconciliation.domain.suspense import ParkedPayment, apply_parked, placements

ACCOUNTS = ["A1", "A2", "A3"]
CURRENCIES = ["COP", "USD"]
TOLERANCE = Tolerance(absolute=Decimal("2.00"), ratio=Decimal("0.05"))
START = date(2026, 1, 1)


@dataclass
class Books:
    """An in-memory stand-in for the tables, driven by the same domain functions as the handlers."""

    invoices: dict[str, InvoiceState] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    allocations: list[Allocation] = field(default_factory=list)
    lots: dict[str, CreditLot] = field(default_factory=dict)
    suspense: dict[str, ParkedPayment] = field(default_factory=dict)
    payments: dict[str, tuple[str, Decimal, bool]] = field(default_factory=dict)  # currency, amount, reversed
    owner: dict[str, str | None] = field(default_factory=dict)
    claimed: dict[str, str] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    day: int = 0

    def _record(self, items: tuple[Allocation, ...] | list[Allocation]) -> None:
        for a in items:
            self.allocations.append(a)
            self.invoices[a.invoice_id] = replace(self.invoices[a.invoice_id], open_amount=a.open_after)

    def _credit(self, payment_id: str, account: str, currency: str, amount: Decimal) -> None:
        if amount <= 0:
            return
        lot = self.lots.get(payment_id)
        total = amount + (lot.amount if lot else ZERO)
        self.lots[payment_id] = CreditLot(payment_id, currency, total, START + timedelta(days=self.day))
        self.owner[payment_id] = account

    def account_lots(self, account: str) -> list[CreditLot]:
        return [lot for pid, lot in self.lots.items() if self.owner.get(pid) == account]

    def live(self) -> list[InvoiceState]:
        return [i for i in self.invoices.values() if i.invoice_id not in self.cancelled]

    def _rematch(self, reachable: set[str]) -> None:
        """What the handlers do after an invoice or customer link: place what is now identifiable."""
        placed = placements(list(self.suspense.values()), self.live(), reachable)
        applications: list[Application] = apply_parked(placed, self.live(), lambda _currency: TOLERANCE)
        for (parked, account), application in zip(placed, applications, strict=True):
            del self.suspense[parked.payment_id]
            self.owner[parked.payment_id] = account
            self._record(application.allocations)
            self._credit(parked.payment_id, account, parked.currency, application.credit_created)

    def issue(self, n: int, account: str, currency: str, amount: Decimal) -> None:
        self.day += 1
        invoice_id = f"I{n}"
        if invoice_id in self.invoices:
            return
        self.known.add(account)
        day = START + timedelta(days=self.day)
        invoice = InvoiceState(
            invoice_id, account, currency, amount, amount, day + timedelta(days=n % 7), day
        )
        self.invoices[invoice_id] = invoice
        for use in apply_credit(invoice, self.account_lots(account)):
            lot = self.lots[use.payment_id]
            self.lots[use.payment_id] = replace(lot, amount=use.lot_remaining)
            self._record([Allocation(use.payment_id, invoice_id, use.amount, use.open_after)])
        self._rematch({account})

    def link(self, account: str) -> None:
        self.day += 1
        self.known.add(account)
        self._rematch({account})

    def pay(self, n: int, account: str | None, currency: str, amount: Decimal, ref: int | None) -> None:
        self.day += 1
        payment_id = f"P{n}"
        if payment_id in self.payments:
            return
        reference = f"I{ref}" if ref is not None else None
        live = self.live()
        received_on = START + timedelta(days=self.day)
        self.payments[payment_id] = (currency, amount, False)
        if account is not None:
            self.claimed[payment_id] = account
        if account is None:
            account, _, _ = resolve_account(reference, currency, live)
        elif account not in self.known:  # nobody knows the account: suspense, never phantom credit
            self.suspense[payment_id] = ParkedPayment(
                payment_id, currency, amount, received_on, reference, account
            )
            self.owner[payment_id] = None
            return
        if account is None:
            self.suspense[payment_id] = ParkedPayment(payment_id, currency, amount, received_on, reference)
            self.owner[payment_id] = None
            return
        self.owner[payment_id] = account
        incoming = IncomingPayment(payment_id, account, currency, amount, received_on, reference)
        application = match_payment(incoming, live, TOLERANCE)
        self._record(application.allocations)
        self._credit(payment_id, account, currency, application.credit_created)

    def reverse(self, n: int) -> None:
        payment_id = f"P{n}"
        if payment_id not in self.payments or self.payments[payment_id][2]:
            return
        currency, amount, _ = self.payments[payment_id]
        self.payments[payment_id] = (currency, amount, True)
        if self.suspense.pop(payment_id, None) is not None:
            return
        mine = [a for a in self.allocations if a.payment_id == payment_id]
        live = [i for i in self.invoices.values() if i.invoice_id not in self.cancelled]
        result = reverse(payment_id, mine, live, list(self.lots.values()))
        for item in result.reopened:
            if item.invoice_id not in self.cancelled:
                self.invoices[item.invoice_id] = replace(
                    self.invoices[item.invoice_id], open_amount=item.open_after
                )
        self.allocations = [a for a in self.allocations if a.payment_id != payment_id]
        self.lots.pop(payment_id, None)

    def cancel(self, n: int) -> None:
        invoice_id = f"I{n}"
        if invoice_id not in self.invoices or invoice_id in self.cancelled:
            return
        invoice = self.invoices[invoice_id]
        mine = [a for a in self.allocations if a.invoice_id == invoice_id]
        _, freed = shrink(invoice, ZERO, mine)
        kept = [a for a in self.allocations if a.invoice_id != invoice_id]
        for payment_id, amount in freed:
            self._credit(payment_id, invoice.account_id, invoice.currency, amount)
        self.allocations = kept  # every cash allocation was freed to credit, write-offs released
        self.cancelled.add(invoice_id)
        self.invoices[invoice_id] = replace(invoice, amount=ZERO, open_amount=ZERO)


amounts = st.decimals(min_value=Decimal("1"), max_value=Decimal("500"), places=2)
small = st.integers(min_value=0, max_value=8)
operations = st.one_of(
    st.tuples(st.just("issue"), small, st.sampled_from(ACCOUNTS), st.sampled_from(CURRENCIES), amounts),
    st.tuples(
        st.just("pay"),
        small,
        st.one_of(st.none(), st.sampled_from(ACCOUNTS)),
        st.sampled_from(CURRENCIES),
        amounts,
        st.one_of(st.none(), small),
    ),
    st.tuples(st.just("reverse"), small),
    st.tuples(st.just("cancel"), small),
    st.tuples(st.just("link"), st.sampled_from(ACCOUNTS)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(operations, max_size=30))
def test_money_is_conserved_per_account_and_currency(ops: list[tuple[object, ...]]) -> None:
    books = Books()
    for op in ops:
        kind, *args = op
        getattr(books, str(kind))(*args)

    by_invoice = {i.invoice_id: i for i in books.invoices.values()}
    for account in [*ACCOUNTS, None]:
        for currency in CURRENCIES:
            mine = {
                pid
                for pid, (c, _, rev) in books.payments.items()
                if c == currency and not rev and books.owner.get(pid) == account
            }
            received = sum((books.payments[pid][1] for pid in mine), ZERO)
            allocated = sum((a.amount for a in books.allocations if a.payment_id in mine), ZERO)
            assert all(
                by_invoice[a.invoice_id].account_id == account
                and by_invoice[a.invoice_id].currency == currency
                for a in books.allocations
                if a.payment_id in mine
            )
            credit = sum((lot.amount for pid, lot in books.lots.items() if pid in mine), ZERO)
            parked = sum((p.amount for pid, p in books.suspense.items() if pid in mine), ZERO)
            if account is None:
                assert allocated + credit == 0 and parked == received
            else:
                assert allocated + credit == received and parked == 0

    for payment_id, account in books.claimed.items():
        assert books.owner.get(payment_id) in (account, None)  # placed on the account it named, or waiting
        if books.owner.get(payment_id) is None and not books.payments[payment_id][2]:
            assert account not in books.known  # a known account never leaves its payments in suspense
    assert all(
        p.claimed_account_id is None or p.claimed_account_id not in books.known
        for p in books.suspense.values()
    )

    for invoice in books.invoices.values():
        assert invoice.open_amount >= 0
        if invoice.invoice_id in books.cancelled:
            continue
        cash = sum((a.amount for a in books.allocations if a.invoice_id == invoice.invoice_id), ZERO)
        written_off = sum(
            (a.written_off for a in books.allocations if a.invoice_id == invoice.invoice_id), ZERO
        )
        assert invoice.amount - invoice.open_amount == cash + written_off
        assert all(a.invoice_id in books.invoices for a in books.allocations)
    assert all(lot.amount >= 0 for lot in books.lots.values())
