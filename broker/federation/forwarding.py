"""Onward sharing: a node asks its own providers on behalf of its caller, under the loop guard.

An agency that aggregates for another agency (a prefecture for the national government, say)
adds its providers' partial aggregates to its own. Only agreements where this node is the
consumer, for the same purpose and types, that allow ``onward_sharing`` and aggregates are
used; each provider applies its own k-threshold before anything crosses the wire, and the
merge keeps a suppressed group suppressed. The outgoing requests carry the inbound routing plus
this node (``FanOut(..., forwarding=...)``), so a cycle stops where it started.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from ..service.agreement_book import AgreementBook
from ..service.model import AggregateGroup, AggregateQuery
from .fanout import FanOut

log = logging.getLogger("renkei.federation.forwarding")


class AggregateForwarding:
    """``provider.calls.AggregateForwarder`` over this node's fan-out."""

    def __init__(self, node_id: str, fanout: FanOut, agreements: AgreementBook) -> None:
        self._node_id = node_id
        self._fanout = fanout
        self._agreements = agreements

    def upstream(self, purpose: str, types: Sequence[str]) -> dict[str, str]:
        """provider -> agreement id of the agreements this node may re-share aggregates of."""
        wanted = frozenset(types)
        out: dict[str, str] = {}
        for view in self._agreements.views():
            a = view.signed.agreement
            if (view.state == "active" and a.consumer == self._node_id and a.onward_sharing
                    and a.purpose == purpose and wanted <= a.entity_types
                    and "aggregate" in a.operations):
                out.setdefault(a.provider, a.id)
        return out

    async def aggregate(self, request: AggregateQuery, deadline: float
                        ) -> list[Sequence[AggregateGroup]]:
        upstream = self.upstream(request.purpose, request.types)
        if not upstream:
            return []
        outcome = await self._fanout.aggregate(
            replace(request, agreement_id=""), deadline, peers=list(upstream),
            agreements=upstream, forwarding=request.routing)
        for status in outcome.statuses:
            if status.status != "ok":
                log.info("peer[%s] forwarded aggregate: %s (%s)", status.peer, status.status,
                         status.reason)
        return [result.groups for result in outcome.per_peer.values()]
