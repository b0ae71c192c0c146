"""Bank statements as banks send them: ids, batch entries, camt.054, structured MT940 :86:,
returns and reversals, and a report row for every line (fixtures under fixtures/ingest/statements)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from services.ingest.adapters.files import detect_format, iter_statement
from services.ingest.adapters.statements.model import real_reference
from services.ingest.adapters.statements.mt940 import parse_details
from services.ingest.service_layer.files import FileRejected, import_file
from tests.support.auth import api_client

STATEMENTS = Path(__file__).resolve().parents[2] / "fixtures" / "ingest" / "statements"


def outbox_events(ctx) -> list[dict]:  # type: ignore[no-untyped-def]
    with ctx.sessions() as session:
        values = session.execute(
            select(ctx.spec.tables.outbox.c.value).order_by(ctx.spec.tables.outbox.c.id)
        ).scalars()
        return [json.loads(v) for v in values]


def report_of(ctx, path: Path, source: str = "banco", tenant: str | None = None) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    import_file(ctx, path, source=source, report=out, tenant=tenant)
    lines = out.getvalue().splitlines()
    assert lines[0] == "row,status,id,reason"
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def received(ctx) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {
        e["data"]["payment_id"]: e["data"]
        for e in outbox_events(ctx)
        if e["type"] == "cobranza.payment.received"
    }


def reversed_(ctx) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {
        e["data"]["payment_id"]: e["data"]
        for e in outbox_events(ctx)
        if e["type"] == "cobranza.payment.reversed"
    }


@pytest.mark.parametrize("value", ["NONREF", "NOTPROVIDED", "NONE", "", "   ", None, "nonref"])
def test_placeholders_are_not_references(value: str | None) -> None:
    assert real_reference(value) is None
    assert real_reference(" 2026010500417 ") == "2026010500417"


def test_formats_are_detected_by_content(tmp_path: Path) -> None:
    assert detect_format(STATEMENTS / "camt053_sepa_collection.xml") == "camt053"
    assert detect_format(STATEMENTS / "camt054_notification.xml") == "camt054"
    renamed = tmp_path / "notification.txt"
    renamed.write_bytes((STATEMENTS / "camt054_notification.xml").read_bytes())
    assert detect_format(renamed) == "camt054"
    assert detect_format(STATEMENTS / "mt940_startumse_day1.sta") == "mt940"
    assert detect_format(STATEMENTS / "mt940_ing.940") == "mt940"


def test_xml_that_is_not_a_camt_statement_is_rejected_whole(make_platform, tmp_path: Path) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    path = tmp_path / "pain.xml"
    path.write_text('<?xml version="1.0"?><Document><CstmrCdtTrfInitn/></Document>', encoding="utf-8")
    with pytest.raises(FileRejected, match="not an ISO 20022 camt"):
        import_file(ctx, path, source="banco")


def test_german_structured_86_gives_purpose_name_and_sepa_references() -> None:
    details = parse_details(
        "171?00SEPA-LASTSCHRIFT?109248?20EREF+POL-KFZ-22-2026-01?21MREF+MND-22?22CRED+DE98ZZZ09999999999"
        "?23SVWZ+Beitrag Januar\n KFZ-22?32KLAUS ?33MEIER"
    )
    assert details.end_to_end_id == "POL-KFZ-22-2026-01"
    assert details.mandate_id == "MND-22"
    assert details.remittance == "Beitrag Januar KFZ-22"
    assert details.payer_name == "KLAUS MEIER"
    assert details.business_code == "171"
    plain = parse_details("166?00GUTSCHRIFT?20RECHNUNG 4711?21VIELEN DANK?32ACME GMBH")
    assert (plain.remittance, plain.payer_name, plain.end_to_end_id) == (
        "RECHNUNG 4711VIELEN DANK",
        "ACME GMBH",
        None,
    )
    kref = parse_details("166?20KREF+K-99?21SVWZ+INV-1")
    assert (kref.customer_reference, kref.remittance) == ("K-99", "INV-1")


def test_dutch_tags_give_remittance_name_and_end_to_end_id() -> None:
    details = parse_details("/EREF/EV-1//ORDP//NAME/Jan de Vries/ID/123//REMI/USTD//Factuur INV-4004/")
    assert (details.end_to_end_id, details.payer_name, details.remittance) == (
        "EV-1",
        "Jan de Vries",
        "Factuur INV-4004",
    )
    structured = parse_details(
        "/CNTP/NL32INGB0000012345/INGBNL2A/JANSEN BV/AMSTERDAM///REMI/STRD/CUR/RF18INV4005/"
    )
    assert (structured.payer_name, structured.remittance) == ("JANSEN BV", "RF18INV4005")
    returned = parse_details("/RTRN/MD06/EREF/EV-9//REMI/USTD//x/")
    assert (returned.return_code, returned.end_to_end_id) == ("MD06", "EV-9")


def test_three_nonref_credits_are_three_payments_and_reimport_is_all_duplicates(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    rows = report_of(ctx, STATEMENTS / "mt940_startumse_day1.sta")
    assert [(r["row"], r["status"]) for r in rows] == [
        ("1", "accepted"), ("2", "accepted"), ("3", "accepted"), ("4", "rejected"),
    ]  # fmt: skip
    ids = [r["id"] for r in rows[:3]]
    assert len(set(ids)) == 3 and all(i.startswith("BS-") for i in ids)
    assert rows[3]["reason"].startswith("not a debtor payment: debit of 4.90 EUR")
    payments = received(ctx)
    assert set(payments) == set(ids)
    assert payments[ids[0]]["reference"] == "Praemie Januar AUTO-1001"
    assert payments[ids[0]]["payer_name"] == "JUAN PEREZ"
    assert payments[ids[1]]["method"] == "direct_debit"

    again = report_of(ctx, STATEMENTS / "mt940_startumse_day1.sta")
    assert [(r["status"], r["id"]) for r in again] == [("duplicate", r["id"]) for r in rows]
    assert len(received(ctx)) == 3


def test_same_20_reference_on_consecutive_days_is_no_false_duplicate(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    day1 = report_of(ctx, STATEMENTS / "mt940_startumse_day1.sta")
    day2 = report_of(ctx, STATEMENTS / "mt940_startumse_day2.sta")
    # same :20: STARTUMSE, same :28C:, same position, amount and text: another day's money
    assert day2[0]["status"] == "accepted"
    assert day2[0]["id"] != day1[0]["id"]
    assert len(received(ctx)) == 4


def test_direct_debit_return_reverses_the_collected_payment(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    day1 = report_of(ctx, STATEMENTS / "mt940_startumse_day1.sta")
    collected = day1[1]["id"]
    day2 = report_of(ctx, STATEMENTS / "mt940_startumse_day2.sta")
    assert (day2[1]["status"], day2[1]["id"]) == ("accepted", collected)
    reversal = reversed_(ctx)[collected]
    subjects = {(e["type"], e["subject"]) for e in outbox_events(ctx) if e["data"]["payment_id"] == collected}
    assert subjects == {  # one key on the payments topic: the reversal is ordered after its payment
        ("cobranza.payment.received", f"unidentified:{collected}"),
        ("cobranza.payment.reversed", f"unidentified:{collected}"),
    }
    assert reversal["reversed_on"] == "2026-01-07"
    assert reversal["reason"] == "direct_debit_return"
    assert "RUECKLASTSCHRIFT" in reversal["note"]
    again = report_of(ctx, STATEMENTS / "mt940_startumse_day2.sta")
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert len(reversed_(ctx)) == 1


def test_camt_batch_entry_is_split_into_its_transactions(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    rows = report_of(ctx, STATEMENTS / "camt053_sepa_collection.xml")
    assert [(r["row"], r["status"]) for r in rows] == [
        ("1", "accepted"), ("2", "accepted"), ("3", "accepted"),  # the batch of three premiums
        ("4", "rejected"),  # a batch whose transactions do not add up
        ("5", "accepted"),  # NONREF instant credit
        ("6", "rejected"),  # fee
        ("7", "rejected"),  # pending
    ]  # fmt: skip
    payments = received(ctx)
    split = [payments[r["id"]] for r in rows[:3]]
    assert [(p["amount"], p["reference"], p["payer_name"]) for p in split] == [
        ("100.00", "Praemie Januar AUTO-1001", "Juan Perez"),
        ("120.00", "Praemie Januar HOG-77", "Maria Gomez"),
        ("140.00", "RF18VIDA9", "Ana Ruiz"),
    ]
    assert {p["method"] for p in split} == {"direct_debit"}
    assert rows[3]["id"] == "2026010500418"
    assert rows[3]["reason"] == (
        "amount: the batch's 2 transactions add up to 220.00 EUR, the entry books 250.00 EUR"
    )
    assert rows[4]["id"].startswith("BS-")
    assert rows[5]["reason"].startswith("not a debtor payment: debit of 4.90 EUR")
    assert "not booked" in rows[6]["reason"]
    assert sum(float(p["amount"]) for p in payments.values()) == 435.50
    events = len(outbox_events(ctx))
    again = report_of(ctx, STATEMENTS / "camt053_sepa_collection.xml")
    assert [(r["status"], r["id"]) for r in again] == [
        ("rejected" if r["row"] == "4" else "duplicate", r["id"]) for r in rows
    ]  # the batch that does not add up stays rejected until the bank corrects it
    assert len(outbox_events(ctx)) == events


def test_returns_and_reversals_in_camt_find_their_original_or_say_so(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    day1 = report_of(ctx, STATEMENTS / "camt053_sepa_collection.xml")
    rows = report_of(ctx, STATEMENTS / "camt053_returns.xml")
    hogar, instant = day1[1]["id"], day1[4]["id"]
    assert [(r["status"], r["id"]) for r in rows] == [
        ("accepted", hogar),  # AM04 return found by its end-to-end id
        ("rejected", "2026010800052"),  # the original never came through cobranza
        ("accepted", instant),  # RvslInd reversal of the NONREF credit, found by end-to-end id
    ]
    assert rows[1]["reason"].startswith("return, original not found: 80.00 EUR taken back (MD06)")
    assert "end-to-end id POL-SOAT-5-2025-12" in rows[1]["reason"]
    assert "mandate MND-5" in rows[1]["reason"]
    reversals = reversed_(ctx)
    assert set(reversals) == {hogar, instant}
    assert reversals[hogar]["reason"] == "direct_debit_return"
    assert "AM04" in reversals[hogar]["note"]


def test_return_before_its_original_is_rejected_then_settles_on_reimport(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    early = report_of(ctx, STATEMENTS / "camt053_returns.xml")
    assert [r["status"] for r in early] == ["rejected", "rejected", "rejected"]
    assert all(r["reason"].startswith("return, original not found") for r in early)
    assert reversed_(ctx) == {}
    report_of(ctx, STATEMENTS / "camt053_sepa_collection.xml")
    late = report_of(ctx, STATEMENTS / "camt053_returns.xml")
    assert [r["status"] for r in late] == ["accepted", "rejected", "accepted"]


def test_camt054_notification_is_imported(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    summary = import_file(
        ctx, STATEMENTS / "camt054_notification.xml", source="bancolombia", keep_results=True
    )
    assert (summary.format, summary.accepted, summary.rejected) == ("camt054", 2, 0)
    payments = received(ctx)
    assert payments["CO-990011"]["reference"] == "INV-3003"
    assert payments["CO-990011"]["payer_name"] == "LUISA MORA"
    (other,) = set(payments) - {"CO-990011"}
    assert other.startswith("BS-") and payments[other]["reference"] == "CUOTA PRESTAMO 4411"


def test_dutch_mt940_with_several_statements_and_rc_returns(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    rows = report_of(ctx, STATEMENTS / "mt940_ing.940")
    assert [(r["row"], r["status"], r["id"]) for r in rows] == [
        ("1", "accepted", "00000000001005"),
        ("2", "accepted", "00000000001006"),
        ("3", "accepted", "00000000001005"),  # RC MD06 of the first credit, by /EREF/
        ("4", "rejected", "00000000001102"),
    ]
    assert rows[3]["reason"].startswith("return, original not found: 40.00 EUR taken back (AC04)")
    payments = received(ctx)
    assert payments["00000000001005"]["payer_name"] == "JANSEN BV"
    assert payments["00000000001005"]["reference"] == "Factuur INV-4004 premie januari"
    assert payments["00000000001006"]["reference"] == "RF18INV4005"
    assert payments["00000000001006"]["payer_name"] == "Jan de Vries"
    assert set(reversed_(ctx)) == {"00000000001005"}


def test_statement_lines_carry_positions_for_every_batched_transaction() -> None:
    path = STATEMENTS / "camt053_sepa_collection.xml"
    lines = [row.statement for row in iter_statement(path, "camt053")]
    assert [line.position for line in lines if line is not None] == ["1.1", "1.2", "1.3", "2", "3", "4", "5"]


CAMT_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>M</MsgId><CreDtTm>2026-02-02T20:00:00Z</CreDtTm></GrpHdr>
<Stmt><Id>{stmt}</Id><CreDtTm>{day}T20:00:00Z</CreDtTm>
<Acct><Id><IBAN>ES9121000418450200051332</IBAN></Id><Ccy>EUR</Ccy></Acct>
{entries}
</Stmt></BkToCstmrStmt></Document>"""
ENTRY = """<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{side}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>{day}</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>
<NtryDtls><TxDtls><Refs>{refs}</Refs>{extra}</TxDtls></NtryDtls></Ntry>"""


def camt(tmp_path: Path, name: str, day: str, *entries: str) -> Path:
    path = tmp_path / name
    path.write_text(CAMT_TEMPLATE.format(stmt=name, day=day, entries="".join(entries)), encoding="utf-8")
    return path


def entry(amount: str, side: str, ref: str, refs: str, day: str = "2026-02-02", extra: str = "") -> str:
    return ENTRY.format(amount=amount, side=side, ref=ref, refs=refs, day=day, extra=extra)


def test_return_in_the_same_statement_as_its_credit_and_by_mandate_and_amount(
    make_platform, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ctx = make_platform(["ingest"]).context("ingest")
    path = camt(
        tmp_path,
        "S1",
        "2026-02-02",
        entry("30.00", "CRDT", "NONREF", "<EndToEndId>NOTPROVIDED</EndToEndId><MndtId>M-1</MndtId>"),
        entry("45.00", "CRDT", "NONREF", "<EndToEndId>NOTPROVIDED</EndToEndId><MndtId>M-1</MndtId>"),
        entry(
            "45.00",
            "DBIT",
            "R-1",
            "<EndToEndId>NOTPROVIDED</EndToEndId><MndtId>M-1</MndtId>",
            extra="<RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>",
        ),
    )
    rows = report_of(ctx, path)
    assert [r["status"] for r in rows] == ["accepted", "accepted", "accepted"]
    assert rows[2]["id"] == rows[1]["id"]  # the mandate's 45.00 collection, not its 30.00 one
    assert set(reversed_(ctx)) == {rows[1]["id"]}


def test_reversal_found_by_the_bank_reference_of_the_original(make_platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = make_platform(["ingest"]).context("ingest")
    credit = camt(tmp_path, "S1", "2026-02-02", entry("10.00", "CRDT", "BK-77", ""))
    report_of(ctx, credit)
    reversal = camt(
        tmp_path,
        "S2",
        "2026-02-03",
        entry("10.00", "DBIT", "BK-77", "", day="2026-02-03").replace(
            "<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd>"
        ),
    )
    (row,) = report_of(ctx, reversal, source="other_bank")
    assert row["status"] == "rejected"  # another bank's BK-77 is another payment
    (row,) = report_of(ctx, reversal)
    assert (row["status"], row["id"]) == ("accepted", "BK-77")
    assert reversed_(ctx)["BK-77"]["reason"] == "bank_error"  # a reversal without a return reason


def test_returns_only_find_payments_of_their_own_tenant(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    day1 = STATEMENTS / "mt940_startumse_day1.sta"
    day2 = STATEMENTS / "mt940_startumse_day2.sta"
    a = report_of(ctx, day1, tenant="aseguradora-a")
    assert [r["status"] for r in report_of(ctx, day1, tenant="aseguradora-b")] == [r["status"] for r in a]
    # tenant c never collected the premium: its return names tenant a's payment, and must not touch it
    rows_c = report_of(ctx, day2, tenant="aseguradora-c")
    assert rows_c[1]["status"] == "rejected" and rows_c[1]["reason"].startswith("return, original not found")
    rows_a = report_of(ctx, day2, tenant="aseguradora-a")
    assert (rows_a[1]["status"], rows_a[1]["id"]) == ("accepted", a[1]["id"])
    tenants = {(e["tenantid"], e["type"]) for e in outbox_events(ctx)}
    assert ("aseguradora-a", "cobranza.payment.reversed") in tenants
    assert ("aseguradora-c", "cobranza.payment.reversed") not in tenants


def test_post_files_gives_the_same_report_as_the_cli(make_platform) -> None:

    platform = make_platform(["ingest"])
    client = api_client(platform.context("ingest"))
    content = (STATEMENTS / "camt053_sepa_collection.xml").read_bytes()
    response = client.post(
        "/v1/files", files={"file": ("extracto.xml", content, "application/xml")}, data={"source": "banco"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["format"], body["accepted"], body["rejected"], body["not_payments"]) == ("camt053", 4, 3, 2)
    expected = report_of(
        platform.context("ingest"), STATEMENTS / "camt053_sepa_collection.xml", tenant="fresh"
    )
    assert [(str(r["row"]), r["status"], r["id"], r["reason"] or "") for r in body["report"]] == [
        (r["row"], r["status"], r["id"], r["reason"]) for r in expected
    ]
    batch = body["report"][3]
    assert batch["errors"] == [
        {
            "path": "amount",
            "message": "the batch's 2 transactions add up to 220.00 EUR, the entry books 250.00 EUR",
        }
    ]


def test_a_batch_detailing_fewer_transactions_than_it_declares_is_not_one_debtor_s_payment(
    make_platform, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ctx = make_platform(["ingest"]).context("ingest")
    one_of_three = entry(
        "300.00",
        "CRDT",
        "BK-1",
        "<EndToEndId>E-1</EndToEndId>",
        extra='<Amt Ccy="EUR">100.00</Amt><RmtInf><Ustrd>INV-1</Ustrd></RmtInf>',
    ).replace("<NtryDtls>", "<NtryDtls><Btch><NbOfTxs>3</NbOfTxs></Btch>")
    (row,) = report_of(ctx, camt(tmp_path, "S1", "2026-02-02", one_of_three))
    assert (row["status"], row["id"]) == ("rejected", "BK-1")
    assert row["reason"] == "transactions: the batch declares 3 transactions, the entry details 1"
    assert received(ctx) == {}


def test_damaged_files_are_refused_with_where_they_broke_never_a_500(make_platform, tmp_path) -> None:  # type: ignore[no-untyped-def]

    platform = make_platform(["ingest"])
    ctx = platform.context("ingest")
    whole = (STATEMENTS / "camt053_sepa_collection.xml").read_text(encoding="utf-8")
    truncated = tmp_path / "cut.xml"
    truncated.write_text(whole[: whole.index("<Ntry>", whole.index("PDNG") - 400)], encoding="utf-8")
    with pytest.raises(FileRejected, match=r"cut.xml is not well-formed XML at line \d+, column \d+"):
        import_file(ctx, truncated, source="banco", chunk_size=2)
    latin = tmp_path / "pagos.csv"
    latin.write_bytes("payment_id,amount,received_on,payer_name\nP1,10,2026-01-05,Muñoz\n".encode("latin-1"))
    with pytest.raises(FileRejected, match="not utf-8-sig text"):
        import_file(ctx, latin, source="banco")
    broken = tmp_path / "recaudos.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(FileRejected, match="not a readable xlsx workbook"):
        import_file(ctx, broken, source="banco")
    response = api_client(ctx).post(
        "/v1/files", files={"file": ("cut.xml", truncated.read_bytes(), "application/xml")}
    )
    assert response.status_code == 422, response.text


def test_latin1_mt940_and_control_characters_in_bank_text_never_cost_a_payment(
    make_platform, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ctx = make_platform(["ingest"]).context("ingest")
    text = (
        ":20:STARTUMSE\r\n:25:10020030/1234567890\r\n:28C:00000\r\n:60F:C260110EUR0,00\r\n"
        ":61:2601100110CR42,00NTRFNONREF\r\n"
        ":86:166?00SEPA-GUTSCHRIFT?20SVWZ+Prämie\x0cFebruar\x00 KFZ-22?32JÖRG MÜLLER\r\n"
        ":62F:C260110EUR42,00\r\n-\r\n"
    )
    path = tmp_path / "umsatz.sta"
    path.write_bytes(text.encode("latin-1"))
    (row,) = report_of(ctx, path)
    assert row["status"] == "accepted", row
    payment = received(ctx)[row["id"]]
    assert payment["reference"] == "Prämie Februar KFZ-22"
    assert payment["payer_name"] == "JÖRG MÜLLER"


def test_camt052_report_and_several_statements_in_one_file(make_platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = make_platform(["ingest"]).context("ingest")
    one = camt(
        tmp_path, "R1", "2026-02-02", entry("10.00", "CRDT", "NONREF", ""), entry("11.00", "CRDT", "A-2", "")
    )
    text = one.read_text(encoding="utf-8")
    start, end = text.index("<Stmt>"), text.index("</Stmt>") + len("</Stmt>")
    second = text[start:end].replace("<Id>R1</Id>", "<Id>R2</Id>").replace("A-2", "B-2")
    report = (
        (text[:end] + second + text[end:])
        .replace("camt.053.001.08", "camt.052.001.08")
        .replace("BkToCstmrStmt", "BkToCstmrAcctRpt")
        .replace("Stmt>", "Rpt>")
    )
    path = tmp_path / "intraday.xml"
    path.write_text(report, encoding="utf-8")
    assert detect_format(path) == "camt052"
    rows = report_of(ctx, path)
    assert [(r["row"], r["status"]) for r in rows] == [(str(n), "accepted") for n in range(1, 5)]
    assert (rows[1]["id"], rows[3]["id"]) == ("A-2", "B-2")
    assert rows[0]["id"] != rows[2]["id"]  # same position and amount, another statement
    assert [row.statement.position for row in iter_statement(path, "camt052") if row.statement] == [
        "1",
        "2",
        "1",
        "2",
    ]


def test_a_key_naming_several_payments_never_picks_one(make_platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = make_platform(["ingest"]).context("ingest")
    mandate = "<EndToEndId>NOTPROVIDED</EndToEndId><MndtId>M-7</MndtId>"
    january = camt(tmp_path, "S1", "2026-01-02", entry("50.00", "CRDT", "C-1", mandate, day="2026-01-02"))
    february = camt(tmp_path, "S2", "2026-02-02", entry("50.00", "CRDT", "C-2", mandate, day="2026-02-02"))
    assert [r["status"] for r in report_of(ctx, january) + report_of(ctx, february)] == [
        "accepted",
        "accepted",
    ]
    returned = camt(
        tmp_path,
        "S3",
        "2026-02-05",
        entry(
            "50.00",
            "DBIT",
            "R-9",
            mandate,
            day="2026-02-05",
            extra="<RtrInf><Rsn><Cd>AM04</Cd></Rsn></RtrInf>",
        ),
    )
    (row,) = report_of(ctx, returned)
    assert row["status"] == "rejected"
    assert "mandate M-7 (names several payments)" in row["reason"]
    assert reversed_(ctx) == {}
    report_of(ctx, january)  # importing January again keeps the key ambiguous, not January's
    assert report_of(ctx, returned)[0]["status"] == "rejected"
