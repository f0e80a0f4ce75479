"""Discovery of local data (``/types``, ``/attributes``): which types and attributes exist.

Computed by one scan of the store, cached until the change feed moves; names are stored names
(the route translates them into the caller's terms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..store.base import EntityFilter, Store
from .model import ENTITY_MEMBERS, entity_types


@dataclass
class TypeInfo:
    count: int = 0
    attributes: dict[str, set[str]] = field(default_factory=dict)  # name -> attribute types
    attribute_counts: dict[str, int] = field(default_factory=dict)


class Discovery:
    """Types and attributes of this node's entities."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cursor = -1
        self._types: dict[str, TypeInfo] = {}

    async def types(self) -> Mapping[str, TypeInfo]:
        cursor = await self._store.last_change_cursor()
        if cursor != self._cursor:
            self._types = await self._scan()
            self._cursor = cursor
        return self._types

    async def _scan(self) -> dict[str, TypeInfo]:
        out: dict[str, TypeInfo] = {}
        async for stored in self._store.scan_entities(EntityFilter(), 1000):
            entity: dict[str, Any] = orjson.loads(stored.doc)
            # A multi-typed entity counts under each of its types.
            for type_name in entity_types(entity) or (stored.type,):
                info = out.setdefault(type_name, TypeInfo())
                info.count += 1
                for name, attr in entity.items():
                    if name in ENTITY_MEMBERS:
                        continue
                    kinds = info.attributes.setdefault(name, set())
                    for inst in attr if isinstance(attr, list) else [attr]:
                        if isinstance(inst, Mapping) and isinstance(inst.get("type"), str):
                            kinds.add(inst["type"])
                    info.attribute_counts[name] = info.attribute_counts.get(name, 0) + 1
        return dict(sorted(out.items()))

    async def attributes(self) -> dict[str, dict[str, Any]]:
        """attribute name -> {"count", "types" (attribute types), "typeNames"}."""
        out: dict[str, dict[str, Any]] = {}
        for type_name, info in (await self.types()).items():
            for name, kinds in info.attributes.items():
                entry = out.setdefault(name, {"count": 0, "types": set(), "typeNames": set()})
                entry["count"] += info.attribute_counts.get(name, 0)
                entry["types"] |= kinds
                entry["typeNames"].add(type_name)
        return dict(sorted(out.items()))
