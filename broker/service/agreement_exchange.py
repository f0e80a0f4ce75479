"""Agreement lifecycle between two nodes: propose, countersign, revoke (both directions).

The consumer proposes (its signature on the canonical bytes) → the provider stores the
proposal; its operator reviews and countersigns → the countersignature goes back → both hold
the same active agreement. Either party may revoke; the signed revocation travels to the other.

Every outgoing message goes through an outbox in the store: a peer that is down gets it later
(the running node calls ``resend_due`` with backoff), a restart loses nothing, and the
operator sees what is pending (``delivery``). A revocation takes effect here at once whatever
becomes of its delivery.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Protocol

import orjson

from trust.agreement_model import Agreement
from trust.agreements import SignedAgreement
from trust.clock import Clock
from trust.tokens import VerifiedCaller

from ..errors import BadRequest, DeliveryPending, NotFound, PeerError, PeerRejected
from ..store.base import Store
from .agreement_book import AgreementBook, AgreementView
from .model import AgreementMessage

log = logging.getLogger("renkei.agreements")
OUTBOX = "agreement_outbox"  # store state: agreement id -> the Delivery not yet delivered


class AgreementPeer(Protocol):
    """What the exchange needs of a channel to the other party (``federation.PeerChannel``).

    A Protocol so that this layer does not import the transport above it.
    """

    async def propose_agreement(self, message: AgreementMessage,
                                timeout: float) -> AgreementMessage: ...

    async def countersign_agreement(self, message: AgreementMessage,
                                    timeout: float) -> AgreementMessage: ...

    async def revoke_agreement(self, agreement_id: str, reason: str, revocation_jws: str,
                               timeout: float) -> AgreementMessage: ...


def to_message(view: AgreementView) -> AgreementMessage:
    signed = view.signed
    return AgreementMessage(signed.agreement.canonical_bytes(), dict(signed.signatures),
                            view.state)


def from_message(message: AgreementMessage) -> SignedAgreement:
    return SignedAgreement.from_document({"agreement": orjson.loads(message.document),
                                          "signatures": message.signatures,
                                          "revocation": None})


@dataclass(frozen=True)
class Delivery:
    """An agreement message on its way to the other party (kept in the store until it
    arrived): ``kind`` is proposal, countersignature or revocation. ``refused`` holds the
    peer's refusal code when it refused (not retried on its own: the operator decides)."""

    kind: str
    peer: str
    attempts: int = 0
    next_at: float = 0.0
    last_error: str = ""
    refused: str = ""
    reason: str = ""  # a revocation's reason
    jws: str = ""  # a revocation's signed statement

    def describe(self) -> str:
        if self.refused:
            return f"{self.kind} refused by {self.peer}: {self.last_error}"
        return f"{self.kind} to {self.peer} pending ({self.attempts} attempt(s)" + \
            (f", last: {self.last_error}" if self.last_error else "") + ")"


class AgreementExchange:
    """Sends this node's agreement messages (through an outbox that survives a failed call and
    a restart) and takes the other party's."""

    def __init__(self, node_id: str, book: AgreementBook,
                 peers: Callable[[], Mapping[str, AgreementPeer]], timeout: float,
                 store: Store, clock: Clock, *, retry_min: float = 2.0,
                 retry_max: float = 300.0) -> None:
        self._node_id = node_id
        self._book = book
        self._peers = peers
        self._timeout = timeout
        self._store = store
        self._clock = clock
        self._retry = (retry_min, retry_max)

    def _channel(self, peer: str) -> AgreementPeer:
        channel = self._peers().get(peer)
        if channel is None:
            raise NotFound(f"{peer} is not a reachable member of the federation directory")
        return channel

    def _other(self, agreement: Agreement) -> str:
        return agreement.provider if agreement.consumer == self._node_id else agreement.consumer

    # -- outgoing ---------------------------------------------------------------------------
    async def propose(self, agreement: Agreement) -> AgreementView:
        """Sign locally and send the proposal to the other party.

        Proposing the same agreement again (same id and terms) signs nothing new and sends it
        again. When the peer cannot be reached the proposal stays stored and queued
        (``DeliveryPending``): ``resend_due`` delivers it later."""
        view = await self._book.sign(SignedAgreement(agreement))
        await self._deliver(view, Delivery("proposal", self._other(agreement)))
        return view

    async def countersign(self, agreement_id: str) -> AgreementView:
        """Sign a proposal held here and send the signature back: the agreement is active."""
        view = await self._book.sign(self._book.get(agreement_id).signed)
        await self._deliver(view, Delivery("countersignature",
                                           self._other(view.signed.agreement)))
        return view

    async def revoke(self, agreement_id: str, reason: str) -> AgreementView:
        """Revoke here (at once) and deliver the signed revocation like a proposal."""
        view, jws = await self._book.revoke(agreement_id, reason)
        await self._deliver(view, Delivery("revocation", self._other(view.signed.agreement),
                                           reason=reason, jws=jws))
        return view

    async def send(self, agreement_id: str) -> tuple[AgreementView, Delivery]:
        """Send the agreement's last message from this node again, now: the queued one, or the
        one its state implies (proposal, countersignature, revocation)."""
        await self._book.load()
        view = self._book.get(agreement_id)
        queued = await self.delivery(agreement_id)
        delivery = replace(queued, refused="") if queued else self._implied(view)
        await self._deliver(view, delivery)
        return view, delivery

    async def delivery(self, agreement_id: str) -> Delivery | None:
        """The message of ``agreement_id`` not yet delivered (None: nothing pending)."""
        raw = await self._store.get_state(OUTBOX, agreement_id)
        return Delivery(**raw) if isinstance(raw, dict) else None

    async def resend_due(self) -> int:
        """Send every queued message whose retry time has come; the number delivered."""
        delivered = 0
        for agreement_id, raw in (await self._store.list_state(OUTBOX)).items():
            entry = Delivery(**raw)
            if entry.refused or entry.next_at > self._clock.now():
                continue
            try:
                view = self._book.get(agreement_id)
            except NotFound:
                await self._book.load()
                try:
                    view = self._book.get(agreement_id)
                except NotFound:  # deleted from the store by hand: nothing left to send
                    await self._store.delete_state(OUTBOX, agreement_id)
                    continue
            with contextlib.suppress(DeliveryPending):
                await self._deliver(view, entry)
                delivered += 1
                log.warning("agreement %s: %s delivered to %s after %d attempt(s)",
                            agreement_id, entry.kind, entry.peer, entry.attempts + 1)
        return delivered

    def _implied(self, view: AgreementView) -> Delivery:
        a, peer = view.signed.agreement, self._other(view.signed.agreement)
        if view.signed.revocation:
            return Delivery("revocation", peer, jws=view.signed.revocation)
        if self._node_id not in view.signed.signatures:
            raise BadRequest(f"{a.id} is not signed by this node: nothing to send (sign it)")
        return Delivery("countersignature" if a.provider == self._node_id else "proposal",
                        peer)

    async def _deliver(self, view: AgreementView, entry: Delivery) -> None:
        """Send ``entry``; queued in the store first, so that a failed call or a crash
        mid-call leaves it to be sent again. Raise ``DeliveryPending`` when it did not
        arrive."""
        await self._store.put_state(OUTBOX, view.id, asdict(entry))
        try:
            await self._send(view, entry)
        except (PeerError, NotFound) as exc:
            attempts = entry.attempts + 1
            refused = exc.reason if isinstance(exc, PeerRejected) else ""
            delay = min(self._retry[1], self._retry[0] * 2 ** (attempts - 1))
            code = getattr(exc, "code", "peer_error")
            failed = replace(entry, attempts=attempts, next_at=self._clock.now() + delay,
                             last_error=f"{exc} [{code}]", refused=refused)
            await self._store.put_state(OUTBOX, view.id, asdict(failed))
            then = (f"{entry.peer} refused it: fix and resend with `renkei agreement send "
                    f"{view.id}`") if refused else (
                f"the running node resends it (next in {delay:.0f} s, backing off), or run "
                f"`renkei agreement send {view.id}`")
            raise DeliveryPending(entry.peer, f"{entry.kind} of {view.id} is stored here "
                                  f"({view.state}) but did not reach {entry.peer}: {exc} "
                                  f"[{code}]; {then}") from exc
        await self._store.delete_state(OUTBOX, view.id)

    async def _send(self, view: AgreementView, entry: Delivery) -> None:
        channel = self._channel(entry.peer)
        if entry.kind == "proposal":
            await channel.propose_agreement(to_message(view), self._timeout)
        elif entry.kind == "countersignature":
            await channel.countersign_agreement(to_message(view), self._timeout)
        else:
            try:
                await channel.revoke_agreement(view.id, entry.reason, entry.jws,
                                               self._timeout)
            except PeerRejected as exc:
                if exc.reason != "not_found":
                    raise
                # The peer never held it (a proposal that never arrived): nothing to revoke
                # there; revoked here all the same.
                log.info("agreement %s: %s never held it; revoked here only", view.id,
                         entry.peer)

    # -- incoming (the gRPC servicer calls these) -------------------------------------------
    async def receive_proposal(self, caller: VerifiedCaller,
                               message: AgreementMessage) -> AgreementMessage:
        return to_message(await self._book.receive(caller.member_id, from_message(message)))

    async def receive_countersignature(self, caller: VerifiedCaller,
                                       message: AgreementMessage) -> AgreementMessage:
        return to_message(await self._book.receive(caller.member_id, from_message(message)))

    async def receive_revocation(self, caller: VerifiedCaller, agreement_id: str, reason: str,
                                 revocation_jws: str) -> AgreementMessage:
        view = await self._book.receive_revocation(caller.member_id, agreement_id,
                                                   revocation_jws)
        return to_message(view)
