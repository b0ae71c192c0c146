"""ingest -> aging -> segmentation on the in-memory platform: the account moves as it ages."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from segmentation_helpers import INVOICE, envelope

from libs.events.catalog import Topics


def test_an_unpaid_invoice_moves_through_the_segments_as_aging_reports_it(make_platform) -> None:
    platform = make_platform(["ingest", "aging", "segmentation"])
    invoice = dict(INVOICE, issued_on="2026-01-01", due_on="2026-01-10", amount="3000000")
    platform.publish(envelope("cobranza.invoice.issued", invoice), Topics.INBOUND)
    platform.run_until_quiet()
    platform.advance_to(datetime(2026, 3, 20, 12, tzinfo=UTC))
    platform.run_until_quiet()
    moves = [
        (d["data"].get("previous_segment"), d["data"]["segment"])
        for d in (json.loads(p.record.value or b"") for p in platform.broker.topics[Topics.SEGMENTS])
    ]
    assert moves[0] == (None, "current_good"), moves
    segments = [m[1] for m in moves]
    assert "early_high_value" in segments  # 3 000 000 overdue at 1-60 dpd
    assert segments[-1] in ("late_person", "late_person_agency"), moves  # 69 dpd on 20 March
