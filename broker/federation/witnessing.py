"""Peers as the outside anchor of this node's audit log, from the log's side.

Each new checkpoint goes to every agreement peer (the witnesses) with a consistency proof from
the last checkpoint that witness cosigned; a witness that recorded another size answers
``size_conflict`` with it and the proof is rebuilt from there (once). The cosignature is checked
against the witness key statement the witness returns (a JWS under its directory key) and kept
in the store beside the checkpoint, with the statement, so ``renkei audit verify`` can check
the local copy; the witness keeps its own copy, which this node's operator cannot touch.

:func:`gather_cosigned` asks witnesses what they cosigned (``verify --witnesses``);
:func:`compare_witnesses` compares two witnesses' views of one log (``renkei audit compare``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from trust.checkpoint import Checkpoint, TreeHead, audit_origin, log_verifiers, open_checkpoint
from trust.clock import Clock
from trust.directory import Directory
from trust.errors import AuditError, TrustError
from trust.note import parse_note, parse_signature_line
from trust.witness import (
    Comparison,
    WitnessKey,
    compare_heads,
    format_add_checkpoint,
    verify_cosignatures,
    verify_witness_statement,
)

from ..errors import PeerError
from ..service.audit_log import AuditLog
from ..store.base import Store
from .grpc_client import PeerChannel

log = logging.getLogger("renkei.witnessing")
STATE = "audit_witnesses"  # per witness: {"size": last cosigned, "statement": JWS}
RETRY_SECONDS = 60.0


class CheckpointWitnessing:
    def __init__(self, audit: AuditLog, store: Store,
                 peers: Callable[[], Mapping[str, PeerChannel]],
                 witnesses: Callable[[], Iterable[str]], directory: Callable[[], Directory],
                 clock: Clock, deadline: float) -> None:
        self._audit = audit
        self._store = store
        self._peers = peers
        self._witnesses = witnesses
        self._directory = directory
        self._clock = clock
        self._deadline = deadline
        self._wake = asyncio.Event()

    def notify(self, _checkpoint: Checkpoint | None = None) -> None:
        """A new checkpoint was signed: send it (from the event loop's next turn)."""
        self._wake.set()

    async def run(self) -> None:
        """Send the newest checkpoint to every witness behind it; again on each new one, and
        every minute for witnesses that were unreachable."""
        while True:
            self._wake.clear()
            with contextlib.suppress(Exception):
                await self.send_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RETRY_SECONDS)

    async def send_all(self) -> dict[str, str]:
        """Submit the newest checkpoint to each witness; the outcome per witness."""
        checkpoint = await self._audit.latest_checkpoint()
        outcome: dict[str, str] = {}
        if checkpoint is None:
            return outcome
        peers = self._peers()
        for witness in sorted(set(self._witnesses())):
            channel = peers.get(witness)
            if channel is None:
                outcome[witness] = "no endpoint"
                continue
            try:
                outcome[witness] = await self.submit(witness, channel, checkpoint)
            except (PeerError, TrustError) as exc:
                log.warning("witness %s did not cosign size %d: %s", witness,
                            checkpoint.head.size, exc)
                outcome[witness] = f"refused: {getattr(exc, 'code', exc)}"
        return outcome

    async def submit(self, witness: str, channel: PeerChannel, checkpoint: Checkpoint) -> str:
        state = await self._store.get_state(STATE, witness) or {}
        old = int(state.get("size", 0))
        if old == checkpoint.head.size:
            return "cosigned already"
        for _ in range(2):
            if old > checkpoint.head.size:
                return f"witness holds size {old}, beyond this log's {checkpoint.head.size}"
            proof = await self._audit.consistency_proof(old, checkpoint.head.size)
            lines, statement, known = await channel.add_checkpoint(
                format_add_checkpoint(old, proof, checkpoint), self._deadline)
            if known is None:
                break
            old = known
        else:
            return f"size conflict: the witness holds size {old}"
        key = verify_witness_statement(statement, self._directory())
        if key.member != witness:
            raise AuditError("bad_witness_key", f"{witness} answered with {key.member}'s key")
        signatures = [parse_signature_line(line) for line in lines.splitlines() if line]
        cosigned = checkpoint.with_signatures(signatures)
        if not verify_cosignatures(cosigned, [key]):
            raise AuditError("bad_cosignature", f"{witness} sent no valid cosignature")
        now = self._clock.now()
        await self._store.add_cosigned(checkpoint.head.size, key.name, cosigned.format(), now)
        await self._store.put_state(STATE, witness, {"size": checkpoint.head.size,
                                                     "statement": statement})
        return f"cosigned size {checkpoint.head.size}"


async def held_witness_keys(store: Store, directory: Directory) -> list[WitnessKey]:
    """Witness keys from the statements this log keeps beside its cosigned checkpoints."""
    keys = []
    for member in directory.members:
        state = await store.get_state(STATE, member)
        if state and state.get("statement"):
            with contextlib.suppress(AuditError):
                keys.append(verify_witness_statement(state["statement"], directory))
    return keys


@dataclass
class Gathered:
    """What witnesses said about one log: cosigned checkpoints, their keys, and failures."""

    cosigned: list[str] = field(default_factory=list)
    keys: list[WitnessKey] = field(default_factory=list)
    by_witness: dict[str, list[str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class CosignedSource(Protocol):
    """A witness's record of a log: a peer over gRPC, or this node's own witness."""

    async def list_cosigned(self, origin: str, min_size: int, timeout: float
                            ) -> tuple[list[str], str, bool]: ...


async def gather_cosigned(origin: str, witnesses: Sequence[str],
                          peers: Mapping[str, CosignedSource], directory: Directory,
                          deadline: float) -> Gathered:
    """Every checkpoint of ``origin`` each witness cosigned, with its verified witness key."""
    out = Gathered()
    for witness in witnesses:
        channel = peers.get(witness)
        if channel is None:
            out.failures[witness] = "no endpoint in the directory"
            continue
        notes: list[str] = []
        try:
            min_size, statement = 0, ""
            while True:
                page, statement, more = await channel.list_cosigned(origin, min_size, deadline)
                notes += page
                if not more or not page:
                    break
                min_size = TreeHead.parse(parse_note(page[-1]).text).size + 1
            if statement:
                key = verify_witness_statement(statement, directory)
                if key.member != witness:
                    raise AuditError("bad_witness_key", f"answered with {key.member}'s key")
                out.keys.append(key)
        except (PeerError, TrustError) as exc:
            out.failures[witness] = str(exc)
            continue
        out.by_witness[witness] = notes
        out.cosigned += notes
    return out


async def compare_witnesses(log_member: str, witnesses: Sequence[str],
                            peers: Mapping[str, PeerChannel],
                            sources: Mapping[str, CosignedSource], directory: Directory,
                            deadline: float) -> tuple[list[Comparison], Gathered]:
    """Split-view check: each pair of witnesses' cosigned heads of ``log_member``'s log.

    Equal sizes must have equal roots; for different sizes the log is asked for a consistency
    proof between them (a log that showed two histories cannot give one)."""
    origin = audit_origin(log_member)
    gathered = await gather_cosigned(origin, witnesses, sources, directory, deadline)
    verifiers = log_verifiers(directory, log_member)
    heads: dict[str, list[TreeHead]] = {}
    for witness, notes in gathered.by_witness.items():
        keys = [k for k in gathered.keys if k.member == witness]
        good = []
        for note in notes:
            try:
                checkpoint = open_checkpoint(note, verifiers, origin=origin)
                if verify_cosignatures(checkpoint, keys):
                    good.append(checkpoint.head)
            except AuditError as exc:
                gathered.failures[witness] = f"an unusable checkpoint: {exc.message}"
        heads[witness] = good
    comparisons: list[Comparison] = []
    names = sorted(heads)
    log_channel = peers.get(log_member)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            comparisons += await _compare(heads[first], heads[second], log_channel, deadline)
    return comparisons, gathered


async def _compare(a: list[TreeHead], b: list[TreeHead], log_channel: PeerChannel | None,
                   deadline: float) -> list[Comparison]:
    out = []
    by_size = {h.size: h for h in b}
    for head in a:  # every size both cosigned
        other = by_size.get(head.size)
        if other is not None:
            out.append(compare_heads(head, other))
    if a and b:
        x, y = max(a, key=lambda h: h.size), max(b, key=lambda h: h.size)
        if x.size != y.size:
            old, new = sorted((x, y), key=lambda h: h.size)
            proof = None
            if log_channel is not None:
                with contextlib.suppress(PeerError):
                    proof, _ = await log_channel.consistency_proof(old.size, new.size, deadline)
            out.append(compare_heads(old, new, proof))
    return out
