"""Periodic subscriptions (``timeInterval``, 5.8.1 and 5.8.6): what each period notifies.

A periodic subscription is notified every ``timeInterval`` seconds with the current state of
every entity it selects (its entities, q and geoQ), changed or not; changes alone never
notify it. The entities come from the store by the types the subscription names, checked with
the same ``matches`` as change notifications, at most ``MAX_ENTITIES`` of them per period.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from ..service.query import Selection, any_of, scan
from ..store.base import Store
from .triggers import matches

MAX_ENTITIES = 1000


def is_periodic(sub: Mapping[str, Any]) -> bool:
    return bool(sub.get("timeInterval"))


async def period_entities(store: Store, sub: Mapping[str, Any],
                          limit: int = MAX_ENTITIES) -> list[dict[str, Any]]:
    """The entities one period of ``sub`` notifies (stored names), in id order."""
    types = [str(s["type"]) for s in sub.get("entities") or () if "type" in s]
    out: list[dict[str, Any]] = []
    async with contextlib.aclosing(scan(store, Selection(types=any_of(types)))) as hits:
        async for hit in hits:
            entity = hit.decoded()
            if matches(sub, entity):
                out.append(entity)
                if len(out) >= limit:
                    break
    return out
