"""Account profiles kept from the facts other services announce, for a whole batch at once.

``Profiles`` holds a batch's accounts and every fact of theirs the batch can reach (read once,
one query per table), and applies the batch's events to them in arrival order, exactly as the
one-event-at-a-time handlers did: the account row is created by its first fact (whose currency
becomes the account's), balances and counters are recomputed from the stored facts after each
event that changes them, and every point where an account must be re-segmented is recorded as a
``Step`` (the account's state then, its local today and its scoring features). Scoring all steps
is then one vectorised call and segmenting one pass over them (``segmenting.assign_steps``), so a
batch announces the same segment changes, with the same causes, as one event at a time.

An account becomes relevant (is re-segmented) once it has an invoice; facts that arrive before
that are kept and counted when the first invoice arrives. Balances are reconciliation's: each
invoice's open amount as its last allocation set it (its amount while none arrived) minus the
credit, never floored.

**Currencies.** Aging, reconciliation and ingest speak per (account, currency); a segment is per
account. Each account keeps one delinquency state per currency (``row["currencies"]``: bucket,
stage, days past due, aged on, overdue and credit), and the account's own columns (``currency``,
``bucket``, balances…) are those of its **deciding currency** (``deciding_currency``): the worst
delinquency, then the most open invoices, then the currency code. The segment is therefore a
function of the set of per-currency facts, not of the order the topics deliver them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.segmentation.domain.attributes import AccountState
from services.segmentation.domain.scoring import AccountHistory, AgingPoint, PaymentPoint, features_as_of

DEFAULT_TIMEZONE = "America/Bogota"
SCALE = Decimal("0.0001")
"""NUMERIC(18,4): money is held at the scale it is stored with, so a value reads the same either way."""


class UnknownInvoice(LookupError):
    """An adjustment or cancellation of an invoice of the account that was never issued here."""

    def __init__(self, invoice_id: str, account_id: str) -> None:
        super().__init__(f"invoice_id: invoice {invoice_id} of account {account_id} was never issued")


def money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(SCALE)


def local_today(now: datetime, timezone: str | None) -> date:
    return now.astimezone(ZoneInfo(timezone or DEFAULT_TIMEZONE)).date()


ACCOUNT_DEFAULTS: dict[str, Any] = {
    "timezone": DEFAULT_TIMEZONE,
    "customer_id": None,
    "customer_kind": None,
    "country": None,
    "region": None,
    "product_line": None,
    "advisor_id": None,
    "office_id": None,
    "agency_id": None,
    "first_issued_on": None,
    "total_balance": money(0),
    "credit_balance": money(0),
    "bucket": "current",
    "stage": None,
    "days_past_due": 0,
    "aged_on": None,
    "overdue_balance": money(0),
    "broken_promises": 0,
    "kept_promises": 0,
    "last_payment_on": None,
    "score": None,
    "score_source": None,
    "segment": None,
    "segment_rule": None,
    "rules_version": None,
    "reasons": None,
    "segmented_at": None,
}
"""A new account row's columns besides its key, currency, currencies and ``updated_at`` (the table's defaults)."""

CURRENCY_DEFAULTS: dict[str, Any] = {
    "bucket": "current",
    "stage": None,
    "days_past_due": 0,
    "aged_on": None,
    "overdue_balance": money(0),
    "credit_balance": money(0),
}
"""One currency's delinquency state before any fact of aging or reconciliation in it."""
CURRENCY_FIELDS = tuple(CURRENCY_DEFAULTS)


def currency_state_from_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """A stored (JSON) currency state with its money and dates typed again."""
    aged_on = value.get("aged_on")
    return {
        "bucket": value.get("bucket") or "current",
        "stage": value.get("stage"),
        "days_past_due": int(value.get("days_past_due") or 0),
        "aged_on": date.fromisoformat(aged_on) if isinstance(aged_on, str) else aged_on,
        "overdue_balance": money(value.get("overdue_balance") or 0),
        "credit_balance": money(value.get("credit_balance") or 0),
    }


def effective_days_past_due(state: Mapping[str, Any], today: date) -> int:
    """Days past due today: aging's figure plus the days since it said it (0 while current)."""
    dpd = int(state["days_past_due"])
    if dpd <= 0:
        return 0
    aged_on = state["aged_on"]
    return dpd if aged_on is None else dpd + max((today - aged_on).days, 0)


def deciding_currency(
    states: Mapping[str, Mapping[str, Any]], open_invoices: Mapping[str, int], today: date
) -> str:
    """The currency an account is profiled and segmented in: its worst delinquency.

    Most days past due today first; a tie (e.g. every currency current) goes to the currency with
    more open invoices, then to the alphabetically first currency code. A function of the set of
    per-currency facts only, never of the order they arrived in.
    """
    return min(
        states, key=lambda c: (-effective_days_past_due(states[c], today), -open_invoices.get(c, 0), c)
    )


def account_state(row: Mapping[Any, Any]) -> AccountState:
    """What rules see of an account row (a ``segmentation.accounts`` row as a mapping)."""
    return AccountState(
        account_id=row["account_id"],
        currency=row["currency"],
        total_balance=Decimal(row["total_balance"]),
        overdue_balance=Decimal(row["overdue_balance"]),
        bucket=row["bucket"],
        stage=row["stage"],
        days_past_due=row["days_past_due"],
        aged_on=row["aged_on"],
        product_line=row["product_line"],
        country=row["country"],
        region=row["region"],
        advisor_id=row["advisor_id"],
        office_id=row["office_id"],
        agency_id=row["agency_id"],
        customer_kind=row["customer_kind"],
        broken_promises=row["broken_promises"],
        kept_promises=row["kept_promises"],
        last_payment_on=row["last_payment_on"],
        first_issued_on=row["first_issued_on"],
        score=float(row["score"]) if row["score"] is not None else None,
    )


@dataclass(slots=True)
class Invoice:
    invoice_id: str
    account_id: str
    amount: Decimal
    open_amount: Decimal | None
    """as reconciliation last set it; None: no allocation yet, the whole amount is owed"""
    currency: str
    issued_on: date
    due_on: date
    cancelled: bool = False


@dataclass(slots=True)
class Payment:
    payment_id: str
    account_id: str
    amount: Decimal
    currency: str
    received_on: date
    on_time: bool
    reversed: bool = False


@dataclass(frozen=True, slots=True)
class Aging:
    event_id: str
    account_id: str
    currency: str
    effective_on: date
    bucket: str
    stage: str | None
    days_past_due: int
    overdue_amount: Decimal


@dataclass(slots=True)
class PromiseOutcome:
    promise_id: str
    account_id: str
    outcome: str
    due_on: date


@dataclass(frozen=True, slots=True)
class Step:
    """One re-segmentation the per-event path did: after ``cause``, of ``account_id``, as it then stood."""

    cause: Any
    account_id: str
    state: AccountState
    today: date
    features: dict[str, float]


@dataclass
class _Facts:
    """One account's facts, by id (what its aggregates and its scoring history are computed from)."""

    invoices: dict[str, Invoice] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    aging: list[Aging] = field(default_factory=list)
    promises: dict[str, PromiseOutcome] = field(default_factory=dict)


class Profiles:
    """The batch's accounts and reachable facts, changed event by event; what changed is written back."""

    def __init__(
        self,
        now: datetime,
        *,
        accounts: Iterable[dict[str, Any]],
        invoices: Iterable[Invoice],
        payments: Iterable[Payment],
        aging: Iterable[Aging],
        promises: Iterable[PromiseOutcome],
        early_open_amounts: Mapping[str, Decimal],
    ) -> None:
        self.now = now
        self.accounts: dict[str, dict[str, Any]] = {}
        for row in accounts:
            # a row written without its currencies (bulk loads) holds its one currency in its columns
            stored = row.get("currencies") or {row["currency"]: {k: row[k] for k in CURRENCY_FIELDS}}
            row["currencies"] = {c: currency_state_from_json(v) for c, v in stored.items()}
            self.accounts[row["account_id"]] = row
        self.invoices: dict[str, Invoice] = {}
        self.payments: dict[str, Payment] = {}
        self.aging_ids: set[str] = set()
        self.promises: dict[str, PromiseOutcome] = {}
        self._facts: dict[str, _Facts] = {}
        for invoice in invoices:
            self._add_invoice(invoice)
        for payment in payments:
            self._add_payment(payment)
        for point in aging:
            self._add_aging(point)
        for promise in promises:
            self._add_promise(promise)
        self.early: dict[str, Decimal] = dict(early_open_amounts)
        self.early_stored = frozenset(early_open_amounts)
        """early open amounts that are rows of the table (deleted when taken)"""
        self.changed_accounts: set[str] = set()
        self.changed_invoices: set[str] = set()
        self.changed_payments: set[str] = set()
        self.new_aging: list[Aging] = []
        self.changed_promises: set[str] = set()
        self.changed_early: set[str] = set()
        self.steps: list[Step] = []

    # -- facts -----------------------------------------------------------------------------

    def _facts_of(self, account_id: str) -> _Facts:
        facts = self._facts.get(account_id)
        if facts is None:
            facts = self._facts[account_id] = _Facts()
        return facts

    def _add_invoice(self, invoice: Invoice) -> None:
        self.invoices[invoice.invoice_id] = invoice
        self._facts_of(invoice.account_id).invoices[invoice.invoice_id] = invoice

    def _add_payment(self, payment: Payment) -> None:
        self.payments[payment.payment_id] = payment
        self._facts_of(payment.account_id).payments[payment.payment_id] = payment

    def _add_aging(self, point: Aging) -> None:
        self.aging_ids.add(point.event_id)
        self._facts_of(point.account_id).aging.append(point)

    def _add_promise(self, promise: PromiseOutcome) -> None:
        self.promises[promise.promise_id] = promise
        self._facts_of(promise.account_id).promises[promise.promise_id] = promise

    def history(self, account_id: str) -> AccountHistory:
        """The account's scoring history, in date order (what ``features_as_of`` reads).

        Invoices and aging in the account's deciding currency (amounts are only comparable within
        one currency); payments and promises of every currency (the debtor's behaviour).
        """
        facts = self._facts_of(account_id)
        currency = self.accounts[account_id]["currency"]
        history = AccountHistory(account_id)
        history.invoices = sorted(
            (i.issued_on, i.amount)
            for i in facts.invoices.values()
            if not i.cancelled and i.currency == currency
        )
        history.payments = [
            PaymentPoint(p.received_on, p.amount, p.on_time)
            for p in sorted(facts.payments.values(), key=lambda p: (p.received_on, p.payment_id))
            if not p.reversed
        ]
        history.aging = [
            AgingPoint(a.effective_on, a.bucket, a.days_past_due, a.overdue_amount)
            for a in sorted(facts.aging, key=lambda a: (a.effective_on, a.days_past_due, a.event_id))
            if a.currency == currency
        ]
        for promise in sorted(facts.promises.values(), key=lambda p: (p.due_on, p.promise_id)):
            (history.kept if promise.outcome == "kept" else history.broken).append(promise.due_on)
        return history

    # -- accounts --------------------------------------------------------------------------

    def ensure_account(self, account_id: str, currency: str, **profile: Any) -> dict[str, Any]:
        """The account's state in ``currency`` (created with the account or the currency if new).

        A new row takes every profile value given; an existing one only those that are not None.
        """
        row = self.accounts.get(account_id)
        self.changed_accounts.add(account_id)
        if row is None:
            row = {"account_id": account_id, "currency": currency, **ACCOUNT_DEFAULTS, **profile}
            row["currencies"] = {}
            self.accounts[account_id] = row
        else:
            row.update({k: v for k, v in profile.items() if v is not None})
        row["updated_at"] = self.now
        state = row["currencies"].get(currency)
        if state is None:
            state = row["currencies"][currency] = dict(CURRENCY_DEFAULTS)
        return state

    def refresh(self, account_id: str) -> None:
        """Recompute the account's balances and counters from its stored facts."""
        row = self.accounts.get(account_id)
        if row is None:
            return
        facts = self._facts_of(account_id)
        live = [i for i in facts.invoices.values() if not i.cancelled]
        owed: dict[str, Decimal] = {}
        open_invoices: dict[str, int] = {}
        for i in live:
            amount = i.amount if i.open_amount is None else i.open_amount
            owed[i.currency] = owed.get(i.currency, money(0)) + amount
            if amount > 0:
                open_invoices[i.currency] = open_invoices.get(i.currency, 0) + 1
        states = row["currencies"]
        if states:
            currency = deciding_currency(states, open_invoices, local_today(self.now, row["timezone"]))
            row["currency"] = currency
            row.update(states[currency])
        row["total_balance"] = owed.get(row["currency"], money(0)) - row["credit_balance"]
        row["last_payment_on"] = max(
            (p.received_on for p in facts.payments.values() if not p.reversed), default=None
        )
        row["first_issued_on"] = min((i.issued_on for i in live), default=None)
        outcomes = [p.outcome for p in facts.promises.values()]
        row["broken_promises"] = outcomes.count("broken")
        row["kept_promises"] = outcomes.count("kept")
        self.changed_accounts.add(account_id)

    def resegment(self, cause: Any, account_id: str) -> None:
        """Record a re-segmentation of the account as it stands now (accounts without an invoice wait)."""
        row = self.accounts.get(account_id)
        if row is None or row["first_issued_on"] is None:
            return
        today = local_today(self.now, row["timezone"])
        features = features_as_of(self.history(account_id), today)
        self.steps.append(Step(cause, account_id, account_state(row), today, features))

    def after(self, cause: Any, account_id: str) -> None:
        self.refresh(account_id)
        self.resegment(cause, account_id)

    def set_credit(self, account_id: str | None, currency: str, credit_after: Decimal) -> None:
        """Reconciliation's credit balance of the account in ``currency`` (accounts seen here only)."""
        row = self.accounts.get(account_id) if account_id is not None else None
        if row is not None:
            self.ensure_account(row["account_id"], currency)["credit_balance"] = money(credit_after)

    # -- invoices --------------------------------------------------------------------------

    def known_invoice(self, invoice_id: str, account_id: str) -> Invoice:
        invoice = self.invoices.get(invoice_id)
        if invoice is None or invoice.account_id != account_id:
            raise UnknownInvoice(invoice_id, account_id)
        return invoice

    def issue_invoice(self, invoice: Invoice) -> None:
        """A first issue stands (a repeat changes nothing); an early open amount is taken either way."""
        early = self.take_early_open_amount(invoice.invoice_id)
        if invoice.invoice_id in self.invoices:
            return
        invoice.open_amount = early
        self._add_invoice(invoice)
        self.changed_invoices.add(invoice.invoice_id)

    def adjust_invoice(self, invoice: Invoice, new_amount: Decimal, new_due_on: date | None) -> None:
        """What was paid stays paid: the open amount moves with the billed amount (never below 0)."""
        new_amount = money(new_amount)
        if invoice.open_amount is not None:
            invoice.open_amount = max(money(0), new_amount - (invoice.amount - invoice.open_amount))
        invoice.amount = new_amount
        if new_due_on is not None:
            invoice.due_on = new_due_on
        self.changed_invoices.add(invoice.invoice_id)

    def cancel_invoice(self, invoice: Invoice) -> None:
        invoice.cancelled = True
        self.changed_invoices.add(invoice.invoice_id)

    def take_early_open_amount(self, invoice_id: str) -> Decimal | None:
        """The open amount an allocation set before the invoice arrived, removed from the waiting list."""
        self.changed_early.discard(invoice_id)
        return self.early.pop(invoice_id, None)

    def set_open_amounts(self, changes: Iterable[tuple[str, Decimal]]) -> set[str]:
        """Set invoices' open amounts as reconciliation computed them; returns the accounts touched.

        Invoices not issued here yet keep theirs until ``invoice.issued`` arrives (the latest wins).
        """
        touched: set[str] = set()
        for invoice_id, amount in dict(changes).items():
            invoice = self.invoices.get(invoice_id)
            if invoice is None:
                self.early[invoice_id] = money(amount)
                self.changed_early.add(invoice_id)
                continue
            invoice.open_amount = money(amount)
            self.changed_invoices.add(invoice_id)
            touched.add(invoice.account_id)
        return touched

    # -- payments, aging, promises -----------------------------------------------------------

    def record_payment(self, payment: Payment) -> None:
        """A payment is kept once, by id, whichever topic brought it first."""
        if payment.payment_id in self.payments:
            return
        self._add_payment(payment)
        self.changed_payments.add(payment.payment_id)

    def reverse_payment(self, payment_id: str, account_id: str) -> bool:
        """Mark the account's payment reversed; False when it was never seen here."""
        payment = self.payments.get(payment_id)
        if payment is None or payment.account_id != account_id:
            return False
        payment.reversed = True
        self.changed_payments.add(payment_id)
        return True

    def record_aging(self, point: Aging, state: dict[str, Any]) -> None:
        """Keep the aged fact and make it its currency's delinquency state (``state``)."""
        state.update(
            bucket=point.bucket,
            stage=point.stage,
            days_past_due=point.days_past_due,
            overdue_balance=point.overdue_amount,
            aged_on=point.effective_on,
        )
        if point.event_id in self.aging_ids:
            return
        self._add_aging(point)
        self.new_aging.append(point)

    def record_promise(self, promise: PromiseOutcome) -> None:
        """The outcome of a promise already stored changes; its account and due date stay."""
        stored = self.promises.get(promise.promise_id)
        if stored is None:
            self._add_promise(promise)
        else:
            stored.outcome = promise.outcome
        self.changed_promises.add(promise.promise_id)

    def update_customers(self, account_ids: Iterable[str], profile: Mapping[str, Any]) -> list[str]:
        """The customer master's profile on the accounts known here; returns them (sorted)."""
        touched = sorted({a for a in account_ids if a in self.accounts})
        for account_id in touched:
            row = self.accounts[account_id]
            row.update(profile)
            row["updated_at"] = self.now
            self.changed_accounts.add(account_id)
        return touched

    # -- written back ----------------------------------------------------------------------

    @property
    def early_taken(self) -> list[str]:
        """Stored early open amounts the batch took (rows to delete)."""
        return sorted(self.early_stored - set(self.early))
