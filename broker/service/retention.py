"""Temporal retention: attribute instances older than their type's retention are deleted.

``[temporal] retention_days`` (every type) and ``retention_days_by_type`` (overrides) bound
the entity history's growth; 0 keeps a type's instances for ever. ``prune_history`` is one
pass; ``retention_loop`` runs it every ``interval`` seconds as one of the node's supervised
loops (a failing pass is logged and retried by the supervisor, never silently dropped).
An instance's age is its creation time on this node (``createdAt``), not its ``observedAt``:
a backfill of old observations is kept for the full retention from when it arrived.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from trust.clock import Clock

from ..store.base import Store

log = logging.getLogger("renkei.retention")
DAY = 86_400.0


async def prune_history(store: Store, now: float, default_days: float,
                        days_by_type: Mapping[str, float]) -> int:
    """Delete the instances older than their retention; returns how many went."""
    removed = 0
    for type_name, days in sorted(days_by_type.items()):
        if days > 0:
            removed += await store.prune_temporal(now - days * DAY, types=(type_name,))
    if default_days > 0:
        # Types with their own retention (0 included: kept for ever) are not the default's.
        removed += await store.prune_temporal(now - default_days * DAY,
                                              except_types=tuple(sorted(days_by_type)))
    return removed


async def retention_loop(store: Store, clock: Clock, default_days: float,
                         days_by_type: Mapping[str, float], interval: float) -> None:
    """Prune now, then every ``interval`` seconds, for ever."""
    while True:
        removed = await prune_history(store, clock.now(), default_days, days_by_type)
        if removed:
            log.info("temporal retention: %d attribute instances deleted", removed)
        await asyncio.sleep(interval)
