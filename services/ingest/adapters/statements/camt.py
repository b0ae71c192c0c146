"""ISO 20022 cash-management statements: camt.053 (statement), camt.052 (intraday report)
and camt.054 (debit/credit notification), any version: the three share the entry structure.

Streamed with ``iterparse``: the statement's identity (account, id, sequence number, date)
is read as it passes, each ``Ntry`` is turned into lines and cleared.

- An entry batching several transactions (``NtryDtls/Btch`` with several ``TxDtls``)
  becomes one line per transaction, each with its own amount, remittance and end-to-end
  id; the transactions must add up to the entry (else the entry is one rejected row).
- ``RvslInd=true`` on a debit, or a debit carrying ``RtrInf`` or a return bank
  transaction code, takes a payment back: a ``return`` line with the keys of the original.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from services.ingest.adapters.statements.model import (
    Movement,
    StatementContext,
    StatementLine,
    clean_text,
    fingerprint,
    matching_keys,
    real_reference,
)

CONTAINERS = frozenset({"Stmt", "Ntfctn", "Rpt"})
ROOTS = {"BkToCstmrStmt": "camt053", "BkToCstmrDbtCdtNtfctn": "camt054", "BkToCstmrAcctRpt": "camt052"}
RETURN_SUBFAMILIES = frozenset({"UPDD", "PRDD", "RRTN", "PRCT", "ARET", "RPCR"})
"""ISO bank transaction sub-family codes that mean "a payment came back"."""
METHOD_BY_FAMILY = {
    "RCDT": "bank_transfer",
    "ICDT": "bank_transfer",
    "IDDT": "direct_debit",
    "RDDT": "direct_debit",
    "CNTR": "cash",
    "CHEQ": "cheque",
    "RCHQ": "cheque",
    "CCRD": "card",
    "MCRD": "card",
}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return element.findall(name)


def _find(element: ET.Element | None, path: str) -> ET.Element | None:
    """``find`` by local names: ``iter_camt`` strips every tag of its namespace as it parses."""
    return None if element is None else element.find(path)


def _text(element: ET.Element | None, *paths: str) -> str | None:
    for path in paths:
        found = _find(element, path)
        if found is not None and found.text and found.text.strip():
            return found.text.strip()
    return None


def _date(element: ET.Element | None, path: str) -> str | None:
    return _text(element, f"{path}/Dt") or ((_text(element, f"{path}/DtTm") or "")[:10] or None)


def _amount(element: ET.Element | None) -> tuple[Decimal | None, str | None]:
    if element is None or not element.text:
        return None, None
    try:
        return Decimal(element.text.strip()), element.get("Ccy")
    except InvalidOperation:
        return None, element.get("Ccy")


def root_kind(head: str) -> str | None:
    """``camt053``/``camt054``/``camt052`` when the document's root message says so."""
    for root, kind in ROOTS.items():
        if f"<{root}" in head or f":{root}" in head:
            return kind
    return None


def iter_camt(path: Path) -> Iterator[StatementLine]:
    """Every entry's lines (one per batched transaction), in file order.

    The statement's own fields (``Id``, ``Acct``, ``FrToDt``…) come before its entries, so
    they are complete when the first entry ends; each entry is dropped once read.
    """
    container: ET.Element | None = None
    context: StatementContext | None = None
    position = 0
    for event, element in ET.iterparse(path, events=("start", "end")):
        if event == "start":
            element.tag = _local(element.tag)  # every camt version has its own namespace
            if container is None and element.tag in CONTAINERS:
                container, context, position = element, None, 0
            continue
        if container is None:
            continue
        if element is container:
            element.clear()
            container = None
        elif element.tag == "Ntry":
            if context is None:
                context = _context(container)
            position += 1
            yield from _entry(element, context, position)
            element.clear()
            container.remove(element)


def _context(statement: ET.Element) -> StatementContext:
    sequence = _text(statement, "ElctrncSeqNb") or _text(statement, "LglSeqNb")
    number = "/".join(p for p in (_text(statement, "Id"), sequence) if p)
    opened = _text(statement, "FrToDt/FrDtTm") or _text(statement, "CreDtTm") or ""
    return StatementContext(
        account=_text(statement, "Acct/Id/IBAN", "Acct/Id/Othr/Id") or "",
        number=number,
        date=opened[:10],
    )


def _movement(entry: ET.Element, transactions: list[ET.Element]) -> Movement:
    status = _text(entry, "Sts/Cd", "Sts")
    if status is not None and status.upper() not in ("BOOK", "BOOKED"):
        return "not_booked"
    credit = _text(entry, "CdtDbtInd") == "CRDT"
    reversal = (_text(entry, "RvslInd") or "").lower() in ("true", "1")
    if credit:
        return "reversed_debit" if reversal else "credit"
    codes = {_text(scope, "BkTxCd/Domn/Fmly/SubFmlyCd") for scope in (entry, *transactions)}
    returned = any(_find(tx, "RtrInf") is not None for tx in transactions)
    return "return" if reversal or returned or codes & RETURN_SUBFAMILIES else "debit"


def _entry(entry: ET.Element, statement: StatementContext, position: int) -> Iterator[StatementLine]:
    amount, currency = _amount(_find(entry, "Amt"))
    transactions = [tx for details in _children(entry, "NtryDtls") for tx in _children(details, "TxDtls")]
    movement = _movement(entry, transactions)
    value_date = _date(entry, "ValDt")
    booked_on = _date(entry, "BookgDt") or value_date
    entry_ref = real_reference(_text(entry, "AcctSvcrRef"))
    family = _text(entry, "BkTxCd/Domn/Fmly/Cd")
    declared = _text(entry, "NtryDtls/Btch/NbOfTxs")
    batched = len(transactions) > 1 or (bool(transactions) and declared not in (None, "1"))
    if batched and movement in ("credit", "return"):
        errors = _batch_errors(entry, transactions, amount, currency)
        if errors:
            whole = _line(
                movement, statement, str(position), None, entry,
                amount=amount, currency=currency, value_date=value_date, booked_on=booked_on,
                bank_ref=entry_ref, family=family,
            )  # fmt: skip
            whole.errors = errors
            yield whole
            return
        refs = [real_reference(_text(tx, "Refs/AcctSvcrRef")) for tx in transactions]
        unique = len(set(refs)) == len(refs) and entry_ref not in refs
        for number, tx in enumerate(transactions, start=1):
            tx_amount, tx_currency = _amount(_tx_amount(tx))
            yield _line(
                movement, statement, f"{position}.{number}", tx, entry,
                amount=tx_amount, currency=tx_currency or currency, value_date=value_date,
                booked_on=booked_on, bank_ref=refs[number - 1] if unique else None, family=family,
            )  # fmt: skip
        return
    single = transactions[0] if transactions else None
    bank_ref = real_reference(_text(single, "Refs/AcctSvcrRef")) or entry_ref
    line = _line(
        movement, statement, str(position), single, entry,
        amount=amount, currency=currency, value_date=value_date, booked_on=booked_on,
        bank_ref=bank_ref, family=family,
    )  # fmt: skip
    yield line


def _tx_amount(tx: ET.Element) -> ET.Element | None:
    for path in ("Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt"):
        if (found := _find(tx, path)) is not None:
            return found
    return None


def _batch_errors(
    entry: ET.Element, transactions: list[ET.Element], amount: Decimal | None, currency: str | None
) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    total = Decimal(0)
    for number, tx in enumerate(transactions, start=1):
        tx_amount, tx_currency = _amount(_tx_amount(tx))
        if tx_amount is None:
            errors.append((f"transactions.{number}.amount", "the batched transaction has no amount"))
            continue
        if tx_currency and currency and tx_currency != currency:
            errors.append(
                (f"transactions.{number}.currency", f"{tx_currency} in a batch booked in {currency}")
            )
        total += tx_amount
    declared = _text(entry, "NtryDtls/Btch/NbOfTxs")
    if declared is not None and declared.isdigit() and int(declared) != len(transactions):
        errors.append(
            (
                "transactions",
                f"the batch declares {declared} transactions, the entry details {len(transactions)}",
            )
        )
    if not errors and amount is not None and total != amount:
        errors.append(
            (
                "amount",
                f"the batch's {len(transactions)} transactions add up to {total} {currency or ''}, "
                f"the entry books {amount} {currency or ''}".replace("  ", " "),
            )
        )
    return errors


def _remittance(tx: ET.Element | None, entry: ET.Element) -> str | None:
    info = _find(tx, "RmtInf") if tx is not None else None
    parts: list[str] = []
    if info is not None:
        for strd in _children(info, "Strd"):
            ref = _text(strd, "CdtrRefInf/Ref")
            if ref:
                parts.append(ref)
            parts += [c.text.strip() for c in _children(strd, "AddtlRmtInf") if c.text and c.text.strip()]
        parts += [c.text.strip() for c in _children(info, "Ustrd") if c.text and c.text.strip()]
    if not parts:
        extra = _text(tx, "AddtlTxInf") if tx is not None else None
        parts = [p for p in (extra or _text(entry, "AddtlNtryInf"),) if p]
    return clean_text(" ".join(parts))


def _line(
    movement: Movement,
    statement: StatementContext,
    position: str,
    tx: ET.Element | None,
    entry: ET.Element,
    *,
    amount: Decimal | None,
    currency: str | None,
    value_date: str | None,
    booked_on: str | None,
    bank_ref: str | None,
    family: str | None,
) -> StatementLine:
    remittance = _remittance(tx, entry)
    payer = clean_text(
        _text(
            tx,
            "RltdPties/Dbtr/Nm",
            "RltdPties/Dbtr/Pty/Nm",
            "RltdPties/UltmtDbtr/Nm",
            "RltdPties/UltmtDbtr/Pty/Nm",
        )
    )
    e2e = _text(tx, "Refs/EndToEndId")
    mandate = _text(tx, "Refs/MndtId")
    tx_id = _text(tx, "Refs/TxId", "Refs/InstrId")
    tx_family = _text(tx, "BkTxCd/Domn/Fmly/Cd") or family
    payment = {
        "payment_id": bank_ref or fingerprint(statement, position, value_date, amount, currency, remittance),
        "amount": format(amount, "f") if amount is not None else None,
        "currency": currency,
        "received_on": booked_on,
        "method": METHOD_BY_FAMILY.get(tx_family or "", "bank_transfer"),
        "reference": remittance,
        "payer_name": payer,
    }
    keys = matching_keys(
        end_to_end_id=e2e, mandate_id=mandate, reference=tx_id, amount=amount, currency=currency
    )
    reason = None
    if movement == "return":
        code = _text(tx, "RtrInf/Rsn/Cd", "RtrInf/Rsn/Prtry")
        extra = _text(tx, "RtrInf/AddtlInf")
        reason = " ".join(p for p in (code, extra) if p) or "reversal"
    return StatementLine(
        movement=movement,
        position=position,
        payment={k: v for k, v in payment.items() if v is not None},
        keys=keys,
        original_ids=[r for r in (bank_ref,) if r],
        return_reason=reason,
        description=clean_text(_text(entry, "AddtlNtryInf")) or remittance or "",
    )
