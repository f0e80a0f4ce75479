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
from collections.abc import Callable, Coroutine, Mapping, Sequence
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
    """What the peers answered. ``complete``: every peer that answered sent all it had or at
    least what was ``needed`` of it; ``exhausted``: every peer that answered sent everything
    it had (what a count needs)."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[PeerStatus] = field(default_factory=list)
    more: bool = False  # some peer had more than it sent
    complete: bool = True
    exhausted: bool = True

    @property
    def warnings(self) -> list[PeerStatus]:
        return [s for s in self.statuses if s.status != "ok"]

    @property
    def all_answered(self) -> bool:
        """Whether no peer failed (unreachable, too slow, in error): a denial is an answer,
        since what the agreement does not share is no part of the count."""
        return all(s.status in ("ok", "denied") for s in self.statuses)


# A peer is asked again from where its answer stopped (its page token) while the consumer's
# own check of what it sent leaves fewer matches than the page needs, or until it has sent
# everything when the caller wants a count; these pages are larger than the caller's, and all
# follow-up pages of one read together hold at most ``SCAN_MAX`` entities: past it the answer
# says it is incomplete (a warning, no exact count) instead of being silently short.
FOLLOW_PAGE = 1000
SCAN_MAX = 20_000
Accept = Callable[[Mapping[str, Any]], bool]


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
        for purpose, _, agreements in self._calls(audience, types):
            plan.setdefault(purpose, {}).update(agreements)
        return plan

    def _calls(self, audience: Audience, types: Sequence[str]
               ) -> list[tuple[str, tuple[str, ...], dict[str, str]]]:
        """(purpose, types to ask for, {peer: agreement id}): a peer is asked only for the
        wanted types its agreement shares, since a type it does not share would make it
        refuse the whole call (``type_not_allowed``) instead of answering for the others."""
        calls: dict[tuple[str, tuple[str, ...]], dict[str, str]] = {}
        for peer in sorted(self._peers()):
            views = [v for v in self._agreements.active_with(peer, audience.purpose, frozenset())
                     if audience.may_use(v.signed.agreement)]
            if types:
                # A peer is worth asking if one of the wanted types is shared.
                views = [v for v in views if set(types) & v.signed.agreement.entity_types]
            if views:
                agreement = views[0].signed.agreement
                shared = tuple(t for t in types if t in agreement.entity_types)
                calls.setdefault((agreement.purpose, shared), {})[peer] = agreement.id
        return [(p, t, a) for (p, t), a in calls.items()]

    async def query(self, audience: Audience, request: FederatedQuery, *,
                    accept: Accept | None = None, need: int = 0,
                    exhaust: bool = False) -> ScopeResult:
        """Ask the planned peers; entities come back de-duplicated by id.

        ``accept`` is the consumer's whole check of an entity (what the wire form could not
        carry); only accepted entities are kept. A peer with more to send is asked again
        until ``need`` of its entities are accepted, or, with ``exhaust``, until it has sent
        everything (bounded by ``SCAN_MAX``, see ``ScopeResult.complete``/``exhausted``).
        """
        result = ScopeResult()
        calls = self._calls(audience, request.types)
        if not calls:
            return result
        loop = asyncio.get_running_loop()
        end = loop.time() + self._deadline
        budget = [SCAN_MAX]
        check = accept or (lambda _e: True)
        outcomes = await asyncio.gather(*[
            self._fanout.query(replace(request, purpose=p, types=t), self._deadline,
                               peers=list(agreements), agreements=agreements)
            for p, t, agreements in calls])
        seen: set[str] = set()

        def add(entity: dict[str, Any]) -> bool:
            if not check(entity):
                return False
            entity_id = str(entity.get("id"))
            if entity_id not in seen:
                seen.add(entity_id)
                result.entities.append(entity)
            return True

        def stopped(accepted: int) -> None:
            result.complete = result.complete and accepted >= need
            result.exhausted = False
            result.more = True

        async def follow(purpose: str, types: tuple[str, ...], peer: str, agreement: str,
                         token: str, accepted: int) -> None:
            while token and (exhaust or accepted < need):
                left = end - loop.time()
                if budget[0] <= 0 or left <= 0:
                    stopped(accepted)
                    result.statuses.append(PeerStatus(
                        peer, "incomplete", reason="scan_limit" if budget[0] <= 0
                        else "deadline", message="more entities to check than one read may"))
                    return
                page = min(max(request.limit, FOLLOW_PAGE), budget[0])
                outcome = await self._fanout.query(
                    replace(request, purpose=purpose, types=types, page_token=token,
                            limit=page), left, peers=[peer], agreements={peer: agreement})
                entities = outcome.entities
                budget[0] -= len(entities)
                accepted += sum(1 for e in entities if add(e))
                failed = [s for s in outcome.statuses if s.status != "ok"]
                if failed:
                    result.statuses.extend(failed)
                    stopped(accepted)
                    return
                token = outcome.next_page_tokens.get(peer, "")
            if token:
                result.exhausted = False
                result.more = True

        follow_ups: list[Coroutine[Any, Any, None]] = []
        for (purpose, types, agreements), outcome in zip(calls, outcomes, strict=True):
            accepted: dict[str, int] = {}
            for entity, peer in outcome.entities_by_peer():
                if add(entity):
                    accepted[peer] = accepted.get(peer, 0) + 1
            result.statuses.extend(outcome.statuses)
            follow_ups.extend(follow(purpose, types, peer, agreements[peer], token,
                                     accepted.get(peer, 0))
                              for peer, token in outcome.next_page_tokens.items())
        await asyncio.gather(*follow_ups)
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
