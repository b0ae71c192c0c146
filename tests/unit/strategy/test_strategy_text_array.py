"""The account ids a batch reads by are bound once as an array literal: any text stays itself."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from services.strategy.adapters.repository import text_array

AWKWARD = ["ACC-1", 'quo"te', "back\\slash", "NULL", "comma,sep", "{brace}", " spaced ", "", "ñandú", 'a\\"b']


def test_an_array_literal_reads_back_as_the_same_texts(pg_server: str) -> None:
    engine = create_engine(pg_server.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            got = connection.execute(
                text("SELECT unnest(CAST(:ids AS text[]))"), {"ids": text_array(AWKWARD)}
            ).scalars()
            assert list(got) == AWKWARD
            assert (
                connection.execute(
                    text("SELECT cardinality(CAST(:ids AS text[]))"), {"ids": text_array([])}
                ).scalar()
                == 0
            )
    finally:
        engine.dispose()
