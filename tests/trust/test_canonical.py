"""Canonical JSON, digests and strict parsing: what every signature in Renkei is computed over."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.canonical import b64url_decode, b64url_encode, canonical_bytes, loads_strict, sha256_hex
from trust.errors import DocumentError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=60)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=8), st.randoms())
def test_canonical_bytes_do_not_depend_on_key_order(doc: dict, rnd) -> None:
    items = list(doc.items())
    rnd.shuffle(items)
    assert canonical_bytes(dict(items)) == canonical_bytes(doc)


@settings(max_examples=60)
@given(json_values)
def test_canonical_bytes_survive_a_parse_round_trip(value) -> None:
    data = canonical_bytes(value)
    assert canonical_bytes(loads_strict(data, max_bytes=1 << 20)) == data


def test_canonical_form_is_rfc8785() -> None:
    assert canonical_bytes({"b": [1, 2.5], "a": "七尾", "c": 1e21}) == (
        '{"a":"七尾","b":[1,2.5],"c":1e+21}'.encode())


@pytest.mark.parametrize("value", [{1: 2}, 2**60, float("nan"), {"a": object()}])
def test_values_json_cannot_carry_exactly_are_refused(value) -> None:
    with pytest.raises(DocumentError) as err:
        canonical_bytes(value)
    assert err.value.code == "invalid_document"


def test_sha256_hex() -> None:
    assert sha256_hex(b"abc").startswith("ba7816bf")


@pytest.mark.parametrize("text, code", [
    ('{"a":1,"a":2}', "invalid_document"),
    ('{"a":NaN}', "invalid_document"),
    ("[" * 5000 + "]" * 5000, "invalid_document"),
    ("{", "invalid_document"),
    ('"' + "x" * 200 + '"', "document_too_large"),
])
def test_strict_parser_refuses_ambiguous_or_oversized_json(text: str, code: str) -> None:
    with pytest.raises(DocumentError) as err:
        loads_strict(text, max_bytes=100 if code == "document_too_large" else 1 << 20)
    assert err.value.code == code


@given(st.binary(max_size=64))
def test_b64url_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@pytest.mark.parametrize("text", ["a", "ab=", "a+b/", "AB", "YQ=="])
def test_b64url_is_strict(text: str) -> None:
    # "AB" decodes to one byte but with non-zero padding bits: a second encoding of "\x00".
    with pytest.raises(DocumentError) as caught:
        b64url_decode(text)
    assert caught.value.code == "invalid_document"


def test_loads_strict_returns_plain_json() -> None:
    assert loads_strict(json.dumps({"a": [1, 2]}), max_bytes=100) == {"a": [1, 2]}
