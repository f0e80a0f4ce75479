"""Verifying an audit log against its hash chain, its checkpoints and its witnesses.

Evidence of three strengths goes in:

1. the entries themselves: the hash chain names naive tampering exactly (``trust.audit``);
2. the log's own signed checkpoints, stored beside the entries: they catch a consistent rewrite
   by anyone without the node key, and must come at least every ``checkpoint_every`` entries,
   so deleting some shows as a gap;
3. checkpoints cosigned by witnesses (peers), which the node's own operator can neither forge
   nor delete: they catch a consistent rewrite, truncation or reorder even by someone holding
   the node key, and a checkpoint deleted locally that a witness still holds.

Only cosigned tree heads are trusted as *lower* bounds when locating a consistent rewrite: a
local checkpoint that still matches may have been re-signed by whoever rewrote the log. So the
first changed entry is named exactly when the chain shows it or when genuine tree heads sit on
both sides of it; otherwise the report gives the range between the last genuine head that
matches and the first that does not (as narrow as the cosigning interval). Entries after the
largest cosigned size are covered by no witness; the report counts them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trust.audit_chain import Finding, entry_leaf, verify_legacy_checkpoint, walk_chain
from trust.checkpoint import Checkpoint, TreeHead, open_checkpoint
from trust.errors import AuditError
from trust.merkle import EMPTY_ROOT, CompactRange, leaf_hash
from trust.note import Note, NoteVerifier, parse_note
from trust.witness import WitnessKey, verify_cosignatures

if TYPE_CHECKING:
    from trust.audit import AuditEntry

__all__ = ["LogReport", "verify_log"]


@dataclass(frozen=True)
class _Head:
    head: TreeHead
    witnesses: tuple[str, ...]  # cosigners that verified; empty for the log's own signature
    local: bool  # stored in the log's own database


@dataclass(frozen=True)
class LogReport:
    """Outcome of :func:`verify_log`: ``ok``, every finding (earliest first), and coverage."""

    size: int
    root: bytes
    findings: tuple[Finding, ...] = ()
    checkpoints_verified: int = 0
    cosigned_verified: int = 0
    witnesses: tuple[str, ...] = ()
    covered_size: int = 0
    checkpoint_every: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    @property
    def problem(self) -> str | None:
        return self.findings[0].problem if self.findings else None

    @property
    def bad_seq(self) -> int | None:
        """The first changed entry (the lower end, when it can only be given as a range)."""
        return self.findings[0].first_seq if self.findings else None

    @property
    def message(self) -> str:
        return self.findings[0].message if self.findings else "log verified"

    @property
    def uncovered_tail(self) -> int:
        """Entries after the largest tree size a witness cosigned (and that still matches)."""
        return self.size - self.covered_size


def _leaf(entry: AuditEntry) -> bytes:
    try:
        return entry_leaf(entry.entry_hash)
    except AuditError:  # an unreadable hash: the chain walk names it; keep the tree defined
        return leaf_hash(hashlib.sha256(entry.entry_hash.encode()).digest())


def _roots_at(entries: Sequence[AuditEntry], sizes: Iterable[int]) -> dict[int, bytes]:
    wanted = sorted({s for s in sizes if 0 <= s <= len(entries)})
    roots: dict[int, bytes] = {}
    tree = CompactRange()
    if wanted and wanted[0] == 0:
        roots[0] = EMPTY_ROOT
    for entry in entries:
        tree.append(_leaf(entry))
        if tree.size in wanted:
            roots[tree.size] = tree.root()
    return roots


def _open(raw: str | Note, log_keys: Sequence[NoteVerifier], origin: str,
          witnesses: Sequence[WitnessKey]) -> tuple[Checkpoint, tuple[str, ...]]:
    note = raw if isinstance(raw, Note) else parse_note(raw)
    checkpoint = open_checkpoint(note, log_keys, origin=origin)
    cosigners = tuple(sorted({w.name for w, _ in verify_cosignatures(checkpoint, witnesses)}))
    return checkpoint, cosigners


def verify_log(entries: Sequence[AuditEntry], *, origin: str,
               log_keys: Sequence[NoteVerifier], checkpoints: Iterable[str] = (),
               cosigned: Iterable[str | Note] = (), witnesses: Sequence[WitnessKey] = (),
               checkpoint_every: int = 0,
               legacy_checkpoints: Iterable[str] = (),
               legacy_jwks: Iterable[Mapping[str, Any]] = ()) -> LogReport:
    """Verify a log (entries in storage order) and name the first changed entry.

    ``checkpoints`` are the log's own stored checkpoint notes (their cosignature lines count
    too); ``cosigned`` are checkpoints as witnesses returned them; ``witnesses`` the witness
    keys to accept (from verified witness key statements). ``checkpoint_every`` > 0 requires a
    local checkpoint at least every that many entries.
    """
    findings: list[Finding] = []
    notes: list[str] = []
    chain = walk_chain(entries)
    if chain is not None:
        findings.append(chain)
    heads: list[_Head] = []
    for raw in checkpoints:
        try:
            checkpoint, cosigners = _open(raw, log_keys, origin, witnesses)
        except AuditError as exc:
            findings.append(Finding("bad_checkpoint", None,
                                    f"a stored checkpoint does not verify: {exc.message}"))
            continue
        heads.append(_Head(checkpoint.head, cosigners, True))
    for given in cosigned:
        try:
            checkpoint, cosigners = _open(given, log_keys, origin, witnesses)
        except AuditError as exc:
            notes.append(f"a checkpoint from a witness was not usable: {exc.message}")
            continue
        if cosigners:
            heads.append(_Head(checkpoint.head, cosigners, False))
        else:
            notes.append(f"a checkpoint of size {checkpoint.head.size} carries no cosignature "
                         "from a known witness")
    size = len(entries)
    roots = _roots_at(entries, [h.head.size for h in heads] + [size])
    _compare_heads(heads, roots, size, findings,
                   chain.first_seq if chain is not None else None)
    _check_deleted(heads, findings)
    legacy = _check_legacy(entries, legacy_checkpoints, legacy_jwks, findings)
    local_sizes = sorted({h.head.size for h in heads if h.local} | legacy)
    if checkpoint_every > 0:
        _check_gaps(local_sizes, size, checkpoint_every, findings)
    cosigned_heads = [h for h in heads if h.witnesses]
    matching = [h.head.size for h in cosigned_heads if roots.get(h.head.size) == h.head.root]
    findings.sort(key=_order)
    return LogReport(
        size=size, root=roots[size], findings=tuple(findings),
        checkpoints_verified=len({h.head.size for h in heads if h.local}),
        cosigned_verified=len({(h.head.size, w) for h in cosigned_heads for w in h.witnesses}),
        witnesses=tuple(sorted({w for h in cosigned_heads for w in h.witnesses})),
        covered_size=max(matching, default=0), checkpoint_every=checkpoint_every,
        notes=tuple(notes))


def _order(f: Finding) -> tuple[bool, int, bool]:
    """Earliest first by where the first change can be at the latest; exact before a range."""
    upper = f.last_seq if f.last_seq is not None else f.first_seq
    return (upper is None, upper or 0, not f.exact)


def _who(head: _Head) -> str:
    return ("cosigned by " + ", ".join(head.witnesses)) if head.witnesses \
        else "signed by this node"


def _compare_heads(heads: list[_Head], roots: Mapping[int, bytes], size: int,
                   findings: list[Finding], chain_break: int | None) -> None:
    genuine_below = [h.head.size for h in heads if h.witnesses and h.head.size <= size
                     and roots.get(h.head.size) == h.head.root]
    mismatched = sorted((h for h in heads if h.head.size <= size
                         and roots.get(h.head.size) != h.head.root), key=lambda h: h.head.size)
    beyond = sorted((h for h in heads if h.head.size > size), key=lambda h: h.head.size)
    if mismatched:
        first = mismatched[0]
        hi = first.head.size
        trusted = genuine_below if any(h.witnesses for h in heads) else [
            h.head.size for h in heads if h.head.size < hi and roots.get(h.head.size) ==
            h.head.root]
        lo = max((s for s in trusted if s < hi), default=0)
        if chain_break is not None and lo < chain_break < hi:
            hi = chain_break  # the chain is intact before its first break
        where = f"entry {hi}" if hi == lo + 1 else f"one of entries {lo + 1}..{hi}"
        findings.append(Finding(
            "rewritten", lo + 1,
            f"the log's tree at size {first.head.size} differs from the checkpoint "
            f"{_who(first)}: the first "
            f"changed entry is {where}" + (f" (the tree at size {lo} still matches)" if lo
                                           else ""),
            last_seq=hi))
    if beyond:
        top = beyond[-1]
        findings.append(Finding(
            "truncated", size + 1,
            f"the log ends at entry {size} but a checkpoint {_who(top)} covers {top.head.size} "
            f"entries: entries {size + 1}..{top.head.size} were removed",
            last_seq=size + 1))


def _check_deleted(heads: list[_Head], findings: list[Finding]) -> None:
    local = {(h.head.size, h.head.root) for h in heads if h.local}
    seen: set[int] = set()
    for h in sorted((h for h in heads if not h.local), key=lambda h: h.head.size):
        if (h.head.size, h.head.root) in local or h.head.size in seen:
            continue
        seen.add(h.head.size)
        findings.append(Finding(
            "checkpoint_deleted", None,
            f"the checkpoint at size {h.head.size} {_who(h)} is missing from this node's "
            "store: it was deleted"))


def _check_legacy(entries: Sequence[AuditEntry], legacy: Iterable[str],
                  jwks: Iterable[Mapping[str, Any]], findings: list[Finding]) -> set[int]:
    keys = list(jwks)
    by_seq = {e.seq: (i, e) for i, e in enumerate(entries)}
    sizes: set[int] = set()
    for jws in legacy:
        try:
            checkpoint = verify_legacy_checkpoint(jws, keys)
        except AuditError as exc:
            findings.append(Finding("bad_checkpoint", None,
                                    f"a stored legacy checkpoint does not verify: {exc.message}"))
            continue
        sizes.add(checkpoint.seq)
        found = by_seq.get(checkpoint.seq)
        if found is None:
            if checkpoint.seq > len(entries):
                findings.append(Finding(
                    "truncated", len(entries) + 1,
                    f"a legacy checkpoint covers entry {checkpoint.seq} but the log ends at "
                    f"{len(entries)}", last_seq=len(entries) + 1))
        elif found[1].entry_hash != checkpoint.head_hash:
            findings.append(Finding(
                "rewritten", 1, f"entry {checkpoint.seq} differs from its legacy checkpoint: "
                f"the chain up to it was rewritten", last_seq=checkpoint.seq,
                position=found[0]))
    return sizes


def _check_gaps(sizes: list[int], size: int, every: int, findings: list[Finding]) -> None:
    previous = 0
    for s in [*sizes, size]:
        if s - previous > every:
            end = "the end of the log" if s == size and s not in sizes else f"entry {s}"
            findings.append(Finding(
                "checkpoint_gap", previous + 1,
                f"no checkpoint between entry {previous} and {end}: one is required at least "
                f"every {every} entries, so checkpoints were deleted (or never made)",
                last_seq=s))
            return
        previous = max(previous, s)
