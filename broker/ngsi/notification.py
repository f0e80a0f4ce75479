"""What a notification says about the entities it carries (5.8.6, NotificationParams 5.2.14).

The subscription's ``notification`` member decides the representation (``format``,
``sysAttrs``), the projection (``attributes``, or v1.8 ``pick``/``omit`` lists of members),
linked entities (``join``/``joinLevel``) and ``showChanges`` (the previous value of what an
update changed or deleted, ``previousValue``/``previousObject``/``previousLanguageMap``...).
Rendering goes through the same ``render_entity``/``render_joined`` as the API's reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import BadRequest
from .join import Fetch, join_of, render_joined
from .model import ATTRIBUTE_TYPES, ENTITY_MEMBERS, NGSI_NULL
from .projection import Projection
from .render import OutputOptions, render_entity
from .terms import Translator

# The member holding an attribute's content -> the member holding what it was (4.5.5).
PREVIOUS = {"value": "previousValue", "object": "previousObject",
            "languageMap": "previousLanguageMap", "json": "previousJson",
            "vocab": "previousVocab", "valueList": "previousValueList",
            "objectList": "previousObjectList"}


def check_params(notification: Mapping[str, Any]) -> None:
    """BadRequest for NotificationParams that cannot be honoured together (5.2.14)."""
    given = [k for k in ("attributes", "pick", "omit") if notification.get(k)]
    if len(given) > 1:
        raise BadRequest(f"notification.{given[0]} and notification.{given[1]} cannot be "
                         "used together")
    for key in ("pick", "omit"):
        value = notification.get(key)
        if value is not None and (not isinstance(value, list) or not all(
                isinstance(v, str) and v for v in value)):
            raise BadRequest(f"notification.{key} must be an array of member names")
    for key in ("sysAttrs", "showChanges"):
        if key in notification and not isinstance(notification[key], bool):
            raise BadRequest(f"notification.{key} must be true or false")
    level = notification.get("joinLevel")
    join_of(notification.get("join"), None if level is None else str(level), ())


def output_of(notification: Mapping[str, Any], dataset_ids: Any = None) -> OutputOptions:
    """The rendering a subscription's notifications use (names already stored names);
    ``dataset_ids``: the subscription's datasetId member."""
    fmt = notification.get("format", "normalized")
    if notification.get("pick"):
        projection = Projection(pick={n: None for n in notification["pick"]})
    elif notification.get("omit"):
        projection = Projection(omit={n: None for n in notification["omit"]})
    else:
        projection = Projection(attrs=tuple(notification.get("attributes") or ()))
    level = notification.get("joinLevel")
    return OutputOptions(format="simplified" if fmt in ("keyValues", "simplified") else fmt,
                         sys_attrs=bool(notification.get("sysAttrs")), projection=projection,
                         join=join_of(notification.get("join"),
                                      None if level is None else str(level), ()),
                         dataset_ids=tuple(str(d) for d in dataset_ids)
                         if isinstance(dataset_ids, list) and dataset_ids else None)


async def notified_entities(entities: Sequence[Mapping[str, Any]], output: OutputOptions,
                            translator: Translator, fetch: Fetch) -> list[dict[str, Any]]:
    """The ``data`` of a notification: each entity rendered (linked ones too, with join).

    An entity the projection leaves empty is notified by id and type; a deleted one as it
    came (id, type, deletedAt and, with showChanges, what it held)."""
    rows = []
    for entity in entities:
        created = modified = None
        if output.sys_attrs and "deletedAt" not in entity:
            got = await fetch(str(entity.get("id")))
            if got is not None:
                created, modified = got[1], got[2]
        rows.append((dict(entity), created, modified))
    live = [row for row in rows if "deletedAt" not in row[0]]
    rendered = await render_joined(live, output, translator, output.join, fetch) \
        if output.join is not None else []
    by_id = {r.get("id"): r for r in rendered}
    out = []
    for entity, created, modified in rows:
        if "deletedAt" in entity:
            out.append(translator.entity(entity))
            continue
        one = by_id.pop(entity["id"], None) if output.join is not None else None
        if one is None:
            one = render_entity(entity, output, translator, created, modified)
        out.append(one or translator.entity({k: entity[k] for k in ("id", "type")
                                             if k in entity}))
    return out + list(by_id.values())  # flat join: the linked entities follow


def with_previous(after: Mapping[str, Any], before: Mapping[str, Any],
                  names: frozenset[str]) -> dict[str, Any]:
    """``after`` with, on each instance of the attributes ``names`` that an update changed,
    the member it held before (showChanges)."""
    out = dict(after)
    for name in names:
        old = {i.get("datasetId"): i for i in _instances(before.get(name))}
        new = [_previous(i, old.get(i.get("datasetId"))) for i in _instances(after.get(name))]
        out[name] = new[0] if len(new) == 1 else new
    return out


def deleted_as_null(before: Mapping[str, Any], names: Sequence[str] | frozenset[str], *,
                    show_changes: bool = False) -> dict[str, Any]:
    """Deleted attributes as notifications show them (5.2.1: an NGSI-LD Null as the value,
    ``{"@none": "urn:ngsi-ld:null"}`` as a languageMap), with what they held when
    ``show_changes``."""
    out: dict[str, Any] = {}
    for name in names:
        if name in ENTITY_MEMBERS or name not in before:
            continue
        first = _instances(before[name])[0] if _instances(before[name]) else {}
        kind = str(first.get("type", "Property"))
        member = ATTRIBUTE_TYPES.get(kind, "value")
        attr: dict[str, Any] = {"type": kind, member: {"@none": NGSI_NULL}
                                if member == "languageMap" else NGSI_NULL}
        if show_changes and member in first:
            attr[PREVIOUS[member]] = first[member]
        out[name] = attr
    return out


def _instances(attr: Any) -> list[dict[str, Any]]:
    if isinstance(attr, list):
        return [a for a in attr if isinstance(a, dict)]
    return [attr] if isinstance(attr, dict) else []


def _previous(new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    if old is None:
        return new
    member = ATTRIBUTE_TYPES.get(str(old.get("type")), "value")
    if member in old and old.get(member) != new.get(ATTRIBUTE_TYPES.get(
            str(new.get("type")), "value")):
        return {**new, PREVIOUS[member]: old[member]}
    return new
