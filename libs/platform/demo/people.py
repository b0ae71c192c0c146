"""Debtors of the demo portfolio: names, document ids, phones, e-mails, addresses and consent.

Each function draws from the ``random.Random`` it is given, so one customer is a pure
function of the seed and the customer's number.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from typing import Any

from libs.platform.demo import catalog

NIT_WEIGHTS = (3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71)
ENGLISH_FIRST = (
    "John",
    "Mary",
    "Michael",
    "Jennifer",
    "Robert",
    "Linda",
    "William",
    "Emily",
    "James",
    "Sarah",
)
ENGLISH_LAST = ("Smith", "Johnson", "Williams", "Brown", "Miller", "Davis", "Wilson", "Anderson", "Taylor")


@dataclass(frozen=True)
class Person:
    """A debtor as the core systems know them."""

    customer_id: str
    name: str
    kind: str
    document_id: str
    email: str | None
    phone: str
    country: str
    timezone: str
    region: str
    address: str
    office_index: int  # the office that sells to them (by region)

    def as_invoice_customer(self) -> dict[str, Any]:
        """The ``customer`` block of an invoice (contract ``Customer``)."""
        out: dict[str, Any] = {"customer_id": self.customer_id, "name": self.name, "kind": self.kind}
        if self.email:
            out["email"] = self.email
        out.update(
            phone=self.phone,
            country=self.country,
            timezone=self.timezone,
            region=self.region,
            document_id=self.document_id,
        )
        return out


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def nit_check_digit(digits: str) -> int:
    """DIAN's check digit (dígito de verificación) of a NIT."""
    total = sum(int(d) * w for d, w in zip(reversed(digits), NIT_WEIGHTS, strict=False))
    rest = total % 11
    return rest if rest < 2 else 11 - rest


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


REGION_INDEX = {office.region: i for i, office in enumerate(catalog.OFFICES)}


def person_name(rng: random.Random, english: bool = False) -> tuple[str, str, str]:
    """(full name, first name, first surname)."""
    if english:
        first, last = rng.choice(ENGLISH_FIRST), rng.choice(ENGLISH_LAST)
        return f"{first} {last}", first, last
    female = rng.random() < 0.5
    first = rng.choice(catalog.FIRST_NAMES_F if female else catalog.FIRST_NAMES_M)
    parts = [first]
    if rng.random() < 0.4:
        parts.append(rng.choice(catalog.MIDDLE_NAMES_F if female else catalog.MIDDLE_NAMES_M))
    surname = rng.choice(catalog.SURNAMES)
    second = rng.choice(catalog.SURNAMES)
    parts += [surname, second]
    return " ".join(parts), first, surname


def cedula(rng: random.Random) -> str:
    """A cédula de ciudadanía: 7-8 digits for older citizens, 10 digits (10…) for younger ones."""
    if rng.random() < 0.55:
        return f"CC-{rng.randint(3_000_000, 99_999_999)}"
    return f"CC-{rng.randint(1_000_000_000, 1_129_999_999)}"


def co_mobile(rng: random.Random) -> str:
    return f"+57{rng.choice(catalog.CO_MOBILE_PREFIXES)}{rng.randint(2_000_000, 9_999_999)}"


def abroad_phone(rng: random.Random, where: catalog.Abroad, area: str) -> str:
    if where.country == "US":
        exchange = rng.randint(201, 989)
        while exchange % 100 == 11 or exchange == 555:
            exchange += 1
        return f"+1{area}{exchange}{rng.randint(0, 9999):04d}"
    rest = where.local_digits - len(area)
    return f"+{where.dial}{area}{rng.randint(10 ** (rest - 1), 10**rest - 1)}"


def make_person(rng: random.Random, customer_id: str) -> Person:
    abroad = rng.random() < catalog.ABROAD_SHARE
    company = not abroad and rng.random() < catalog.COMPANY_SHARE
    domain = rng.choice(catalog.EMAIL_DOMAINS)
    if abroad:
        where = rng.choices(catalog.ABROAD, weights=[a.weight for a in catalog.ABROAD])[0]
        region, zone, areas = rng.choice(where.regions)
        english = where.country == "US" and rng.random() < 0.25
        name, first, surname = person_name(rng, english)
        document = (
            cedula(rng) if not english and rng.random() < 0.7 else f"PA-{rng.randint(10**7, 10**8 - 1)}"
        )
        phone = abroad_phone(rng, where, rng.choice(areas))
        address = f"{rng.randint(10, 9999)} {rng.choice(('Main St', 'Oak Ave', 'Calle Mayor', 'Park Rd'))}, {region}"
        return Person(
            customer_id,
            name,
            "person",
            document,
            f"{ascii_slug(first)}.{ascii_slug(surname)}{rng.randint(1, 999)}@{domain}",
            phone,
            where.country,
            zone,
            region,
            address,
            rng.choice(
                (REGION_INDEX["Bogotá D.C."], REGION_INDEX["Antioquia"], REGION_INDEX["Valle del Cauca"])
            ),
        )
    region = _weighted(rng, catalog.CO_REGIONS)
    city = catalog.CO_CITIES[region]
    address = (
        f"{rng.choice(catalog.STREET_KINDS)} {rng.randint(1, 180)} # {rng.randint(1, 120)}-{rng.randint(1, 99)}, "
        f"{city}"
    )
    if company:
        name = f"{rng.choice(catalog.COMPANY_WORDS)} {rng.choice(catalog.COMPANY_NAMES)} {rng.choice(catalog.COMPANY_FORMS)}"
        digits = str(rng.randint(800_000_000, 901_999_999))
        return Person(
            customer_id,
            name,
            "company",
            f"NIT-{digits}-{nit_check_digit(digits)}",
            f"cartera.{ascii_slug(name)[:20]}@{domain}",
            co_mobile(rng),
            "CO",
            "America/Bogota",
            region,
            address,
            REGION_INDEX[region],
        )
    name, first, surname = person_name(rng)
    email = None
    if rng.random() < 0.86:
        email = f"{ascii_slug(first)}.{ascii_slug(surname)}{rng.randint(1, 999)}@{domain}"
    return Person(
        customer_id,
        name,
        "person",
        cedula(rng),
        email,
        co_mobile(rng),
        "CO",
        "America/Bogota",
        region,
        address,
        REGION_INDEX[region],
    )


def contact_points(rng: random.Random, person: Person, consent_at: str) -> list[dict[str, Any]]:
    """One point per channel the debtor can be reached on, each with its own consent (habeas data)."""
    points: list[dict[str, Any]] = []
    primary = "email" if person.kind == "company" else rng.choice(("whatsapp", "sms", "voice"))
    values = {
        "email": person.email,
        "sms": person.phone,
        "whatsapp": person.phone,
        "voice": person.phone,
        "letter": person.address,
    }
    for channel, share in catalog.CONSENT.items():
        value = values[channel]
        if value is None:
            continue
        point: dict[str, Any] = {
            "channel": channel,
            "value": value,
            "consent": rng.random() < share,
            "consent_updated_at": consent_at,
        }
        if channel == primary:
            point["primary"] = True
        points.append(point)
    return points
