"""A peer witnessing another's audit log: C2SP tlog-witness decisions and cosignatures."""

from __future__ import annotations

import pytest
from fedkit import AGENCY, NANAO, TAKAMATSU, Federation

from trust.checkpoint import Checkpoint, TreeHead, audit_origin, log_verifiers, sign_checkpoint
from trust.errors import AuditError, WitnessError
from trust.keys import NodeKey
from trust.merkle import MerkleTree, leaf_hash
from trust.witness import (
    AddCheckpoint,
    Cosigned,
    cosign,
    format_add_checkpoint,
    make_witness_statement,
    parse_add_checkpoint,
    verify_cosignatures,
    verify_witness_statement,
    witness_name,
)

ORIGIN = audit_origin(NANAO)
# The example request body of c2sp.org/tlog-witness (add-checkpoint).
SPEC_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks"
    "+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n").encode()

WITNESS_KEY = NodeKey.generate("EdDSA")
NAME = witness_name(AGENCY)


class Log:
    """A log as the witness sees it: entries appended, checkpoints signed with its key."""

    def __init__(self, key: NodeKey, leaves: int = 0, salt: str = "") -> None:
        self.key, self.salt, self.tree = key, salt, MerkleTree()
        self.grow(leaves)

    def grow(self, n: int) -> None:
        for _ in range(n):
            self.tree.append(leaf_hash(f"{self.salt}{self.tree.size}".encode()))

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = self.tree.size if size is None else size
        return sign_checkpoint(TreeHead(ORIGIN, size, self.tree.root(size)), self.key)

    def request(self, old: int, size: int | None = None) -> AddCheckpoint:
        new = self.tree.size if size is None else size
        proof = self.tree.consistency_proof(old, new) if 0 < old <= new else []
        return parse_add_checkpoint(format_add_checkpoint(old, proof, self.checkpoint(new)))


def _cosign(fed: Federation, request: AddCheckpoint, latest: TreeHead | None) -> Cosigned:
    return cosign(request, log_keys=log_verifiers(fed.directory(), NANAO), latest=latest,
                  witness_key=WITNESS_KEY, name=NAME, now=fed.clock.now())


def test_the_spec_example_request_parses() -> None:
    request = parse_add_checkpoint(SPEC_REQUEST)
    assert request.old_size == 20852014 and len(request.proof) == 4
    assert request.checkpoint.text.splitlines()[1] == "20852163"
    assert len(request.checkpoint.signatures) == 2


@pytest.mark.parametrize("body", [
    b"old 01\n\n", b"new 1\n\n", b"old 1\nnot base64!\n\n", b"old 1\nAAAA\n\n",
    b"old 1\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + b"\n",
    b"old 1\n", b"old 0\n\nnot a note",
])
def test_malformed_requests_are_invalid(body: bytes) -> None:
    with pytest.raises(WitnessError) as err:
        parse_add_checkpoint(body)
    assert err.value.code == "invalid_request"


def test_witness_cosigns_a_growing_log_and_its_cosignature_verifies(fed: Federation) -> None:
    log = Log(fed.keys[NANAO], 5)
    first = _cosign(fed, log.request(0), None)
    assert first.head.size == 5
    log.grow(9)
    second = _cosign(fed, log.request(5), first.head)
    assert second.head == TreeHead(ORIGIN, 14, log.tree.root())
    statement = make_witness_statement(fed.keys[AGENCY], AGENCY, WITNESS_KEY, fed.clock.now())
    witness = verify_witness_statement(statement, fed.directory())
    assert witness.member == AGENCY and witness.name == NAME
    verified = verify_cosignatures(second.cosigned_checkpoint(), [witness])
    assert [(w.member, t) for w, t in verified] == [(AGENCY, int(fed.clock.now()))]
    # Re-submitting the same tree head is answered again (idempotent), not refused.
    assert _cosign(fed, log.request(14), second.head).head == second.head


def test_witness_refusals_in_the_order_tlog_witness_gives(fed: Federation) -> None:
    log = Log(fed.keys[NANAO], 8)
    latest = _cosign(fed, log.request(0), None).head
    log.grow(4)

    def code(request: AddCheckpoint, **kw: object) -> str:
        with pytest.raises(WitnessError) as err:
            if "log_keys" in kw:
                cosign(request, log_keys=None, latest=latest, witness_key=WITNESS_KEY,
                       name=NAME, now=0)
            else:
                _cosign(fed, request, latest)
        return err.value.code

    assert code(log.request(8), log_keys=None) == "unknown_log"
    forged = Log(fed.keys[TAKAMATSU], 12)  # signed by another member's key
    assert code(forged.request(8)) == "untrusted_checkpoint"
    assert code(AddCheckpoint(13, (), log.checkpoint().note)) == "invalid_request"
    with pytest.raises(WitnessError) as err:
        _cosign(fed, log.request(4), latest)
    assert err.value.code == "size_conflict" and err.value.known_size == 8
    fork = Log(fed.keys[NANAO], 12, salt="fork")  # same key, another history
    assert code(fork.request(8)) == "inconsistent_tree"
    same_size_fork = Log(fed.keys[NANAO], 8, salt="fork")
    assert code(same_size_fork.request(8)) == "root_conflict"


def test_a_smaller_tree_is_refused_forever(fed: Federation) -> None:
    log = Log(fed.keys[NANAO], 20)
    latest = _cosign(fed, log.request(0), None).head
    for old in (0, 10, 20):
        with pytest.raises(WitnessError) as err:
            _cosign(fed, log.request(old, size=10), latest)
        assert err.value.code in ("size_conflict", "invalid_request")
    # And a log that truncated and regrew differently can never get back in.
    regrown = Log(fed.keys[NANAO], 10)
    regrown.salt = "again"
    regrown.grow(15)
    with pytest.raises(WitnessError) as err:
        _cosign(fed, regrown.request(20), latest)
    assert err.value.code == "inconsistent_tree"


def test_witness_statement_needs_a_directory_key_of_its_member(fed: Federation) -> None:
    directory = fed.directory()
    forged = make_witness_statement(fed.keys[TAKAMATSU], AGENCY, WITNESS_KEY, 0)
    with pytest.raises(AuditError) as err:
        verify_witness_statement(forged, directory)
    assert err.value.code == "bad_witness_key"
    with pytest.raises(AuditError):
        make_witness_statement(fed.keys[AGENCY], AGENCY, NodeKey.generate("ES256"), 0)
    good = make_witness_statement(fed.keys[AGENCY], AGENCY, WITNESS_KEY, 0)
    fed.revoked_members.add(AGENCY)
    with pytest.raises(AuditError):
        verify_witness_statement(good, fed.directory())


def test_a_tampered_cosignature_is_refused(fed: Federation) -> None:
    log = Log(fed.keys[NANAO], 3)
    cosigned = _cosign(fed, log.request(0), None)
    witness = verify_witness_statement(
        make_witness_statement(fed.keys[AGENCY], AGENCY, WITNESS_KEY, 0), fed.directory())
    sig = cosigned.cosignature
    bad = type(sig)(sig.name, sig.key_id, sig.signature[:-1] + bytes([sig.signature[-1] ^ 1]))
    with pytest.raises(AuditError) as err:
        verify_cosignatures(cosigned.checkpoint.with_signatures([bad]), [witness])
    assert err.value.code == "bad_cosignature"
    assert verify_cosignatures(cosigned.checkpoint, [witness]) == []  # not cosigned at all
