"""What the console is built from: the node's parts it shows and changes, typed.

The composition root (``broker/node.py``) fills one ``ConsoleDeps``; nothing in ``console/``
sees the node itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from trust.clock import Clock
from trust.directory import Directory

from ..config import ConsoleConfig
from ..federation.backoff import BackoffState
from ..service.agreement_book import AgreementBook
from ..service.agreement_exchange import AgreementExchange
from ..service.audit_log import AuditLog
from ..store.base import Store


@dataclass(frozen=True)
class ConsoleDeps:
    """The node's parts the console uses."""

    node_id: str
    node_name: str
    config: ConsoleConfig
    store: Store
    clock: Clock
    directory: Callable[[], Directory]  # the signed member directory held
    agreements: AgreementBook
    exchange: AgreementExchange  # propose / countersign / revoke: the CLI's code path
    audit: AuditLog
    peer_state: Callable[[str], Awaitable[BackoffState]]  # a peer's backoff, live
    # Probe a peer now: True when it answers (its backoff is cleared), False when it does not
    # (recorded as a failure, so the page shows it backing off).
    retry_peer: Callable[[str], Awaitable[bool]]
    metrics: CollectorRegistry  # the node's Prometheus metrics (the traffic page)
