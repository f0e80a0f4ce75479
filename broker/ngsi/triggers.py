"""Which changes fire a subscription, and what a notification shows of them (5.8.6).

``selects`` is the subscription's entities scope, ``matches`` adds its q and geoQ, ``fires``
decides for one change (its triggers, watched attributes, the attributes it created, updated
and deleted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..service.filters import geo_matches
from ..service.query import id_pattern
from ..service.scopes import parse_scope_query
from .model import ENTITY_MEMBERS
from .q import parse_geo, parse_q

# 5.2.12: what a subscription without notificationTrigger is notified of.
DEFAULT_TRIGGERS = ("attributeCreated", "attributeUpdated")


def selects(sub: Mapping[str, Any], entity_id: str, entity_type: str | Sequence[str]) -> bool:
    """Whether an entity is in the subscription's entities / watched scope (a multi-typed
    entity, ``entity_type`` a list: when a selector names any of its types)."""
    selectors = sub.get("entities")
    if not selectors:
        return True
    types = (entity_type,) if isinstance(entity_type, str) else tuple(entity_type)
    for s in selectors:
        if s.get("type") not in types:
            continue
        if "id" in s and s["id"] != entity_id:
            continue
        pattern = id_pattern(str(s["idPattern"]), "entities[].idPattern") \
            if "idPattern" in s else None
        if pattern is not None and not pattern.matches(entity_id):
            continue
        return True
    return False


CORE = ENTITY_MEMBERS


@dataclass(frozen=True)
class AttributeDelta:
    """The attributes an update created, changed and deleted."""

    created: frozenset[str]
    updated: frozenset[str]
    deleted: frozenset[str]

    @classmethod
    def between(cls, before: Mapping[str, Any], after: Mapping[str, Any]) -> AttributeDelta:
        old = {k for k in before if k not in CORE}
        new = {k for k in after if k not in CORE}
        return cls(frozenset(new - old), frozenset(k for k in old & new
                                                   if before[k] != after[k]),
                   frozenset(old - new))


def fires(sub: Mapping[str, Any], kind: str, entity: Mapping[str, Any] | None,
          changed: set[str] | None, entity_id: str, entity_type: str | Sequence[str],
          delta: AttributeDelta | None = None) -> bool:
    """Whether a change fires the subscription.

    ``changed`` is the set of attribute names that changed (None when unknown: then every
    attribute counts as changed); ``delta`` says which were created, updated and deleted, so
    that attribute triggers (5.8.6: attributeCreated/Updated/Deleted) fire only for theirs.
    """
    if not selects(sub, entity_id, entity_type):
        return False
    triggers = set(sub.get("notificationTrigger") or DEFAULT_TRIGGERS)
    if kind == "deleted":
        if "entityDeleted" in triggers:
            return True
        # Deleting an entity deletes its attributes: attributeDeleted fires for the watched
        # ones it had (any, without watchedAttributes), when its last state matched.
        return "attributeDeleted" in triggers and entity is not None and bool(
            deleted_watched(sub, entity)) and matches(sub, entity)
    if kind == "created" and not triggers & {"entityCreated", "attributeCreated"}:
        return False  # a new entity's attributes are created with it
    if kind == "updated" and not triggers & {"entityUpdated", "attributeCreated",
                                             "attributeUpdated", "attributeDeleted"}:
        return False
    if kind == "updated" and delta is not None and "entityUpdated" not in triggers:
        # Only the attribute triggers asked for: the names of those kinds of change count.
        changed = set()
        for trigger, names in (("attributeCreated", delta.created),
                               ("attributeUpdated", delta.updated),
                               ("attributeDeleted", delta.deleted)):
            if trigger in triggers:
                changed |= names
        if not changed:
            return False
    watched = sub.get("watchedAttributes")
    if watched and kind == "updated" and changed is not None and not set(watched) & changed:
        return False
    if watched and kind == "created" and entity is not None and not set(watched) & set(entity):
        return False
    if entity is None:
        return False
    return matches(sub, entity)


def deleted_watched(sub: Mapping[str, Any], entity: Mapping[str, Any]) -> list[str]:
    """The attributes of a deleted entity (its last state) that ``sub`` watches."""
    watched = sub.get("watchedAttributes")
    return [k for k in entity if k not in CORE and (not watched or k in watched)]


def matches(sub: Mapping[str, Any], entity: Mapping[str, Any]) -> bool:
    """Whether the entity is in the subscription's scope and meets its q and geoQ."""
    types = entity.get("type")
    names = types if isinstance(types, list) else [types]
    if not any(selects(sub, str(entity.get("id", "")), str(t)) for t in names):
        return False
    if sub.get("q") and not parse_q(sub["q"]).matches(entity):
        return False
    if sub.get("scopeQ") and not parse_scope_query(sub["scopeQ"]).matches(entity):
        return False
    g = sub.get("geoQ")
    if g:
        geo = parse_geo(str(g.get("georel")), str(g.get("geometry")), g.get("coordinates"))
        if not geo_matches(entity, geo, str(g.get("geoproperty", "location"))):
            return False
    return True
