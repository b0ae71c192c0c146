"""strategy's side of an erasure (``cobranza.customer.erased``; docs/privacy.md).

strategy keeps no contact values (those are notifier's), only whether each channel of an account
may be used. The erased person asked for their data to go, so every channel of their accounts is
closed and stays closed: the consent is withdrawn now (``withdrawn_at``), and only a consent given
after it could reopen one (a re-sent old record cannot, and ingest refuses it anyway). Free text
that agents typed (a pause's note, copied into the decision log) goes; promises, plans, payments,
contacts and decisions keep their ids, amounts, dates and rules (delinquency facts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args

from sqlalchemy import text

from libs.events.payloads.customers import CustomerErased
from libs.events.registry import DecodedEvent
from libs.events.types import Channel
from libs.platform.privacy import PERSONAL_KEYS, erased_ids, scrub_event_log
from libs.runtime.uow import UnitOfWork

CHANNELS: tuple[str, ...] = get_args(Channel)

_NAMED = text(
    """
    SELECT account_id FROM strategy.accounts
     WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS text[]))
    """
)
_CLOSE_CHANNELS = text(
    """
    INSERT INTO strategy.consents AS c (tenant_id, account_id, channel, consent, withdrawn_at, updated_at)
    SELECT :tenant, a, ch, false, :now, :now
      FROM unnest(CAST(:accounts AS text[])) AS a CROSS JOIN unnest(CAST(:channels AS text[])) AS ch
    ON CONFLICT (tenant_id, account_id, channel) DO UPDATE
       SET consent = false, withdrawn_at = GREATEST(c.withdrawn_at, EXCLUDED.withdrawn_at), updated_at = :now
    """
)
_PAUSES = text(
    """
    UPDATE strategy.pauses SET note = NULL
     WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[])) AND note IS NOT NULL
    """
)
_DECISIONS = text(
    """
    UPDATE strategy.decisions SET detail = detail - CAST(:keys AS text[])
     WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[]))
       AND detail ?| CAST(:keys AS text[])
    """
)


def on_customers_erased(events: Sequence[DecodedEvent[CustomerErased]], uow: UnitOfWork) -> None:
    from services.strategy.service import SPEC

    customers, named = erased_ids(events)
    found = uow.session.execute(_NAMED, {"tenant": uow.tenant, "customers": customers}).scalars()
    accounts = sorted({*named, *found})
    params: dict[str, Any] = {"tenant": uow.tenant, "accounts": accounts, "now": uow.now()}
    if accounts:
        uow.session.execute(_CLOSE_CHANNELS, {**params, "channels": list(CHANNELS)})
    uow.session.execute(_PAUSES, params)
    uow.session.execute(_DECISIONS, {**params, "keys": sorted(PERSONAL_KEYS)})
    scrub_event_log(uow.session, SPEC.tables, uow.tenant, [*customers, *accounts])


__all__ = ["on_customers_erased"]
