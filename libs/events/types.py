"""Field types shared by every event contract.

Money travels as a decimal *string* plus an ISO-4217 code so no consumer ever
sees a binary float; times must carry a timezone; countries and zones are the
ISO-3166 and IANA names a debtor's local calendar is computed from.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    EmailStr,
    PlainSerializer,
    StringConstraints,
)
from pydantic.networks import validate_email


def _reject_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError('money must be a decimal string such as "1250.50", never a binary float')
    if isinstance(value, bool):
        raise ValueError("money must be a decimal string")
    return value


MONEY_INTEGER_DIGITS = 14
MONEY_SCALE = 4
"""Every service stores money as NUMERIC(18, 4): at most 14 digits before the point and 4 after."""

_MONEY_LIMIT = Decimal(10) ** MONEY_INTEGER_DIGITS
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("money must be a finite decimal")
    if abs(value) >= _MONEY_LIMIT:
        raise ValueError(f"money must have at most {MONEY_INTEGER_DIGITS} digits before the decimal point")
    if value != value.quantize(_MONEY_QUANTUM, rounding=ROUND_DOWN):
        raise ValueError(f"money must have at most {MONEY_SCALE} decimal places")
    return value


Amount = Annotated[
    Decimal,
    BeforeValidator(_reject_float),
    AfterValidator(_finite),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
"""Any decimal amount (may be negative, e.g. an adjustment delta)."""


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must be zero or positive")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


NonNegativeAmount = Annotated[Amount, AfterValidator(_non_negative)]
PositiveAmount = Annotated[Amount, AfterValidator(_positive)]


@functools.cache
def _iso_4217() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


@functools.cache
def _iso_3166() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def _currency(code: str) -> str:
    """Every event carries one or more currencies: a set lookup, not pycountry's search per call."""
    code = code.upper()
    if code not in _iso_4217():
        raise ValueError(f"{code!r} is not an ISO-4217 currency code")
    return code


def _country(code: str) -> str:
    code = code.upper()
    if code not in _iso_3166():
        raise ValueError(f"{code!r} is not an ISO-3166 alpha-2 country code")
    return code


@functools.lru_cache(maxsize=1024)
def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _timezone(name: str) -> str:
    if not _known_zone(name):
        raise ValueError(f"{name!r} is not an IANA time zone")
    return name


CurrencyCode = Annotated[str, StringConstraints(min_length=3, max_length=3), AfterValidator(_currency)]
CountryCode = Annotated[str, StringConstraints(min_length=2, max_length=2), AfterValidator(_country)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_timezone)]
# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F; lone surrogates cannot be stored either.
_CONTROL_IN_IDENTIFIER = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")  # tab, LF, CR allowed


def printable_identifier(value: str) -> str:
    # str.isprintable() is False for every Cc and Cs code point (and for others this rule allows),
    # so a printable value passes without the regex search; anything else gets the exact rule.
    if value.isprintable():
        return value
    bad = _CONTROL_IN_IDENTIFIER.search(value)
    if bad is not None:
        raise ValueError(f"identifiers must not contain control characters (found U+{ord(bad.group()):04X})")
    return value


def _printable_text(value: str) -> str:
    if value.isprintable():  # the common case; tabs, newlines and other non-printables get the exact rule
        return value
    bad = _CONTROL_IN_TEXT.search(value)
    if bad is not None:
        raise ValueError(
            f"text must not contain control characters other than tab and newline (found U+{ord(bad.group()):04X})"
        )
    return value


Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, strip_whitespace=True),
    AfterValidator(printable_identifier),
]
Text = Annotated[str, AfterValidator(_printable_text)]
"""Free text (names, notes, remittance): any printable Unicode, tabs and newlines; never NUL or other controls."""
Label = Annotated[str, StringConstraints(max_length=200), AfterValidator(printable_identifier)]
"""A code or name from a closed set we define (bucket, stage, segment): one printable line."""


_ADDRESSES: ContextVar[dict[str, str] | None] = ContextVar("cobranza_email_memo", default=None)


@contextmanager
def addresses_memoised() -> Iterator[None]:
    """Within the block (one consumer batch, one bulk request), an e-mail address repeated is
    checked once (email-validator costs ~25 µs an address, and a batch carries a debtor's address
    with every customer and invoice event). The memo lives as long as the block, never as long as
    the process: a process-wide cache would keep an erased customer's address in memory."""
    token = _ADDRESSES.set({})
    try:
        yield
    finally:
        _ADDRESSES.reset(token)


def _normalised_email(value: str) -> str:
    """pydantic's ``EmailStr`` check (email-validator, no deliverability lookup), memoised inside
    ``addresses_memoised`` (refused values are not kept: they fail the same way again)."""
    memo = _ADDRESSES.get()
    if memo is None:
        return validate_email(value)[1]
    try:
        return memo[value]
    except KeyError:
        normalised = memo[value] = validate_email(value)[1]
        return normalised


class Email(EmailStr):
    """``EmailStr`` with the same accepted values, normalisation, errors and JSON schema, memoised
    within a batch (``addresses_memoised``)."""

    @classmethod
    def _validate(cls, input_value: str, /) -> str:
        return _normalised_email(input_value)


Channel = Literal["email", "sms", "whatsapp", "voice", "letter"]
CustomerKind = Literal["person", "company"]
Timestamp = AwareDatetime


def utc(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC (naive values are a bug upstream)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in cobranza is timezone-aware")
    return moment.astimezone(ZoneInfo("UTC"))
