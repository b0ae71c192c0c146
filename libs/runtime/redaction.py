"""Personal data out of error text before it is logged or written as a dead-letter reason.

Engines are built with ``hide_parameters=True`` (``libs.runtime.db.make_engine``), so
SQLAlchemy no longer appends bound values to its errors, but PostgreSQL itself
echoes values in its messages: a unique violation's ``DETAIL:  Key (email)=(ana@x.co)
already exists.``, a check violation's ``Failing row contains (...)``, a cast's
``invalid input syntax for type numeric: "..."``, a COPY's ``CONTEXT:  COPY t, line 3:
"..."``. ``redact`` keeps the shape of each message (constraint, columns, the kind of
error: what an operator needs) and drops the values.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Key (col, col)=(value, value) already exists / is not present in table ...
    (re.compile(r"(Key \((?:[^()]|\([^()]*\))*\))=\((?:[^()\n]|\([^()\n]*\))*\)"), rf"\1=({REDACTED})"),
    # Failing row contains (...).
    (re.compile(r"(Failing row contains )\(.*?\)(?=\.?\s*$)", re.MULTILINE), rf"\1({REDACTED})"),
    # invalid input syntax for type X: "value" / invalid input value for enum e: "value"
    (
        re.compile(
            r"((?:invalid input (?:syntax|value) for (?:type|enum) [\w ]+|value too long for type [\w ()]+)"
            r":?\s*)\"[^\"\n]*\""
        ),
        rf'\1"{REDACTED}"',
    ),
    # COPY t, line 3, column c: "value"  /  COPY t, line 3: "value"
    (re.compile(r"(COPY [\w.\"]+, line \d+(?:, column [\w\"]+)?: )\"[^\n]*\""), rf'\1"{REDACTED}"'),
    # SQLAlchemy's own parameter echo, should an engine be built without hide_parameters
    (
        re.compile(r"\[parameters: .*?\](?=\s*(?:\(Background|$))", re.MULTILINE | re.DOTALL),
        "[parameters hidden]",
    ),
)


def redact(text: str) -> str:
    """``text`` with the values PostgreSQL and SQLAlchemy echo in errors replaced by ``<redacted>``."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


__all__ = ["REDACTED", "redact"]
