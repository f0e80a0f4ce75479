"""Writes of the NGSI-LD temporal API (ETSI GS CIM 009 v1.8.1 5.6.11-5.6.16): create or add
to a temporal representation, add attribute instances, delete an attribute's instances or
one instance, patch an instance, delete the representation.

Payloads are temporal entities: each attribute a list of instances (or one instance), each
instance a normalized (or concise) attribute. Creating the representation of an entity the
node does not hold creates the entity too (its newest instances); otherwise these writes touch
the history only, never the entity's current state. Writes through the core API reach the
history through the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import orjson

from trust.clock import Clock

from ..errors import AlreadyExists, BadRequest, NotFound
from ..store.base import InstanceWrite, Store
from ..store.history import instance_write, parse_time, temporal_entity
from .entities import EntityService
from .model import ENTITY_MEMBERS, check_name, is_uri, normalize_attribute, normalize_entity

# Instances of one request (a temporal payload can carry a long history at once).
MAX_INSTANCES = 10_000


def temporal_payload(raw: Any, *, require_id: bool = True) -> dict[str, Any]:
    """A temporal entity payload (no @context) with every instance normalized: attribute
    name -> list of instances. ``BadRequest`` for what 5.6.11 calls BadRequestData."""
    if not isinstance(raw, Mapping):
        raise BadRequest("a temporal entity must be a JSON object")
    out: dict[str, Any] = {}
    if require_id or "id" in raw:
        if not is_uri(raw.get("id")):
            raise BadRequest("entity id must be a URI (e.g. urn:ngsi-ld:Type:local-id)")
        out["id"] = raw["id"]
    if require_id or "type" in raw:
        kind = raw.get("type")
        if not (isinstance(kind, str) and kind or isinstance(kind, list) and kind and all(
                isinstance(k, str) and k for k in kind)):
            raise BadRequest("entity type must be a name or a list of names")
        out["type"] = kind
    if "scope" in raw:
        out["scope"] = raw["scope"]
    count = 0
    for name, value in raw.items():
        if name in ENTITY_MEMBERS:
            continue
        check_name(name)
        items = value if isinstance(value, list) else [value]
        if not items:
            raise BadRequest(f"attribute {name!r} has no instance")
        instances = []
        for item in items:
            if not isinstance(item, Mapping):
                raise BadRequest(f"each instance of {name!r} must be an attribute object")
            instance = normalize_attribute(name, item)
            if isinstance(instance, list):  # one object is one instance
                raise BadRequest(f"an instance of {name!r} must be one attribute object")
            instances.append(instance)
        count += len(instances)
        if count > MAX_INSTANCES:
            raise BadRequest(f"a request may carry at most {MAX_INSTANCES} instances")
        out[name] = instances
    return out


def _rows(payload: Mapping[str, Any]) -> list[InstanceWrite]:
    rows = []
    for name, instances in payload.items():
        if name in ENTITY_MEMBERS:
            continue
        for instance in instances:
            dataset = instance.get("datasetId")
            rows.append(instance_write(name, dataset if isinstance(dataset, str) else "",
                                       instance))
    return rows


# Members of an instance that are its own, not the attribute's value.
_INSTANCE_MEMBERS = ("instanceId", "createdAt", "modifiedAt", "deletedAt")


def current_state(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the entity as its newest instances show it, the payload without the instances that
    entity holds and that lack an observedAt). Newest: per attribute and datasetId, the
    latest ``observedAt`` (the last one given among equals or without any). An instance
    without observedAt is recorded by the entity's own creation, so it leaves the payload
    (else it would be in the history twice); one with observedAt is deduplicated by it."""
    entity: dict[str, Any] = {k: payload[k] for k in ("id", "type", "scope") if k in payload}
    rest: dict[str, Any] = dict(entity)
    for name, instances in payload.items():
        if name in ENTITY_MEMBERS:
            continue
        newest: dict[Any, int] = {}
        for i, instance in enumerate(instances):
            key = instance.get("datasetId")
            held = newest.get(key)
            at = parse_time(instance.get("observedAt"))
            if held is None or at is None or (
                    parse_time(instances[held].get("observedAt")) or float("-inf")) <= at:
                newest[key] = i
        values = [{k: v for k, v in instances[i].items() if k not in _INSTANCE_MEMBERS}
                  for i in newest.values()]
        entity[name] = values[0] if len(values) == 1 else values
        dropped = {i for i in newest.values() if instances[i].get("observedAt") is None}
        kept = [inst for i, inst in enumerate(instances) if i not in dropped]
        if kept:
            rest[name] = kept
    return entity, rest


class TemporalWrites:
    """Temporal API writes on one node's store. With ``entities`` (the NGSI-LD API's entity
    service), creating the temporal representation of an entity the node does not hold also
    creates that entity from its newest instances: one entity behind both APIs, as the
    other NGSI-LD brokers keep it. Every other temporal write touches the history only."""

    def __init__(self, store: Store, clock: Clock, entities: EntityService | None = None
                 ) -> None:
        self._store = store
        self._clock = clock
        self._entities = entities

    async def create_or_add(self, payload: Mapping[str, Any]) -> bool:
        """Create the temporal representation, or add the instances to the one held;
        True when it was created (201), False when added to (204)."""
        entity_id = str(payload["id"])
        new = await self._store.temporal_entity(entity_id) is None
        if new and self._entities is not None \
                and await self._store.get_entity(entity_id) is None:
            current, payload = current_state(payload)
            with contextlib.suppress(AlreadyExists):  # created meanwhile: it stays as it is
                await self._entities.create(normalize_entity(current))
        await self._store.record_temporal(temporal_entity(payload), _rows(payload),
                                          self._clock.now())
        return new

    async def add_attributes(self, entity_id: str, fragment: Mapping[str, Any]) -> None:
        row = await self._store.temporal_entity(entity_id)
        if row is None:
            raise NotFound(f"no temporal representation of {entity_id[:256]}")
        head = orjson.loads(row.doc)
        entity = temporal_entity({"id": entity_id, **head}, entity_id, row.type)
        await self._store.record_temporal(entity, _rows(fragment), self._clock.now())

    async def delete(self, entity_id: str) -> None:
        if not await self._store.delete_temporal(entity_id):
            raise NotFound(f"no temporal representation of {entity_id[:256]}")

    async def delete_attribute(self, entity_id: str, attr: str, *, dataset_id: str | None,
                               delete_all: bool) -> None:
        if await self._store.temporal_entity(entity_id) is None:
            raise NotFound(f"no temporal representation of {entity_id[:256]}")
        if not await self._store.delete_instances(entity_id, attr, dataset_id=dataset_id,
                                                  every_dataset=delete_all):
            raise NotFound(f"{entity_id[:256]} has no instances of {attr[:256]}"
                           + (f" with datasetId {dataset_id[:256]}" if dataset_id else ""))

    async def delete_instance(self, entity_id: str, attr: str, instance_id: str) -> None:
        if await self._store.temporal_entity(entity_id) is None:
            raise NotFound(f"no temporal representation of {entity_id[:256]}")
        if not await self._store.delete_instance(entity_id, attr, instance_id):
            raise NotFound(f"{attr[:256]} of {entity_id[:256]} has no instance "
                           f"{instance_id[:256]}")

    async def replace_instance(self, entity_id: str, attr: str, instance_id: str,
                               instance: Mapping[str, Any]) -> None:
        """Replace one instance's content (5.6.15: the instance keeps its id)."""
        if await self._store.temporal_entity(entity_id) is None:
            raise NotFound(f"no temporal representation of {entity_id[:256]}")
        row = instance_write(attr, "", instance, instance_id)
        if not await self._store.replace_instance(entity_id, attr, instance_id, row.doc,
                                                  parse_time(instance.get("observedAt")),
                                                  self._clock.now()):
            raise NotFound(f"{attr[:256]} of {entity_id[:256]} has no instance "
                           f"{instance_id[:256]}")


def one_instance(name: str, raw: Any) -> dict[str, Any]:
    """The single instance a PATCH of an instance carries: the attribute instance itself, or
    wrapped as ``{name: instance}`` / ``{name: [instance]}``."""
    if not isinstance(raw, Mapping):
        raise BadRequest("the body must be an attribute instance")
    body = {k: v for k, v in raw.items() if k != "@context"}
    value: Any = body[name] if set(body) == {name} else body
    items = value if isinstance(value, list) else [value]
    if len(items) != 1 or not isinstance(items[0], Mapping) or not items[0]:
        raise BadRequest(f"the body must hold one instance of {name[:64]!r}")
    instance = normalize_attribute(name, items[0])
    if not isinstance(instance, dict):
        raise BadRequest(f"the body must hold one instance of {name[:64]!r}")
    return instance
