"""One admission step for every call a peer makes on this node's data.

Query, get, aggregate and subscribe all pass through ``Admission.admit`` before anything is
read: the caller's budget of refused calls (``limits.CallLimits``), the loop guard (a request
that already passed through this node, or has no hop left), then ``trust.policy.decide`` (the
whole policy, filters on hidden attributes included), then the agreement's call-rate limits.
Every refusal is audited with its stable reason before the caller gets it, and counted
against the caller's limits. What is admitted carries the decision, the agreement and the
request's digest (the audit entry's request hash), and gives the field mask for the call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from trust.agreement_model import Agreement
from trust.clock import Clock
from trust.enforce import FieldMask
from trust.errors import PolicyDenied
from trust.policy import Decision, Operation, PolicyRequest
from trust.tokens import VerifiedCaller

from ..errors import LoopDetected
from ..service.agreement_book import AgreementBook
from ..service.audit_log import AuditLog
from ..service.call_notes import AGREEMENT
from ..service.filters import Comparison, Geo
from ..service.model import Routing
from ..telemetry.spans import set_attributes, span
from .limits import CallLimits
from .policy_bridge import policy_geo

log = logging.getLogger("renkei.provider")


@dataclass(frozen=True)
class Admitted:
    """A call let in: its decision, the agreement deciding it and the request's digest."""

    caller: VerifiedCaller
    operation: Operation
    decision: Decision
    agreement: Agreement | None
    digest: str
    label: str = ""  # the operation's name in the audit log (default: the operation's)

    @property
    def agreement_id(self) -> str:
        return self.decision.agreement_id or ""

    def mask(self, types: Iterable[str] = (), attrs: Iterable[str] | None = None) -> FieldMask:
        """The decision's field mask narrowed to ``types`` and ``attrs`` (empty: all)."""
        mask = self.decision.field_mask
        if mask is None:
            raise PolicyDenied("operation_not_allowed", "decision carries no field mask")
        wanted_types = tuple(types)
        wanted_attrs = tuple(attrs) if attrs else None
        return mask.restrict(wanted_types or None, wanted_attrs)


def filter_attributes(q: Iterable[Comparison], geo: Geo | None) -> frozenset[str]:
    """What a call filters on: its q comparisons' attributes, and the location for geo
    (``decide`` refuses those the agreement hides; ``id`` and ``type`` it ignores)."""
    names = {c.attribute for c in q}
    if geo is not None:
        names.add("location")
    return frozenset(names)


class Admission:
    """Decides, limits and audits the admission of peers' calls."""

    def __init__(self, node_id: str, agreements: AgreementBook, audit: AuditLog,
                 limits: CallLimits, clock: Clock) -> None:
        self._node_id = node_id
        self._agreements = agreements
        self._audit = audit
        self._limits = limits
        self._clock = clock

    async def admit(self, caller: VerifiedCaller, operation: Operation, request: object, *,
                    types: Iterable[str] = (), attrs: Iterable[str] = (),
                    geo: Geo | None = None, q: Iterable[Comparison] = (), purpose: str = "",
                    agreement_id: str = "", routing: Routing | None = None,
                    filters: Iterable[str] = (), label: str = "") -> Admitted:
        """Let ``request`` in or raise the refusal (audited). ``routing`` None: the call is
        not forwarded between nodes (subscribe), so there is no loop to guard. ``filters``:
        attributes the caller filters on beyond ``q`` and ``geo`` (decided like theirs).
        ``label`` names the call in the audit log when it is decided as another operation
        (a temporal query is decided as a query)."""
        # A caller whose refused calls of this minute are spent is refused before any work.
        self._limits.check_refusals(caller.member_id)
        name = label or operation.value
        digest = self._audit.digest_request(name, request)
        if routing is not None:
            await self._guard_loop(caller, name, routing, digest)
        attributes = frozenset(attrs)
        with span("policy.decide", {"renkei.operation": operation.value,
                                      "renkei.caller": caller.member_id,
                                      "renkei.purpose": purpose or None,
                                      "renkei.types": sorted(types)}) as opened:
            decision = self._agreements.as_provider.decide(PolicyRequest(
                caller=caller.member_id, operation=operation, types=frozenset(types),
                attributes=attributes or None, geo=policy_geo(geo), purpose=purpose,
                agreement_id=agreement_id or caller.agreement_id or None,
                provider=self._node_id, filters=filter_attributes(q, geo) | frozenset(filters)),
                self._clock.now())
            set_attributes(opened, {"renkei.decision": "allow" if decision.allowed else "deny",
                                      "renkei.reason": decision.reason or None,
                                      "renkei.agreement": decision.agreement_id or None})
        AGREEMENT.set(decision.agreement_id or "")  # the access line names the agreement
        if not decision.allowed:
            await self._audit.record(caller.member_id, decision.agreement_id or "",
                                     name, digest, False, decision.reason, 0)
            await self._limits.count_refusal(
                caller.member_id, self._agreements.as_provider.get(decision.agreement_id or ""))
            log.info("peer[%s] %s denied: %s", caller.member_id, operation.value,
                     decision.reason)
            decision.raise_if_denied()
        agreement = self._agreements.as_provider.get(decision.agreement_id or "")
        admitted = Admitted(caller, operation, decision, agreement, digest, name)
        if agreement is not None:
            try:
                await self._limits.before_call(caller.member_id, agreement)
            except PolicyDenied as exc:
                await self.refused(admitted, exc)
                raise
        return admitted

    async def refused(self, admitted: Admitted, exc: PolicyDenied) -> None:
        """Audit a refusal found after admission (a k-threshold or differencing check)."""
        await self._audit.record(admitted.caller.member_id, admitted.agreement_id,
                                 admitted.label or admitted.operation.value, admitted.digest,
                                 False, exc.code, 0)
        # Counted against the agreement already when it was admitted.
        await self._limits.count_refusal(admitted.caller.member_id, None)

    async def check_routing(self, caller: VerifiedCaller, operation: Operation,
                            request: object, routing: Routing) -> None:
        """The loop guard alone (``admit`` runs it first): for a call refused as malformed
        before it is decided."""
        await self._guard_loop(caller, operation.value, routing,
                               self._audit.digest_request(operation.value, request))

    async def _guard_loop(self, caller: VerifiedCaller, operation: str,
                          routing: Routing, digest: str) -> None:
        """Refuse (and audit) a request that already passed through this node or has no hop
        left."""
        if self._node_id in routing.via:
            error = LoopDetected(f"request already passed through {self._node_id} "
                                 f"(via {' > '.join(routing.via)[:512]})")
        elif routing.hops_left <= 0:
            error = LoopDetected("hop limit reached")
        else:
            return
        await self._audit.record(caller.member_id, caller.agreement_id or "", operation,
                                 digest, False, error.code, 0)
        await self._limits.count_refusal(caller.member_id, None)
        log.info("peer[%s] %s refused: %s", caller.member_id, operation, error)
        raise error
