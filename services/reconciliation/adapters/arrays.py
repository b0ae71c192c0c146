"""Array parameters as PostgreSQL's text form of an array, built with ``str.join``.

psycopg adapts a Python list element by element in Python (a dumper lookup and a quoting regex per
element, ~1 µs each); a batch's writes bind tens of elements per event. Here each element is quoted
the way ``array_in`` reads it back (backslash and double quote escaped, ``NULL`` unquoted), and the
statement casts the text (``CAST(:ids AS text[])``, ``numeric[]``, ``date[]``, ``boolean[]``...),
so the values PostgreSQL receives are the ones psycopg would have sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def pg_array(values: Iterable[Any]) -> str:
    """``values`` (str, Decimal, int, bool, date, aware datetime or None) as one array literal."""
    items = list(values)
    if not items:
        return "{}"
    if None in items or isinstance(items[0], bool):  # ``None in`` compares by ==: no Decimal/str equals None
        return "{" + ",".join(map(_element, items)) + "}"
    joined = '","'.join(map(str, items))
    if "\\" in joined or '"' in joined:  # rare: quote each element on its own
        return "{" + ",".join(map(_element, items)) + "}"
    return '{"' + joined + '"}'


def array_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every list value as its array literal (the statement casts each one)."""
    return {k: pg_array(v) if isinstance(v, list) else v for k, v in params.items()}
