"""The provider API the federation servicer calls: query/get/aggregate, temporal queries,
subscribe, catalog.

A thin front over ``ProviderService`` (which admits, answers and audits each call) and the
catalog: it adds what concerns the server rather than the data, a cap on the open streams of
each member.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from trust.errors import PolicyDenied
from trust.tokens import VerifiedCaller

from ..errors import LimitExceeded
from ..service.audit_log import AuditLog
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
    TemporalQuery,
)
from .calls import ProviderService
from .catalog import CatalogService


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

    def __init__(self, provider: ProviderService, catalog: CatalogService, audit: AuditLog, *,
                 max_streams_per_peer: int = 16) -> None:
        self._provider = provider
        self._catalog = catalog
        self._audit = audit
        self._slots = StreamSlots(max_streams_per_peer)

    async def query(self, caller: VerifiedCaller, request: FederatedQuery
                    ) -> AsyncIterator[EntityBatch | QuerySummary]:
        with self._slots.hold(caller.member_id):
            async for item in self._provider.query(caller, request):
                yield item

    async def temporal_query(self, caller: VerifiedCaller, request: TemporalQuery
                             ) -> AsyncIterator[EntityBatch | QuerySummary]:
        with self._slots.hold(caller.member_id):
            async for item in self._provider.temporal_query(caller, request):
                yield item

    async def get_entity(self, caller: VerifiedCaller, request: GetRequest) -> EntityResult:
        return await self._provider.get_entity(caller, request)

    async def aggregate(self, caller: VerifiedCaller, request: AggregateQuery,
                        deadline: float | None = None) -> AggregateResult:
        return await self._provider.aggregate(caller, request, deadline)

    async def subscribe(self, caller: VerifiedCaller, request: SubscribeRequest
                        ) -> AsyncIterator[ChangeEvent]:
        with self._slots.hold(caller.member_id):
            async for event in self._provider.subscribe(caller, request):
                yield event

    async def catalog(self, caller: VerifiedCaller, purpose: str) -> Catalog:
        digest = self._audit.digest_request("catalog", {"purpose": purpose})
        try:
            catalog = await self._catalog.catalog(caller.member_id, purpose)
        except PolicyDenied as exc:  # rate_limited: audited like every refusal
            await self._audit.record(caller.member_id, "", "catalog", digest, False, exc.code, 0)
            raise
        await self._audit.record(caller.member_id, "", "catalog", digest, True, "allowed",
                                 len(catalog.datasets))
        return catalog


__all__ = ["ProviderFacade"]
