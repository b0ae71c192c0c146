"""The seven services, in the order the in-memory platform delivers to them."""

from __future__ import annotations

import importlib

from libs.runtime.service import ServiceSpec

SERVICE_NAMES: tuple[str, ...] = (
    "ingest",
    "reconciliation",
    "aging",
    "segmentation",
    "strategy",
    "notifier",
    "reporting",
)


def load_spec(name: str) -> ServiceSpec:
    if name not in SERVICE_NAMES:
        raise KeyError(f"unknown service {name!r}; one of {', '.join(SERVICE_NAMES)}")
    module = importlib.import_module(f"services.{name}.service")
    spec: ServiceSpec = module.SPEC
    return spec


def available_specs() -> list[ServiceSpec]:
    """Every service whose package exists (all seven in a complete checkout)."""
    specs = []
    for name in SERVICE_NAMES:
        try:
            specs.append(load_spec(name))
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"services.{name}"):
                continue
            raise
    return specs
