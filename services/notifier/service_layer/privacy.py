"""notifier's side of an erasure (``cobranza.customer.erased``; docs/privacy.md).

What identifies the person goes: the recipient (name, e-mail, phone, address) of each of the
customer's accounts, each task's rendered detail and artifact path, and the files the file
providers wrote for those tasks (letter PDFs, ``.eml`` e-mails, the SMS/WhatsApp log lines). The
tasks themselves stay (contact id, account, channel, step, status, times): what was attempted when
is a collection fact, and reporting's contact KPIs add up with it. With no recipient left, a
contact planned later fails as "no address on file" instead of reaching anyone.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import text

from libs.events.payloads.customers import CustomerErased
from libs.events.registry import DecodedEvent
from libs.platform.privacy import erased_ids, scrub_event_log
from libs.runtime.uow import UnitOfWork
from services.notifier.adapters.providers import LogFileMessagingProvider, PdfLetterProvider, tenant_root
from services.notifier.config import NotifierSettings

_TASKS = text(
    """
    WITH locked AS (
        SELECT contact_id FROM notifier.tasks
         WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[]))
         ORDER BY contact_id FOR UPDATE
    )
    UPDATE notifier.tasks t SET detail = NULL, artifact = NULL, updated_at = :now
      FROM locked
     WHERE t.tenant_id = :tenant AND t.contact_id = locked.contact_id
    RETURNING t.contact_id, t.channel
    """
)
"""Tasks locked in contact order, as the ``deliver`` batch timer locks them (no deadlock between the two)."""
_RECIPIENTS = text(
    "DELETE FROM notifier.recipients WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[]))"
)
MESSAGING_CHANNELS = ("sms", "whatsapp")


def _drop_log_lines(path: Path, contact_ids: set[str]) -> None:
    """Rewrite a JSON-lines message log without the lines of ``contact_ids`` (atomically: a reader sees
    the old file or the new one)."""
    if not path.is_file():
        return
    kept: list[str] = []
    dropped = False
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            contact = json.loads(line).get("contact_id")
        except ValueError:
            contact = None
        if contact in contact_ids:
            dropped = True
        else:
            kept.append(line)
    if not dropped:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(kept)
    os.replace(tmp, path)


def erase_files(root: Path, tenant: str, contact_ids: set[str]) -> None:
    """Delete the letters and e-mails the file providers wrote for ``contact_ids``; drop their log lines."""
    letters = PdfLetterProvider(root)
    for contact_id in contact_ids:
        letter = letters.path_for(contact_id, tenant)
        email = tenant_root(root, tenant) / "outbox" / letter.with_suffix(".eml").name
        for path in (letter, email):
            path.unlink(missing_ok=True)
    for channel in MESSAGING_CHANNELS:
        _drop_log_lines(LogFileMessagingProvider(root, channel).path_for(tenant), contact_ids)


def on_customers_erased(events: Sequence[DecodedEvent[CustomerErased]], uow: UnitOfWork) -> None:
    from services.notifier.service import SPEC

    customers, accounts = erased_ids(events)
    params = {"tenant": uow.tenant, "accounts": accounts, "now": uow.now()}
    uow.session.execute(_RECIPIENTS, params)
    contact_ids = {r.contact_id for r in uow.session.execute(_TASKS, params)}
    scrub_event_log(uow.session, SPEC.tables, uow.tenant, [*customers, *accounts, *contact_ids])
    erase_files(NotifierSettings().root, uow.tenant, contact_ids)


__all__ = ["erase_files", "on_customers_erased"]
