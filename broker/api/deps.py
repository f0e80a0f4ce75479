"""What the NGSI-LD API is built from: the parts of a node it uses, typed, and nothing else.

The composition root (``broker/node.py``) fills one ``ApiDeps``; ``app.build_api`` makes the
routes' objects from it. Nothing in ``api/`` sees the node itself, so what a route can reach
is what is listed here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from trust.agreement_model import Agreement
from trust.clock import Clock

from ..config import HttpConfig, TemporalConfig
from ..ngsi.scope import Federation
from ..service.call_notes import CallRecord
from ..service.changes import ChangeSignal
from ..service.filters import Comparison
from ..service.loops import Loops
from ..service.sources import SourceBoard
from ..store.base import Store
from ..telemetry.tracing import Telemetry
from .metrics import ApiMetrics


class PeerChange(Protocol):
    """One change of a peer's entity, as a federated subscription delivers it."""

    @property
    def kind(self) -> str: ...  # created | updated | deleted

    @property
    def entity_id(self) -> str: ...

    @property
    def entity(self) -> bytes: ...  # compact JSON, stored names; empty for deletions


class ChangeFeed(Protocol):
    """Changes of ``types`` from the peers that share them for ``purpose`` (``q``: only those
    matching); ``name`` keeps the feed's cursors apart from other feeds' (see
    ``Node.federated_changes``); ``usable``: only agreements it accepts (the subscription
    owner's bindings and onward sharing)."""

    def __call__(self, types: Sequence[str], q: Sequence[Comparison] = (), purpose: str = "",
                 *, name: str = "", usable: Callable[[Agreement], bool] | None = None
                 ) -> AsyncIterator[PeerChange]: ...


@dataclass(frozen=True)
class ApiDeps:
    """The node's parts the API uses."""

    node_id: str
    http: HttpConfig
    contexts: Mapping[str, Path]  # operator-registered local copies of @contexts
    store: Store
    clock: Clock
    changes: ChangeSignal  # woken by every local write: the notifier waits on it
    directory_version: Callable[[], int]  # of the member directory held (for /health)
    federation: Federation  # for federated reads
    loops: Loops  # the node's supervised background loops (their states in /health)
    temporal: TemporalConfig  # entity history limits for the temporal API
    sources: SourceBoard  # the state of each [[sources]] ingest (for /health and /metrics)
    telemetry: Telemetry | None = None  # the node's tracer: a span per request when on
    federated_changes: ChangeFeed | None = None  # None: subscriptions see local changes only
    # Registers a listener for every gRPC call this node serves and makes (its metrics);
    # None: the API's /metrics has no gRPC series.
    watch_calls: Callable[[Callable[[CallRecord], None]], None] | None = None
    metrics: ApiMetrics | None = None  # the node's (the console reads them too); None: new
