"""Which roles may call which route: the one auditable table (method, route template) -> roles.

``admin`` may call everything and is added to every entry. A route missing from the table is
admin-only (fail closed); ``tests/integration/auth`` lists every route of every service and fails
on one that is missing here. ``PUBLIC`` routes need no credential.
"""

from __future__ import annotations

from collections.abc import Mapping

PUBLIC: frozenset[tuple[str, str]] = frozenset(
    (method, path) for path in ("/healthz", "/readyz", "/metrics") for method in ("GET", "HEAD")
) | frozenset({("GET", "/login"), ("POST", "/login"), ("POST", "/logout")})
"""Operations probes, and the dashboard's login form (it is how a person gets a credential)."""

READ_ALL = frozenset({"auditor"})
"""Auditors read everything (decision and audit logs included), change nothing."""

INGEST = frozenset({"ingest"})
AGENT = frozenset({"agent", "supervisor"})
SUPERVISOR = frozenset({"supervisor"})
PROVIDER = frozenset({"provider"})
BI = frozenset({"bi"})
PEOPLE_READ = frozenset({"agent", "supervisor"}) | READ_ALL
PROJECTIONS = PEOPLE_READ | BI

_TABLE: dict[tuple[str, str], frozenset[str]] = {
    # ingest: core systems publish receivables; people read the reference data
    ("POST", "/v1/invoices"): INGEST,
    ("POST", "/v1/invoices:bulk"): INGEST,
    ("POST", "/v1/invoices/{invoice_id}/adjustments"): INGEST,
    ("POST", "/v1/invoices/{invoice_id}/cancellation"): INGEST,
    ("POST", "/v1/payments"): INGEST,
    ("POST", "/v1/payments:bulk"): INGEST,
    ("POST", "/v1/payments/{payment_id}/reversal"): INGEST,
    ("POST", "/v1/customers/bulk"): INGEST,
    ("POST", "/v1/customers:bulk"): INGEST,
    ("PUT", "/v1/customers/{customer_id}"): INGEST,
    ("POST", "/v1/customers/{customer_id}/erase"): frozenset(),  # habeas data erasure: admin only
    ("PUT", "/v1/reference/{entity}/{entity_id}"): INGEST,
    ("GET", "/v1/reference/{entity}"): INGEST | PEOPLE_READ,
    ("GET", "/v1/reference/{entity}/{entity_id}"): INGEST | PEOPLE_READ,
    ("POST", "/v1/files"): INGEST,
    # reconciliation: suspense is worked by supervisors (manual matches)
    ("GET", "/v1/suspense"): PEOPLE_READ | BI,
    ("GET", "/v1/suspense/{payment_id}/candidates"): PEOPLE_READ,
    ("POST", "/v1/suspense/{payment_id}/apply"): SUPERVISOR,
    ("GET", "/v1/audit"): READ_ALL,
    ("GET", "/v1/accounts/{account_id}/statement"): PEOPLE_READ,
    # aging
    ("GET", "/v1/accounts/{account_id}"): PEOPLE_READ,
    ("GET", "/v1/transitions"): PROJECTIONS,
    ("GET", "/v1/buckets"): PROJECTIONS,
    # segmentation: rules are supervisors'
    ("GET", "/v1/accounts/{account_id}/segment"): PEOPLE_READ,
    ("GET", "/v1/segments"): PROJECTIONS,
    ("POST", "/v1/segments/preview"): SUPERVISOR,
    ("GET", "/v1/rules"): PEOPLE_READ,
    ("PUT", "/v1/rules"): SUPERVISOR,
    ("GET", "/v1/models"): PEOPLE_READ,
    # strategy: agents work accounts (promises, plans, pauses); supervisors own strategies
    ("GET", "/v1/accounts/{account_id}/promises"): PEOPLE_READ,
    ("GET", "/v1/accounts/{account_id}/contacts"): PEOPLE_READ,
    ("POST", "/v1/accounts/{account_id}/promises"): AGENT,
    ("POST", "/v1/accounts/{account_id}/pauses"): AGENT,
    ("POST", "/v1/accounts/{account_id}/resume"): AGENT,
    ("GET", "/v1/accounts/{account_id}/pauses"): PEOPLE_READ,
    ("GET", "/v1/accounts/{account_id}/decisions"): PEOPLE_READ,
    ("GET", "/v1/strategies"): PEOPLE_READ,
    ("GET", "/v1/strategies/{name}/versions"): PEOPLE_READ,
    ("POST", "/v1/strategies"): SUPERVISOR,
    # payment plans: agents agree them; the maximum (usury) rates are supervisors'
    ("POST", "/v1/accounts/{account_id}/plans"): AGENT,
    ("GET", "/v1/accounts/{account_id}/plans"): PEOPLE_READ,
    ("GET", "/v1/plans/{plan_id}"): PEOPLE_READ,
    ("PUT", "/v1/usury-rates"): SUPERVISOR,
    # notifier: contact providers claim tasks and report outcomes; call-center agents (people) report
    # the calls they made from the voice queue
    ("GET", "/v1/tasks"): PROVIDER | PEOPLE_READ,
    ("POST", "/v1/tasks/{contact_id}/outcome"): PROVIDER | AGENT,
    ("POST", "/v1/tasks/{contact_id}/opt-out"): PROVIDER | AGENT,
    ("GET", "/v1/letters/{contact_id}.pdf"): PROVIDER | PEOPLE_READ,
    # reporting: projections for BI and people
    ("GET", "/v1/portfolio"): PROJECTIONS,
    ("GET", "/v1/accounts/{account_id}/balances"): PROJECTIONS,
    ("GET", "/v1/kpis/payments"): PROJECTIONS,
    ("GET", "/v1/kpis/promises"): PROJECTIONS,
    ("GET", "/v1/kpis/contacts"): PROJECTIONS,
    ("GET", "/dashboard"): PROJECTIONS,
    # the audit log of human actions (every service serves it; reconciliation's /v1/audit is its
    # match audit, so the auth log is also at /v1/auth/audit everywhere)
    ("GET", "/v1/auth/audit"): READ_ALL,
}

POLICY: Mapping[tuple[str, str], frozenset[str]] = {key: roles | {"admin"} for key, roles in _TABLE.items()}
ADMIN_ONLY = frozenset({"admin"})


def roles_for(method: str, route: str) -> frozenset[str] | None:
    """The roles allowed on (method, route template); None for a public route; admin-only if unmapped."""
    method = method.upper()
    if (method, route) in PUBLIC:
        return None
    if method == "HEAD":
        method = "GET"
    return POLICY.get((method, route), ADMIN_ONLY)


def is_mapped(method: str, route: str) -> bool:
    method = method.upper()
    return (method, route) in PUBLIC or (method, route) in POLICY
