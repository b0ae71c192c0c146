"""The contracts' e-mail check is memoised within a batch only: nothing of an address outlives the
block (an erased customer's address must not stay in a long-running process's memory)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from libs.events import types
from libs.events.types import Email, addresses_memoised

EMAILS = TypeAdapter(list[Email])


def _memo() -> dict[str, str] | None:
    return types._ADDRESSES.get()


def test_an_address_is_checked_once_within_a_batch_and_forgotten_after_it() -> None:
    with addresses_memoised():
        assert EMAILS.validate_python(["Ana@Example.COM", "Ana@Example.COM"]) == ["Ana@example.com"] * 2
        memo = _memo()
        assert memo == {"Ana@Example.COM": "Ana@example.com"}
    assert _memo() is None
    assert EMAILS.validate_python(["Ana@Example.COM"]) == ["Ana@example.com"]
    assert _memo() is None


def test_a_refused_address_is_not_kept_and_fails_the_same_way_again() -> None:
    with addresses_memoised():
        for _ in range(2):
            with pytest.raises(ValidationError) as refused:
                EMAILS.validate_python(["not an address"])
            assert refused.value.errors()[0]["loc"] == (0,)
        assert _memo() == {}
