"""The provider API the federation servicer calls: query/get/aggregate, subscribe, catalog."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from trust.clock import Clock
from trust.errors import PolicyDenied
from trust.policy import Operation
from trust.tokens import VerifiedCaller

from ..errors import LimitExceeded
from ..service.agreement_book import AgreementBook
from ..service.changes import ChangeSignal
from ..service.model import (
    AggregateQuery,
    AggregateResult,
    Catalog,
    ChangeEvent,
    EntityBatch,
    EntityResult,
    FederatedQuery,
    GetRequest,
    QuerySummary,
    SubscribeRequest,
)
from ..store.base import Store
from .calls import ProviderService, filter_attributes
from .catalog import CatalogService
from .subscribe import change_stream


class StreamSlots:
    """Open streams per member: one peer must not take every slot of the node's server."""

    def __init__(self, per_member: int) -> None:
        self._per_member = per_member
        self._open: dict[str, int] = {}

    @contextlib.contextmanager
    def hold(self, member: str) -> Iterator[None]:
        if self._open.get(member, 0) >= self._per_member:
            raise LimitExceeded(f"more than {self._per_member} concurrent streams from "
                                f"{member}: close one first", code="too_many_streams")
        self._open[member] = self._open.get(member, 0) + 1
        try:
            yield
        finally:
            self._open[member] -= 1


class ProviderFacade:
    """Everything a peer may call on this node, each call under the caller's agreement."""

    def __init__(self, provider: ProviderService, catalog: CatalogService, store: Store,
                 changes: ChangeSignal, agreements: AgreementBook, clock: Clock, *,
                 max_streams_per_peer: int = 16) -> None:
        self._provider = provider
        self._catalog = catalog
        self._store = store
        self._changes = changes
        self._agreements = agreements
        self._clock = clock
        self._slots = StreamSlots(max_streams_per_peer)

    async def query(self, caller: VerifiedCaller, request: FederatedQuery
                    ) -> AsyncIterator[EntityBatch | QuerySummary]:
        with self._slots.hold(caller.member_id):
            async for item in self._provider.query(caller, request):
                yield item

    async def get_entity(self, caller: VerifiedCaller, request: GetRequest) -> EntityResult:
        return await self._provider.get_entity(caller, request)

    async def aggregate(self, caller: VerifiedCaller, request: AggregateQuery,
                        deadline: float | None = None) -> AggregateResult:
        return await self._provider.aggregate(caller, request, deadline)

    async def subscribe(self, caller: VerifiedCaller, request: SubscribeRequest
                        ) -> AsyncIterator[ChangeEvent]:
        with self._slots.hold(caller.member_id):
            async for event in self._subscribe(caller, request):
                yield event

    async def _subscribe(self, caller: VerifiedCaller, request: SubscribeRequest
                         ) -> AsyncIterator[ChangeEvent]:
        digest = self._provider.audit.digest_request("subscribe", request)
        decision = await self._provider.decide_for(
            caller, Operation.SUBSCRIBE, types=request.types, attrs=(), geo=request.geo,
            purpose=request.purpose, agreement_id=request.agreement_id, digest=digest,
            filters=filter_attributes(request.q, request.geo))
        mask = decision.field_mask
        if mask is None:
            raise PolicyDenied("operation_not_allowed", "decision carries no field mask")
        mask = mask.restrict(request.types or None, None)
        audit = self._provider.audit
        agreement_id = decision.agreement_id or ""
        await audit.record(caller.member_id, agreement_id, "subscribe", digest, True, "allowed",
                           0)
        sent = 0
        try:
            async def still_allowed() -> None:
                await self._provider.check_standing(caller, agreement_id)

            async for event in change_stream(self._store, self._changes, self._clock, request,
                                             mask, decision.area, caller.expires_at,
                                             still_allowed=still_allowed):
                if event.entity:
                    # Changes spend the agreement's entity budget like query results do.
                    await self._provider.charge_or_end(caller, agreement_id)
                if event.kind != "heartbeat":
                    sent += 1
                yield event
        finally:
            # One entry per stream with what it delivered (streams end at token expiry).
            await audit.record(caller.member_id, agreement_id, "subscribe", digest, True,
                               "stream_ended", sent)

    async def catalog(self, caller: VerifiedCaller, purpose: str) -> Catalog:
        catalog = await self._catalog.catalog(caller.member_id, purpose)
        audit = self._provider.audit
        await audit.record(caller.member_id, "", "catalog",
                           audit.digest_request("catalog", {"purpose": purpose}), True,
                           "allowed", len(catalog.datasets))
        return catalog


__all__ = ["ProviderFacade"]
