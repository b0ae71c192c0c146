"""Tolerances per tenant and currency, from the config's plain mapping (parsing only, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from services.reconciliation.domain.model import NO_TOLERANCE, Tolerance


class ToleranceConfigError(ValueError):
    pass


def _amount(value: Any, path: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise ToleranceConfigError(f"{path}: write money as a quoted decimal string, not a float")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ToleranceConfigError(f"{path}: {value!r} is not a decimal") from exc
    if not amount.is_finite() or amount < 0:
        raise ToleranceConfigError(f"{path}: must be a finite amount >= 0")
    return amount


def _per_currency(raw: Any, path: str) -> dict[str, Tolerance]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ToleranceConfigError(f"{path}: expected a mapping of currency -> limits")
    table: dict[str, Tolerance] = {}
    for currency, limits in raw.items():
        where = f"{path}.{currency}"
        if not isinstance(currency, str) or len(currency) != 3:
            raise ToleranceConfigError(f"{where}: currency must be an ISO-4217 code")
        if not isinstance(limits, Mapping):
            raise ToleranceConfigError(f"{where}: expected absolute and/or ratio")
        unknown = set(limits) - {"absolute", "ratio"}
        if unknown:
            raise ToleranceConfigError(f"{where}: unknown keys {sorted(unknown)}")
        table[currency.upper()] = Tolerance(
            absolute=_amount(limits.get("absolute"), f"{where}.absolute"),
            ratio=_amount(limits.get("ratio"), f"{where}.ratio"),
        )
    return table


@dataclass(frozen=True)
class ToleranceTable:
    default: dict[str, Tolerance] = field(default_factory=dict)
    tenants: dict[str, dict[str, Tolerance]] = field(default_factory=dict)

    def for_(self, tenant: str, currency: str) -> Tolerance:
        per_tenant = self.tenants.get(tenant, {})
        return per_tenant.get(currency) or self.default.get(currency) or NO_TOLERANCE

    def merged(self, other: ToleranceTable) -> ToleranceTable:
        """``other`` overrides this table currency by currency."""
        tenants = {t: dict(c) for t, c in self.tenants.items()}
        for tenant, currencies in other.tenants.items():
            tenants.setdefault(tenant, {}).update(currencies)
        return ToleranceTable({**self.default, **other.default}, tenants)


def parse_tolerances(raw: Any, source: str = "tolerances") -> ToleranceTable:
    if raw is None:
        return ToleranceTable()
    if not isinstance(raw, Mapping):
        raise ToleranceConfigError(f"{source}: expected a mapping with 'default' and/or 'tenants'")
    unknown = set(raw) - {"default", "tenants"}
    if unknown:
        raise ToleranceConfigError(f"{source}: unknown keys {sorted(unknown)}")
    tenants_raw = raw.get("tenants") or {}
    if not isinstance(tenants_raw, Mapping):
        raise ToleranceConfigError(f"{source}.tenants: expected a mapping of tenant -> currencies")
    return ToleranceTable(
        default=_per_currency(raw.get("default"), f"{source}.default"),
        tenants={str(t): _per_currency(c, f"{source}.tenants.{t}") for t, c in tenants_raw.items()},
    )
