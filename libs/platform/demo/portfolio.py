"""The demo portfolio as contract events: reference data, then one customer at a time.

A customer (and the one to three accounts they hold) is a pure function of the seed and the
customer's number: ``random.Random(f"{seed}:customer:{n}")`` drives every draw, so the
portfolio is the same bytes for a seed whatever its size, and no customer needs another's
state. ``libs.platform.demo.stream`` puts the customers' events in time order.

The payer model, per customer: a profile (on time, late, chronic, defaulting) fixes how
often an instalment is paid after its due date and by how many days; lateness follows the
calendar (January is hard, June and December bring the "prima de servicios"); chronic payers
often clear their arrears in one payment at the next prima; defaulting payers stop paying
from a month on, their promises break and an insurance policy is cancelled two months after
the first unpaid due date. Late instalments may get a promise to pay (kept: paid by its due
date; broken: paid later or never). Payments are sometimes partial, sometimes over the
amount (credit), sometimes without an account id or with one nobody has; cheques bounce and
cards are charged back.
"""

from __future__ import annotations

import calendar
import json
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from libs.platform.demo import catalog
from libs.platform.demo.people import Person, ascii_slug, contact_points, make_person, person_name

CENT = Decimal("0.01")
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_START = date(2026, 1, 1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, _days_in_month(year, month + 1)))


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _month_day(year_month: date, day: int) -> date:
    return year_month.replace(day=min(day, _days_in_month(year_month.year, year_month.month)))


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=4096)
def _utc_day(day_number: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day_number)).isoformat()


def _epoch_z(epoch: int) -> str:
    """``iso_z`` from a Unix second, without building a datetime (the hot path of every event)."""
    day, second = divmod(epoch, 86_400)
    hour, rest = divmod(second, 3600)
    return f"{_utc_day(day)}T{hour:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def money(value: Decimal) -> str:
    return format(value.quantize(CENT, rounding=ROUND_HALF_UP), "f")


@dataclass(frozen=True)
class DemoSpec:
    """What ``cobranza demo generate`` was asked for."""

    accounts: int
    months: int
    seed: int
    start: date = DEFAULT_START
    tenant: str = "default"

    def __post_init__(self) -> None:
        if self.accounts < 1:
            raise ValueError("--accounts must be at least 1")
        if not 1 <= self.months <= 120:
            raise ValueError("--months must be between 1 and 120")
        if not TENANT_PATTERN.fullmatch(self.tenant):
            raise ValueError(
                f"--tenant {self.tenant!r}: 1-64 letters, digits, '.', '_' or '-' (what the APIs accept)"
            )

    @property
    def end(self) -> date:
        return add_months(self.start, self.months)

    @property
    def opening(self) -> datetime:
        """When the portfolio as it stands at ``start`` is loaded (reference, customers, open invoices)."""
        return datetime.combine(self.start, dtime.min, tzinfo=UTC)

    @property
    def advisors_per_office(self) -> int:
        return max(2, min(300, math.ceil(self.accounts / (len(catalog.OFFICES) * 250))))


@dataclass
class EventSink:
    """Collects one entity's events as (epoch second, sequence, JSON line), dropping any outside the period."""

    spec: DemoSpec
    items: list[tuple[int, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._first = int(self.spec.opening.timestamp())
        self._last = int(datetime.combine(self.spec.end, dtime.min, tzinfo=UTC).timestamp())

    def add(
        self, at: datetime, source: str, kind: str, event_id: str, subject: str | None, data: dict[str, Any]
    ) -> bool:
        epoch = int(at.timestamp())
        if not self._first <= epoch < self._last:
            return False
        envelope: dict[str, Any] = {
            "specversion": "1.0",
            "id": event_id,
            "source": f"/sources/{source}",
            "type": f"cobranza.{kind}",
            "time": _epoch_z(epoch),
        }
        if subject is not None:
            envelope["subject"] = subject
        envelope["data"] = data
        envelope["tenantid"] = self.spec.tenant
        self.items.append((epoch, len(self.items), _encode(envelope)))
        return True


# --- reference data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Advisor:
    advisor_id: str
    name: str
    office_id: str
    agency_id: str | None
    email: str


def _agency_id(index: int) -> str:
    return f"AG-{index + 1:02d}"


@lru_cache(maxsize=8192)
def advisor(seed: int, office_index: int, number: int) -> Advisor:
    rng = random.Random(f"{seed}:advisor:{office_index}:{number}")
    office = catalog.OFFICES[office_index]
    name, first, surname = person_name(rng)
    agency = _agency_id(rng.randrange(len(catalog.AGENCY_NAMES))) if rng.random() < 0.65 else None
    code = office.office_id.removeprefix("OF-")
    return Advisor(
        f"ASE-{code}-{number + 1:03d}",
        name,
        office.office_id,
        agency,
        f"{ascii_slug(first)}.{ascii_slug(surname)}.{code.lower()}{number + 1}@example.com",
    )


def reference_events(spec: DemoSpec) -> list[tuple[int, int, str]]:
    """Product lines, regional offices and offices, agencies, advisors: parents before children."""
    sink = EventSink(spec)
    rng = random.Random(f"{spec.seed}:reference")
    at = spec.opening
    count = 0

    def upsert(entity_type: str, entity_id: str, data: dict[str, Any]) -> None:
        nonlocal count
        count += 1
        payload = {"entity_type": entity_type, "entity_id": entity_id, **data}
        sink.add(
            at,
            catalog.REFERENCE_SOURCE,
            "reference.upserted",
            f"REF-{count:06d}",
            f"{entity_type}:{entity_id}",
            payload,
        )

    for line in catalog.PRODUCT_LINES:
        upsert("product_line", line.line_id, {"name": line.name, "active": True})
    for office_id, name in catalog.REGIONAL_OFFICES:
        upsert("office", office_id, {"name": name, "active": True, "country": "CO"})
    for office in catalog.OFFICES:
        upsert(
            "office",
            office.office_id,
            {
                "name": office.name,
                "active": True,
                "parent_id": office.parent_id,
                "region": office.region,
                "country": "CO",
            },
        )
    for agency_id, name in catalog.PARENT_AGENCIES:
        upsert(
            "agency", agency_id, {"name": name, "active": True, "commission_rate": "0.0200", "country": "CO"}
        )
    for index, name in enumerate(catalog.AGENCY_NAMES):
        office = catalog.OFFICES[rng.randrange(len(catalog.OFFICES))]
        upsert(
            "agency",
            _agency_id(index),
            {
                "name": name,
                "active": True,
                "parent_id": catalog.PARENT_AGENCIES[index % len(catalog.PARENT_AGENCIES)][0],
                "commission_rate": f"{rng.randint(8, 18) / 100:.4f}",
                "region": office.region,
                "country": "CO",
                "email": f"cartera@{ascii_slug(name)}.example.com",
            },
        )
    for office_index in range(len(catalog.OFFICES)):
        for number in range(spec.advisors_per_office):
            person = advisor(spec.seed, office_index, number)
            data: dict[str, Any] = {"name": person.name, "active": True, "office_id": person.office_id}
            if person.agency_id:
                data["agency_id"] = person.agency_id
            data["email"] = person.email
            upsert("advisor", person.advisor_id, data)
    return sink.items


# --- customers and their accounts -------------------------------------------------------------


def _local(day: date, zone: str, hour: int, minutes: int = 0) -> datetime:
    """``hour`` o'clock plus ``minutes`` on ``day`` in the debtor's zone (the wall clock, DST included)."""
    return datetime.combine(day, dtime(hour), tzinfo=ZoneInfo(zone)) + timedelta(minutes=minutes)


def _next_prima(after: date, limit_days: int = 200) -> date | None:
    """The middle of the next prima de servicios window after ``after``, if it comes soon enough."""
    for months in range(0, 8):
        month = add_months(after.replace(day=1), months)
        window = catalog.PRIMA_WINDOWS.get(month.month)
        if window is None:
            continue
        day = month.replace(day=(window[0] + window[1]) // 2)
        if day > after and (day - after).days <= limit_days:
            return day
    return None


@dataclass
class Customer:
    """One customer's generation: the draws, the person, and the events of their accounts."""

    spec: DemoSpec
    number: int
    first_account: int
    remaining: int
    sink: EventSink = field(init=False)
    rng: random.Random = field(init=False)
    accounts: int = field(init=False)

    def __post_init__(self) -> None:
        self.sink = EventSink(self.spec)
        self.rng = random.Random(f"{self.spec.seed}:customer:{self.number}")
        self.accounts = min(self.remaining, self.rng.choices((1, 2, 3), weights=(75, 20, 5))[0])

    def generate(self) -> list[tuple[int, int, str]]:
        spec, rng = self.spec, self.rng
        person = make_person(rng, f"CUS-{self.number + 1:08d}")
        profile = rng.choices(catalog.PROFILES, weights=[p.weight for p in catalog.PROFILES])[0]
        opened = 0
        if spec.months > 1 and rng.random() < catalog.LATE_JOINERS:
            opened = rng.randint(1, spec.months - 1)
        billing_day = (
            1 if rng.random() < 0.6 else rng.randint(2, 5) if rng.random() < 0.6 else rng.randint(6, 28)
        )
        if opened == 0:
            onboarded = spec.opening + timedelta(minutes=10)
        else:
            first_bill = _month_day(add_months(spec.start.replace(day=1), opened), billing_day)
            onboarded = _local(
                first_bill - timedelta(days=rng.randint(3, 20)), person.timezone, rng.randint(9, 17)
            )
            onboarded = max(onboarded, spec.opening + timedelta(minutes=10))  # a period starting mid-month
        account_ids = [f"ACC-{self.first_account + i + 1:08d}" for i in range(self.accounts)]
        points = contact_points(rng, person, iso_z(onboarded))
        self._upsert(person, account_ids, points, onboarded, 1)
        if rng.random() < catalog.CONSENT_CHANGE_SHARE:
            self._consent_change(person, account_ids, points, onboarded)
        for offset, account_id in enumerate(account_ids):
            Account(
                self, person, profile, account_id, self.first_account + offset + 1, opened, billing_day
            ).run()
        return self.sink.items

    def _upsert(
        self, person: Person, account_ids: list[str], points: list[dict[str, Any]], at: datetime, version: int
    ) -> None:
        data: dict[str, Any] = {
            "customer_id": person.customer_id,
            "account_ids": account_ids,
            "name": person.name,
            "kind": person.kind,
            "document_id": person.document_id,
        }
        if person.email:
            data["email"] = person.email
        data.update(
            phone=person.phone,
            country=person.country,
            timezone=person.timezone,
            region=person.region,
            address=person.address,
            contact_points=points,
        )
        source = "core_polizas"
        event_id = f"CUST-{person.customer_id.removeprefix('CUS-')}-{version}"
        self.sink.add(at, source, "customer.upserted", event_id, person.customer_id, data)

    def _consent_change(
        self, person: Person, account_ids: list[str], points: list[dict[str, Any]], onboarded: datetime
    ) -> None:
        """The debtor withdraws (or grants) consent on one channel some time after onboarding."""
        rng = self.rng
        end = datetime.combine(self.spec.end, dtime.min, tzinfo=UTC)
        span = int((end - onboarded).total_seconds())
        if span <= 86_400 or not points:
            return
        at = onboarded + timedelta(seconds=rng.randint(86_400, span - 1))
        changed = rng.randrange(len(points))
        updated = [
            {**p, "consent": not p["consent"], "consent_updated_at": iso_z(at)} if i == changed else p
            for i, p in enumerate(points)
        ]
        self._upsert(person, account_ids, updated, at, 2)


@dataclass
class Invoice:
    invoice_id: str
    month: int
    issued_on: date
    due_on: date
    amount: Decimal


class Account:
    """One policy or loan: its invoices, the payments against them, promises, reversals, cancellations."""

    def __init__(
        self,
        customer: Customer,
        person: Person,
        profile: catalog.PayerProfile,
        account_id: str,
        number: int,
        opened: int,
        billing_day: int,
    ) -> None:
        self.spec = customer.spec
        self.sink = customer.sink
        self.rng = customer.rng
        self.person = person
        self.profile = profile
        self.account_id = account_id
        self.number = number
        self.opened = opened
        self.billing_day = billing_day
        rng = self.rng
        self.line = rng.choices(catalog.PRODUCT_LINES, weights=[p.weight for p in catalog.PRODUCT_LINES])[0]
        abroad = next((a for a in catalog.ABROAD if a.country == person.country), None)
        self.currency = "USD" if abroad is not None and rng.random() < abroad.usd_share else "COP"
        low, high = (
            (self.line.usd_min, self.line.usd_max)
            if self.currency == "USD"
            else (self.line.min_amount, self.line.max_amount)
        )
        raw = math.exp(rng.uniform(math.log(low), math.log(high)))
        step = Decimal("1") if self.currency == "USD" else Decimal("100")
        self.base_amount = (Decimal(str(raw)) / step).quantize(Decimal("1")) * step
        self.ipc = Decimal(rng.randint(45, 95)) / Decimal(1000)  # the January premium/instalment update
        code = self.line.line_id[:3].upper()
        self.policy_number = (
            f"{self.line.policy_prefix}-{self.number:08d}"
            if self.line.policy_prefix == "CRE"
            else f"{self.line.policy_prefix}-{code}-{self.number:08d}"
        )
        self.advisor = advisor(
            self.spec.seed, person.office_index, rng.randrange(self.spec.advisors_per_office)
        )
        self.term = rng.choice((12, 24, 36, 48, 60)) if self.line.line_id == "consumo" else None
        self.first_instalment = rng.randint(1, 12) if opened == 0 else 1
        if self.term is not None and opened == 0:
            self.first_instalment = rng.randint(1, self.term - 1)
        self.renewal_month = rng.randint(1, 12)
        self.method = self._preferred_method()
        self.default_month: int | None = None
        if profile.name == "defaulting":
            self.default_month = rng.randint(-1, self.spec.months - 1)
        self.arrears = self._opening_arrears()
        self.prima_payments: dict[date, Decimal] = {}
        self.invoice_customer = person.as_invoice_customer()

    # -- setup -------------------------------------------------------------------------------

    def _preferred_method(self) -> str:
        if self.line.line_id == "consumo" and self.rng.random() < 0.15:
            return "payroll"
        methods = [m for m in catalog.METHODS if m[0] != "payroll"]
        return self.rng.choices([m[0] for m in methods], weights=[m[1] for m in methods])[0]

    def _opening_arrears(self) -> int:
        if self.opened != 0 or not self.line.monthly:
            return 0
        if self.default_month is not None and self.default_month < 0:
            return -self.default_month
        most, share = self.profile.opening_arrears
        return self.rng.randint(1, most) if most and self.rng.random() * 100 < share else 0

    def _issue_date(self, month: int) -> date:
        return _month_day(add_months(self.spec.start.replace(day=1), month), self.billing_day)

    def _cancellation(self) -> tuple[date, date] | None:
        """(lapse, cancel_on) for a defaulting insurance policy: lapse 30 days, cancelled 60 after due."""
        if self.default_month is None or self.term is not None or not self.line.monthly:
            return None
        due = self._issue_date(self.default_month) + timedelta(days=self.line.due_days)
        return due + timedelta(days=30), due + timedelta(days=60)

    # -- the account's life --------------------------------------------------------------------

    def run(self) -> None:
        cancellation = self._cancellation()
        to_cancel: list[Invoice] = []
        instalment = self.first_instalment
        for month in range(self.opened - self.arrears, self.spec.months):
            issued = self._issue_date(month)
            if not self.line.monthly and issued.month != self.renewal_month:
                continue
            if cancellation is not None and issued >= cancellation[1]:
                break
            if self.term is not None and instalment > self.term:
                break
            invoice = self._issue(month, issued, instalment)
            instalment += 1
            if cancellation is not None and issued > cancellation[0]:
                to_cancel.append(invoice)
                continue
            self._settle(invoice)
        if cancellation is not None:
            for invoice in to_cancel:
                self._cancel(invoice, cancellation[1])
        for day, amount in sorted(self.prima_payments.items()):
            self._pay(f"PAY-{self.number:08d}-P{day:%Y%m}", day, amount, f"PRIMA {self.policy_number}")

    def _issue(self, month: int, issued: date, instalment: int) -> Invoice:
        rng = self.rng
        januaries = (self.spec.start.month - 1 + max(month, 0)) // 12  # updates since the period began
        amount = (self.base_amount * (1 + self.ipc) ** januaries).quantize(
            Decimal("1") if self.currency == "USD" else Decimal("100"), rounding=ROUND_HALF_UP
        )
        due = issued + timedelta(days=self.line.due_days)
        invoice = Invoice(f"FAC-{self.number:08d}-{instalment:03d}", month, issued, due, amount)
        data: dict[str, Any] = {
            "invoice_id": invoice.invoice_id,
            "account_id": self.account_id,
            "customer": self.invoice_customer,
            "amount": money(amount),
            "currency": self.currency,
            "issued_on": issued.isoformat(),
            "due_on": due.isoformat(),
            "product_line": self.line.line_id,
            "policy_number": self.policy_number,
            "advisor_id": self.advisor.advisor_id,
            "office_id": self.advisor.office_id,
        }
        if self.advisor.agency_id and self.term is None:
            data["agency_id"] = self.advisor.agency_id
        data["installment_number"] = instalment
        data["description"] = (
            f"Cuota {instalment} de {self.term} {self.line.name}"
            if self.term
            else f"Prima {self.line.name} {issued:%m/%Y}"
        )
        at = _local(issued, self.person.timezone, 2, rng.randint(0, 119))
        at = max(at, self.spec.opening + timedelta(minutes=20))
        self.sink.add(
            at, self.line.source, "invoice.issued", f"INV-{invoice.invoice_id}", self.account_id, data
        )
        if self.term is None and month >= 0 and rng.random() < catalog.ADJUSTMENT_SHARE:
            self._adjust(invoice)
        return invoice

    def _adjust(self, invoice: Invoice) -> None:
        rng = self.rng
        on = invoice.issued_on + timedelta(days=rng.randint(1, 5))
        reason = rng.choice(("endorsement", "premium_change", "credit_note", "discount"))
        factor = Decimal(
            rng.randint(105, 120) if reason in ("endorsement", "premium_change") else rng.randint(85, 98)
        )
        step = Decimal("1") if self.currency == "USD" else Decimal("100")
        new_amount = (invoice.amount * factor / 100 / step).quantize(Decimal("1")) * step
        data = {
            "adjustment_id": f"ADJ-{invoice.invoice_id}",
            "invoice_id": invoice.invoice_id,
            "account_id": self.account_id,
            "new_amount": money(new_amount),
            "currency": self.currency,
            "reason": reason,
            "effective_on": on.isoformat(),
            "note": "Endoso de la póliza" if reason in ("endorsement", "premium_change") else "Nota crédito",
        }
        at = _local(on, self.person.timezone, 11, rng.randint(0, 59))
        if self.sink.add(
            at, self.line.source, "invoice.adjusted", f"ADJ-{invoice.invoice_id}", self.account_id, data
        ):
            invoice.amount = new_amount
            invoice.issued_on = on  # nothing is paid before the endorsement is known

    def _cancel(self, invoice: Invoice, on: date) -> None:
        data = {
            "invoice_id": invoice.invoice_id,
            "account_id": self.account_id,
            "reason": "policy_cancelled",
            "cancelled_on": on.isoformat(),
            "note": "Terminación automática por mora (art. 1068 C.Co.)",
        }
        at = _local(on, self.person.timezone, 3)
        self.sink.add(
            at, self.line.source, "invoice.cancelled", f"CAN-{invoice.invoice_id}", self.account_id, data
        )

    # -- paying ----------------------------------------------------------------------------

    def _settle(self, invoice: Invoice) -> None:
        """Decide when (and whether) the invoice is paid, with any promise on the way."""
        rng, profile = self.rng, self.profile
        start = self.spec.start
        if self.default_month is not None and invoice.month >= self.default_month:
            if rng.random() < profile.promise_share:
                made = invoice.due_on + timedelta(days=rng.randint(8, 40))
                promise_due = made + timedelta(days=rng.randint(3, 10))
                self._promise(invoice, made, promise_due, invoice.amount)
                if rng.random() < profile.promise_kept:
                    self._pay_invoice(
                        invoice,
                        made + timedelta(days=rng.randint(0, (promise_due - made).days)),
                        invoice.amount,
                    )
                elif rng.random() < 0.2:  # a token payment: still a broken promise
                    token = (invoice.amount * Decimal(rng.randint(10, 30)) / 100).quantize(Decimal("1"))
                    self._pay_invoice(invoice, made + timedelta(days=rng.randint(1, 3)), token, suffix="T")
            return
        seasonal = catalog.SEASONAL_LATENESS[invoice.due_on.month]
        late = invoice.month < 0 or rng.random() < min(0.97, profile.late_share * seasonal)
        if not late:
            earliest = max(0, min(12, (invoice.due_on - invoice.issued_on).days - 1))
            paid_on = (
                invoice.due_on
                if self.method == "direct_debit"
                else invoice.due_on - timedelta(days=rng.randint(0, earliest))
            )
            self._pay_with_variations(invoice, max(paid_on, start))
            return
        low, high, mode = profile.late_days
        delay = max(1, round(rng.triangular(low, high, mode) * seasonal))
        paid_on = invoice.due_on + timedelta(days=delay)
        if paid_on < start:
            paid_on = start + timedelta(days=rng.randint(1, 45))
        if profile.name == "chronic" and rng.random() < catalog.PRIMA_CATCH_UP:
            prima = _next_prima(invoice.due_on)
            if prima is not None and prima >= start:
                self.prima_payments[prima] = self.prima_payments.get(prima, Decimal(0)) + invoice.amount
                return
        kept = None
        if (paid_on - invoice.due_on).days > 7 and rng.random() < profile.promise_share:
            made = max(invoice.due_on, start) + timedelta(days=rng.randint(3, 12))
            promise_due = made + timedelta(days=rng.randint(2, 10))
            self._promise(invoice, made, promise_due, invoice.amount)
            kept = rng.random() < profile.promise_kept
            if kept:
                paid_on = made + timedelta(days=rng.randint(0, (promise_due - made).days))
            else:
                paid_on = max(paid_on, promise_due + timedelta(days=rng.randint(3, 30)))
        self._pay_with_variations(invoice, paid_on, whole=bool(kept))

    def _pay_with_variations(self, invoice: Invoice, paid_on: date, *, whole: bool = False) -> None:
        rng = self.rng
        amount = invoice.amount
        if not whole and rng.random() < self.profile.partial_share:
            first = (amount * Decimal(rng.randint(40, 80)) / 100).quantize(Decimal("1"))
            self._pay_invoice(invoice, paid_on, first, suffix="A")
            self._pay_invoice(
                invoice, paid_on + timedelta(days=rng.randint(15, 45)), amount - first, suffix="B"
            )
            return
        if rng.random() < catalog.OVERPAY_SHARE:
            step = Decimal("10") if self.currency == "USD" else Decimal("50000")
            amount = (amount / step).to_integral_value(rounding=ROUND_CEILING) * step
            if amount == invoice.amount:
                amount += step
        self._pay_invoice(invoice, paid_on, amount)

    def _pay_invoice(self, invoice: Invoice, paid_on: date, amount: Decimal, suffix: str = "") -> None:
        payment_id = f"PAY-{invoice.invoice_id.removeprefix('FAC-')}{suffix}"
        reference = self.rng.choices(
            (
                invoice.invoice_id,
                self.policy_number.replace("-", " "),
                f"PAGO CUOTA {self.person.name.upper()}",
            ),
            weights=(50, 30, 20),
        )[0]
        self._pay(payment_id, paid_on, amount, reference)

    def _pay(self, payment_id: str, paid_on: date, amount: Decimal, reference: str) -> None:
        rng = self.rng
        if amount <= 0:
            return
        method = self.method if rng.random() < 0.7 else self._preferred_method()
        kind = next(m[2] for m in catalog.METHODS if m[0] == method)
        data: dict[str, Any] = {"payment_id": payment_id}
        draw = rng.random()
        identified = True
        if draw < catalog.UNIDENTIFIED_SHARE:
            identified = False
        elif draw < catalog.UNIDENTIFIED_SHARE + catalog.UNKNOWN_ACCOUNT_SHARE:
            data["account_id"] = f"ACC-9{rng.randint(0, 99_999_999):08d}"
        else:
            data["account_id"] = self.account_id
        data.update(
            amount=money(amount),
            currency=self.currency,
            received_on=paid_on.isoformat(),
            method=method,
            reference=reference
            if identified
            else rng.choice((self.policy_number, reference, "CONSIGNACION NACIONAL")),
            payer_name=self.person.name.upper(),
        )
        at = _local(paid_on, self.person.timezone, rng.randint(7, 20), rng.randint(0, 59))
        source = catalog.PAYMENT_SOURCES[kind]
        subject = data.get("account_id") or f"unidentified:{payment_id}"
        if not self.sink.add(at, source, "payment.received", f"RCV-{payment_id}", subject, data):
            return
        if not identified or data["account_id"] != self.account_id:
            return
        if method == "cheque" and rng.random() < catalog.CHEQUE_BOUNCE:
            bounced = paid_on + timedelta(days=rng.randint(2, 5))
            if self._reverse(payment_id, bounced, "bounced_cheque", "Cheque devuelto: fondos insuficientes"):
                self._pay(f"{payment_id}R", bounced + timedelta(days=rng.randint(3, 20)), amount, reference)
        elif method == "card" and rng.random() < catalog.CHARGEBACK:
            self._reverse(
                payment_id,
                paid_on + timedelta(days=rng.randint(10, 40)),
                "chargeback",
                "Contracargo del emisor",
            )

    def _reverse(self, payment_id: str, on: date, reason: str, note: str) -> bool:
        data = {
            "payment_id": payment_id,
            "account_id": self.account_id,
            "reversed_on": on.isoformat(),
            "reason": reason,
            "note": note,
        }
        at = _local(on, self.person.timezone, 9, self.rng.randint(0, 59))
        return self.sink.add(at, "banco", "payment.reversed", f"REV-{payment_id}", self.account_id, data)

    def _promise(self, invoice: Invoice, made: date, due: date, amount: Decimal) -> None:
        rng = self.rng
        via = rng.choices(
            ("call_center", "agent", "portal", "whatsapp", "ivr"), weights=(45, 15, 15, 15, 10)
        )[0]
        data: dict[str, Any] = {
            "promise_id": f"PRM-{invoice.invoice_id.removeprefix('FAC-')}",
            "account_id": self.account_id,
            "amount": money(amount),
            "currency": self.currency,
            "due_on": due.isoformat(),
            "made_via": via,
        }
        if via in ("call_center", "agent"):
            data["agent_id"] = f"AGT-{rng.randint(1, 60):03d}"
        at = _local(made, self.person.timezone, rng.randint(8, 18), rng.randint(0, 59))
        self.sink.add(
            at,
            catalog.PROMISE_SOURCES[via],
            "promise.made",
            f"PRM-{invoice.invoice_id}",
            self.account_id,
            data,
        )


def customers(spec: DemoSpec) -> Iterator[tuple[int, list[tuple[int, int, str]]]]:
    """(entity number, events) per customer until ``spec.accounts`` accounts exist; reference is entity 0."""
    yield 0, reference_events(spec)
    made = 0
    number = 0
    while made < spec.accounts:
        customer = Customer(spec, number, made, spec.accounts - made)
        yield number + 1, customer.generate()
        made += customer.accounts
        number += 1
