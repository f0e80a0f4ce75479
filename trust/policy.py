"""The policy decision: a pure function of a request, the active agreements and the time.

``decide(request, agreements, now)`` does no I/O and evaluates no expression strings. The caller
passes only agreements whose signatures verified (``agreement_state(...) == "active"``);
``decide`` still checks everything an agreement constrains, in this order, and the first
failing check denies (deny overrides: no other agreement can widen a denial):

1. which agreement governs: the one the token named (``agreement_id``; it must belong to this
   caller and provider) or else the caller's only agreement for this purpose and these types
   that is inside its validity window — several candidates is ``agreement_ambiguous``;
2. validity window → ``agreement_not_active``;
3. operation → ``operation_not_allowed``; purpose → ``purpose_not_allowed``;
4. types → ``type_not_allowed``;
5. a raw operation (query, get, subscribe) under ``aggregate_only`` → ``aggregate_only``;
6. attributes asked for explicitly must be allowed for at least one requested type →
   ``field_not_allowed`` (no attributes: the agreement's mask applies);
7. a geographic filter entirely outside the agreed area → ``outside_area``;
8. attributes the call filters on (``filters``: its q comparisons, ``location`` for a
   geographic filter) must be visible for every requested type (no types: every type the
   agreement shares) → ``field_not_allowed``: the answer's size would otherwise tell the
   caller what it may not see (``telephone=="0767-..."`` → one entity or none).

Speed: :class:`AgreementSet` compiles each agreement once (type sets, masks, obligations and
the common "allowed" decision are precomputed), so a decision is a few dict and set lookups.
Build the set when agreements change, not per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from trust.agreement_model import RAW_OPERATIONS, Agreement, RateLimits
from trust.agreements import SignedAgreement, agreement_state
from trust.directory import Directory
from trust.enforce import FieldMask
from trust.errors import PolicyDenied
from trust.geo import Area, GeoFilter, Near, Within

__all__ = [
    "AgreementSet",
    "Decision",
    "Near",
    "Obligations",
    "Operation",
    "PolicyRequest",
    "Within",
    "decide",
]


class Operation(StrEnum):
    QUERY = "query"
    GET = "get"
    AGGREGATE = "aggregate"
    SUBSCRIBE = "subscribe"
    CATALOG = "catalog"


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """What the caller asks for. ``types`` empty means every type the agreement shares;
    ``attributes`` None means no explicit projection. ``filters`` names the attributes the
    call filters on (``id`` and ``type`` are no attributes and are ignored). ``provider`` is
    this node's member id: when given, agreements with another provider never apply."""

    caller: str
    operation: Operation
    types: frozenset[str] = frozenset()
    attributes: frozenset[str] | None = None
    geo: GeoFilter | None = None
    purpose: str = ""
    agreement_id: str | None = None
    provider: str | None = None
    filters: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "operation", Operation(self.operation))
        if not isinstance(self.types, frozenset):
            object.__setattr__(self, "types", frozenset(self.types))
        if self.attributes is not None and not isinstance(self.attributes, frozenset):
            object.__setattr__(self, "attributes", frozenset(self.attributes))
        if not isinstance(self.filters, frozenset):
            object.__setattr__(self, "filters", frozenset(self.filters))


@dataclass(frozen=True, slots=True)
class Obligations:
    """What the provider must enforce on results and the consumer must honour."""

    aggregate_only: bool
    k_threshold: int
    rate_limits: RateLimits
    retention_days: int
    freshness_seconds: int
    onward_sharing: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome. ``reason`` is ``"allowed"`` or a ``PolicyDenied`` code."""

    allowed: bool
    reason: str
    message: str
    agreement_id: str | None = None
    field_mask: FieldMask | None = None
    area: Area | None = None
    obligations: Obligations | None = None

    def raise_if_denied(self) -> None:
        """Raise the matching ``PolicyDenied`` if the decision is a denial."""
        if not self.allowed:
            raise PolicyDenied(self.reason, self.message)


# Filters on these select entities by what every caller sees anyway: they are no attributes.
_NOT_ATTRIBUTES = frozenset({"id", "type"})


def _deny(reason: str, message: str, agreement_id: str | None = None) -> Decision:
    return Decision(False, reason, message, agreement_id)


class _Rule:
    """One agreement compiled for fast decisions."""

    __slots__ = ("agreement", "id", "consumer", "provider", "purpose", "types", "operations",
                 "not_before", "not_after", "attrs", "union_attrs", "mask", "area",
                 "aggregate_only", "obligations", "allowed")

    def __init__(self, agreement: Agreement) -> None:
        self.agreement = agreement
        self.id = agreement.id
        self.consumer = agreement.consumer
        self.provider = agreement.provider
        self.purpose = agreement.purpose
        self.types = agreement.entity_types
        self.operations = frozenset(Operation(o) for o in agreement.operations)
        self.not_before = agreement.not_before
        self.not_after = agreement.not_after
        self.attrs = dict(agreement.attributes)
        self.union_attrs = frozenset().union(*self.attrs.values())
        self.mask = FieldMask(self.attrs)
        self.area = agreement.area
        self.aggregate_only = agreement.aggregate_only
        self.obligations = Obligations(
            aggregate_only=agreement.aggregate_only,
            k_threshold=agreement.k_threshold,
            rate_limits=agreement.rate_limits,
            retention_days=agreement.retention_days,
            freshness_seconds=agreement.freshness_seconds,
            onward_sharing=agreement.onward_sharing,
        )
        self.allowed = Decision(True, "allowed", "allowed", self.id, self.mask, self.area,
                                self.obligations)

    def in_window(self, now: float) -> bool:
        return self.not_before <= now <= self.not_after

    def evaluate(self, request: PolicyRequest, now: float) -> Decision:
        if not self.not_before <= now <= self.not_after:
            return _deny("agreement_not_active",
                         f"agreement {self.id} is not in its validity period", self.id)
        operation = request.operation
        if operation not in self.operations:
            return _deny("operation_not_allowed",
                         f"operation {operation.value} is not allowed by {self.id}", self.id)
        if request.purpose != self.purpose:
            return _deny("purpose_not_allowed",
                         f"purpose {request.purpose[:64]!r} is not allowed by {self.id}", self.id)
        types = request.types
        if types and not types <= self.types:
            bad = sorted(types - self.types)[0]
            return _deny("type_not_allowed",
                         f"type {bad[:64]!r} is not allowed by {self.id}", self.id)
        if self.aggregate_only and operation in RAW_OPERATIONS:
            return _deny("aggregate_only",
                         f"agreement {self.id} allows aggregate queries only", self.id)
        attributes = request.attributes
        if attributes is not None:
            allowed = self._allowed_for(types)
            if not attributes <= allowed:
                bad = sorted(attributes - allowed)[0]
                return _deny("field_not_allowed",
                             f"attribute {bad[:64]!r} is not allowed by {self.id}", self.id)
        geo = request.geo
        if geo is not None and self.area is not None and not geo.overlaps(self.area):
            return _deny("outside_area",
                         f"geographic filter is outside the area of {self.id}", self.id)
        if request.filters:
            hidden = self._hidden_filter(types, request.filters)
            if hidden is not None:
                return _deny("field_not_allowed",
                             f"cannot filter on {hidden[:64]!r}: not allowed by {self.id}",
                             self.id)
        if attributes is None:
            return self.allowed
        mask = self.mask.restrict(types or None, attributes)
        return Decision(True, "allowed", "allowed", self.id, mask, self.area, self.obligations)

    def _hidden_filter(self, types: frozenset[str], filters: frozenset[str]) -> str | None:
        """The first filtered attribute some requested type does not show, if any."""
        wanted = filters - _NOT_ATTRIBUTES
        for entity_type in sorted(types or self.types):
            hidden = wanted - self.attrs.get(entity_type, frozenset())
            if hidden:
                return sorted(hidden)[0]
        return None

    def _allowed_for(self, types: frozenset[str]) -> frozenset[str]:
        if not types or types == self.types:
            return self.union_attrs
        if len(types) == 1:
            return self.attrs[next(iter(types))]
        return frozenset().union(*(self.attrs[t] for t in types))


class AgreementSet:
    """Active agreements indexed for :func:`decide`. Immutable; rebuild when agreements change."""

    __slots__ = ("_by_id", "_by_consumer")

    def __init__(self, agreements: Iterable[Agreement]) -> None:
        self._by_id: dict[str, _Rule] = {}
        by_consumer: dict[str, list[_Rule]] = {}
        for agreement in agreements:
            if agreement.id in self._by_id:
                raise ValueError(f"duplicate agreement id {agreement.id}")
            rule = _Rule(agreement)
            self._by_id[agreement.id] = rule
            by_consumer.setdefault(agreement.consumer, []).append(rule)
        self._by_consumer = {c: tuple(sorted(rs, key=lambda r: r.id))
                             for c, rs in by_consumer.items()}

    @classmethod
    def active(cls, signed: Iterable[SignedAgreement], directory: Directory,
               now: float) -> AgreementSet:
        """The set of agreements whose state is ``active`` at ``now`` (both signatures verify).

        This is the filter ``decide`` relies on its caller to apply; rebuild the set when
        agreements, the directory version or the day changes.
        """
        return cls(s.agreement for s in signed if agreement_state(s, directory, now) == "active")

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, agreement_id: str) -> Agreement | None:
        rule = self._by_id.get(agreement_id)
        return rule.agreement if rule is not None else None

    def decide(self, request: PolicyRequest, now: float) -> Decision:
        """See :func:`decide`."""
        caller, provider = request.caller, request.provider
        if request.agreement_id is not None:
            rule = self._by_id.get(request.agreement_id)
            if (rule is None or rule.consumer != caller
                    or (provider is not None and rule.provider != provider)):
                # Same answer whether the agreement exists or belongs to someone else.
                return _deny("no_agreement",
                             f"no agreement {request.agreement_id[:128]!r} for this caller")
            return rule.evaluate(request, now)
        rules = self._by_consumer.get(caller, ())
        if provider is not None:
            rules = tuple(r for r in rules if r.provider == provider)
        if not rules:
            return _deny("no_agreement", "no agreement covers this caller")
        for_purpose = [r for r in rules if r.purpose == request.purpose]
        if not for_purpose:
            return _deny("purpose_not_allowed",
                         f"no agreement for purpose {request.purpose[:64]!r}")
        types = request.types
        covering = [r for r in for_purpose if types <= r.types] if types else for_purpose
        if not covering:
            return for_purpose[0].evaluate(request, now)  # reports the type it refuses
        current = [r for r in covering if r.in_window(now)]
        if len(current) > 1:
            return _deny("agreement_ambiguous",
                         "several agreements apply; name one in the token (claim 'agr')")
        return (current or covering)[0].evaluate(request, now)


def decide(request: PolicyRequest, agreements: AgreementSet | Iterable[Agreement],
           now: float) -> Decision:
    """Decide ``request`` against the active ``agreements`` at time ``now`` (pure).

    Pass an :class:`AgreementSet` on hot paths; a plain iterable is compiled on every call.
    """
    index = agreements if isinstance(agreements, AgreementSet) else AgreementSet(agreements)
    return index.decide(request, now)
