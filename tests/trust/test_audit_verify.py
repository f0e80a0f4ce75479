"""Verifying a log against its own checkpoints and its witnesses' cosigned checkpoints.

Each tampering from issue 12 that the hash chain alone cannot show: checkpoints deleted and the
chain consistently rewritten, one old checkpoint kept and the chain rewritten after it, the tail
truncated or rewritten, a rewrite before a checkpoint, a reorder, a split view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fedkit import AGENCY, NANAO, PROVIDER, T0, TAKAMATSU, Federation, key_for

from trust.audit import GENESIS_HASH, AuditEntry, AuditRecord, chain_entry, entry_leaf
from trust.audit_verify import LogReport, verify_log
from trust.checkpoint import Checkpoint, TreeHead, audit_origin, log_verifiers, sign_checkpoint
from trust.keys import NodeKey
from trust.merkle import MerkleTree
from trust.witness import (
    WitnessKey,
    compare_heads,
    cosign,
    format_add_checkpoint,
    make_witness_statement,
    parse_add_checkpoint,
    verify_witness_statement,
    witness_name,
)

ORIGIN = audit_origin(NANAO)
EVERY = 8


def record(i: int, decision: str = "allow") -> AuditRecord:
    return AuditRecord(time=T0 + i, caller=AGENCY, agreement_id="agr-1", operation="query",
                       request_digest=f"{i:064x}", decision=decision, reason="allowed",
                       result_count=i)


def chain(records: list[AuditRecord], after: list[AuditEntry] | None = None) -> list[AuditEntry]:
    out = list(after or [])
    for r in records:
        prev = out[-1].entry_hash if out else GENESIS_HASH
        out.append(chain_entry(r, len(out) + 1, prev))
    return out


def head_of(entries: list[AuditEntry], size: int) -> TreeHead:
    tree = MerkleTree(entry_leaf(e.entry_hash) for e in entries[:size])
    return TreeHead(ORIGIN, size, tree.root())


@dataclass
class Witness:
    member: str
    key: NodeKey = field(default_factory=lambda: NodeKey.generate("EdDSA"))
    latest: TreeHead | None = None
    cosigned: list[str] = field(default_factory=list)

    def add(self, fed: Federation, entries: list[AuditEntry], checkpoint: Checkpoint) -> str:
        old = self.latest.size if self.latest else 0
        tree = MerkleTree(entry_leaf(e.entry_hash) for e in entries[:checkpoint.head.size])
        proof = tree.consistency_proof(old) if old else []
        request = parse_add_checkpoint(format_add_checkpoint(old, proof, checkpoint))
        result = cosign(request, log_keys=log_verifiers(fed.directory(), NANAO),
                        latest=self.latest, witness_key=self.key,
                        name=witness_name(self.member), now=fed.clock.now())
        self.latest = result.head
        self.cosigned.append(result.cosigned_checkpoint().format())
        return result.cosigned_checkpoint().format()

    def verifier(self, fed: Federation) -> WitnessKey:
        statement = make_witness_statement(fed.keys[self.member], self.member, self.key, 0)
        return verify_witness_statement(statement, fed.directory())


@dataclass
class Scene:
    fed: Federation
    entries: list[AuditEntry]
    checkpoints: list[str]
    witnesses: list[Witness]

    def verify(self, *, entries: list[AuditEntry] | None = None,
               checkpoints: list[str] | None = None, ask_witnesses: bool = True) -> LogReport:
        return verify_log(
            self.entries if entries is None else entries, origin=ORIGIN,
            log_keys=log_verifiers(self.fed.directory(), NANAO),
            checkpoints=self.checkpoints if checkpoints is None else checkpoints,
            cosigned=[c for w in self.witnesses for c in w.cosigned] if ask_witnesses else [],
            witnesses=[w.verifier(self.fed) for w in self.witnesses] if ask_witnesses else [],
            checkpoint_every=EVERY)


def make_scene(fed: Federation, size: int = 40, tail: int = 3, every: int = EVERY) -> Scene:
    """A log of ``size`` entries checkpointed (and cosigned by two peers) every ``every``
    entries, then ``tail`` entries not yet checkpointed."""
    key = fed.keys[NANAO]
    witnesses = [Witness(AGENCY), Witness(TAKAMATSU)]
    entries = chain([record(i) for i in range(1, size + tail + 1)])
    stored = []
    for n in range(every, size + 1, every):
        checkpoint = sign_checkpoint(head_of(entries, n), key)
        lines = [w.add(fed, entries, checkpoint) for w in witnesses]
        stored.append(lines[-1])  # the log keeps the checkpoint with a cosignature
    return Scene(fed, entries, stored, witnesses)


def rewrite_from(entries: list[AuditEntry], seq: int) -> list[AuditEntry]:
    """Change entry ``seq`` and re-hash everything after it: a consistent chain."""
    kept = entries[:seq - 1]
    changed = [record(seq, decision="deny")] + [e.record for e in entries[seq:]]
    return chain(changed, kept)


def test_an_intact_log_verifies_and_reports_its_uncovered_tail(fed: Federation) -> None:
    scene = make_scene(fed)
    report = scene.verify()
    assert report.ok, report.findings
    assert report.size == 43 and report.covered_size == 40 and report.uncovered_tail == 3
    assert set(report.witnesses) == {witness_name(AGENCY), witness_name(TAKAMATSU)}
    assert report.checkpoints_verified == 5


def test_all_checkpoints_deleted_and_chain_rewritten_from_entry_10(fed: Federation) -> None:
    scene = make_scene(fed)
    tampered = rewrite_from(scene.entries, 10)
    local = scene.verify(entries=tampered, checkpoints=[], ask_witnesses=False)
    assert local.problem == "checkpoint_gap"  # a log without checkpoints is refused
    report = scene.verify(entries=tampered, checkpoints=[])
    assert report.problem == "rewritten"
    assert (report.first.first_seq, report.first.last_seq) == (9, 16)  # the cosigned heads
    assert "one of entries 9..16" in report.message
    assert {f.problem for f in report.findings} >= {"checkpoint_deleted", "checkpoint_gap"}


def test_rewrite_is_named_exactly_when_every_size_was_cosigned(fed: Federation) -> None:
    scene = make_scene(fed, size=16, tail=0, every=1)
    report = scene.verify(entries=rewrite_from(scene.entries, 10))
    assert (report.problem, report.bad_seq, report.first.exact) == ("rewritten", 10, True)
    assert "the first changed entry is entry 10" in report.message


def test_one_old_checkpoint_kept_and_the_chain_rewritten_after_it(fed: Federation) -> None:
    scene = make_scene(fed)
    tampered = rewrite_from(scene.entries, 20)
    kept = scene.checkpoints[:1]  # the checkpoint at 8
    local = scene.verify(entries=tampered, checkpoints=kept, ask_witnesses=False)
    assert (local.problem, local.bad_seq) == ("checkpoint_gap", 9)
    report = scene.verify(entries=tampered, checkpoints=kept)
    assert (report.problem, report.first.first_seq, report.first.last_seq) == (
        "rewritten", 17, 24)


def test_rewrite_before_a_checkpoint_names_the_entry_not_the_checkpoint(
        fed: Federation) -> None:
    scene = make_scene(fed)
    naive = list(scene.entries)
    naive[12] = AuditEntry(13, record(13, "deny"), naive[12].prev_hash, naive[12].entry_hash)
    assert (scene.verify(entries=naive).problem, scene.verify(entries=naive).bad_seq) == (
        "edited", 13)
    # Re-hashed consistently (and the local checkpoints re-signed by whoever holds the key):
    tampered = rewrite_from(scene.entries, 13)
    resigned = [sign_checkpoint(head_of(tampered, n), fed.keys[NANAO]).format()
                for n in range(8, 41, 8)]
    report = scene.verify(entries=tampered, checkpoints=resigned)
    assert (report.problem, report.first.first_seq, report.first.last_seq) == (
        "rewritten", 9, 16)
    # Without witnesses a re-signed rewrite is invisible: that is what witnesses add.
    assert scene.verify(entries=tampered, checkpoints=resigned, ask_witnesses=False).ok


def test_truncation_covered_by_a_cosigned_checkpoint(fed: Federation) -> None:
    scene = make_scene(fed)
    truncated = scene.entries[:37]
    report = scene.verify(entries=truncated, checkpoints=scene.checkpoints[:-1])
    assert (report.problem, report.bad_seq) == ("truncated", 38)
    assert "entries 38..40 were removed" in report.message


def test_tail_after_the_last_checkpoint_is_counted_as_uncovered(fed: Federation) -> None:
    scene = make_scene(fed)
    # Entries 41-43 are after the last checkpoint: truncating or rewriting them cannot be
    # seen, and the report says how many entries that concerns.
    truncated = scene.entries[:41]
    report = scene.verify(entries=truncated)
    assert report.ok and report.uncovered_tail == 1
    assert scene.verify(entries=rewrite_from(scene.entries, 42)).uncovered_tail == 3


def test_reorders_are_named(fed: Federation) -> None:
    scene = make_scene(fed)
    swapped = list(scene.entries)
    swapped[19], swapped[20] = swapped[20], swapped[19]
    assert (scene.verify(entries=swapped).problem, scene.verify(entries=swapped).bad_seq) == (
        "reordered", 21)
    records = [e.record for e in scene.entries]
    records[19], records[20] = records[20], records[19]
    renumbered = chain(records)  # the same entries, re-chained in the new order
    report = scene.verify(entries=renumbered)
    assert (report.problem, report.first.first_seq, report.first.last_seq) == (
        "rewritten", 17, 24)


def test_a_deleted_checkpoint_is_caught_by_the_gap_and_by_the_witnesses(
        fed: Federation) -> None:
    scene = make_scene(fed)
    fewer = scene.checkpoints[:2] + scene.checkpoints[3:]  # the checkpoint at 24 deleted
    local = scene.verify(checkpoints=fewer, ask_witnesses=False)
    assert (local.problem, local.bad_seq) == ("checkpoint_gap", 17)
    report = scene.verify(checkpoints=fewer)
    assert "checkpoint_deleted" in {f.problem for f in report.findings}
    assert any("size 24" in f.message for f in report.findings)


def test_a_forged_cosignature_and_an_unknown_witness_do_not_count(fed: Federation) -> None:
    scene = make_scene(fed)
    trusted = [scene.witnesses[0].verifier(fed)]
    stranger = Witness(PROVIDER)  # cosigns, but is not among the witnesses the verifier trusts
    stranger.add(fed, scene.entries, sign_checkpoint(head_of(scene.entries, 40), fed.keys[NANAO]))
    genuine = scene.witnesses[0].cosigned[-1]
    forged = genuine[:-10] + ("A" if genuine[-10] != "A" else "B") + genuine[-9:]
    truncated = scene.entries[:30]
    for cosigned in (stranger.cosigned, [forged]):
        report = verify_log(truncated, origin=ORIGIN,
                            log_keys=log_verifiers(fed.directory(), NANAO),
                            cosigned=cosigned, witnesses=trusted)
        assert report.ok and report.covered_size == 0 and report.notes, report.notes
    report = verify_log(truncated, origin=ORIGIN, log_keys=log_verifiers(fed.directory(), NANAO),
                        cosigned=[genuine], witnesses=trusted)
    assert (report.problem, report.bad_seq) == ("truncated", 31)


def test_split_view_to_two_witnesses_is_caught_by_comparing(fed: Federation) -> None:
    key = fed.keys[NANAO]
    honest = chain([record(i) for i in range(1, 21)])
    other = chain([record(i, "deny" if i == 7 else "allow") for i in range(1, 21)])
    a, b = Witness(AGENCY), Witness(TAKAMATSU)
    a.add(fed, honest, sign_checkpoint(head_of(honest, 20), key))
    b.add(fed, other, sign_checkpoint(head_of(other, 20), key))
    assert a.latest is not None and b.latest is not None
    assert compare_heads(a.latest, b.latest).verdict == "split"
    # At different sizes the log must prove consistency, which it cannot for two histories.
    other21 = chain([record(21)], other)
    b.add(fed, other21, sign_checkpoint(head_of(other21, 21), key))
    proof = MerkleTree(entry_leaf(e.entry_hash) for e in other21).consistency_proof(20)
    assert compare_heads(a.latest, b.latest, proof).verdict == "split"
    assert compare_heads(a.latest, b.latest).verdict == "unproven"
    honest_next = chain([record(21)], honest)
    proof = MerkleTree(entry_leaf(e.entry_hash) for e in honest_next).consistency_proof(20)
    assert compare_heads(a.latest, head_of(honest_next, 21), proof).verdict == "consistent"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_both_log_key_types_verify(fed: Federation, alg: str) -> None:
    fed.keys[NANAO] = key_for(f"{NANAO}-{alg}", alg)
    scene = make_scene(fed, size=16, tail=0)
    assert scene.verify().ok
