"""Transport-free request and result types of the federation services.

The gRPC codec converts protobuf messages to and from these; the NGSI-LD API builds them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .filters import Comparison, Geo


@dataclass(frozen=True)
class Routing:
    """Loop guard carried by every request: the members it passed through and hops left.

    A node that asks its own peers on behalf of a caller adds itself to ``via`` and spends one
    hop (``forwarded_by``); a node refuses a request that already passed through it, or that
    has no hop left, with ``loop_detected``.
    """

    via: tuple[str, ...] = ()
    hops_left: int = 3

    @classmethod
    def origin(cls, node_id: str, hop_limit: int) -> Routing:
        """A request this node starts: only itself in ``via``, the full hop budget."""
        return cls((node_id,), hop_limit)

    def forwarded_by(self, node_id: str) -> Routing:
        """The routing of this request as ``node_id`` passes it on to its own peers."""
        return Routing(self.via + (node_id,), self.hops_left - 1)


@dataclass(frozen=True)
class FederatedQuery:
    types: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    id_pattern: str = ""
    attrs: tuple[str, ...] = ()
    q: tuple[Comparison, ...] = ()
    geo: Geo | None = None
    limit: int = 0
    page_token: str = ""
    purpose: str = ""
    agreement_id: str = ""
    routing: Routing = field(default_factory=Routing)
    # What the consumer filters on beyond ``q``/``geo`` (checked by the policy like them).
    filter_attrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemporalQuery(FederatedQuery):
    """A federated query for entity history: the entity selection of ``FederatedQuery``
    (``attrs``: the attributes whose instances are wanted) and a time window (ETSI GS CIM
    009 4.11; epoch seconds). Decided by the provider exactly as a query."""

    timerel: str = ""  # "", before, after, between
    time_at: float | None = None
    end_time_at: float | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None


@dataclass(frozen=True)
class GetRequest:
    id: str
    attrs: tuple[str, ...] = ()
    purpose: str = ""
    agreement_id: str = ""
    routing: Routing = field(default_factory=Routing)


@dataclass(frozen=True)
class AggregateQuery:
    types: tuple[str, ...]
    attribute: str = ""
    functions: tuple[str, ...] = ("count",)
    group_by: str = ""
    by_city: bool = False
    q: tuple[Comparison, ...] = ()
    geo: Geo | None = None
    purpose: str = ""
    agreement_id: str = ""
    routing: Routing = field(default_factory=Routing)


@dataclass(frozen=True)
class AggregateGroup:
    """Partial aggregate of one group: merge by adding counts and sums, never averages."""

    key: str
    count: int = 0
    sum: float = 0.0
    min: float | None = None
    max: float | None = None
    value_count: int = 0
    suppressed: bool = False

    @property
    def avg(self) -> float | None:
        if self.suppressed or not self.value_count:
            return None
        return self.sum / self.value_count


@dataclass(frozen=True)
class AggregateResult:
    provider: str
    groups: tuple[AggregateGroup, ...]
    receipt: str = ""


@dataclass(frozen=True)
class QuerySummary:
    count: int
    next_page_token: str = ""
    receipt: str = ""


@dataclass(frozen=True)
class EntityBatch:
    entities: tuple[bytes, ...]


@dataclass(frozen=True)
class EntityResult:
    entity: bytes
    receipt: str = ""


@dataclass(frozen=True)
class SubscribeRequest:
    types: tuple[str, ...] = ()
    q: tuple[Comparison, ...] = ()
    geo: Geo | None = None
    after_cursor: int = 0
    purpose: str = ""
    agreement_id: str = ""
    heartbeat_seconds: int = 15
    from_now: bool = False
    # The subscriber treats cursors as opaque tokens (sends back the last, compares none):
    # every subscriber of this version does; the wire default (false) is an older one.
    opaque_cursors: bool = True


@dataclass(frozen=True)
class ChangeEvent:
    kind: str  # created | updated | deleted | heartbeat
    cursor: int
    entity_id: str = ""
    entity: bytes = b""
    content_hash: str = ""


@dataclass(frozen=True)
class CatalogDataset:
    identifier: str
    title: str
    description: str
    publisher: str
    license: str
    entity_type: str
    attributes: tuple[str, ...]
    spatial: dict[str, object] | None
    entity_count: int
    accrual_periodicity: str
    modified: str
    agreement_id: str
    aggregate_only: bool


@dataclass(frozen=True)
class CatalogOffer:
    """What a provider publishes to any member (from its configuration, never its data): an
    entity type and the attributes its rules produce (empty: passed through, any)."""

    entity_type: str
    attributes: tuple[str, ...]
    license: str
    publisher: str


@dataclass(frozen=True)
class Catalog:
    provider: str
    datasets: tuple[CatalogDataset, ...]
    offers: tuple[CatalogOffer, ...] = ()


@dataclass(frozen=True)
class AgreementMessage:
    """An agreement on the wire: canonical document bytes plus signatures by member id."""

    document: bytes
    signatures: dict[str, str]
    state: str = ""
