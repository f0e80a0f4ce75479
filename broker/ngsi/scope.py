"""Federation scope of NGSI-LD reads: which peers to ask, under which agreement, and merging.

A read without ``local=true`` also asks every peer that provides to this node under an active
agreement the reader may use (``Audience``): one for the caller's purpose (a caller without a
purpose, the loopback dev mode, uses any active agreement), among the agreements the API
client is bound to, if any, and never, for a third-party client, one that forbids onward
sharing. Peers are asked through the gRPC fan-out with one deadline; whatever a peer could not
answer (denied, unreachable, too slow) comes back as a ``PeerStatus`` for the response's
warning headers, never as an error of the whole request. Local data wins: an entity known here
and at a peer keeps the peer's attributes only where we have none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from trust.agreement_model import Agreement

from ..federation.fanout import FanOut, PeerStatus
from ..service.agreement_book import AgreementBook
from ..service.model import FederatedQuery
from .render import merge_local_wins

StatusSink = Callable[[PeerStatus], None]


@dataclass(frozen=True)
class Audience:
    """Who the rows of a federated read go to, as the operator registered the API client.

    ``purpose``: the client's purpose (None: any, the loopback dev mode); ``agreements``: the
    agreements it is bound to (None: any for its purpose); ``third_party``: the client is not
    one of this member's own applications (a service provider, another organisation), so rows
    fetched under an agreement with ``onward_sharing = false`` never reach it.
    """

    purpose: str | None
    agreements: frozenset[str] | None = None
    third_party: bool = False

    def may_use(self, agreement: Agreement) -> bool:
        """Whether rows fetched under ``agreement`` may go to this reader."""
        if self.agreements is not None and agreement.id not in self.agreements:
            return False
        return agreement.onward_sharing or not self.third_party


@dataclass
class ScopeResult:
    entities: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[PeerStatus] = field(default_factory=list)
    more: bool = False  # some peer had more than it sent

    @property
    def warnings(self) -> list[PeerStatus]:
        return [s for s in self.statuses if s.status != "ok"]


@dataclass(frozen=True)
class Federation:
    """What federated reads use of the node: its agreements, its peers and the fan-out to
    them under one deadline (seconds)."""

    agreements: AgreementBook
    peers: Callable[[], Mapping[str, object]]
    fanout: FanOut
    deadline_seconds: float


class FederationScope:
    """Asks peers for the API's federated reads."""

    def __init__(self, federation: Federation, on_status: StatusSink | None = None) -> None:
        self._agreements = federation.agreements
        self._peers = federation.peers
        self._fanout = federation.fanout
        self._deadline = federation.deadline_seconds
        self._on_status = on_status

    def plan(self, audience: Audience, types: Sequence[str] = ()) -> dict[str, dict[str, str]]:
        """purpose -> {peer: agreement id} for the peers worth asking."""
        plan: dict[str, dict[str, str]] = {}
        for peer in sorted(self._peers()):
            views = [v for v in self._agreements.active_with(peer, audience.purpose, frozenset())
                     if audience.may_use(v.signed.agreement)]
            if types:
                # A peer is worth asking if one of the wanted types is shared.
                views = [v for v in views if set(types) & v.signed.agreement.entity_types]
            if views:
                agreement = views[0].signed.agreement
                plan.setdefault(agreement.purpose, {})[peer] = agreement.id
        return plan

    async def query(self, audience: Audience, request: FederatedQuery) -> ScopeResult:
        """Ask the planned peers; entities come back de-duplicated by id."""
        result = ScopeResult()
        plan = self.plan(audience, request.types)
        if not plan:
            return result
        calls = [self._fanout.query(replace(request, purpose=p), self._deadline,
                                    peers=list(agreements), agreements=agreements)
                 for p, agreements in plan.items()]
        seen: set[str] = set()
        for outcome in await asyncio.gather(*calls):
            for entity in outcome.entities:
                entity_id = str(entity.get("id"))
                if entity_id not in seen:
                    seen.add(entity_id)
                    result.entities.append(entity)
            result.statuses.extend(outcome.statuses)
            result.more = result.more or bool(outcome.next_page_tokens)
        for status in result.statuses:
            if self._on_status is not None:
                self._on_status(status)
        return result


def merge(local: Sequence[Mapping[str, Any]], remote: Sequence[Mapping[str, Any]]
          ) -> list[dict[str, Any]]:
    """Local and remote entities in id order; on the same id, local attributes win."""
    by_id: dict[str, dict[str, Any]] = {}
    for entity in remote:
        by_id[str(entity.get("id"))] = dict(entity)
    for entity in local:
        key = str(entity.get("id"))
        by_id[key] = merge_local_wins(by_id[key], entity) if key in by_id else dict(entity)
    return [by_id[k] for k in sorted(by_id)]


# Past this many peers without an answer, warnings are one line per kind of failure: a
# national read that 190 of 1,741 cities miss would otherwise send 190 header lines (15 KB),
# more than clients and proxies accept (aiohttp stops at 128 lines, nginx at 4-8 KB).
MAX_WARNING_LINES = 20
IDS_PER_WARNING = 40


def warning_header(status: PeerStatus) -> str:
    """An ``NGSILD-Warning`` value: ``199 <peer> "<status>: <reason>"`` (quotes escaped)."""
    text = f"{status.status}: {status.reason or status.message}".replace('"', "'")
    return f'199 {status.peer} "{text[:200]}"'


def warning_headers(statuses: Sequence[PeerStatus]) -> list[str]:
    """``NGSILD-Warning`` values for the peers that did not answer (``ok`` ones left out):
    one per peer up to ``MAX_WARNING_LINES``; beyond that one per status and reason, naming
    how many peers and the first ``IDS_PER_WARNING`` of them (agent ``renkei``)."""
    failed = [s for s in statuses if s.status != "ok"]
    if len(failed) <= MAX_WARNING_LINES:
        return [warning_header(s) for s in failed]
    groups: dict[tuple[str, str], list[str]] = {}
    for s in failed:
        groups.setdefault((s.status, s.reason or s.message[:80]), []).append(s.peer)
    out = []
    for (status, reason), peers in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        named = " ".join(sorted(peers)[:IDS_PER_WARNING])
        more = f" (+{len(peers) - IDS_PER_WARNING} more)" if len(peers) > IDS_PER_WARNING \
            else ""
        text = f"{status}: {reason}: {len(peers)} peers: {named}{more}".replace('"', "'")
        out.append(f'199 renkei "{text}"')
    return out
