"""Field types shared by every event contract.

Money travels as a decimal *string* plus an ISO-4217 code so no consumer ever
sees a binary float; times must carry a timezone; countries and zones are the
ISO-3166 and IANA names a debtor's local calendar is computed from.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, PlainSerializer, StringConstraints


def _reject_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError('money must be a decimal string such as "1250.50", never a binary float')
    if isinstance(value, bool):
        raise ValueError("money must be a decimal string")
    return value


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("money must be a finite decimal")
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


def _currency(code: str) -> str:
    code = code.upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"{code!r} is not an ISO-4217 currency code")
    return code


def _country(code: str) -> str:
    code = code.upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{code!r} is not an ISO-3166 alpha-2 country code")
    return code


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc
    return name


CurrencyCode = Annotated[str, StringConstraints(min_length=3, max_length=3), AfterValidator(_currency)]
CountryCode = Annotated[str, StringConstraints(min_length=2, max_length=2), AfterValidator(_country)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_timezone)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
Channel = Literal["email", "sms", "whatsapp", "voice", "letter"]
CustomerKind = Literal["person", "company"]
Timestamp = AwareDatetime


def utc(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC (naive values are a bug upstream)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in cobranza is timezone-aware")
    return moment.astimezone(ZoneInfo("UTC"))
