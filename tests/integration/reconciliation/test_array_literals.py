"""Array parameters bound as text literals reach PostgreSQL as the values psycopg would have sent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from libs.runtime.db import make_engine
from services.reconciliation.adapters.arrays import array_params, pg_array

STRINGS = [
    "ACC-1",
    "",
    "NULL",
    "null",
    " padded ",
    "com,ma",
    "{brace}",
    'quo"te',
    "back\\slash",
    "back\\\\double",
    '\\"',
    "tab\there",
    "line\nfeed",
    "Peña 東京 😀",
    "nbsp\u00a0",
    None,
]


@pytest.mark.parametrize(
    ("sql_type", "values"),
    [
        ("text", STRINGS),
        ("text", [v for v in STRINGS if v is not None]),
        ("text", ["ACC-1", "", "NULL", "com,ma", "{b}", " p ", "Peña 東京"]),
        ("text", ['a","b']),
        ("text", []),
        ("text", [None]),
        (
            "numeric",
            [Decimal("1250.50"), Decimal("-0.0001"), Decimal("1E+2"), Decimal("99999999999999.9999"), None],
        ),
        ("numeric", [Decimal("0E-10"), Decimal("10.10000"), Decimal(7)]),
        ("bigint", [1, 2**40, -3, None]),
        ("boolean", [True, False, None]),
        ("date", [date(2026, 3, 2), date(1999, 12, 31), None]),
        (
            "timestamptz",
            [
                datetime(2026, 3, 2, 14, 30, 5, 123456, tzinfo=UTC),
                datetime(2026, 3, 2, 9, tzinfo=timezone(timedelta(hours=-5))),
                None,
            ],
        ),
    ],
)
def test_literal_and_psycopgs_list_read_back_the_same(
    sql_type: str, values: list[Any], empty_database: str
) -> None:
    engine = make_engine(empty_database, pool_size=1)
    try:
        with engine.begin() as conn:
            ours = conn.execute(
                text(f"SELECT CAST(:v AS {sql_type}[])"), array_params({"v": values})
            ).scalar_one()
            theirs = conn.execute(text(f"SELECT CAST(:v AS {sql_type}[])"), {"v": values}).scalar_one()
            as_text = conn.execute(
                text(f"SELECT CAST(CAST(:v AS {sql_type}[]) AS text)"), array_params({"v": values})
            ).scalar_one()
            reference = conn.execute(
                text(f"SELECT CAST(CAST(:v AS {sql_type}[]) AS text)"), {"v": values}
            ).scalar_one()
    finally:
        engine.dispose()
    assert ours == theirs == values
    assert as_text == reference


def test_unnest_keeps_order_and_nulls(empty_database: str) -> None:
    engine = make_engine(empty_database, pool_size=1)
    try:
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT v.a, v.n FROM unnest(CAST(:a AS text[]), CAST(:n AS numeric[])) WITH ORDINALITY"
                    " AS v(a, n, i) ORDER BY v.i"
                ),
                array_params({"a": ["b", None, "a"], "n": [Decimal("1.5"), Decimal(2), None]}),
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("b", Decimal("1.5")), (None, Decimal(2)), ("a", None)]


def test_the_literal_form() -> None:
    assert pg_array([]) == "{}"
    assert pg_array(["a", None, 'x"y\\z', True, False]) == '{"a",NULL,"x\\"y\\\\z",t,f}'
    assert pg_array([date(2026, 1, 2), Decimal("1.50")]) == '{"2026-01-02","1.50"}'
    assert pg_array(iter(["a", "b,c"])) == '{"a","b,c"}'
    assert pg_array(['a","b']) == '{"a\\",\\"b"}'
    assert array_params({"ids": ["a"], "tenant": "t", "n": 3}) == {"ids": '{"a"}', "tenant": "t", "n": 3}
