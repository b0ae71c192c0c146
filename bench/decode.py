"""Benchmark: where the CPU of decoding one record goes (``libs.events.registry.decode``).

    .venv/bin/python bench/decode.py [--rounds 2000] [--repeat 5]

Decodes every contract fixture (tests/contract/fixtures, one record per event type, compact JSON)
``--rounds`` times (the fastest of ``--repeat`` timings) and prints CPU µs per record (``time.process_time``) for each step of the decode
path and for the alternatives, against ``json.loads`` of the same bytes in the same run:

* ``json.loads``: the reference (the JSON parse alone, no validation);
* ``Envelope.from_json``: the envelope, ``data`` kept as the raw JSON object;
* payload ``model_validate``: the payload model on the envelope's ``data`` (what decode adds);
* ``decode``: both, plus upcasting and the DecodedEvent (what the processor calls per record);
* one pass, typed envelope: an Envelope subclass whose ``data`` is the payload model, validated
  straight from the bytes (``model_validate_json``). It does not keep ``envelope.data`` as the raw
  object, so it is measured here as the bound of a single pass, not used by ``decode``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, create_model

from libs.events.envelope import Envelope
from libs.events.registry import decode, model_for

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "contract" / "fixtures"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="time each step this many times and keep the fastest (noisy box)",
    )
    args = parser.parse_args()
    raws = [
        json.dumps(json.loads(p.read_bytes()), separators=(",", ":")).encode()
        for p in sorted(FIXTURES.glob("*.json"))
    ]
    types = [json.loads(r)["type"] for r in raws]
    envelopes = [Envelope.from_json(r) for r in raws]
    typed: dict[str, type[BaseModel]] = {
        t: create_model(f"Typed_{t.replace('.', '_')}", __base__=Envelope, data=(model_for(t), ...))
        for t in set(types)
    }
    items = list(zip(raws, types, envelopes, strict=True))

    def cpu(step: Callable[[bytes, str, Envelope], Any]) -> float:
        for raw, event_type, envelope in items:  # warm caches (model_for, validators)
            step(raw, event_type, envelope)
        best = float("inf")
        for _ in range(args.repeat):
            start = time.process_time()
            for _ in range(args.rounds):
                for raw, event_type, envelope in items:
                    step(raw, event_type, envelope)
            best = min(best, time.process_time() - start)
        return best / (args.rounds * len(items)) * 1e6

    print(
        f"decode of {len(items)} contract fixtures x {args.rounds}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    reference = cpu(lambda raw, _t, _e: json.loads(raw))
    steps: list[tuple[str, Callable[[bytes, str, Envelope], Any]]] = [
        ("Envelope.from_json", lambda raw, _t, _e: Envelope.from_json(raw)),
        ("payload model_validate(data)", lambda _r, t, envelope: model_for(t).model_validate(envelope.data)),
        ("decode (processor's call)", lambda raw, _t, _e: decode(raw)),
        ("one pass, typed envelope", lambda raw, t, _e: typed[t].model_validate_json(raw)),
    ]
    print(f"{'step':<32} {'CPU µs/record':>14} {'/ json.loads':>13}")
    print(f"{'json.loads':<32} {reference:>14.2f} {1.0:>13.2f}")
    for name, step in steps:
        value = cpu(step)
        print(f"{name:<32} {value:>14.2f} {value / reference:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
