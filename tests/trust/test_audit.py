"""Audit chain: each kind of tampering is detected and named, checkpoints catch rewrites."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fedkit import AGENCY, NANAO, T0, key_for

from trust.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditRecord,
    chain_entry,
    make_checkpoint,
    request_digest,
    verify_chain,
    verify_checkpoint,
)
from trust.errors import AuditError
from trust.keys import NodeKey

NODE_KEY = key_for(NANAO)
JWKS = [NODE_KEY.public_jwk()]


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


def _report(entries, checkpoints=()):
    return verify_chain(entries, checkpoints, JWKS)


def test_intact_chain_verifies(chain: list[AuditEntry]) -> None:
    report = _report(chain, [make_checkpoint(chain[-1], NODE_KEY, NANAO, T0)])
    assert report.ok and report.problem is None
    assert (report.head_seq, report.head_hash) == (10, chain[-1].entry_hash)
    assert report.checkpoints_verified == 1
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
    assert (report.ok, report.problem, report.bad_seq, report.position) == (False, "edited", 5, 4)
    assert report.head_seq == 4  # the last entry that still checks out


def test_edited_and_rehashed_entry_is_named_by_the_broken_link(
        chain: list[AuditEntry]) -> None:
    chain[4] = chain_entry(record(5, decision="deny"), 5, chain[3].entry_hash)
    report = _report(chain)
    assert (report.problem, report.bad_seq) == ("edited", 5)


def test_deleted_entry_is_named(chain: list[AuditEntry]) -> None:
    del chain[4]
    report = _report(chain)
    assert (report.problem, report.bad_seq, report.position) == ("deleted", 5, None)


def test_deletion_with_renumbering_is_still_a_deletion(chain: list[AuditEntry]) -> None:
    renumbered = chain[:4] + [replace(e, seq=e.seq - 1) for e in chain[5:]]
    report = _report(renumbered)
    assert (report.problem, report.bad_seq) == ("deleted", 5)


def test_inserted_entry_with_a_duplicate_seq_is_named(chain: list[AuditEntry]) -> None:
    forged = chain_entry(record(99, caller="jp-gov-x"), 6, chain[4].entry_hash)
    chain.insert(5, forged)
    report = _report(chain)
    assert (report.problem, report.bad_seq, report.position) == ("inserted", 6, 5)


def test_inserted_entry_with_a_fresh_seq_is_named(chain: list[AuditEntry]) -> None:
    chain.insert(5, chain_entry(record(99), 11, chain[4].entry_hash))
    report = _report(chain)
    assert (report.problem, report.position) == ("inserted", 5)


def test_insertion_with_renumbering_is_still_an_insertion(chain: list[AuditEntry]) -> None:
    forged = chain_entry(record(99), 6, chain[4].entry_hash)
    tampered = chain[:5] + [forged] + [replace(e, seq=e.seq + 1) for e in chain[5:]]
    report = _report(tampered)
    assert (report.problem, report.bad_seq) == ("inserted", 7)


def test_reordered_entries_are_named(chain: list[AuditEntry]) -> None:
    chain[4], chain[5] = chain[5], chain[4]
    report = _report(chain)
    assert (report.problem, report.bad_seq, report.position) == ("reordered", 6, 4)


def test_entry_moved_to_the_end_is_reordered(chain: list[AuditEntry]) -> None:
    chain.append(chain.pop(2))
    assert _report(chain).problem == "reordered"


def test_truncated_tail_needs_a_checkpoint_to_be_seen(chain: list[AuditEntry]) -> None:
    checkpoint = make_checkpoint(chain[-1], NODE_KEY, NANAO, T0)
    truncated = chain[:8]
    assert _report(truncated).ok  # without a checkpoint a shorter chain looks complete
    report = _report(truncated, [checkpoint])
    assert (report.problem, report.bad_seq) == ("deleted", 9)


def test_full_rewrite_is_caught_by_a_checkpoint(chain: list[AuditEntry]) -> None:
    checkpoint = make_checkpoint(chain[-1], NODE_KEY, NANAO, T0)
    rewritten = chain[:4] + build([record(5, decision="deny")] + [record(i) for i in
                                                                   range(6, 11)],
                                  seq=5, prev=chain[3].entry_hash)
    assert _report(rewritten).ok
    report = _report(rewritten, [checkpoint])
    assert (report.problem, report.bad_seq) == ("rewritten", 10)


def test_checkpoint_signed_by_another_key_is_refused(chain: list[AuditEntry]) -> None:
    forged = make_checkpoint(chain[-1], NodeKey.generate(kid=NODE_KEY.kid), NANAO, T0)
    report = _report(chain, [forged])
    assert report.problem == "bad_checkpoint"
    with pytest.raises(AuditError) as err:
        verify_checkpoint(forged, JWKS)
    assert err.value.code == "bad_checkpoint"
    good = verify_checkpoint(make_checkpoint(chain[3], NODE_KEY, NANAO, T0 + 9), JWKS)
    assert (good.node, good.seq, good.head_hash, good.time) == (NANAO, 4, chain[3].entry_hash,
                                                                T0 + 9)


def test_pruned_log_verifies_from_an_anchor(chain: list[AuditEntry]) -> None:
    tail = chain[5:]
    assert verify_chain(tail, anchor=(5, chain[4].entry_hash)).ok
    report = verify_chain(tail)
    assert (report.problem, report.bad_seq) == ("deleted", 1)
    assert verify_chain(tail, anchor=(5, "f" * 64)).problem == "edited"


def test_first_seq_must_be_one() -> None:
    with pytest.raises(AuditError):
        chain_entry(record(1), 0, GENESIS_HASH)


def test_empty_chain_is_trivially_ok() -> None:
    report = verify_chain([])
    assert report.ok and report.head_seq == 0 and report.head_hash == GENESIS_HASH
