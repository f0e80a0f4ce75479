"""RFC 6962 / 9162 hashing and proofs against known answers and an independent reference.

Two independent sources, neither produced by ``trust.merkle``:

- the RFC 6962 known-answer vectors over eight leaves (``""``, ``00``, ``10``, ``2021``, ...)
  published with the Certificate Transparency reference implementations and reused by every
  transparency log library since (roots of sizes 1-8, audit paths, consistency proofs);
- a literal transcription of the RFC's recursive definitions (MTH, PATH, SUBPROOF) below,
  checked against every index and size pair up to 70 leaves.
"""

from __future__ import annotations

import hashlib
import itertools

import pytest

from trust.errors import AuditError, InvalidArgument
from trust.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    consistency_addresses,
    consistency_proof,
    frontier_addresses,
    inclusion_addresses,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

# -- RFC 6962 known answers -------------------------------------------------------------------
LEAVES = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                         "606162636465666768696a6b6c6d6e6f")]
ROOTS = [h(x) for x in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
# (leaf index 0-based, tree size, audit path)
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


# -- the RFC's definitions, transcribed (RFC 6962 §2.1, §2.1.1, §2.1.2) -----------------------
def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return _sha(b"")
    if len(d) == 1:
        return _sha(b"\x00" + d[0])
    k = _k(len(d))
    return _sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def _data(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def test_hashing_prefixes_and_empty_tree() -> None:
    assert EMPTY_ROOT == h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert leaf_hash(b"") == ROOTS[0]  # a one-leaf tree's root is its leaf hash
    assert leaf_hash(b"") != hashlib.sha256(b"").digest()


def test_known_roots_for_sizes_one_to_eight() -> None:
    tree = MerkleTree(leaf_hash(x) for x in LEAVES)
    assert [tree.root(n) for n in range(1, 9)] == ROOTS
    assert tree.root(0) == EMPTY_ROOT


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    tree = MerkleTree(leaf_hash(x) for x in LEAVES)
    assert tree.inclusion_proof(index, size) == [h(p) for p in path]
    verify_inclusion(index, size, leaf_hash(LEAVES[index]), [h(p) for p in path],
                     ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_known_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    tree = MerkleTree(leaf_hash(x) for x in LEAVES)
    assert tree.consistency_proof(old, new) == [h(p) for p in path]
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], [h(p) for p in path])


def test_every_root_and_proof_matches_the_rfc_definitions_up_to_70_leaves() -> None:
    data = _data(70)
    tree = MerkleTree(leaf_hash(x) for x in data)
    for n in range(0, 71):
        assert tree.root(n) == ref_mth(data[:n]), n
    for n in range(1, 71):
        for m in range(n):
            assert tree.inclusion_proof(m, n) == ref_path(m, data[:n]), (m, n)
            verify_inclusion(m, n, leaf_hash(data[m]), ref_path(m, data[:n]), ref_mth(data[:n]))
        for m in range(1, n):
            proof = ref_subproof(m, data[:n], True)
            assert tree.consistency_proof(m, n) == proof, (m, n)
            verify_consistency(m, n, ref_mth(data[:m]), ref_mth(data[:n]), proof)


def _flips(proof: list[bytes]) -> list[list[bytes]]:
    out = []
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        out.append(bad)
    return out


def test_corrupted_inclusion_proofs_fail() -> None:
    data = _data(13)
    tree = MerkleTree(leaf_hash(x) for x in data)
    for m, n in [(0, 13), (6, 13), (12, 13), (3, 8), (4, 5)]:
        proof, root, leaf = tree.inclusion_proof(m, n), tree.root(n), leaf_hash(data[m])
        # (A wrong size of the same shape, 13 for 14, is indistinguishable: the size is not
        # committed to by a proof, which is why checkpoints sign it.)
        probes = [(m ^ 1, n, leaf, proof, root), (m, n // 2, leaf, proof, root),
                  (m, n * 2, leaf, proof, root), (m, n, leaf_hash(b"x"), proof, root),
                  (m, n, leaf, proof, EMPTY_ROOT), (m, n, leaf, [*proof, root], root),
                  (m, n, leaf, [root, *proof], root), (m, n, leaf, proof[:-1], root)]
        probes += [(m, n, leaf, bad, root) for bad in _flips(proof)]
        for probe in probes:
            with pytest.raises(AuditError) as err:
                verify_inclusion(*probe)
            assert err.value.code == "bad_proof"


def test_corrupted_consistency_proofs_fail() -> None:
    data = _data(13)
    tree = MerkleTree(leaf_hash(x) for x in data)
    for m, n in [(1, 13), (4, 13), (6, 13), (7, 8), (3, 5), (8, 13)]:
        proof, r1, r2 = tree.consistency_proof(m, n), tree.root(m), tree.root(n)
        probes = [(m - 1 or 2, n, r1, r2, proof), (m + 1, n, r1, r2, proof),
                  (m ^ 2, n, r1, r2, proof), (m, n * 2, r1, r2, proof),
                  (m, n, r2, r1, proof), (m, n, r1, r1, proof),
                  (m, n, r1, r2, []), (m, n, r1, r2, [*proof, r1]), (m, n, r1, r2, [r2, *proof]),
                  (m, n, r1, r2, proof[:-1]), (n, m, r2, r1, proof)]
        probes += [(m, n, r1, r2, bad) for bad in _flips(proof)]
        for probe in probes:
            with pytest.raises(AuditError):
                verify_consistency(*probe)


def test_consistency_edge_cases() -> None:
    root = ref_mth(_data(5))
    verify_consistency(0, 5, EMPTY_ROOT, root, [])
    verify_consistency(5, 5, root, root, [])
    with pytest.raises(AuditError):
        verify_consistency(5, 5, root, EMPTY_ROOT, [])  # two roots for one size
    with pytest.raises(AuditError):
        verify_consistency(0, 5, EMPTY_ROOT, root, [root])
    with pytest.raises(AuditError):
        verify_consistency(3, 5, root, root, [b"short"])
    with pytest.raises(AuditError):
        verify_consistency(3, 5, root, root, [root] * 64)


def test_compact_range_stores_the_perfect_nodes_proofs_are_built_from() -> None:
    data = _data(45)
    stored: dict[tuple[int, int], bytes] = {}
    cr = CompactRange()
    for n, x in enumerate(data, start=1):
        for address, value in cr.append(leaf_hash(x)):
            stored[address] = value
        assert cr.root() == ref_mth(data[:n])
        # A log restarting from its stored nodes gets the same range back.
        rebuilt = CompactRange(n, [stored[a] for a in frontier_addresses(n)])
        assert rebuilt.root() == cr.root()
    assert len(stored) == 2 * 45 - bin(45).count("1")
    for m, n in itertools.product(range(45), [45, 33, 16]):
        if m < n:
            assert set(inclusion_addresses(m, n)) <= set(stored)
            assert inclusion_proof(m, n, stored.__getitem__) == ref_path(m, data[:n])
        if 0 < m < n:
            assert set(consistency_addresses(m, n)) <= set(stored)
            assert consistency_proof(m, n, stored.__getitem__) == ref_subproof(
                m, data[:n], True)


def test_arguments_out_of_range_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        inclusion_addresses(5, 5)
    with pytest.raises(InvalidArgument):
        consistency_addresses(6, 5)
    with pytest.raises(InvalidArgument):
        CompactRange(3, [EMPTY_ROOT])
    with pytest.raises(AuditError):
        verify_inclusion(5, 5, EMPTY_ROOT, [], EMPTY_ROOT)
