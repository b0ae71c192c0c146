"""Canonical ids: what a document from one source system is called everywhere else.

A natural id (``INV-1``) is unique only per (tenant, source system): two core systems of one
tenant may both issue an ``INV-1``. The rules, in order:

1. A document keeps its natural id when no other source of the tenant already holds that id
   (a tenant with one core system sees its own ids everywhere).
2. Otherwise it becomes ``<source>:<natural>`` (the scheme customers already use).
3. Should that be taken too (a source whose natural ids look prefixed) or longer than an
   identifier may be, it becomes ``<source>:<digest>``: a stable hash of (source, natural id),
   cut to fit.

Account ids are never minted: they are the tenant's, shared by its sources.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

MAX_ID_LENGTH = 128
"""The contracts' ``Identifier`` bound: a minted id must still be one."""
SOURCE_PREFIX = "/sources/"
"""ingest's own CloudEvents sources are ``/sources/<name>``; the name is the source system."""


def source_system(cloudevents_source: str) -> str:
    """The source system an event came from: ``/sources/core`` -> ``core``; any other source as is."""
    if cloudevents_source.startswith(SOURCE_PREFIX) and len(cloudevents_source) > len(SOURCE_PREFIX):
        return cloudevents_source[len(SOURCE_PREFIX) :]
    return cloudevents_source


def _digest(source: str, natural: str) -> str:
    return hashlib.sha256(f"{source}\x1f{natural}".encode()).hexdigest()[:24]


def candidates(source: str, natural: str) -> list[str]:
    """The canonical ids ``natural`` from ``source`` may take, in order of preference."""
    options = [natural] if len(natural) <= MAX_ID_LENGTH else []
    prefixed = f"{source}:{natural}"
    if len(prefixed) <= MAX_ID_LENGTH:
        options.append(prefixed)
    digest = _digest(source, natural)
    options.append(f"{source[: MAX_ID_LENGTH - len(digest) - 1]}:{digest}")
    return options


def choose(source: str, natural: str, taken: Iterable[str] | set[str]) -> str:
    """The first candidate nobody holds (rule 3's digest when every other one is taken)."""
    held = taken if isinstance(taken, set) else set(taken)
    options = candidates(source, natural)
    return next((option for option in options if option not in held), options[-1])


__all__ = ["MAX_ID_LENGTH", "candidates", "choose", "source_system"]
