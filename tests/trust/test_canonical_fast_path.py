"""canonical_bytes' orjson fast path writes exactly what RFC 8785 (the rfc8785 package) does."""

from __future__ import annotations

import random
from typing import Any

import rfc8785

from trust.canonical import canonical_bytes


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([
            rng.randint(-2**53 + 1, 2**53 - 1), rng.randint(-5, 5), True, False, None,
            "".join(chr(rng.randint(0, 0x3000)) for _ in range(rng.randint(0, 8)))])
    if roll < 0.65:
        return {"".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(0, 5))):
                _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]


def test_plain_documents_are_byte_for_byte_rfc8785() -> None:
    rng = random.Random(8785)
    for _ in range(5000):
        value = _value(rng)
        assert canonical_bytes(value) == rfc8785.dumps(value), value


def test_every_control_and_escape_character_as_rfc8785() -> None:
    text = "".join(chr(i) for i in range(0x800)) + "\u2028\u2029\ufeff\U0001f600"
    assert canonical_bytes({"k": text}) == rfc8785.dumps({"k": text})


def test_what_the_fast_path_does_not_take_still_canonicalizes() -> None:
    # Floats, non-ASCII keys and big integers take rfc8785 itself.
    for value in ({"a": 1.5, "b": 1e21}, {"é": 1, "z": 2, "\U0001f600": 3}, {"n": 2**53 - 1}):
        assert canonical_bytes(value) == rfc8785.dumps(value)
