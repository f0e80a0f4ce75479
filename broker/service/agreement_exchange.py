"""Agreement lifecycle between two nodes: propose, countersign, revoke (both directions).

The consumer proposes (its signature on the canonical bytes) → the provider stores the
proposal; its operator reviews and countersigns → the countersignature goes back → both hold
the same active agreement. Either party may revoke; the signed revocation travels to the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import orjson

from trust.agreement_model import Agreement
from trust.agreements import SignedAgreement
from trust.tokens import VerifiedCaller

from ..errors import NotFound
from .agreement_book import AgreementBook, AgreementView
from .model import AgreementMessage


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


class AgreementExchange:
    def __init__(self, node_id: str, book: AgreementBook,
                 peers: Callable[[], Mapping[str, AgreementPeer]], timeout: float) -> None:
        self._node_id = node_id
        self._book = book
        self._peers = peers
        self._timeout = timeout

    def _channel(self, peer: str) -> AgreementPeer:
        channel = self._peers().get(peer)
        if channel is None:
            raise NotFound(f"{peer} is not a reachable member of the federation directory")
        return channel

    def _other(self, agreement: Agreement) -> str:
        return agreement.provider if agreement.consumer == self._node_id else agreement.consumer

    # -- outgoing ---------------------------------------------------------------------------
    async def propose(self, agreement: Agreement) -> AgreementView:
        """Sign locally and send the proposal to the other party."""
        view = await self._book.sign(SignedAgreement(agreement))
        await self._channel(self._other(agreement)).propose_agreement(to_message(view),
                                                                      self._timeout)
        return view

    async def countersign(self, agreement_id: str) -> AgreementView:
        """Sign a proposal held here and send the signature back: the agreement is active."""
        view = await self._book.sign(self._book.get(agreement_id).signed)
        await self._channel(self._other(view.signed.agreement)).countersign_agreement(
            to_message(view), self._timeout)
        return view

    async def revoke(self, agreement_id: str, reason: str) -> AgreementView:
        view, jws = await self._book.revoke(agreement_id, reason)
        await self._channel(self._other(view.signed.agreement)).revoke_agreement(
            agreement_id, reason, jws, self._timeout)
        return view

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
