"""Set-based reads and writes of the plans' tables for one tenant: one statement per table per batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from services.strategy.adapters.plans_orm import max_rates, plan_payments, plans
from services.strategy.domain.plans import MaxRate, Movement, PlanTerms

__all__ = [
    "PlanRow",
    "add_movements",
    "caps_for",
    "insert_plans",
    "load_plans",
    "movements_of",
    "plans_of_account",
    "plans_of_accounts",
    "plans_paid_by",
    "put_max_rates",
    "read_plans",
    "set_status",
    "terms_of",
    "usury_settings",
    "zones_of",
]

USURY_FILE = Path(__file__).resolve().parent.parent / "config" / "usury.yaml"

PlanRow = dict[str, Any]


@lru_cache(maxsize=4)
def _usury_file(path: Path) -> Mapping[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle) or {}
    return loaded if isinstance(loaded, dict) else {}


def usury_settings(extras: Mapping[str, Any]) -> Mapping[str, Any]:
    """``<config_dir>/usury.yaml`` when the context names one holding it, else the packaged file."""
    config_dir = extras.get("config_dir")
    if config_dir is not None and (Path(config_dir) / "usury.yaml").is_file():
        return _usury_file((Path(config_dir) / "usury.yaml").resolve())
    return _usury_file(USURY_FILE)


def terms_of(row: Mapping[str, Any]) -> PlanTerms:
    return PlanTerms(
        plan_id=row["plan_id"],
        account_id=row["account_id"],
        currency=row["currency"],
        amount=Decimal(row["amount"]),
        down_payment=Decimal(row["down_payment"]),
        instalments=int(row["instalments"]),
        frequency=row["frequency"],
        first_due_on=row["first_due_on"],
        agreed_on=row["agreed_on"],
        financing_rate=None if row["financing_rate"] is None else Decimal(row["financing_rate"]),
        late_interest_rate=None if row["late_interest_rate"] is None else Decimal(row["late_interest_rate"]),
    )


_ZONES = text(
    """
    SELECT account_id, timezone, country FROM strategy.accounts
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
    """
)


def zones_of(
    session: Session, tenant: str, account_ids: Iterable[str]
) -> dict[str, tuple[str | None, str | None]]:
    rows = session.execute(_ZONES, {"tenant": tenant, "ids": sorted(set(account_ids))})
    return {r.account_id: (r.timezone, r.country) for r in rows}


def insert_plans(session: Session, rows: Sequence[PlanRow]) -> set[str]:
    """Insert new plans (a redelivered or repeated plan id keeps the first); the ids inserted."""
    if not rows:
        return set()
    statement = insert(plans).values(list(rows)).on_conflict_do_nothing().returning(plans.c.plan_id)
    return {r.plan_id for r in session.execute(statement)}


_COLUMNS = ", ".join(c.name for c in plans.columns)

_BY_ID = text(
    f"""
    SELECT {_COLUMNS} FROM strategy.plans
    WHERE tenant_id = :tenant AND plan_id = ANY(CAST(:ids AS text[]))
    ORDER BY plan_id FOR UPDATE
    """
)

_BY_ACCOUNT = text(
    f"""
    SELECT {_COLUMNS} FROM strategy.plans
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[])) AND status = ANY(CAST(:statuses AS text[]))
    ORDER BY plan_id FOR UPDATE
    """
)

_BY_ACCOUNT_READ = text(
    f"""
    SELECT {_COLUMNS} FROM strategy.plans
    WHERE tenant_id = :tenant AND account_id = :account ORDER BY agreed_on, plan_id
    """
)


def load_plans(session: Session, tenant: str, plan_ids: Iterable[str]) -> dict[str, PlanRow]:
    """The plans named, locked in plan order."""
    rows = session.execute(_BY_ID, {"tenant": tenant, "ids": sorted(set(plan_ids))}).mappings()
    return {r["plan_id"]: dict(r) for r in rows}


_READ = text(
    f"""
    SELECT {_COLUMNS} FROM strategy.plans
    WHERE tenant_id = :tenant AND plan_id = ANY(CAST(:ids AS text[])) ORDER BY plan_id
    """
)


def read_plans(session: Session, tenant: str, plan_ids: Iterable[str]) -> list[PlanRow]:
    """The plans named, unlocked (for reading)."""
    return [
        dict(r) for r in session.execute(_READ, {"tenant": tenant, "ids": sorted(set(plan_ids))}).mappings()
    ]


def plans_of_accounts(
    session: Session, tenant: str, account_ids: Iterable[str], statuses: Sequence[str] = ("active",)
) -> list[PlanRow]:
    """The accounts' plans in the given statuses, locked in plan order."""
    params = {"tenant": tenant, "ids": sorted(set(account_ids)), "statuses": list(statuses)}
    return [dict(r) for r in session.execute(_BY_ACCOUNT, params).mappings()]


def plans_of_account(session: Session, tenant: str, account_id: str) -> list[PlanRow]:
    return [
        dict(r)
        for r in session.execute(_BY_ACCOUNT_READ, {"tenant": tenant, "account": account_id}).mappings()
    ]


_MOVEMENTS = text(
    """
    SELECT plan_id, payment_id, kind, "on", amount FROM strategy.plan_payments
    WHERE tenant_id = :tenant AND plan_id = ANY(CAST(:ids AS text[]))
    ORDER BY plan_id, seq
    """
)


def movements_of(session: Session, tenant: str, plan_ids: Iterable[str]) -> dict[str, list[Movement]]:
    """Per plan: each payment and reversal, in the order they arrived."""
    out: dict[str, list[Movement]] = defaultdict(list)
    for r in session.execute(_MOVEMENTS, {"tenant": tenant, "ids": sorted(set(plan_ids))}):
        out[r.plan_id].append(Movement(r.payment_id, r.on, Decimal(r.amount), reversal=r.kind == "reversal"))
    return out


_PAID_PLANS = text(
    """
    SELECT payment_id, plan_id FROM strategy.plan_payments
    WHERE tenant_id = :tenant AND kind = 'payment' AND payment_id = ANY(CAST(:ids AS text[]))
    """
)


def plans_paid_by(session: Session, tenant: str, payment_ids: Iterable[str]) -> dict[str, set[str]]:
    """payment id -> the plans it was recorded against."""
    out: dict[str, set[str]] = defaultdict(set)
    for r in session.execute(_PAID_PLANS, {"tenant": tenant, "ids": sorted(set(payment_ids))}):
        out[r.payment_id].add(r.plan_id)
    return out


def add_movements(session: Session, rows: Sequence[PlanRow]) -> None:
    """Payments and reversals in arrival order, one multi-row insert (a redelivery keeps the first)."""
    if rows:
        session.execute(insert(plan_payments).values(list(rows)).on_conflict_do_nothing())


_STATUS = text(
    """
    UPDATE strategy.plans AS p SET status = s.status, resolved_on = s.resolved_on
    FROM unnest(CAST(:ids AS text[]), CAST(:statuses AS text[]), CAST(:dates AS date[]))
        AS s(plan_id, status, resolved_on)
    WHERE p.tenant_id = :tenant AND p.plan_id = s.plan_id
    """
)


def set_status(session: Session, tenant: str, changes: Mapping[str, tuple[str, date | None]]) -> None:
    if not changes:
        return
    ids = sorted(changes)
    params = {
        "tenant": tenant,
        "ids": ids,
        "statuses": [changes[i][0] for i in ids],
        "dates": [changes[i][1] for i in ids],
    }
    session.execute(_STATUS, params)


_RATES = text(
    """
    SELECT country, valid_from, valid_to, rate, resolution FROM strategy.max_rates
    WHERE tenant_id = :tenant AND country = ANY(CAST(:countries AS text[]))
    ORDER BY country, valid_from
    """
)


def caps_for(
    session: Session, tenant: str, countries: Iterable[str | None], settings: Mapping[str, Any]
) -> dict[str | None, list[MaxRate]]:
    """Per country: the stored rows, then the configured ones for days no stored row covers."""
    wanted = sorted({c for c in countries if c})
    stored: dict[str | None, list[MaxRate]] = defaultdict(list)
    for r in session.execute(_RATES, {"tenant": tenant, "countries": wanted}):
        stored[r.country].append(MaxRate(r.valid_from, r.valid_to, Decimal(r.rate), r.resolution))
    tenants = settings.get("tenants") or {}
    configured = tenants.get(tenant) or tenants.get("default") or {}
    out: dict[str | None, list[MaxRate]] = {None: []}
    for country in wanted:
        rows = list(stored.get(country, []))
        for raw in configured.get(country) or []:
            row = MaxRate(raw["from"], raw["to"], Decimal(str(raw["rate"])), raw.get("resolution"))
            if not any(s.valid_from <= row.valid_to and row.valid_from <= s.valid_to for s in rows):
                rows.append(row)
        out[country] = sorted(rows, key=lambda m: m.valid_from)
    return out


def put_max_rates(
    session: Session, tenant: str, country: str, rows: Sequence[MaxRate], by: str | None, at: datetime
) -> None:
    """Upsert a tenant's maximum rates for a country (a month reloaded replaces its row)."""
    if not rows:
        return
    values = [
        {
            "tenant_id": tenant,
            "country": country,
            "valid_from": r.valid_from,
            "valid_to": r.valid_to,
            "rate": r.rate,
            "resolution": r.resolution,
            "loaded_by": by,
            "loaded_at": at,
        }
        for r in rows
    ]
    statement = insert(max_rates).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[max_rates.c.tenant_id, max_rates.c.country, max_rates.c.valid_from],
        set_={
            "valid_to": statement.excluded.valid_to,
            "rate": statement.excluded.rate,
            "resolution": statement.excluded.resolution,
            "loaded_by": statement.excluded.loaded_by,
            "loaded_at": statement.excluded.loaded_at,
        },
    )
    session.execute(statement)
