"""The fan-out reads entity ids from the bytes peers send exactly as a JSON parser would, or
parses; it never de-duplicates under an id a later reader of the entity would not see."""

from __future__ import annotations

import orjson
import pytest

from broker.errors import PeerRejected
from broker.federation.fanout import batch_ids, entity_id_of

# Bytes a peer may send, with the id a parser reads from each (written by hand).
CASES = [
    (b'{"id":"urn:ngsi-ld:T:jp-1:a","type":"T"}', "urn:ngsi-ld:T:jp-1:a"),
    # id not first (canonical key order of an older provider)
    (b'{"capacity":{"type":"Property","value":1},"id":"urn:ngsi-ld:T:jp-1:b"}',
     "urn:ngsi-ld:T:jp-1:b"),
    # a later duplicate key wins for the parser, so the first cannot be trusted
    (b'{"id":"urn:ngsi-ld:T:jp-1:c","id":"urn:ngsi-ld:T:jp-2:c"}', "urn:ngsi-ld:T:jp-2:c"),
    # a duplicate spelled with an escape
    (b'{"id":"urn:ngsi-ld:T:jp-1:d","\\u0069d":"urn:ngsi-ld:T:jp-2:d"}',
     "urn:ngsi-ld:T:jp-2:d"),
    # an escaped quote inside the id
    (b'{"id":"urn:ngsi-ld:T:jp-1:e\\"x","type":"T"}', 'urn:ngsi-ld:T:jp-1:e"x'),
    # an "id" inside an attribute value, the real one elsewhere
    (b'{"id":"urn:ngsi-ld:T:jp-1:f","ref":{"id":"other"}}', "urn:ngsi-ld:T:jp-1:f"),
    (b'{"id":"\xe4\xb8\x83\xe5\xb0\xbe","type":"T"}', "七尾"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_an_entity_id_is_the_id_a_parser_reads(raw: bytes, expected: str) -> None:
    assert orjson.loads(raw)["id"] == expected  # the case itself is what it claims
    assert entity_id_of("jp-1", raw) == expected


def test_a_batch_is_read_from_its_bytes_only_when_every_id_is_exact() -> None:
    plain = [CASES[0][0], CASES[6][0]]
    assert batch_ids(plain) == ["urn:ngsi-ld:T:jp-1:a", "七尾"]
    for raw, _ in CASES[1:6]:
        assert batch_ids([CASES[0][0], raw]) is None, raw
    # one entity without a leading id, an unterminated id, bytes that are not UTF-8
    assert batch_ids([b'{"id":"a"}', b'{"x":1}']) is None
    assert batch_ids([b'{"id":"a', b'{"id":"b"}']) is None
    assert batch_ids([b'{"id":"a\xff"}']) is None
    assert batch_ids([]) is None


def test_bytes_that_are_no_json_object_are_the_peers_error() -> None:
    for raw in (b"not json", b"[1,2]", b'"x"'):
        with pytest.raises(PeerRejected) as caught:
            entity_id_of("jp-1", raw)
        assert caught.value.reason == "invalid_entity"
