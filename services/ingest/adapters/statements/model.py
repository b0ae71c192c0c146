"""What a bank statement line means to cobranza, whatever format it came in.

A statement holds more than debtors' payments: fees and outgoing transfers (debits),
returned direct debits and reversals (money taken back), entries not booked yet. Each
becomes one ``StatementLine`` with its ``movement`` said out loud, so the importer can
report every line and never skip one in silence.

Payment ids: banks reuse their statement reference (MT940 ``:20:`` is ``STARTUMSE`` every
day at many German banks) and write ``NONREF``/``NOTPROVIDED`` where they have no
reference, so neither may become an id on its own. A line keeps the bank's reference
when it is a real one, else gets a fingerprint of what makes it this line of this
statement (account, statement number and date, position, value date, amount, currency,
remittance): the same statement imported twice gives the same ids, two lines never share one.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Movement = Literal["credit", "return", "debit", "reversed_debit", "not_booked"]
"""credit: money from a debtor. return: a direct-debit return or the reversal of a credit
(money taken back). debit: fees, outgoing transfers. reversed_debit: a debit given back
(not a debtor paying). not_booked: pending/information entries the bank has not booked."""

PLACEHOLDER_REFERENCES = frozenset({"", "NONREF", "NOTPROVIDED", "NONE", "NOREF", "N/A", "NA", "-", "/"})
FINGERPRINT_PREFIX = "BS-"
FINGERPRINT_LENGTH = 24  # hex digits of sha256: 96 bits, no collision in any bank's lifetime


TEXT_LENGTH = 300
"""What the contract keeps of a remittance text or a payer's name."""


def real_reference(value: str | None) -> str | None:
    """``value`` stripped, or None when it is one of the banks' ways of saying "no reference"
    (or is broken: a control character in a reference is a bank's bug, not an id)."""
    if value is None:
        return None
    text = value.strip()
    if text.upper() in PLACEHOLDER_REFERENCES or any(_control(ch) for ch in text):
        return None
    return text


def clean_text(value: str | None, limit: int = TEXT_LENGTH) -> str | None:
    """Bank free text as one printable line: control characters dropped, whitespace collapsed,
    cut to ``limit``. Remittance is for matching and for a person to read; money is never
    rejected for the bytes a bank put in it."""
    if value is None:
        return None
    printable = "".join(" " if _control(ch) else ch for ch in value)
    return " ".join(printable.split())[:limit] or None


def _control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs")


@dataclass(frozen=True)
class StatementContext:
    """What identifies one statement: the account and the statement's number and date."""

    account: str
    number: str
    date: str


def fingerprint(
    statement: StatementContext,
    position: str,
    value_date: str | None,
    amount: Decimal | None,
    currency: str | None,
    remittance: str | None,
) -> str:
    parts = (
        statement.account,
        statement.number,
        statement.date,
        position,
        value_date or "",
        format(amount.normalize(), "f") if amount is not None else "",
        currency or "",
        remittance or "",
    )
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return FINGERPRINT_PREFIX + digest[:FINGERPRINT_LENGTH]


@dataclass
class StatementLine:
    """One line of a statement: a payment's fields plus what a return needs to find its original.

    ``original_keys`` are the matching keys of the payment a return takes back (end-to-end
    id, mandate and amount, reference); ``keys`` the same keys of a credit, recorded so a
    later return finds it.
    """

    movement: Movement
    position: str
    payment: dict[str, str]
    keys: list[str] = field(default_factory=list)
    original_ids: list[str] = field(default_factory=list)
    return_reason: str | None = None
    description: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def payment_id(self) -> str | None:
        return self.payment.get("payment_id")


def matching_keys(
    *,
    end_to_end_id: str | None,
    mandate_id: str | None,
    reference: str | None,
    amount: Decimal | None,
    currency: str | None,
) -> list[str]:
    """The keys a credit is remembered by and a return looks its original up by, best first.

    A mandate is a debtor's standing authorisation and collects every month, so it
    identifies a payment only together with the amount and currency.
    """
    keys = []
    if (e2e := real_reference(end_to_end_id)) is not None:
        keys.append(f"e2e:{e2e}")
    if (mandate := real_reference(mandate_id)) is not None and amount is not None and currency:
        keys.append(f"mandate:{mandate}:{format(amount.normalize(), 'f')}:{currency}")
    if (ref := real_reference(reference)) is not None:
        keys.append(f"ref:{ref}")
    return keys
