"""RFC 6962 / RFC 9162 Merkle tree hashing for append-only logs, and its two proofs.

A leaf hashes as ``SHA-256(0x00 || data)``, an interior node as ``SHA-256(0x01 || left ||
right)``, the empty tree as ``SHA-256("")``; a tree of ``n`` leaves splits at the largest power
of two below ``n`` (RFC 9162 §2.1.1). The prefixes keep a leaf from ever passing for a node.

Storage is the caller's. Every hash a proof needs is the root of a *perfect* subtree, addressed
``(level, index)``: it covers leaves ``[index * 2**level, (index + 1) * 2**level)``. A log keeps
those nodes as they complete (:meth:`CompactRange.append` returns them), and answers a proof by
fetching the addresses :func:`inclusion_addresses` / :func:`consistency_addresses` name and
handing them to :func:`inclusion_proof` / :func:`consistency_proof`. :class:`MerkleTree` holds a
whole tree in memory for verification and tests.

Verification (:func:`verify_inclusion`, :func:`verify_consistency`) follows RFC 9162 §2.1.3.2
and §2.1.4.2 and raises ``AuditError("bad_proof")``; it never trusts a proof's length.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from trust.errors import AuditError, InvalidArgument

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_LENGTH",
    "CompactRange",
    "MerkleTree",
    "NodeAddress",
    "consistency_addresses",
    "consistency_proof",
    "frontier_addresses",
    "inclusion_addresses",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
# 63 hashes cover any tree below 2**63 leaves (C2SP tlog-witness caps proofs there too).
MAX_PROOF_LENGTH = 63
NodeAddress = tuple[int, int]
NodeGetter = Callable[[NodeAddress], bytes]


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one log entry."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
        raise InvalidArgument("invalid_argument", f"{name} must be an integer in [0, 2**63)")


def _perfect_parts(lo: int, hi: int) -> list[NodeAddress]:
    """``[lo, hi)`` as aligned perfect subtrees, largest first (the RFC shape of that range)."""
    parts: list[NodeAddress] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        while lo % (1 << level):
            level -= 1
        parts.append((level, lo >> level))
        lo += 1 << level
    return parts


def frontier_addresses(size: int) -> list[NodeAddress]:
    """The perfect subtrees that make up a tree of ``size`` leaves (its compact range)."""
    _check_size("size", size)
    return _perfect_parts(0, size)


def _range_hash(lo: int, hi: int, get: NodeGetter) -> bytes:
    """MTH of leaves ``[lo, hi)``, an RFC subtree, folded from its perfect parts."""
    parts = [get(a) for a in _perfect_parts(lo, hi)]
    acc = parts[-1]
    for part in reversed(parts[:-1]):
        acc = node_hash(part, acc)
    return acc


def _path(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """RFC 6962 PATH(m, D[lo:hi]) as the ranges whose hashes it lists."""
    ranges: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            m -= k
            lo += k
    ranges.reverse()
    return ranges


def _subproof(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """RFC 6962 SUBPROOF(m, D[lo:hi], true) as ranges."""
    ranges: list[tuple[int, int]] = []
    complete = True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            m -= k
            lo += k
            complete = False
    if not complete:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _addresses(ranges: Iterable[tuple[int, int]]) -> list[NodeAddress]:
    seen: dict[NodeAddress, None] = {}
    for lo, hi in ranges:
        for address in _perfect_parts(lo, hi):
            seen[address] = None
    return list(seen)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise InvalidArgument("invalid_argument", f"leaf {index} is not in a tree of {size}")
    return _path(index, 0, size)


def _consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    _check_size("old size", old)
    _check_size("new size", new)
    if old > new:
        raise InvalidArgument("invalid_argument", f"old size {old} is above new size {new}")
    return [] if old in (0, new) else _subproof(old, 0, new)


def inclusion_addresses(index: int, size: int) -> list[NodeAddress]:
    """The stored nodes :func:`inclusion_proof` reads for leaf ``index`` in a tree of ``size``."""
    return _addresses(_inclusion_ranges(index, size))


def consistency_addresses(old: int, new: int) -> list[NodeAddress]:
    """The stored nodes :func:`consistency_proof` reads from tree size ``old`` to ``new``."""
    return _addresses(_consistency_ranges(old, new))


def inclusion_proof(index: int, size: int, get: NodeGetter) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 6962 §2.1.1)."""
    return [_range_hash(lo, hi, get) for lo, hi in _inclusion_ranges(index, size)]


def consistency_proof(old: int, new: int, get: NodeGetter) -> list[bytes]:
    """The proof that tree ``old`` is a prefix of tree ``new`` (RFC 6962 §2.1.2); empty when
    ``old`` is 0 or equals ``new``."""
    return [_range_hash(lo, hi, get) for lo, hi in _consistency_ranges(old, new)]


def _bad(message: str) -> AuditError:
    return AuditError("bad_proof", message)


def _check_hashes(proof: Sequence[bytes], *named: bytes) -> None:
    if len(proof) > MAX_PROOF_LENGTH:
        raise _bad(f"proof has {len(proof)} hashes; at most {MAX_PROOF_LENGTH} are possible")
    for h in (*proof, *named):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise _bad("every hash must be 32 bytes")


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     root: bytes) -> None:
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree ``(size, root)``."""
    _check_size("index", index)
    _check_size("size", size)
    _check_hashes(proof, leaf, root)
    if index >= size:
        raise _bad(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise _bad("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise _bad("inclusion proof is too short")
    if r != root:
        raise _bad("inclusion proof does not lead to the root")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Check that the tree ``(old, old_root)`` is a prefix of ``(new, new_root)``."""
    _check_size("old size", old)
    _check_size("new size", new)
    _check_hashes(proof, old_root, new_root)
    if old > new:
        raise _bad(f"old size {old} is above new size {new}")
    if old == new:
        if proof:
            raise _bad("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise _bad("two different roots for one tree size")
        return
    if old == 0:
        if proof:
            raise _bad("a proof from the empty tree must be empty")
        return
    if not proof:
        raise _bad("consistency proof is empty")
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise _bad("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise _bad("consistency proof is too short")
    if fr != old_root or sr != new_root:
        raise _bad("consistency proof does not lead to both roots")


class CompactRange:
    """The perfect subtrees of a tree of ``size`` leaves: enough to append and to hash the root.

    O(log n) hashes: a log keeps this (or rebuilds it from its stored nodes with
    :func:`frontier_addresses`) to append without reading the whole tree.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        expected = frontier_addresses(size)
        if len(nodes) != len(expected) or any(
                not isinstance(h, bytes) or len(h) != HASH_SIZE for h in nodes):
            raise InvalidArgument("invalid_argument",
                                  f"a tree of {size} leaves has {len(expected)} frontier nodes")
        self.size = size
        self._nodes = list(zip(expected, nodes, strict=True))

    @property
    def nodes(self) -> list[tuple[NodeAddress, bytes]]:
        return list(self._nodes)

    def append(self, leaf: bytes) -> list[tuple[NodeAddress, bytes]]:
        """Add a leaf hash; return every perfect node it completes (the leaf itself first)."""
        if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
            raise InvalidArgument("invalid_argument", "a leaf hash is 32 bytes")
        created = [((0, self.size), leaf)]
        self._nodes.append(created[0])
        while len(self._nodes) > 1 and self._nodes[-1][0][0] == self._nodes[-2][0][0]:
            (level, index), right = self._nodes.pop()
            _, left = self._nodes.pop()
            merged = ((level + 1, index >> 1), node_hash(left, right))
            self._nodes.append(merged)
            created.append(merged)
        self.size += 1
        return created

    def root(self) -> bytes:
        """The tree's root hash (``EMPTY_ROOT`` for no leaves)."""
        if not self._nodes:
            return EMPTY_ROOT
        acc = self._nodes[-1][1]
        for _, h in reversed(self._nodes[:-1]):
            acc = node_hash(h, acc)
        return acc


class MerkleTree:
    """A whole tree in memory, for verifying a log end to end and for answering proofs.

    Keeps every perfect node (about two hashes a leaf); :meth:`root` answers for any prefix.
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
            raise InvalidArgument("invalid_argument", "a leaf hash is 32 bytes")
        self._levels[0].append(leaf)
        level = 0
        while len(self._levels[level]) % 2 == 0:
            row = self._levels[level]
            if level + 1 == len(self._levels):
                self._levels.append([])
            self._levels[level + 1].append(node_hash(row[-2], row[-1]))
            level += 1

    def node(self, address: NodeAddress) -> bytes:
        level, index = address
        try:
            return self._levels[level][index]
        except IndexError:
            raise InvalidArgument("invalid_argument",
                                  f"node {address} is not complete in a tree of {self.size}"
                                  ) from None

    def nodes(self, addresses: Iterable[NodeAddress]) -> Mapping[NodeAddress, bytes]:
        return {a: self.node(a) for a in addresses}

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size > self.size:
            raise InvalidArgument("invalid_argument", f"the tree has only {self.size} leaves")
        return _range_hash(0, size, self.node) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self.size if size is None else size, self.node)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return consistency_proof(old, self.size if new is None else new, self.node)
