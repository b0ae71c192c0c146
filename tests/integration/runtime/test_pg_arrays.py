"""Array parameters sent as one literal (``pg_array``) read back exactly as the values they came from.

Money to the cent (and to the fourth place), dates, booleans, NULLs, and text that looks like
syntax (quotes, backslashes, braces, commas, the word NULL, spaces) must survive the round trip
through ``CAST(:p AS <type>[])``, and the planner must see a constant (an index lookup).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import create_engine, text

from libs.runtime.pg_arrays import pg_array, text_array


def test_values_come_back_as_they_were_sent(pg_server: str) -> None:
    texts = ["INV-1", 'a"b', "back\\slash", "{brace}", "x,y", "NULL", " padded ", "", "ñandú", None]
    money = [Decimal("120000.00"), Decimal("0.0001"), Decimal("-5"), Decimal("1E+2"), None]
    days = [date(2026, 3, 1), None]
    flags = [True, False, None]
    moments = [datetime(2026, 3, 2, 14, 30, tzinfo=UTC), None]
    engine = create_engine(pg_server.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT CAST(:t AS text[]), CAST(:m AS numeric[]), CAST(:d AS date[]), CAST(:b AS boolean[]),"
                    " CAST(:ts AS timestamptz[]), CAST(:e AS text[])"
                ),
                {
                    "t": pg_array(texts),
                    "m": pg_array(money),
                    "d": pg_array(days),
                    "b": pg_array(flags),
                    "ts": pg_array(moments),
                    "e": pg_array([]),
                },
            ).one()
    finally:
        engine.dispose()
    assert row[0] == texts
    assert row[1] == money
    assert [str(v) for v in row[1] if v is not None] == ["120000.00", "0.0001", "-5", "100"]
    assert row[2] == days
    assert row[3] == flags
    assert row[4] == moments
    assert row[5] == []


def test_plain_ids_take_the_one_join_path_and_both_services_agree() -> None:
    ids = [f"ACC-{n}" for n in range(3)]
    assert pg_array(ids) == '{"ACC-0","ACC-1","ACC-2"}'
    assert pg_array(iter(ids)) == pg_array(ids) == text_array(ids)
    assert pg_array(['say "hi"']) == '{"say \\"hi\\""}'
