"""``adapters.sql``: a batch's ids reach PostgreSQL as one array literal, whatever they contain."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from libs.runtime.transport.memory import InMemoryPlatform
from services.ingest.adapters.sql import any_of, json_rows, text_array

AWKWARD = [
    "INV-1",
    'with "quotes"',
    "back\\slash",
    "{braces},commas",
    " padded ",
    "NULL",
    "",
    "ñandú-€-日本",
    "tab\tand\nnewline",
]


def test_the_array_literal_is_every_value_as_given(ingest: InMemoryPlatform) -> None:
    with ingest.context("ingest").sessions() as session:
        got = session.execute(text("SELECT CAST(:ids AS text[])"), {"ids": text_array(AWKWARD)}).scalar_one()
    assert got == AWKWARD


def test_an_empty_batch_matches_nothing(ingest: InMemoryPlatform) -> None:
    with ingest.context("ingest").sessions() as session:
        found = session.execute(
            text(f"SELECT count(*) FROM (VALUES ('a')) AS v(x) WHERE x = {any_of('ids')}"),
            {"ids": text_array([])},
        ).scalar_one()
    assert found == 0


@pytest.mark.parametrize("value", [*AWKWARD, None])
def test_rows_round_trip_through_json_to_recordset(ingest: InMemoryPlatform, value: str | None) -> None:
    with ingest.context("ingest").sessions() as session:
        got = session.execute(
            text("SELECT r.v FROM json_to_recordset(CAST(:rows AS json)) AS r(v text)"),
            {"rows": json_rows([{"v": value}])},
        ).scalar_one()
    assert got == value
