"""Property: whatever order reporting receives reconciliation's facts in, it ends where reconciliation is.

A random portfolio (partial, over, unidentified, duplicated and reversed payments, two
currencies, payments before their invoices) runs through ingest and reconciliation. The
records they published are then delivered to a reporting of its own in a random
interleaving that keeps only what Kafka keeps: the order within one topic and key. For every
(account, currency) reporting's open amount, credit and balance equal reconciliation's
statement to the cent, and suspense per currency equals reconciliation's queue.
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from tests.support.auth import api_client

ACCOUNTS = ["A1", "A2", "A3"]
CURRENCIES = ["COP", "USD"]
TENANT = "t-prop"
_ids = itertools.count(1)

amounts = st.integers(min_value=1, max_value=300_000).map(lambda cents: Decimal(cents) / 100)
invoices = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(CURRENCIES), amounts), min_size=1, max_size=5
)
payments = st.lists(
    st.tuples(
        st.sampled_from([*ACCOUNTS, None]),  # None: the bank did not say whose
        st.sampled_from(CURRENCIES),
        amounts,
        st.booleans(),  # names an invoice in the remittance
        st.booleans(),  # the core system sends it twice
        st.booleans(),  # reversed later
    ),
    max_size=6,
)


def _invoice(index: int, account: str, currency: str, amount: Decimal) -> tuple[str, dict[str, Any]]:
    return "cobranza.invoice.issued", {
        "invoice_id": f"F-{index}",
        "account_id": account,
        "customer": {
            "customer_id": f"C-{account}",
            "name": f"Cliente {account}",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": str(amount),
        "currency": currency,
        "issued_on": "2026-01-02",
        "due_on": "2026-01-20",
        "product_line": "auto",
    }


def _publish_inbound(platform: Any, event_type: str, data: dict[str, Any]) -> None:
    platform.publish(
        Envelope(
            id=f"core-{next(_ids)}",
            source="/core/billing",
            type=event_type,
            time=platform.clock.now(),
            subject=data.get("account_id"),
            data=data,
            tenantid=TENANT,
        ),
        Topics.INBOUND,
    )
    platform.run_until_quiet()


def _cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


# Each example builds two databases: no shrinking (a failure prints its example as drawn).
@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(invoice_specs=invoices, payment_specs=payments, data=st.data())
def test_reporting_converges_to_reconciliation_in_any_delivery_order(
    make_platform: Any, invoice_specs: list, payment_specs: list, data: st.DataObject
) -> None:
    source = make_platform(["ingest", "reconciliation"])
    sink = make_platform(["reporting"])
    try:
        _check(source, sink, invoice_specs, payment_specs, data)
    finally:  # examples share the fixture: release their connections now
        for ctx in (*source.contexts, *sink.contexts):
            ctx.dispose()


def _check(source: Any, sink: Any, invoice_specs: list, payment_specs: list, data: st.DataObject) -> None:
    events: list[tuple[str, dict[str, Any]]] = [
        _invoice(i, *spec) for i, spec in enumerate(invoice_specs, start=1)
    ]
    reversals: list[tuple[str, dict[str, Any]]] = []
    for n, (account, currency, amount, by_reference, twice, reversed_later) in enumerate(payment_specs, 1):
        body: dict[str, Any] = {
            "payment_id": f"P-{n}",
            "amount": str(amount),
            "currency": currency,
            "received_on": "2026-01-10",
            "method": "transferencia",
        }
        if account is not None:
            body["account_id"] = account
        if by_reference:
            body["reference"] = f"F-{data.draw(st.integers(1, len(invoice_specs)))}"
        events.append(("cobranza.payment.received", body))
        if twice:
            events.append(("cobranza.payment.received", dict(body)))
        if reversed_later:
            reversal = {"payment_id": f"P-{n}", "reversed_on": "2026-01-15", "reason": "bounced_cheque"}
            if account is not None:
                reversal["account_id"] = account
            reversals.append(("cobranza.payment.reversed", reversal))
    for event_type, body in [*data.draw(st.permutations(events)), *reversals]:
        _publish_inbound(source, event_type, body)

    # What reporting would read from Kafka: per (topic, key) queues, interleaved at random.
    queues: dict[tuple[str, bytes | None], deque[Any]] = defaultdict(deque)
    for topic in (Topics.INVOICES, Topics.PAYMENTS, Topics.ALLOCATIONS):
        for published in source.broker.topics.get(topic, []):
            queues[(topic, published.record.key)].append(published)
    while queues:
        lane = data.draw(st.sampled_from(sorted(queues, key=lambda k: (k[0], k[1] or b""))))
        published = queues[lane].popleft()
        if not queues[lane]:
            del queues[lane]
        record = published.record
        sink.broker.append(
            record.topic, record.key.decode() if record.key else None, record.value, published.headers
        )
        sink.run_until_quiet()

    recon = api_client(source.context("reconciliation"), tenant=TENANT)
    reporting = api_client(sink.context("reporting"), tenant=TENANT)
    for account in ACCOUNTS:
        statement = recon.get(f"/v1/accounts/{account}/statement")
        mine = reporting.get(f"/v1/accounts/{account}/balances")
        if statement.status_code == 404:
            assert mine.status_code == 404, (account, mine.text)
            continue
        assert statement.status_code == 200, statement.text
        truth = {b["currency"]: b for b in statement.json()["balances"]}
        got = {b["currency"]: b for b in mine.json()["balances"]} if mine.status_code == 200 else {}
        for currency in CURRENCIES:
            want = truth.get(currency, {"open_amount": 0, "credit_balance": 0, "balance": 0})
            have = got.get(currency, {"open_amount": 0, "credit_balance": 0, "balance": 0})
            for name in ("open_amount", "credit_balance", "balance"):
                assert _cents(have[name]) == _cents(want[name]), (account, currency, name)

    parked: dict[str, Decimal] = defaultdict(Decimal)
    for line in recon.get("/v1/suspense", params={"limit": 1000}).json():
        parked[line["currency"]] += _cents(line["amount"])
    reported = {s["currency"]: _cents(s["amount"]) for s in reporting.get("/v1/suspense").json()}
    assert reported == dict(parked)
    assert sink.broker.topics.get(Topics.DEAD_LETTER, []) == []
