"""Receipts: provider-signed evidence of what was delivered, checked and logged by the consumer."""

from __future__ import annotations

import hashlib

import orjson
import pytest
from fedkit import AGENCY, NANAO, T0, TAKAMATSU, Federation

from trust.audit import (
    GENESIS_HASH,
    EntityDigest,
    chain_entry,
    digest_entities,
    make_receipt,
    receipt_record,
    verify_receipt,
    walk_chain,
)
from trust.errors import AuditError
from trust.keys import NodeKey

ENTITIES = [orjson.dumps({"id": f"urn:ngsi-ld:EvacuationSite:jp-172022:{i}",
                          "type": "EvacuationSite"}) for i in range(5)]


def test_digest_is_length_prefixed_sha256_in_order() -> None:
    expected = hashlib.sha256()
    for item in ENTITIES:
        expected.update(len(item).to_bytes(8, "big") + item)
    assert digest_entities(ENTITIES) == expected.hexdigest()
    assert digest_entities([b"ab", b"c"]) != digest_entities([b"a", b"bc"])
    assert digest_entities(ENTITIES) != digest_entities(ENTITIES[::-1])
    assert digest_entities([]) == hashlib.sha256().hexdigest()


def test_incremental_digest_equals_one_shot() -> None:
    digest = EntityDigest()
    digest.update_many(ENTITIES[:2])
    digest.update_many(ENTITIES[2:])
    assert digest.hexdigest() == digest_entities(ENTITIES) and digest.count == 5


def _receipt(fed: Federation, key: NodeKey | None = None, **overrides: object) -> str:
    fields: dict = {"provider": NANAO, "consumer": AGENCY, "agreement_id": "agr-1",
                    "entry_hash": "a" * 64, "count": 5, "data_digest": digest_entities(ENTITIES),
                    "request_digest": "b" * 64, "now": T0, "log_size": 41,
                    "log_root": "c" * 64}
    fields.update(overrides)
    return make_receipt(key or fed.keys[NANAO], **fields)


def _verify(fed: Federation, receipt: str, **overrides: object):
    fields: dict = {"provider": NANAO, "consumer": AGENCY, "count": len(ENTITIES),
                    "data_digest": digest_entities(ENTITIES), "now": T0 + 1}
    fields.update(overrides)
    return verify_receipt(receipt, fed.current(), **fields)


def test_consumer_verifies_and_logs_a_receipt(fed: Federation) -> None:
    jws = _receipt(fed)
    receipt = _verify(fed, jws)
    assert (receipt.entry_hash, receipt.count, receipt.agreement_id) == ("a" * 64, 5, "agr-1")
    entry = chain_entry(receipt_record(receipt, jws, T0 + 1), 1, GENESIS_HASH)
    assert entry.operation == "receipt" and entry.caller == NANAO
    assert entry.details["provider_entry_hash"] == "a" * 64
    # The consumer keeps the provider's tree head that the receipt names.
    assert (receipt.log_size, receipt.log_root) == (41, "c" * 64)
    assert (entry.details["provider_log_size"], entry.details["provider_log_root"]) == (
        41, "c" * 64)
    assert walk_chain([entry]) is None


def test_receipt_without_a_tree_head_is_the_v1_form_and_still_verifies(
        fed: Federation) -> None:
    receipt = _verify(fed, _receipt(fed, log_size=None, log_root=None))
    assert receipt.log_size is None and receipt.entry_hash == "a" * 64


@pytest.mark.parametrize("overrides", [
    {"count": 4},
    {"data_digest": digest_entities(ENTITIES[:4])},
    {"consumer": TAKAMATSU},
])
def test_receipt_that_does_not_match_the_data_is_refused(fed: Federation,
                                                         overrides: dict) -> None:
    with pytest.raises(AuditError) as err:
        _verify(fed, _receipt(fed), **overrides)
    assert err.value.code == "receipt_mismatch"


def test_receipt_from_someone_else_is_refused(fed: Federation) -> None:
    with pytest.raises(AuditError) as err:
        _verify(fed, _receipt(fed, key=NodeKey.generate(kid=fed.keys[NANAO].kid)))
    assert err.value.code == "bad_receipt"
    with pytest.raises(AuditError) as err:
        _verify(fed, _receipt(fed, key=fed.keys[TAKAMATSU]))  # kid not under the provider
    assert err.value.code == "bad_receipt"


def test_receipt_of_a_revoked_provider_is_refused(fed: Federation) -> None:
    jws = _receipt(fed)
    fed.revoked_members.add(NANAO)
    fed.holder.update(fed.publish(), T0)  # type: ignore[union-attr]
    with pytest.raises(AuditError) as err:
        _verify(fed, jws)
    assert err.value.code == "bad_receipt"


def test_garbage_is_not_a_receipt(fed: Federation) -> None:
    with pytest.raises(AuditError) as err:
        _verify(fed, "x" * 5000)
    assert err.value.code == "bad_receipt"
