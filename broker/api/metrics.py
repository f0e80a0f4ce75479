"""Prometheus metrics of one node, in a registry of its own (several nodes share a process in
tests and in ``renkei demo``, so nothing goes to the global registry).

Request counts and latency are recorded by the middleware. Peer status comes from the
fan-out outcomes of federated reads; ingest and quarantine counts are read from the store at
scrape time; policy denials (this node refusing a peer) are counted from the audit chain,
read incrementally from the last entry seen.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from ..service.call_notes import CallRecord
from ..service.sources import OK, STATES, SourceState
from ..store.base import Store

log = logging.getLogger("renkei.api.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GRPC_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60)


class ApiMetrics:
    """The metrics a node exposes on ``/metrics``."""

    def __init__(self, node_id: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("renkei_http_requests", "NGSI-LD API requests",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("renkei_http_request_seconds", "NGSI-LD API request latency",
                                 ["method", "route"], registry=r,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5,
                                          5, 10))
        self.peer_calls = Counter("renkei_peer_calls", "Federated calls made for API reads, by "
                                  "peer and outcome", ["peer", "status"], registry=r)
        self.peer_up = Gauge("renkei_peer_up", "1 if the last federated call to the peer "
                             "succeeded", ["peer"], registry=r)
        self.peer_latency = Gauge("renkei_peer_last_call_seconds", "Duration of the last "
                                  "federated call to the peer", ["peer"], registry=r)
        self.ingest = Counter("renkei_ingest_records", "Records this node's ingests read, "
                              "mapped and quarantined, by source and outcome",
                              ["source", "outcome"], registry=r)
        self._ingested: dict[tuple[str, str], int] = {}
        calls = ["method", "peer", "code"]
        self.grpc_served = Counter("renkei_grpc_server_handled", "gRPC calls this node "
                                   "answered, by method, calling member and status code", calls,
                                   registry=r)
        self.grpc_served_seconds = Histogram("renkei_grpc_server_handling_seconds", "Time to "
                                             "answer a gRPC call (a stream: until it ended)",
                                             ["method"], registry=r, buckets=GRPC_BUCKETS)
        self.grpc_sent = Counter("renkei_grpc_server_sent_entities", "Entities this node sent "
                                 "in answers, by method and member", ["method", "peer"],
                                 registry=r)
        self.grpc_sent_bytes = Counter("renkei_grpc_server_sent_bytes", "Bytes of the answers "
                                       "this node sent", ["method", "peer"], registry=r)
        self.grpc_made = Counter("renkei_grpc_client_handled", "gRPC calls this node made to "
                                 "peers, by method, peer and status code", calls, registry=r)
        self.grpc_made_seconds = Histogram("renkei_grpc_client_handling_seconds", "Duration of "
                                           "gRPC calls this node made", ["method", "peer"],
                                           registry=r, buckets=GRPC_BUCKETS)
        self.grpc_received = Counter("renkei_grpc_client_received_entities", "Entities peers "
                                     "sent this node", ["method", "peer"], registry=r)
        # The process's own health: CPU, memory, open files, GC, Python version.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.quarantine = Gauge("renkei_quarantine_open", "Unresolved quarantined records",
                                ["source"], registry=r)
        self.denials = Counter("renkei_policy_denials", "Requests this node denied by policy, "
                               "by operation and reason", ["operation", "reason"], registry=r)
        self.api_denials = Counter("renkei_api_denials", "API requests refused (401/403), by "
                                   "reason", ["reason"], registry=r)
        self.notifications = Counter("renkei_notifications", "Subscription notifications sent",
                                     ["outcome"], registry=r)
        self.source_up = Gauge("renkei_source_up", "1 if the source's last ingest succeeded, "
                               "0 if it failed (or has not finished yet)", ["source"],
                               registry=r)
        self.source_failures = Counter("renkei_source_failed_runs", "Failed ingest runs of "
                                       "the source", ["source"], registry=r)
        self._source_failures: dict[str, int] = {}
        self.source_state = Gauge("renkei_source_state", "1 for the state the source is in "
                                  "now (pending, ingesting, paused: waiting for disk space, "
                                  "ok, failed), 0 for the others", ["source", "state"],
                                  registry=r)
        self.loop_up = Gauge("renkei_loop_up", "1 while the background loop runs (or has "
                             "finished its finite work), 0 when it failed or stopped",
                             ["loop"], registry=r)
        self.loop_failures = Counter("renkei_loop_failures", "Times the background loop "
                                     "raised (each is logged and the loop restarted)",
                                     ["loop"], registry=r)
        self._loop_failures: dict[str, int] = {}
        self.info = Gauge("renkei_node_info", "This node", ["node"], registry=r)
        self.info.labels(node_id).set(1)
        self._audit_seq = 0
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency (labelled children cached: the hot path)."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def peer_status(self, peer: str, status: str, elapsed_ms: float) -> None:
        self.peer_calls.labels(peer, status).inc()
        self.peer_up.labels(peer).set(1 if status == "ok" else 0)
        self.peer_latency.labels(peer).set(elapsed_ms / 1000)

    def grpc_call(self, call: CallRecord) -> None:
        """Count one gRPC call served or made (a ``CallObserver`` listener)."""
        # A caller that never authenticated is named by its address: not a label value.
        peer = call.peer if ":" not in call.peer else "unauthenticated"
        if call.side == "served":
            self.grpc_served.labels(call.method, peer, call.status).inc()
            self.grpc_served_seconds.labels(call.method).observe(call.seconds)
            if call.entities:
                self.grpc_sent.labels(call.method, peer).inc(call.entities)
            if call.bytes:
                self.grpc_sent_bytes.labels(call.method, peer).inc(call.bytes)
        else:
            self.grpc_made.labels(call.method, peer, call.status).inc()
            self.grpc_made_seconds.labels(call.method, peer).observe(call.seconds)
            if call.entities:
                self.grpc_received.labels(call.method, peer).inc(call.entities)

    def sources(self, states: Sequence[SourceState]) -> None:
        """Copy the node's source states (called at scrape time)."""
        for state in states:
            self.source_up.labels(state.name).set(1 if state.state == OK else 0)
            for outcome, total in (("read", state.total_read), ("mapped", state.total_mapped),
                                   ("quarantined", state.total_quarantined)):
                seen = self._ingested.get((state.name, outcome), 0)
                if total > seen:
                    self.ingest.labels(state.name, outcome).inc(total - seen)
                    self._ingested[state.name, outcome] = total
            counted = self._source_failures.get(state.name, 0)
            if state.failures > counted:
                self.source_failures.labels(state.name).inc(state.failures - counted)
                self._source_failures[state.name] = state.failures
            for name in STATES:
                self.source_state.labels(state.name, name).set(1 if state.state == name else 0)

    def loops(self, report: Mapping[str, Mapping[str, Any]]) -> None:
        """Copy the supervised loops' states (``Loops.report()``, called at scrape time)."""
        for name, status in report.items():
            self.loop_up.labels(name).set(1 if status["state"] in ("running", "done") else 0)
            failures = int(status["failures"])
            counted = self._loop_failures.get(name, 0)
            self.loop_failures.labels(name)  # the series exists (at 0) before any failure
            if failures > counted:
                self.loop_failures.labels(name).inc(failures - counted)
                self._loop_failures[name] = failures

    async def refresh(self, store: Store) -> None:
        """Update the gauges read from the store (called at scrape time)."""
        try:
            open_by_source: dict[str, int] = {}
            for q in await store.list_quarantine(limit=100_000):
                open_by_source[q.source] = open_by_source.get(q.source, 0) + 1
            for source, n in open_by_source.items():
                self.quarantine.labels(source).set(n)
            while True:
                rows = await store.audit_rows(self._audit_seq, 1000)
                for row in rows:
                    self._audit_seq = row.seq
                    entry = _audit_entry(row.body)
                    if entry.get("decision") == "deny":
                        self.denials.labels(str(entry.get("operation", "")),
                                            str(entry.get("reason", ""))).inc()
                if len(rows) < 1000:
                    break
        except Exception:  # a scrape must still answer with what it has
            log.exception("metrics refresh from the store failed")

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _audit_entry(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(doc, dict) and isinstance(doc.get("record"), dict):
        record: dict[str, Any] = doc["record"]
        return record
    return doc if isinstance(doc, dict) else {}
