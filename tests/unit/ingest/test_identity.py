"""Canonical ids (pure rule): natural when free, ``<source>:<id>`` when another source holds it, never too long."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.ingest.domain.identity import MAX_ID_LENGTH, candidates, choose, source_system


def test_a_free_id_keeps_its_natural_value() -> None:
    assert choose("core", "INV-1", set()) == "INV-1"


def test_an_id_another_source_holds_is_prefixed_with_the_source() -> None:
    assert choose("billing", "INV-1", {"INV-1"}) == "billing:INV-1"


def test_when_the_prefixed_id_is_taken_too_a_stable_digest_is_used() -> None:
    minted = choose("billing", "INV-1", {"INV-1", "billing:INV-1"})
    assert minted.startswith("billing:") and minted not in {"INV-1", "billing:INV-1"}
    assert minted == choose("billing", "INV-1", {"INV-1", "billing:INV-1"})


@given(source=st.text(min_size=1, max_size=500), natural=st.text(min_size=1, max_size=300))
def test_every_candidate_fits_an_identifier(source: str, natural: str) -> None:
    assert all(len(option) <= MAX_ID_LENGTH for option in candidates(source, natural))
    assert len(choose(source, natural, set(candidates(source, natural)[:-1]))) <= MAX_ID_LENGTH


def test_ingest_own_sources_name_the_source_system() -> None:
    assert source_system("/sources/core_polizas") == "core_polizas"
    assert source_system("/core/policy") == "/core/policy"
    assert source_system("/sources/") == "/sources/"
