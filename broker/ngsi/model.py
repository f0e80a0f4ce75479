"""NGSI-LD entity representations, transport-free: validation, concise input, output formats.

Entities are held in *normalized* form (every attribute an object with its ``type``). Clients
may send concise or normalized payloads; ``normalize_entity`` turns either into the stored form
and refuses what the specification calls BadRequestData. The output side renders the stored
form as normalized, concise or keyValues (simplified), adds system attributes, projects with
``pick``/``omit`` and builds GeoJSON features.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import BadRequest

ATTRIBUTE_TYPES = {
    "Property": "value", "Relationship": "object", "GeoProperty": "value",
    "LanguageProperty": "languageMap", "VocabProperty": "vocab", "ListProperty": "valueList",
    "ListRelationship": "objectList", "JsonProperty": "json",
}
GEOJSON_TYPES = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                           "MultiPolygon", "GeometryCollection"})
NGSI_NULL = "urn:ngsi-ld:null"
# Members of an entity that are not attributes.
ENTITY_MEMBERS = frozenset({"id", "type", "@context", "scope", "createdAt", "modifiedAt",
                            "deletedAt"})
# Members of an attribute that are not sub-attributes.
ATTRIBUTE_MEMBERS = frozenset({"type", "value", "object", "languageMap", "vocab", "valueList",
                               "objectList", "json", "datasetId", "observedAt", "unitCode",
                               "createdAt", "modifiedAt", "instanceId", "lang", "objectType",
                               "previousValue", "previousObject", "deletedAt"})
# Core context terms that alias JSON-LD keywords (id -> @id, type -> @type...).
KEYWORD_NAMES = frozenset({"id", "type", "value", "object", "languageMap", "@context"})
# ETSI GS CIM 009 4.6.2: characters not allowed in names (they break the q grammar and URIs).
_FORBIDDEN_NAME = re.compile(r"[<>\"'=;()\s&?/#]")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
MAX_ID_LENGTH = 512


def is_uri(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_ID_LENGTH and bool(_URI.match(value))


def check_name(name: str, what: str = "attribute") -> None:
    if not name or len(name) > 256 or (_FORBIDDEN_NAME.search(name) and "://" not in name) \
            or name.startswith("@"):  # @...: a JSON-LD keyword, never a name
        raise BadRequest(f"invalid {what} name {name[:64]!r}")


def entity_types(entity: Mapping[str, Any]) -> tuple[str, ...]:
    t = entity.get("type")
    if isinstance(t, str):
        return (t,)
    if isinstance(t, list):
        return tuple(x for x in t if isinstance(x, str))
    return ()


# -- input ----------------------------------------------------------------------------------

def normalize_entity(raw: Any, *, require_id: bool = True, require_type: bool = True,
                     allow_null: bool = False) -> dict[str, Any]:
    """The normalized form of a (concise or normalized) entity payload without @context."""
    if not isinstance(raw, Mapping):
        raise BadRequest("an entity must be a JSON object")
    out: dict[str, Any] = {}
    if "id" in raw or require_id:
        if not is_uri(raw.get("id")):
            raise BadRequest("entity id must be a URI (e.g. urn:ngsi-ld:Type:local-id)")
        out["id"] = raw["id"]
    if "type" in raw or require_type:
        out["type"] = _normalize_type(raw.get("type"))
    if "scope" in raw:
        out["scope"] = raw["scope"]
    for name, value in raw.items():
        if name in ENTITY_MEMBERS:
            continue
        check_name(name)
        out[name] = normalize_attribute(name, value, allow_null=allow_null)
    return out


MAX_TYPES = 64  # types of one entity


def _normalize_type(value: Any) -> str | list[str]:
    """One type name, or the list of a multi-typed entity (4.16: its order kept, duplicates
    dropped; a list of one is that name)."""
    if isinstance(value, list):
        if not value:
            raise BadRequest("entity type must be a name or a non-empty list of names")
        if len(value) > MAX_TYPES:
            raise BadRequest(f"an entity may have at most {MAX_TYPES} types")
        names = list(dict.fromkeys(_type_name(v) for v in value))
        return names[0] if len(names) == 1 else names
    return _type_name(value)


def _type_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest("entity type must be a non-empty string")
    check_name(value, "type")
    if value in KEYWORD_NAMES or value.startswith("@"):
        # The core context maps these to JSON-LD keywords: they cannot name a type.
        raise BadRequest(f"{value!r} is a JSON-LD keyword (or its alias), not an entity type")
    return value


def normalize_attribute(name: str, value: Any, *, allow_null: bool = False) -> Any:
    """One attribute (or a list of dataset instances), concise input made explicit."""
    if isinstance(value, list) and value and all(isinstance(v, Mapping) and (
            "datasetId" in v or _type_of(v) in ATTRIBUTE_TYPES) for v in value):
        instances = [normalize_attribute(name, v, allow_null=allow_null) for v in value]
        seen = set()
        for inst in instances:
            ds = inst.get("datasetId")
            if ds in seen:
                raise BadRequest(f"attribute {name!r} has two instances with datasetId {ds!r}")
            seen.add(ds)
        return instances if len(instances) > 1 else instances[0]
    if value is None:
        raise BadRequest(f"attribute {name!r} has a null value")
    if isinstance(value, Mapping):
        kind = _type_of(value)
        if kind in ATTRIBUTE_TYPES:
            attr = dict(value)
        elif kind in GEOJSON_TYPES and "coordinates" in value or kind == "GeometryCollection":
            return {"type": "GeoProperty", "value": dict(value)}
        else:
            attr = _infer(name, value)
        return _check_attribute(name, attr, allow_null)
    if value == NGSI_NULL and allow_null:
        return NGSI_NULL
    return {"type": "Property", "value": value}


def normalize_partial_attribute(name: str, value: Any) -> Any:
    """The body of a Partial Attribute Update (5.6.4): attribute members to change. A body
    with neither ``type`` nor a value member only changes sub-attributes (or metadata such
    as ``observedAt``); it is not a structured Property value."""
    if isinstance(value, Mapping) and "type" not in value and not any(
            m in value for m in ATTRIBUTE_TYPES.values()):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in ATTRIBUTE_MEMBERS:
                out[key] = item
            else:
                check_name(key)
                out[key] = normalize_attribute(key, item, allow_null=True)
        if "datasetId" in out and not is_uri(out["datasetId"]):
            raise BadRequest(f"datasetId of {name!r} must be a URI")
        if "observedAt" in out and parse_datetime(out["observedAt"]) is None:
            raise BadRequest(f"observedAt of {name!r} must be an ISO 8601 date-time")
        return out
    return normalize_attribute(name, value, allow_null=True)


def _type_of(value: Mapping[str, Any]) -> str | None:
    """The ``type`` member of an attribute object; BadRequest when it is not a string (an
    object or array there would not even be comparable with the known types)."""
    kind = value.get("type")
    if kind is not None and not isinstance(kind, str):
        raise BadRequest(f"an attribute's type must be a string, got {type(kind).__name__}")
    return kind


def _infer(name: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """Concise representation: the member present says which kind of attribute it is."""
    if "type" in value:  # a type that is neither an attribute type nor a GeoJSON geometry
        raise BadRequest(f"attribute {name!r} has an unknown type {str(value['type'])[:64]!r}")
    for kind, member in (("Relationship", "object"), ("LanguageProperty", "languageMap"),
                         ("VocabProperty", "vocab"), ("ListRelationship", "objectList"),
                         ("ListProperty", "valueList"), ("JsonProperty", "json")):
        if member in value:
            return {"type": kind, **value}
    if "value" in value:
        inner = value["value"]
        geo = is_geometry_type(inner)
        return {"type": "GeoProperty" if geo else "Property", **value}
    # A JSON object with none of the members is a structured value (concise Property).
    return {"type": "Property", "value": dict(value)}


def _check_attribute(name: str, attr: dict[str, Any], allow_null: bool) -> dict[str, Any]:
    kind = attr["type"]
    member = ATTRIBUTE_TYPES[kind]
    if member not in attr:
        raise BadRequest(f"attribute {name!r} of type {kind} needs a {member!r} member")
    content = attr[member]
    if content is None:
        raise BadRequest(f"attribute {name!r} has a null {member}")
    if kind == "Relationship" and not (is_uri(content) or isinstance(content, list) and all(
            is_uri(c) for c in content)):
        raise BadRequest(f"relationship {name!r} must point at a URI")
    if kind == "GeoProperty" and content != NGSI_NULL and not valid_geometry(content):
        raise BadRequest(f"GeoProperty {name!r} must hold a valid GeoJSON geometry")
    if kind == "LanguageProperty" and not isinstance(content, Mapping):
        raise BadRequest(f"LanguageProperty {name!r} needs a languageMap object")
    if "datasetId" in attr and not is_uri(attr["datasetId"]):
        raise BadRequest(f"datasetId of {name!r} must be a URI")
    if "observedAt" in attr and parse_datetime(attr["observedAt"]) is None:
        raise BadRequest(f"observedAt of {name!r} must be an ISO 8601 date-time")
    for sub, value in list(attr.items()):
        if sub in ATTRIBUTE_MEMBERS:
            continue
        check_name(sub)
        attr[sub] = normalize_attribute(sub, value, allow_null=allow_null)
    return attr


def is_geometry_type(value: Any) -> bool:
    """Whether ``value`` is an object whose ``type`` names a GeoJSON geometry (any JSON may
    sit there: a list or an object is not hashable, so it is tested as a string first)."""
    kind = value.get("type") if isinstance(value, Mapping) else None
    return isinstance(kind, str) and kind in GEOJSON_TYPES


def valid_geometry(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is a GeoJSON geometry whose positions are all WGS84 numbers: anything
    less would be stored and then break (or slow down) every geo-query that reads it."""
    if not is_geometry_type(value):
        return False
    if value["type"] == "GeometryCollection":
        members = value.get("geometries")
        return isinstance(members, list) and depth < 4 and all(
            valid_geometry(g, depth + 1) for g in members)
    coords = value.get("coordinates")
    if value["type"] == "Point":
        return _position(coords)
    nesting, minimum = _NESTING[value["type"]]
    return _positions(coords, nesting, minimum)


# Geometry type -> (levels of arrays above the positions, positions a bottom array needs).
_NESTING = {"MultiPoint": (1, 1), "LineString": (1, 2), "MultiLineString": (2, 2),
            "Polygon": (2, 4), "MultiPolygon": (3, 4)}


def _position(value: Any) -> bool:
    """[longitude, latitude(, altitude)] in WGS84, as NGSI-LD geometries are."""
    return (isinstance(value, list) and len(value) in (2, 3)
            and all(isinstance(c, int | float) and not isinstance(c, bool)
                    and math.isfinite(c) for c in value)
            and -180 <= value[0] <= 180 and -90 <= value[1] <= 90)


def _positions(value: Any, nesting: int, minimum: int) -> bool:
    if not isinstance(value, list) or not value:
        return False
    if nesting == 1:
        return len(value) >= minimum and all(_position(p) for p in value)
    return all(_positions(v, nesting - 1, minimum) for v in value)


def parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(ts: float) -> str:
    """Epoch seconds as NGSI-LD DateTime (UTC, milliseconds, ``Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- output ---------------------------------------------------------------------------------

def with_sys_attrs(entity: Mapping[str, Any], created_at: float | None,
                   modified_at: float | None) -> dict[str, Any]:
    """options=sysAttrs: createdAt/modifiedAt on the entity and on each attribute instance.
    The store times entities, not attributes: an attribute shows its entity's times (its
    createdAt stays when it is replaced; its modifiedAt may be later than its last change)."""
    stamps = {}
    if created_at is not None:
        stamps["createdAt"] = iso(created_at)
    if modified_at is not None:
        stamps["modifiedAt"] = iso(modified_at)
    out = dict(entity)
    for name, attr in entity.items():
        if name in ENTITY_MEMBERS:
            continue
        if isinstance(attr, Mapping):
            out[name] = {**attr, **stamps}
        elif isinstance(attr, list):
            out[name] = [{**a, **stamps} if isinstance(a, Mapping) else a for a in attr]
    out.update(stamps)
    return out


def simplified(entity: Mapping[str, Any], lang: str | None = None) -> dict[str, Any]:
    """keyValues: every attribute reduced to its value."""
    out: dict[str, Any] = {}
    for name, attr in entity.items():
        out[name] = attr if name in ENTITY_MEMBERS else _simple_value(attr, lang)
    return out


def _simple_value(attr: Any, lang: str | None) -> Any:
    if isinstance(attr, list):
        values = [_simple_value(a, lang) for a in attr]
        return values[0] if len(values) == 1 else values
    if not isinstance(attr, Mapping):
        return attr
    kind = attr.get("type")
    member = ATTRIBUTE_TYPES.get(str(kind), "value")
    value = attr.get(member)
    if kind == "LanguageProperty" and lang and isinstance(value, Mapping):
        return _pick_language(value, lang)
    return value


def _pick_language(language_map: Mapping[str, Any], lang: str) -> Any:
    for wanted in [x.split(";")[0].strip() for x in lang.split(",")]:
        if wanted in language_map:
            return language_map[wanted]
        if wanted == "*" and language_map:
            return next(iter(language_map.values()))
    return language_map.get("@none", next(iter(language_map.values()), None))


def concise(entity: Mapping[str, Any]) -> dict[str, Any]:
    """Concise: attribute types dropped; a bare value where nothing else is said."""
    return {name: attr if name in ENTITY_MEMBERS else _concise_attr(attr)
            for name, attr in entity.items()}


def _concise_attr(attr: Any) -> Any:
    if isinstance(attr, list):
        return [_concise_attr(a) for a in attr]
    if not isinstance(attr, Mapping):
        return attr
    kind = attr.get("type")
    out = {k: (_concise_attr(v) if k not in ATTRIBUTE_MEMBERS else v)
           for k, v in attr.items() if k != "type"}
    if set(out) == {"value"}:
        value = out["value"]
        # A bare object value would read back as a sub-attribute map; keep those wrapped.
        if kind == "GeoProperty" or not isinstance(value, Mapping | list):
            return value
    return out


def feature(entity: Mapping[str, Any], geoproperty: str = "location") -> dict[str, Any]:
    """A GeoJSON Feature of an entity rendered in any format."""
    geo = entity.get(geoproperty)
    if isinstance(geo, list):
        geo = geo[0] if geo else None
    geometry = geo.get("value") if isinstance(geo, Mapping) and "value" in geo else geo
    if not is_geometry_type(geometry):
        geometry = None
    properties = {k: v for k, v in entity.items() if k not in ("id", "@context")}
    return {"id": entity.get("id"), "type": "Feature", "geometry": geometry,
            "properties": properties}


def language_filtered(entity: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """Normalized output with ``lang``: LanguageProperty becomes a Property in that language."""
    out = dict(entity)
    for name, attr in entity.items():
        if isinstance(attr, Mapping) and attr.get("type") == "LanguageProperty":
            lm = attr.get("languageMap") or {}
            chosen = _pick_language(lm, lang)
            key = next((k for k, v in lm.items() if v == chosen), "@none")
            rest = {k: v for k, v in attr.items() if k not in ("type", "languageMap")}
            out[name] = {"type": "Property", "value": chosen, "lang": key, **rest}
    return out
