"""This node's agreements: storage, lifecycle, and the verified index the policy engine sees.

Only agreements whose two signatures verify against the current directory are *active*; the
policy engine (``trust.policy``) sees nothing else. The index is rebuilt when an agreement
changes, when a new directory version arrives (a revoked key may deactivate an agreement) and
when one expires (``refresh`` is cheap and called on a timer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from trust.agreements import (
    SignedAgreement,
    agreement_state,
    attach_revocation,
    revoke_agreement,
    sign_agreement,
    tampered_signatures,
    verify_signature,
)
from trust.clock import Clock
from trust.directory import Directory
from trust.errors import AgreementError, AuthenticationError, DirectoryError, PolicyDenied
from trust.keys import NodeKey
from trust.policy import AgreementSet

from ..errors import NotFound
from ..logs import fields
from ..store.base import AgreementRow, Store

log = logging.getLogger("renkei.agreements")


@dataclass(frozen=True)
class AgreementView:
    signed: SignedAgreement
    state: str
    damage: str = ""  # state "damaged": why (the terms no longer match a signature)

    @property
    def id(self) -> str:
        return self.signed.agreement.id


@dataclass(frozen=True)
class DamagedRow:
    """An agreements row the store holds but nobody can read: shown, never used."""

    id: str
    provider: str
    consumer: str
    damage: str


class AgreementBook:
    """Agreements of one node, as provider or consumer."""

    def __init__(self, node_id: str, key: NodeKey, store: Store,
                 directory: Callable[[], Directory], clock: Clock) -> None:
        self.node_id = node_id
        self._key = key
        self._store = store
        self._directory = directory
        self._clock = clock
        self._views: dict[str, AgreementView] = {}
        self._unreadable: dict[str, DamagedRow] = {}
        self._reported: set[tuple[str, str]] = set()  # (id, damage) already logged
        self._as_provider = AgreementSet(())
        # A reload (another replica changed an agreement) and a local save each read or write
        # the store and then rebuild; serialized, a reload never rebuilds from rows read before
        # a save and so never hides the agreement just saved.
        self._lock = asyncio.Lock()
        self._loaded = False  # the first load is the starting point, not a change

    @property
    def as_provider(self) -> AgreementSet:
        """Active agreements where this node provides: what ``decide`` runs against."""
        return self._as_provider

    def views(self) -> list[AgreementView]:
        return sorted(self._views.values(), key=lambda v: v.id)

    def unreadable(self) -> list[DamagedRow]:
        """Rows of the store that do not parse as agreements (skipped by everything else)."""
        return sorted(self._unreadable.values(), key=lambda d: d.id)

    def get(self, agreement_id: str) -> AgreementView:
        view = self._views.get(agreement_id)
        if view is None:
            damaged = self._unreadable.get(agreement_id)
            if damaged is not None:
                raise AgreementError("invalid_agreement",
                                     f"agreement {agreement_id} in the store is damaged: "
                                     f"{damaged.damage}")
            raise NotFound(f"no agreement {agreement_id!r}")
        return view

    def active_with(self, provider: str, purpose: str | None = None,
                    types: frozenset[str] = frozenset()) -> list[AgreementView]:
        """Active agreements where ``provider`` serves this node (consumer side)."""
        return [v for v in self.views()
                if v.state == "active" and v.signed.agreement.consumer == self.node_id
                and v.signed.agreement.provider == provider
                and (purpose is None or v.signed.agreement.purpose == purpose)
                and types <= v.signed.agreement.entity_types]

    async def load(self) -> None:
        """Read every agreement from the store. A row that cannot be read is logged (once),
        skipped and listed by ``unreadable``; it never stops the others from loading."""
        async with self._lock:
            rows = await self._store.list_agreements()
            signed = []
            unreadable = {}
            for row in rows:
                try:
                    if row.damage:
                        raise AgreementError("invalid_agreement", row.damage)
                    signed.append(SignedAgreement.from_document({
                        "agreement": orjson.loads(row.document), "signatures": row.signatures,
                        "revocation": row.revocation}))
                except (AgreementError, ValueError) as exc:  # orjson's errors are ValueErrors
                    reason = exc.message if isinstance(exc, AgreementError) else \
                        f"its terms are not JSON ({exc})"
                    unreadable[row.id] = DamagedRow(row.id, row.provider, row.consumer, reason)
                    self._report(row.id, f"unreadable: {reason}")
            self._unreadable = unreadable
            self._rebuild(signed)

    def _report(self, agreement_id: str, damage: str) -> None:
        if (agreement_id, damage) not in self._reported:
            self._reported.add((agreement_id, damage))
            log.error("agreement %s in the store is damaged (%s): skipped; restore it from a "
                      "backup or from the other party, or revoke it", agreement_id, damage)

    def refresh(self) -> None:
        """Recompute states (after a directory update, or as time passes)."""
        self._rebuild([v.signed for v in self._views.values()])

    def _rebuild(self, signed: list[SignedAgreement]) -> None:
        now = self._clock.now()
        try:
            directory: Directory | None = self._directory()
        except DirectoryError:
            directory = None  # nothing can be verified yet: nothing is active
        views = {}
        for s in signed:
            tampered = tampered_signatures(s)
            if tampered:
                damage = "; ".join(tampered.values())
                self._report(s.agreement.id, damage)
                views[s.agreement.id] = AgreementView(s, "damaged", damage)
            else:
                views[s.agreement.id] = AgreementView(
                    s, agreement_state(s, directory, now) if directory else "unverified")
        old, self._views = self._views, views
        if self._loaded:
            self._log_changes(old)
        self._loaded = True
        self._as_provider = AgreementSet(
            v.signed.agreement for v in self._views.values()
            if v.state == "active" and v.signed.agreement.provider == self.node_id)

    def _log_changes(self, old: dict[str, AgreementView]) -> None:
        """A WARNING for every agreement whose state changed (an operator must see an
        agreement stop, or start, serving), INFO for one this node had not seen."""
        for agreement_id, view in self._views.items():
            before = old.get(agreement_id)
            if before is not None and before.state == view.state:
                continue
            a = view.signed.agreement
            role = "provider" if a.provider == self.node_id else "consumer"
            peer = a.consumer if role == "provider" else a.provider
            extra = fields(agreement=agreement_id, peer=peer, role=role, purpose=a.purpose,
                           state=view.state, previous=before.state if before else "")
            if before is None:
                log.info("agreement %s with %s (%s, %s): %s", agreement_id, peer, role,
                         a.purpose, view.state, extra=extra)
            else:
                log.warning("agreement %s with %s (%s, %s): %s -> %s", agreement_id, peer,
                            role, a.purpose, before.state, view.state, extra=extra)

    async def _save(self, signed: SignedAgreement) -> AgreementView:
        a = signed.agreement
        async with self._lock:
            await self._store.put_agreement(AgreementRow(
                a.id, a.provider, a.consumer, a.canonical_bytes(), dict(signed.signatures),
                signed.revocation, self._clock.now()))
            others = [v.signed for v in self._views.values() if v.id != a.id]
            self._rebuild(others + [signed])
            return self._views[a.id]

    # -- lifecycle --------------------------------------------------------------------------
    async def sign(self, signed: SignedAgreement) -> AgreementView:
        """Sign as this node (proposing, or countersigning a proposal held here)."""
        await self.load()  # another process (the CLI, a replica) may have written
        existing = self._views.get(signed.agreement.id)
        if existing and existing.signed.agreement.digest() != signed.agreement.digest():
            raise AgreementError("invalid_agreement",
                                 f"{signed.agreement.id} exists with different terms")
        if existing:
            signed = SignedAgreement(signed.agreement,
                                     {**existing.signed.signatures, **signed.signatures},
                                     existing.signed.revocation)
        return await self._save(sign_agreement(signed, self.node_id, self._key,
                                               now=self._clock.now()))

    async def receive(self, caller: str, signed: SignedAgreement) -> AgreementView:
        """Take an agreement a peer sent (a proposal or a countersignature).

        The caller must be the other party and its signature must verify; signatures by this
        node are only ever trusted from our own store, never from the wire.
        """
        await self.load()  # another process (the CLI, a replica) may have written
        a = signed.agreement
        if self.node_id not in (a.provider, a.consumer):
            raise AgreementError("not_a_party", f"{self.node_id} is not a party to {a.id}")
        other = a.consumer if a.provider == self.node_id else a.provider
        if caller != other:
            raise PolicyDenied("operation_not_allowed",
                               "only the other party may send this agreement")
        verify_signature(signed, other, self._directory())
        existing = self._views.get(a.id)
        ours = {}
        if existing is not None:
            if existing.signed.agreement.digest() != a.digest():
                raise AgreementError("invalid_agreement", f"{a.id} exists with different terms")
            if existing.signed.revocation:
                raise AgreementError("invalid_agreement", f"{a.id} was revoked")
            ours = {k: v for k, v in existing.signed.signatures.items() if k == self.node_id}
        return await self._save(SignedAgreement(a, {other: signed.signatures[other], **ours}))

    async def revoke(self, agreement_id: str, reason: str) -> tuple[AgreementView, str]:
        await self.load()  # another process (the CLI, a replica) may have written
        view = self.get(agreement_id)
        jws = revoke_agreement(view.signed, self.node_id, self._key, now=self._clock.now(),
                               reason=reason)
        saved = await self._save(attach_revocation(view.signed, jws, self._directory()))
        return saved, jws

    async def check_stream(self, member_id: str, kid: str, agreement_id: str,
                           expires_at: float | None = None) -> None:
        """Raise if an open stream (Subscribe, or a Query between two batches) of
        ``member_id`` (token key ``kid``, expiring at ``expires_at``) under ``agreement_id``
        must end now: the token expired, the member or key revoked in the directory held
        (``UNAUTHENTICATED``), or the agreement revoked or expired (``PERMISSION_DENIED``).

        Reads the agreement from the store, so a revocation written by the CLI or another
        replica ends the stream too."""
        if expires_at is not None and self._clock.now() >= expires_at:
            raise AuthenticationError("token_expired",
                                      "the caller's token expired: reconnect with a fresh one")
        member = self._directory().member(member_id)
        if member is None or member.revoked:
            raise AuthenticationError("member_revoked", f"{member_id} has been revoked")
        key = member.key(kid)
        if key is None or key.revoked:
            raise AuthenticationError("key_revoked", f"the key {kid[:64]} has been revoked")
        if not agreement_id:
            return
        row = await self._store.get_agreement(agreement_id)
        view = self._views.get(agreement_id)
        if row is None or row.revocation or view is None or view.state != "active" \
                or self._clock.now() > view.signed.agreement.not_after:
            raise PolicyDenied("agreement_not_active",
                               f"agreement {agreement_id} is no longer active: the stream ends")

    async def receive_revocation(self, caller: str, agreement_id: str,
                                 jws: str) -> AgreementView:
        await self.load()  # another process (the CLI, a replica) may have written
        view = self.get(agreement_id)
        if caller not in (view.signed.agreement.provider, view.signed.agreement.consumer):
            raise PolicyDenied("operation_not_allowed", "only a party may revoke")
        return await self._save(attach_revocation(view.signed, jws, self._directory()))
