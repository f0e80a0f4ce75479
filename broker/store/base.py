"""The store interface every backend implements (SQLite by default, PostgreSQL for replicas).

One interface covers what a node persists: entities and their change feed, ingest runs with
their source positions and quarantine, the audit chain and its checkpoints, the token replay
cache and rate-limit counters, agreements, the directory cache, small named state (subscription
cursors, per-peer backoff), HTTP API clients and NGSI-LD subscriptions.

Entities are stored as the compact JSON bytes of the normalized NGSI-LD entity (no @context),
with a content hash so that re-ingesting the same record is a no-op, and a bounding box so that
geo queries can use an index before the exact geometry check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

BBox = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat


@dataclass(frozen=True)
class EntityWrite:
    """An entity to create or upsert: its compact JSON bytes plus what the index needs.

    ``type`` is the first type; ``more_types`` the others of a multi-typed entity (the type
    index holds them all)."""

    id: str
    type: str
    doc: bytes
    content_hash: str
    bbox: BBox | None = None
    more_types: tuple[str, ...] = ()

    @property
    def types(self) -> tuple[str, ...]:
        return (self.type, *self.more_types)


@dataclass(frozen=True)
class StoredEntity:
    id: str
    type: str  # the first type (a multi-typed entity's others are in ``doc``)
    doc: bytes
    content_hash: str
    created_at: float
    modified_at: float
    bbox: BBox | None = None


@dataclass(frozen=True)
class EntityFilter:
    """What the store can filter by index; finer filters (q, exact geometry) run above it."""

    types: tuple[str, ...] = ()  # entities having any of these among their types
    ids: tuple[str, ...] = ()
    id_prefix: str = ""
    bbox: BBox | None = None
    after_id: str = ""


@dataclass(frozen=True)
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(self.created + other.created, self.updated + other.updated,
                            self.unchanged + other.unchanged)


@dataclass(frozen=True)
class Change:
    """One entry of the change feed; ``cursor`` only grows.

    ``doc`` is the entity's current state for created/updated (``None`` if deleted since); for
    a deletion it is the last state before it, so that a subscription can tell whether it was
    allowed to see the entity at all. ``prev_doc`` is, for an update, the state just before it,
    so that a subscription can tell whether what its caller may see changed. Both are for
    policy checks only, never sent on.
    """

    cursor: int
    kind: str  # created | updated | deleted
    entity_id: str
    entity_type: str  # the first type (``changes_after`` by types also returns every change
    # of a multi-typed entity: the reader checks its types in ``doc``)
    content_hash: str
    doc: bytes | None
    prev_doc: bytes | None = None


@dataclass(frozen=True)
class QuarantineRecord:
    source: str
    file: str
    row: int
    column: str
    raw_value: str
    code: str
    message: str
    record: dict[str, Any] = field(default_factory=dict)
    id: int = 0
    run_id: int = 0
    resolved: bool = False


@dataclass(frozen=True)
class IngestRun:
    id: int
    source: str
    file: str
    started_at: float
    finished_at: float | None
    read: int
    mapped: int
    quarantined: int
    created: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class AuditRow:
    """A stored audit entry: the canonical entry bytes and the two hashes that chain it."""

    seq: int
    prev_hash: str
    entry_hash: str
    body: bytes
    # The log's Merkle tree root just after this entry, when the append just computed it.
    tree_root: bytes | None = None


@dataclass(frozen=True)
class Release:
    """What one aggregate releases to ``caller``: each group's members as sorted 8-byte keyed
    hashes, kept until ``expires_at``; remembered groups of ``min_size``..``max_size`` members
    are the ones a differencing check must see."""

    caller: str
    agreement_id: str
    groups: Sequence[bytes]
    now: float
    expires_at: float
    min_size: int
    max_size: int
    max_groups: int


@dataclass(frozen=True)
class AgreementRow:
    id: str
    provider: str
    consumer: str
    document: bytes
    signatures: dict[str, str]
    revocation: str | None
    updated_at: float
    # Why the store could not read the row as written (empty: it could): the book shows the
    # row as damaged instead of failing on it.
    damage: str = ""


@dataclass(frozen=True)
class OperatorRow:
    """An operator account of the console (not an API client)."""

    name: str
    role: str  # viewer | admin
    password_hash: str
    created_at: float


@dataclass(frozen=True)
class CSourceRow:
    """A context source registration as stored: ``doc`` is its JSON in stored names."""

    owner: str
    id: str
    doc: bytes
    created_at: float
    modified_at: float
    expires_at: float | None


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in console session; ``token_hash`` is the SHA-256 of the cookie's value."""

    token_hash: str
    operator: str
    csrf: str
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class TemporalEntityWrite:
    """The entity part of a temporal representation: its id, first type (indexed) and
    ``doc``, the JSON of its ``type`` (one name or a list) and ``scope``."""

    id: str
    type: str
    doc: bytes


@dataclass(frozen=True)
class InstanceWrite:
    """One attribute instance to record: ``doc`` is the instance's JSON without instanceId
    and system times; times are Unix seconds."""

    instance_id: str
    attr: str
    dataset_id: str  # "" for the default instance
    doc: bytes
    observed_at: float | None
    deleted_at: float | None = None


@dataclass(frozen=True)
class TemporalEntityRow:
    id: str
    type: str
    doc: bytes
    created_at: float
    modified_at: float


@dataclass(frozen=True)
class StoredInstance:
    instance_id: str
    entity_id: str
    attr: str
    dataset_id: str
    doc: bytes
    observed_at: float | None
    created_at: float
    modified_at: float
    deleted_at: float | None


#: Temporal properties an instance window can be taken on, and their columns.
TIME_COLUMNS = {"observedAt": "observed_at", "createdAt": "created_at",
                "modifiedAt": "modified_at", "deletedAt": "deleted_at"}


@dataclass(frozen=True)
class InstanceWindow:
    """Which instances of one temporal entity to read, in the store's terms.

    Instances without a value for ``timeproperty`` are left out (one without observedAt is
    placed at its createdAt for ``observedAt``); deleted ones (a
    ``deletedAt``) only come with ``timeproperty="deletedAt"``. ``start`` is inclusive,
    ``end`` exclusive. ``last_n`` keeps the newest n of each attribute; rows then come in
    time order (``descending``: newest first), at most ``limit`` of them.
    """

    attrs: tuple[str, ...] = ()
    dataset_ids: tuple[str, ...] | None = None  # None: every instance; "" is the default
    timeproperty: str = "observedAt"
    start: float | None = None
    end: float | None = None
    last_n: int | None = None
    descending: bool = False
    limit: int = 1000


# Builds the audit entry for the given (seq, prev_hash) and returns (entry_hash, body).
AuditBuilder = Callable[[int, str], tuple[str, bytes]]
# A perfect subtree of the audit log's Merkle tree: (level, index), as in trust.merkle.
NodeAddress = tuple[int, int]


class DocPages(Protocol):
    """An optional fast path a store may offer (SQLite does): one page of matches as the
    stored bytes, in id order, with nothing decoded. The NGSI-LD API's type pages use it when
    present and fall back to ``scan_entities`` otherwise."""

    async def scan_docs(self, flt: EntityFilter, limit: int, offset: int = 0) -> list[bytes]:
        ...


class Store(Protocol):
    """Persistence of one node. Every method is safe to call concurrently."""

    async def open(self) -> None:
        """Connect and apply pending migrations."""

    async def close(self) -> None: ...

    # -- entities ---------------------------------------------------------------------------
    async def upsert_entities(self, writes: Sequence[EntityWrite], now: float) -> UpsertCounts:
        """Insert or replace by id; an unchanged content hash is a no-op (no change event)."""

    async def create_entity(self, write: EntityWrite, now: float) -> None:
        """Insert; raise ``AlreadyExists`` when the id is taken."""

    async def delete_entity(self, entity_id: str, now: float) -> bool: ...

    async def get_entity(self, entity_id: str) -> StoredEntity | None: ...

    def scan_entities(self, flt: EntityFilter, chunk: int = 500) -> AsyncIterator[StoredEntity]:
        """Entities matching ``flt`` in id order, fetched in chunks (constant memory)."""

    async def count_entities(self, types: Sequence[str] = ()) -> int:
        """Entities having any of ``types`` (all entities without)."""

    async def entity_types(self) -> dict[str, int]:
        """Each type and how many entities have it (a multi-typed entity counts for each)."""

    async def changes_after(self, cursor: int, types: Sequence[str] = (),
                            limit: int = 500) -> list[Change]: ...

    async def last_change_cursor(self) -> int: ...

    # -- ingest -----------------------------------------------------------------------------
    async def start_run(self, source: str, file: str, now: float) -> int: ...

    async def commit_batch(self, run_id: int, source: str, writes: Sequence[EntityWrite],
                           quarantine: Sequence[QuarantineRecord], position: str | None,
                           read: int, now: float) -> UpsertCounts:
        """Atomically upsert entities, add quarantine entries, advance the source position."""

    async def finish_run(self, run_id: int, now: float) -> IngestRun: ...

    async def source_position(self, source: str) -> str | None: ...

    async def reset_source_position(self, source: str) -> None: ...

    async def list_runs(self, limit: int = 50) -> list[IngestRun]: ...

    async def list_quarantine(self, source: str | None = None,
                              include_resolved: bool = False,
                              limit: int = 1000) -> list[QuarantineRecord]: ...

    async def resolve_quarantine(self, ids: Sequence[int], now: float) -> None: ...

    # -- audit ------------------------------------------------------------------------------
    async def append_audit(self, build: AuditBuilder) -> AuditRow:
        """Append one entry; appends are serialized so the chain stays linear."""

    async def audit_rows(self, after_seq: int = 0, limit: int = 10_000) -> list[AuditRow]: ...

    async def audit_head(self) -> AuditRow | None: ...

    async def add_checkpoint(self, seq: int, jws: str, now: float) -> None:
        """Keep a legacy JWS checkpoint (logs before the Merkle tree; read-only since)."""

    async def checkpoints(self) -> list[tuple[int, str]]:
        """Legacy JWS checkpoints, by seq."""

    async def sync_audit_tree(self) -> int:
        """Bring the tree nodes up to the newest entry (appends do it themselves; a log begun
        before the tree catches up here); returns the tree size."""

    async def audit_nodes(self, addresses: Sequence[NodeAddress]) -> dict[NodeAddress, bytes]:
        """The stored tree nodes among ``addresses`` (absent ones are left out)."""

    async def add_tree_head(self, size: int, note: str, now: float) -> bool:
        """Keep the log's signed checkpoint of ``size``; False if one is held already."""

    async def tree_heads(self) -> list[tuple[int, str]]:
        """The log's own signed checkpoints (size, note text), smallest first."""

    async def add_cosigned(self, size: int, witness: str, note: str, now: float) -> None:
        """Keep a checkpoint of this log as ``witness`` cosigned it."""

    async def cosigned(self) -> list[tuple[int, str, str]]:
        """Cosigned checkpoints of this log: (size, witness, note), by size then witness."""

    async def witness_head(self, origin: str) -> tuple[int, bytes] | None:
        """As a witness: the (size, root) last cosigned for log ``origin``."""

    async def witness_advance(self, origin: str, known: tuple[int, bytes] | None, size: int,
                              root: bytes, note: str, now: float) -> bool:
        """As a witness: record the cosigned ``note`` at (size, root) if the head is still
        ``known`` (compare-and-set, so two concurrent requests cannot both pass one check)."""

    async def witness_cosigned(self, origin: str, min_size: int = 0,
                               limit: int = 100) -> list[tuple[int, str]]:
        """As a witness: what it cosigned for ``origin`` (size, note), smallest first."""

    # -- entity history (NGSI-LD temporal API) ---------------------------------------------
    async def record_temporal(self, entity: TemporalEntityWrite,
                              instances: Sequence[InstanceWrite], now: float) -> bool:
        """Create or touch the temporal entity and add instances; True if it was new. An
        instance with the ``observed_at`` of one held for the same attribute and datasetId
        replaces that one's doc (same instanceId and createdAt): the same observation again."""

    async def temporal_entity(self, entity_id: str) -> TemporalEntityRow | None: ...

    async def scan_temporal(self, flt: EntityFilter, limit: int) -> list[TemporalEntityRow]:
        """Temporal entities after ``flt.after_id`` in id order (types, ids, id prefix)."""

    async def temporal_instances(self, entity_id: str,
                                 window: InstanceWindow) -> list[StoredInstance]: ...

    async def delete_temporal(self, entity_id: str) -> bool:
        """Delete the temporal entity and all its instances."""

    async def delete_instances(self, entity_id: str, attr: str, *, dataset_id: str | None,
                               every_dataset: bool) -> int:
        """Delete the instances of one attribute: of the default instance (dataset_id None),
        of one datasetId, or of all of them; returns how many."""

    async def delete_instance(self, entity_id: str, attr: str, instance_id: str) -> bool: ...

    async def replace_instance(self, entity_id: str, attr: str, instance_id: str, doc: bytes,
                               observed_at: float | None, now: float) -> bool: ...

    async def prune_temporal(self, before: float, *, types: Sequence[str] = (),
                             except_types: Sequence[str] = ()) -> int:
        """Delete instances created before ``before`` (of ``types`` only, or of every type
        but ``except_types``); returns how many."""

    # -- replay cache and counters ----------------------------------------------------------
    async def remember_jti(self, jti: str, issuer: str, binding: str | None,
                           expires_at: float, now: float) -> bool:
        """True if the jti is new, or was first seen with the same (non-empty) binding."""

    async def increment_counter(self, key: str, window: int, amount: int) -> int: ...

    async def release_groups(self, release: Release,
                             check: Callable[[Sequence[bytes]], None]) -> bool:
        """The differencing guard's remembering step: ``check`` sees the consumer's remembered
        groups (it raises to refuse: nothing written), then the release is kept. One
        transaction serialized per consumer across replicas; False when the consumer would
        hold more than ``release.max_groups`` groups (nothing written)."""
        ...

    # -- agreements and directory -----------------------------------------------------------
    async def put_agreement(self, row: AgreementRow) -> None: ...

    async def get_agreement(self, agreement_id: str) -> AgreementRow | None: ...

    async def list_agreements(self) -> list[AgreementRow]: ...

    async def put_directory(self, version: int, jws: str, now: float) -> None: ...

    async def latest_directory(self) -> tuple[int, str] | None: ...

    async def delete_directory(self, version: int) -> bool:
        """Forget the kept copy of ``version`` (a damaged one); False if none was kept."""
        ...

    # -- console operators and their sessions ----------------------------------------------
    async def add_operator(self, row: OperatorRow) -> None:
        """Raises ``AlreadyExists`` when an operator of that name exists."""

    async def get_operator(self, name: str) -> OperatorRow | None: ...

    async def list_operators(self) -> list[OperatorRow]: ...

    async def delete_operator(self, name: str) -> bool:
        """Remove the operator and end its sessions; False when there was none."""

    async def add_session(self, session: ConsoleSession) -> None:
        """Keep a new session (and forget the expired ones)."""

    async def get_session(self, token_hash: str, now: float) -> ConsoleSession | None:
        """The session, unless it is unknown or expired at ``now``."""

    async def delete_session(self, token_hash: str) -> None: ...

    # -- context source registrations (per owning client) ----------------------------------
    async def add_csource(self, row: CSourceRow) -> None:
        """Keep a new registration; AlreadyExists when its owner holds one with that id."""

    async def get_csource(self, owner: str, reg_id: str) -> CSourceRow | None: ...

    async def list_csources(self, owner: str) -> list[CSourceRow]:
        """The owner's registrations, by id."""

    async def replace_csource(self, row: CSourceRow) -> bool:
        """Replace doc, modified_at and expires_at of the owner's registration (created_at
        stays); False when there is none."""

    async def delete_csource(self, owner: str, reg_id: str) -> bool: ...

    # -- small named state (cursors, backoff, client credentials, subscriptions) ------------
    async def get_state(self, namespace: str, key: str) -> Any | None: ...

    async def put_state(self, namespace: str, key: str, value: Any) -> None: ...

    async def claim_state(self, namespace: str, key: str, value: Any) -> Any:
        """Store ``value`` unless the key holds one already; return the value that holds.

        Replicas starting together agree on one value (the first write wins)."""

    async def delete_state(self, namespace: str, key: str) -> bool: ...

    async def list_state(self, namespace: str) -> dict[str, Any]: ...

    # -- change notifications (optional) ----------------------------------------------------
    async def listen_changes(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(topic)`` on the event loop after a change commits in any process
        sharing this store, this one included (topics: ``entities``, ``agreements``).

        Optional: a node calls it only when the backend has it. It only wakes waiters sooner;
        subscription streams still read the change feed from their own cursor, so a missed
        notification delays a change but never loses it. SQLite (one process) does nothing.
        """
