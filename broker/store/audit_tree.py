"""The audit log's Merkle tree nodes, computed the same way by every store backend.

A store keeps each perfect subtree ``(level, idx)`` of the log's RFC 6962 tree as the entry
that completes it is appended, in the same transaction, so roots and consistency proofs are
read from O(log n) stored nodes. Logs written before the tree (or whose node table was
damaged) catch up inside the next append: :func:`catch_up_from` tells from where.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trust.audit_chain import entry_leaf
from trust.merkle import CompactRange, NodeAddress, frontier_addresses

__all__ = ["TreeNode", "catch_up_from", "frontier_addresses", "new_nodes"]

TreeNode = tuple[int, int, bytes]  # level, idx, hash


def catch_up_from(tree_size: int, frontier: Mapping[NodeAddress, bytes]) -> int:
    """The tree size to extend from: ``tree_size`` when its frontier is all stored, else 0
    (rebuild from the first entry)."""
    if all(a in frontier for a in frontier_addresses(tree_size)):
        return tree_size
    return 0


def new_nodes(size: int, frontier: Mapping[NodeAddress, bytes],
              entry_hashes: Sequence[str]) -> tuple[list[TreeNode], bytes]:
    """The perfect nodes completed by appending ``entry_hashes`` to a tree of ``size`` leaves
    whose frontier nodes are ``frontier``, and the root of the tree after them."""
    tree = CompactRange(size, [frontier[a] for a in frontier_addresses(size)])
    out: list[TreeNode] = []
    for entry_hash in entry_hashes:
        out.extend((level, idx, h) for (level, idx), h in tree.append(entry_leaf(entry_hash)))
    return out, tree.root()
