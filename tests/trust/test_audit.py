"""Audit chain: each kind of tampering the hash chain shows is detected and named exactly.

Tampering that only tree heads reveal (consistent rewrites, truncation, deleted checkpoints) is
in ``test_audit_verify.py``.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from fedkit import AGENCY, NANAO, T0, key_for

from trust.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditRecord,
    chain_entry,
    request_digest,
    verify_legacy_checkpoint,
)
from trust.audit_verify import LogReport, verify_log
from trust.canonical import canonical_bytes
from trust.checkpoint import audit_origin
from trust.errors import AuditError
from trust.keys import NodeKey
from trust.note import PublicKeyVerifier

NODE_KEY = key_for(NANAO)
JWKS = [NODE_KEY.public_jwk()]
ORIGIN = audit_origin(NANAO)
LOG_KEYS = [PublicKeyVerifier(ORIGIN, NODE_KEY.private_key.public_key())]


def legacy_checkpoint(head: AuditEntry, key: NodeKey = NODE_KEY, now: float = T0) -> str:
    """A checkpoint as nodes wrote them before the Merkle tree (written out from its format)."""
    document = {"type": "renkei-audit-checkpoint/v1", "node": NANAO, "seq": head.seq,
                "head_hash": head.entry_hash, "time": int(now)}
    return key.sign_compact(canonical_bytes(document), "renkei-checkpoint+jws")


def record(i: int, **overrides: object) -> AuditRecord:
    fields: dict = {"time": T0 + i, "caller": AGENCY, "agreement_id": "agr-1",
                    "operation": "query", "request_digest": request_digest({"q": i}),
                    "decision": "allow", "reason": "allowed", "result_count": i}
    fields.update(overrides)
    return AuditRecord(**fields)


def build(records: list[AuditRecord], seq: int = 1, prev: str = GENESIS_HASH) -> list[AuditEntry]:
    out = []
    for r in records:
        entry = chain_entry(r, seq, prev)
        out.append(entry)
        seq, prev = seq + 1, entry.entry_hash
    return out


@pytest.fixture
def chain() -> list[AuditEntry]:
    return build([record(i) for i in range(1, 11)])


def _report(entries: list[AuditEntry], legacy: tuple[str, ...] = ()) -> LogReport:
    return verify_log(entries, origin=ORIGIN, log_keys=LOG_KEYS, legacy_checkpoints=legacy,
                      legacy_jwks=JWKS)


def test_intact_chain_verifies(chain: list[AuditEntry]) -> None:
    report = _report(chain, (legacy_checkpoint(chain[-1]),))
    assert report.ok and report.problem is None
    assert report.size == 10
    assert chain[0].prev_hash == GENESIS_HASH and chain[1].prev_hash == chain[0].entry_hash


def test_entry_fields_read_through_and_round_trip(chain: list[AuditEntry]) -> None:
    entry = chain[4]
    assert (entry.seq, entry.caller, entry.decision, entry.result_count) == (5, AGENCY,
                                                                            "allow", 5)
    assert AuditEntry.from_document(entry.to_document()) == entry
    with pytest.raises(AuditError):
        AuditEntry.from_document({"seq": 1})


def test_edited_entry_is_named(chain: list[AuditEntry]) -> None:
    chain[4] = replace(chain[4], record=record(5, result_count=0))
    report = _report(chain)
    assert (report.ok, report.problem, report.bad_seq, report.first.position) == (
        False, "edited", 5, 4)


def test_edited_and_rehashed_entry_is_named_by_the_broken_link(
        chain: list[AuditEntry]) -> None:
    chain[4] = chain_entry(record(5, decision="deny"), 5, chain[3].entry_hash)
    report = _report(chain)
    assert (report.problem, report.bad_seq) == ("edited", 5)


def test_deleted_entry_is_named(chain: list[AuditEntry]) -> None:
    del chain[4]
    report = _report(chain)
    assert (report.problem, report.bad_seq, report.first.position) == ("deleted", 5, None)


def test_deletion_with_renumbering_is_still_a_deletion(chain: list[AuditEntry]) -> None:
    renumbered = chain[:4] + [replace(e, seq=e.seq - 1) for e in chain[5:]]
    report = _report(renumbered)
    assert (report.problem, report.bad_seq) == ("deleted", 5)


def test_inserted_entry_with_a_duplicate_seq_is_named(chain: list[AuditEntry]) -> None:
    forged = chain_entry(record(99, caller="jp-gov-x"), 6, chain[4].entry_hash)
    chain.insert(5, forged)
    report = _report(chain)
    assert (report.problem, report.bad_seq, report.first.position) == ("inserted", 6, 5)


def test_inserted_entry_with_a_fresh_seq_is_named(chain: list[AuditEntry]) -> None:
    chain.insert(5, chain_entry(record(99), 11, chain[4].entry_hash))
    report = _report(chain)
    assert (report.problem, report.first.position) == ("inserted", 5)


def test_insertion_with_renumbering_is_still_an_insertion(chain: list[AuditEntry]) -> None:
    forged = chain_entry(record(99), 6, chain[4].entry_hash)
    tampered = chain[:5] + [forged] + [replace(e, seq=e.seq + 1) for e in chain[5:]]
    report = _report(tampered)
    assert (report.problem, report.bad_seq) == ("inserted", 7)


def test_reordered_entries_are_named(chain: list[AuditEntry]) -> None:
    chain[4], chain[5] = chain[5], chain[4]
    report = _report(chain)
    assert (report.problem, report.bad_seq, report.first.position) == ("reordered", 6, 4)


def test_entry_moved_to_the_end_is_reordered(chain: list[AuditEntry]) -> None:
    chain.append(chain.pop(2))
    assert _report(chain).problem == "reordered"


def test_legacy_checkpoints_still_catch_truncation_and_rewrites(
        chain: list[AuditEntry]) -> None:
    checkpoint = legacy_checkpoint(chain[-1])
    truncated = chain[:8]
    assert _report(truncated).ok  # without a checkpoint a shorter chain looks complete
    report = _report(truncated, (checkpoint,))
    assert (report.problem, report.bad_seq) == ("truncated", 9)
    rewritten = chain[:4] + build([record(5, decision="deny")] + [record(i) for i in
                                                                   range(6, 11)],
                                  seq=5, prev=chain[3].entry_hash)
    assert _report(rewritten).ok
    report = _report(rewritten, (checkpoint,))
    assert report.problem == "rewritten" and report.first.last_seq == 10


def test_legacy_checkpoint_signed_by_another_key_is_refused(chain: list[AuditEntry]) -> None:
    forged = legacy_checkpoint(chain[-1], NodeKey.generate(kid=NODE_KEY.kid))
    report = _report(chain, (forged,))
    assert report.problem == "bad_checkpoint"
    with pytest.raises(AuditError) as err:
        verify_legacy_checkpoint(forged, JWKS)
    assert err.value.code == "bad_checkpoint"
    good = verify_legacy_checkpoint(legacy_checkpoint(chain[3], now=T0 + 9), JWKS)
    assert (good.node, good.seq, good.head_hash, good.time) == (NANAO, 4, chain[3].entry_hash,
                                                                T0 + 9)


def test_first_seq_must_be_one() -> None:
    with pytest.raises(AuditError):
        chain_entry(record(1), 0, GENESIS_HASH)


def test_empty_chain_is_trivially_ok() -> None:
    report = _report([])
    assert report.ok and report.size == 0
