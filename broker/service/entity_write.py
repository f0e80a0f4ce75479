"""The store form of an entity: compact JSON bytes, content hash and bounding box."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from ..store.base import EntityWrite
from .filters import entity_geometry, geometry_bbox


def entity_write(entity: Mapping[str, Any]) -> EntityWrite:
    """Serialize with sorted keys, so equal entities always hash the same. A multi-typed
    entity (``type`` a list) is indexed under each of its types."""
    raw = orjson.dumps(entity, option=orjson.OPT_SORT_KEYS)
    geometry = entity_geometry(entity)
    t = entity["type"]
    types = [str(x) for x in t] if isinstance(t, list) else [str(t)]
    return EntityWrite(str(entity["id"]), types[0], raw, hashlib.sha256(raw).hexdigest(),
                       geometry_bbox(geometry) if geometry is not None else None,
                       tuple(dict.fromkeys(types))[1:])
