"""Entity history from entity writes: which attribute instances a write adds (backend-neutral).

Every backend calls ``history_of`` inside the transaction that writes an entity (API write or
ingest), with the stored bytes before and after, so the temporal representation can never
miss a write that committed. An attribute instance (an attribute, or one datasetId of it) is
recorded when it is new or its JSON changed; one the write removed is recorded as a deletion
(its value ``urn:ngsi-ld:null``, ``deletedAt`` now), as NGSI-LD v1.8 4.5.6 and 5.6.1 describe
the temporal evolution of deleted attributes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import orjson

from .base import InstanceWrite, TemporalEntityWrite

NULL = "urn:ngsi-ld:null"
# Members of a stored entity that are not attributes.
_NOT_ATTRIBUTES = frozenset({"id", "type", "scope", "@context", "createdAt", "modifiedAt",
                             "deletedAt"})
# System members an instance row keeps in its columns, never in its doc.
_SYSTEM = frozenset({"instanceId", "createdAt", "modifiedAt", "deletedAt"})
# The member holding an attribute's value, by attribute type (NGSI-LD 4.5).
_VALUE_MEMBER = {"Relationship": "object", "LanguageProperty": "languageMap",
                 "VocabProperty": "vocab", "ListProperty": "valueList",
                 "ListRelationship": "objectList", "JsonProperty": "json"}


def new_instance_id() -> str:
    # 96 random bits: unique within an attribute's instances (where an id is looked up),
    # and derived from nothing a caller could not see (no global sequence).
    return f"urn:ngsi-ld:Instance:{secrets.token_hex(12)}"


def parse_time(value: Any) -> float | None:
    """Unix seconds of an NGSI-LD DateTime, None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None  # NGSI-LD DateTimes are UTC with a zone; an ambiguous one is not indexed
    return stamp.timestamp()


def temporal_entity(entity: Mapping[str, Any], entity_id: str | None = None,
                    entity_type: str | None = None) -> TemporalEntityWrite:
    """The entity part of a temporal representation of ``entity`` (id and first type from
    the entity unless given)."""
    types = entity.get("type", entity_type)
    first = types[0] if isinstance(types, list) and types else types
    head: dict[str, Any] = {"type": types}
    if "scope" in entity:
        head["scope"] = entity["scope"]
    return TemporalEntityWrite(entity_id or str(entity["id"]), entity_type or str(first),
                               orjson.dumps(head))


def instances_of(entity: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(attribute, datasetId or "", instance) of every attribute instance of ``entity``."""
    for name, value in entity.items():
        if name in _NOT_ATTRIBUTES:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                dataset = item.get("datasetId")
                yield name, dataset if isinstance(dataset, str) else "", item


def instance_write(attr: str, dataset_id: str, instance: Mapping[str, Any],
                   instance_id: str | None = None) -> InstanceWrite:
    """The row of one instance as a client sent or a write left it."""
    doc = instance
    if not _SYSTEM.isdisjoint(instance):
        doc = {k: v for k, v in instance.items() if k not in _SYSTEM}
    return InstanceWrite(instance_id or new_instance_id(), attr, dataset_id,
                         orjson.dumps(doc, option=orjson.OPT_SORT_KEYS),
                         parse_time(instance.get("observedAt")))


def deletion(attr: str, dataset_id: str, instance: Mapping[str, Any], now: float
             ) -> InstanceWrite:
    """The instance recording that ``instance`` was deleted at ``now``."""
    kind = instance.get("type") if isinstance(instance.get("type"), str) else "Property"
    member = _VALUE_MEMBER.get(str(kind), "value")
    value: Any = {"@none": NULL} if member == "languageMap" else NULL
    doc: dict[str, Any] = {"type": kind, member: value}
    if dataset_id:
        doc["datasetId"] = dataset_id
    return InstanceWrite(new_instance_id(), attr, dataset_id,
                         orjson.dumps(doc, option=orjson.OPT_SORT_KEYS), None, deleted_at=now)


def history_of(entity_id: str, entity_type: str, old: bytes | None, new: bytes | None,
               now: float) -> tuple[TemporalEntityWrite | None, list[InstanceWrite]]:
    """What a write from ``old`` to ``new`` (None: absent) of the stored entity ``entity_id``
    adds to its history: the temporal entity to create or touch (None for a deletion) and
    the instances."""
    before = _instances(old)
    if new is None:
        return None, [deletion(a, d, i, now) for (a, d), i in before.items()]
    entity = _decoded(new)
    out: list[InstanceWrite] = []
    after = {}
    # One random draw per write, numbered per instance: ids stay unguessable and unique.
    base = new_instance_id()
    for attr, dataset_id, instance in instances_of(entity):
        after[(attr, dataset_id)] = instance
        if before.get((attr, dataset_id)) != instance:
            out.append(instance_write(attr, dataset_id, instance, f"{base}-{len(out)}"))
    out.extend(deletion(a, d, i, now) for (a, d), i in before.items() if (a, d) not in after)
    return temporal_entity(entity, entity_id, entity_type), out


def _decoded(doc: bytes) -> dict[str, Any]:
    value = orjson.loads(doc)
    return value if isinstance(value, dict) else {}


def _instances(doc: bytes | None) -> dict[tuple[str, str], dict[str, Any]]:
    if doc is None:
        return {}
    return {(a, d): i for a, d, i in instances_of(_decoded(doc))}
