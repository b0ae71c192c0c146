"""Contact data standardisation and cross-source customer linking (pure rules, no I/O).

* Phones become E.164 with ``phonenumbers``, parsed in the customer's country.
* Country comes from the address first, then from the phone's region.
* The time zone is the country's primary IANA zone (``pytz.country_timezones``: the zone
  listed first for the country in the IANA zone.tab, e.g. CO -> America/Bogota).
* The same customer sent by two source systems is linked by document id first,
  then e-mail, then phone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any, Literal, TypeVar

import phonenumbers
import pytz
from email_validator import EmailNotValidError, validate_email

from libs.events.types import addresses_memoised

LinkRule = Literal["document_id", "email", "phone"]
LINK_RULES: tuple[LinkRule, ...] = ("document_id", "email", "phone")


class StandardisationError(ValueError):
    """A value that cannot be standardised; ``field`` is the path reported to the caller."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


_R = TypeVar("_R")
_MEMO: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("ingest_standardise_memo", default=None)


@contextmanager
def one_batch() -> Iterator[None]:
    """Within the block, a phone, e-mail or contact repeated in the batch is standardised once.

    The memo lives as long as the block (one request, one file chunk), never as long as the
    process: a process-wide cache would keep an erased debtor's phone and e-mail in memory (habeas
    data); what outlives the batch is ``ingest.debtors``, which the erasure deletes.
    """
    token = _MEMO.set({})
    try:
        with addresses_memoised():  # the contracts' e-mail check, the same way
            yield
    finally:
        _MEMO.reset(token)


def _per_batch(fn: Callable[..., _R]) -> Callable[..., _R]:
    """``fn`` memoised inside ``one_batch`` (errors are not kept: a bad value fails the same way again)."""

    @wraps(fn)
    def memoised(*args: Any) -> _R:
        memo = _MEMO.get()
        if memo is None:
            return fn(*args)
        key = (fn, *args)
        try:
            hit: _R = memo[key]
        except KeyError:
            hit = memo[key] = fn(*args)
        return hit

    return memoised


def normalise_phone(raw: str, country: str | None, *, field: str = "phone") -> tuple[str, str | None]:
    """Return the E.164 form and the number's ISO country; numbers without ``+`` need ``country``."""
    return _phone(raw, country, field)


@_per_batch
def _phone(raw: str, country: str | None, field: str) -> tuple[str, str | None]:
    """Parsing costs ~0.1 ms and a batch repeats its debtors' phones (one per invoice): parse each once."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, (country or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        hint = "" if country or text.startswith("+") else " (no country to read it in: give +<code>)"
        raise StandardisationError(field, f"{raw!r} is not a phone number{hint}") from exc
    if not phonenumbers.is_valid_number(number):
        raise StandardisationError(field, f"{raw!r} is not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, phonenumbers.region_code_for_number(number)


def normalise_email(raw: str, *, field: str = "email") -> str:
    """Syntax check only (no DNS lookups on the ingest path); the domain is lower-cased."""
    return _email(raw, field)


@_per_batch
def _email(raw: str, field: str) -> str:
    """~25 µs a call, and a batch repeats its debtors' addresses: check each once."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise StandardisationError(field, str(exc)) from exc


def primary_timezone(country: str) -> str | None:
    zones = pytz.country_timezones.get(country.upper())
    return zones[0] if zones else None


@dataclass(frozen=True)
class Contact:
    """What ingest knows about how to reach someone, before and after standardisation."""

    country: str | None = None
    timezone: str | None = None
    phone: str | None = None
    email: str | None = None


def standardise_contact(contact: Contact, *, prefix: str = "") -> Contact:
    """Fill country and time zone, normalise phone and e-mail; raise with a field path if impossible."""
    return _standard_contact(contact, prefix)


@_per_batch
def _standard_contact(contact: Contact, prefix: str) -> Contact:
    """Pure and repeated once per invoice of a debtor: computed once per distinct contact of a batch."""
    country = contact.country.upper() if contact.country else None
    phone = None
    if contact.phone:
        phone, phone_country = normalise_phone(contact.phone, country, field=f"{prefix}phone")
        country = country or phone_country
    email = normalise_email(contact.email, field=f"{prefix}email") if contact.email else None
    if country is None:
        raise StandardisationError(f"{prefix}country", "missing and not derivable from the phone number")
    timezone = contact.timezone or primary_timezone(country)
    if timezone is None:
        raise StandardisationError(f"{prefix}timezone", f"missing and {country} has no known time zone")
    return Contact(country=country, timezone=timezone, phone=phone, email=email)


def normalise_document(raw: str | None) -> str | None:
    """NIT/cédula as digits and letters only ("900.123.456-7" == "9001234567")."""
    if not raw:
        return None
    cleaned = re.sub(r"[^0-9A-Za-z]", "", raw).upper()
    return cleaned or None


@dataclass(frozen=True)
class KnownCustomer:
    """A customer as one source system knows it, already linked to a canonical id."""

    source: str
    source_customer_id: str
    customer_id: str
    document_id: str | None
    email: str | None
    phone: str | None


def find_link(
    candidate: KnownCustomer, known: Iterable[KnownCustomer]
) -> tuple[KnownCustomer, LinkRule] | None:
    """The existing customer from *another* source this one is the same as, and the rule that says so.

    Rules in order of trust: document id, then e-mail, then phone. A stronger rule wins
    over a weaker one even if the weaker match was found first.
    """
    others = [k for k in known if k.source != candidate.source]
    for rule in LINK_RULES:
        value = getattr(candidate, rule)
        if not value:
            continue
        for other in others:
            if getattr(other, rule) == value:
                return other, rule
    return None
