"""Open vocabularies: the labels core systems and banks send, mapped onto the few values cobranza reasons about.

Money is never rejected for a label. A payment whose ``method`` is "Transferencia",
"PSE" or "nequi" is still money: the label is normalised (case, accents, spaces and
punctuation do not matter) and looked up in a synonym table; a label nobody listed
becomes ``other`` and the original is kept beside it (``method_detail``,
``reason_detail``) so nothing a core system said is lost. Consumers apply the same
rule, so an event from a newer producer with a value this code does not know still
decodes (tolerant reader).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OTHER = "other"


def normalise_label(label: str) -> str:
    """``"Transferencia  Bancaria"`` -> ``"transferencia_bancaria"``; ``"Débito-Automático"`` -> ``"debito_automatico"``."""
    decomposed = unicodedata.normalize("NFKD", label)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")


@dataclass(frozen=True)
class Vocabulary:
    """The canonical values of one field and the synonyms that map onto them."""

    name: str
    values: tuple[str, ...]
    synonyms: Mapping[str, str]

    def __post_init__(self) -> None:
        if OTHER not in self.values:
            raise ValueError(f"vocabulary {self.name} must have {OTHER!r}")
        for synonym, value in self.synonyms.items():
            if value not in self.values:
                raise ValueError(f"{self.name}: synonym {synonym!r} maps to unknown value {value!r}")
            if synonym != normalise_label(synonym):
                raise ValueError(f"{self.name}: synonym {synonym!r} must be written normalised")

    def canonical(self, label: str) -> str:
        """The canonical value for ``label``; ``other`` for anything unknown (or empty)."""
        key = normalise_label(label)
        if key in self.values:
            return key
        return self.synonyms.get(key, OTHER)

    def describe(self) -> str:
        return f"one of {', '.join(self.values)}; any other label is kept as {OTHER!r} with the original in the *_detail field"


def _table(pairs: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {normalise_label(synonym): value for value, synonyms in pairs.items() for synonym in synonyms}


PAYMENT_METHODS = Vocabulary(
    "payment method",
    ("bank_transfer", "card", "cash", "cheque", "direct_debit", "pse", "wallet", "payroll", OTHER),
    _table(
        {
            "bank_transfer": (
                "transfer",
                "transferencia",
                "transferencia bancaria",
                "transferencia electronica",
                "wire",
                "wire transfer",
                "bank transfer",
                "credit transfer",
                "sepa",
                "sepa credit transfer",
                "sct",
                "ach",
                "ach credit",
                "trf",
                "xfer",
                "giro",
                "consignacion",
                "consignacion bancaria",
                "deposito",
                "deposito bancario",
                "bank deposit",
                "deposit",
                "spei",
                "pix",
                "interbancaria",
                "ueberweisung",
                "overboeking",
            ),
            "card": (
                "tarjeta",
                "tarjeta de credito",
                "tarjeta credito",
                "tarjeta de debito",
                "tarjeta debito",
                "credit card",
                "debit card",
                "creditcard",
                "visa",
                "mastercard",
                "amex",
                "american express",
                "diners",
                "tc",
                "td",
                "datafono",
                "pos",
            ),
            "cash": (
                "efectivo",
                "contado",
                "efecty",
                "baloto",
                "corresponsal",
                "corresponsal bancario",
                "caja",
            ),
            "cheque": ("check", "cheque", "chq", "cheque de gerencia"),
            "direct_debit": (
                "debito automatico",
                "debito",
                "domiciliacion",
                "domiciliacion bancaria",
                "sdd",
                "sepa direct debit",
                "direct debit",
                "ach debit",
                "autodebit",
                "lastschrift",
                "incasso",
                "mandate",
            ),
            "pse": ("boton pse", "pse pago", "pagos seguros en linea"),
            "wallet": (
                "nequi",
                "daviplata",
                "movii",
                "paypal",
                "apple pay",
                "google pay",
                "billetera",
                "billetera digital",
                "ewallet",
                "e wallet",
                "mercado pago",
                "mercadopago",
            ),
            "payroll": (
                "libranza",
                "nomina",
                "descuento por nomina",
                "descuento de nomina",
                "payroll deduction",
            ),
        }
    ),
)

REVERSAL_REASONS = Vocabulary(
    "reversal reason",
    ("bounced_cheque", "chargeback", "bank_error", "duplicate", "direct_debit_return", OTHER),
    _table(
        {
            "bounced_cheque": (
                "cheque devuelto",
                "bounced",
                "returned cheque",
                "nsf",
                "insufficient funds",
                "fondos insuficientes",
                "sin fondos",
            ),
            "chargeback": ("contracargo", "desconocimiento", "dispute", "disputed", "fraud", "fraude"),
            "bank_error": (
                "error bancario",
                "bank error",
                "error del banco",
                "reversal",
                "reversa",
                "reverso",
            ),
            "duplicate": ("duplicado", "pago duplicado", "duplicate payment", "doble pago"),
            "direct_debit_return": (
                "return",
                "returned",
                "devolucion",
                "devolucion debito",
                "rechazo debito",
                "rtrn",
                "direct debit return",
                "refund request",
                "r01",
                "r02",
                "r03",
                "r04",
                "am04",
                "ac04",
                "ac06",
                "md01",
                "md06",
                "ms02",
                "ms03",
                "ag01",
                "ag02",
                "rr04",
            ),
        }
    ),
)

ADJUSTMENT_REASONS = Vocabulary(
    "adjustment reason",
    ("credit_note", "endorsement", "premium_change", "correction", "discount", OTHER),
    _table(
        {
            "credit_note": ("nota credito", "nota de credito", "nc", "credit memo"),
            "endorsement": ("endoso", "anexo", "modificacion de poliza"),
            "premium_change": ("cambio de prima", "ajuste de prima", "reajuste", "indexacion"),
            "correction": ("correccion", "ajuste", "adjustment", "fix"),
            "discount": ("descuento", "bonificacion", "rebate"),
        }
    ),
)

CANCELLATION_REASONS = Vocabulary(
    "cancellation reason",
    ("policy_cancelled", "issued_in_error", "written_off", OTHER),
    _table(
        {
            "policy_cancelled": (
                "cancelacion",
                "cancelada",
                "poliza cancelada",
                "revocacion",
                "revocada",
                "anulacion",
                "anulada",
                "cancelled",
                "canceled",
                "terminacion",
            ),
            "issued_in_error": ("error de emision", "emitida por error", "error", "error emision"),
            "written_off": (
                "castigo",
                "castigada",
                "castigo de cartera",
                "write off",
                "writeoff",
                "charge off",
            ),
        }
    ),
)


def open_label(data: Any, field: str, vocabulary: Vocabulary, detail_field: str) -> Any:
    """Before-validation hook: put ``data[field]`` on the vocabulary, keeping an unlisted original in ``detail_field``.

    A label that is already canonical is left alone; a synonym or an unknown label is
    replaced by its canonical value and the original is kept (unless the sender gave a
    detail of its own). Non-string values are left for the field's own validation.
    """
    if not isinstance(data, dict):
        return data
    raw = data.get(field)
    if not isinstance(raw, str) or not raw.strip():
        return data
    value = vocabulary.canonical(raw)
    if value == raw:
        return data
    changed = dict(data)
    changed[field] = value
    if not changed.get(detail_field):
        printable = "".join(ch for ch in raw if unicodedata.category(ch) not in ("Cc", "Cs")).strip()
        changed[detail_field] = printable[:200] or None
    return changed
