"""NGSI-LD context source registrations (ETSI GS CIM 009 v1.8.1 5.2.9, 5.9, 5.10, 5.12).

A registration tells the node that a context source (another broker, a device gateway) holds
entities of some types, ids and attributes. This module validates one (or a fragment for an
update), keeps it in the store in stored names (the caller's terms expanded), renders it back
in a caller's terms and answers discovery queries (5.12: does a RegistrationInfo cover the
asked types, ids and attributes?). The node does not yet forward requests to registered
sources (distributed operations); a registration is kept and discovered, nothing more.

A registration belongs to the API client that created it, as a subscription does: another
client's is 404, so what one client receives never depends on what another registered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from trust.clock import Clock

from ..errors import BadRequest, NotFound
from ..service.query import TypeExpr, id_pattern
from ..store.base import CSourceRow, Store
from .model import is_uri, iso, parse_datetime
from .q import parse_geo

TYPE = "ContextSourceRegistration"
NULL = "urn:ngsi-ld:null"
MODES = ("inclusive", "exclusive", "redirect", "auxiliary")
# 5.2.9: the members a registration defines. Any other member is a Context Source Property
# (5.2.9 "additional members"), kept as given under its expanded name.
_MEMBERS = frozenset({
    "id", "type", "registrationName", "description", "information", "tenant",
    "observationInterval", "managementInterval", "location", "observationSpace",
    "operationSpace", "expiresAt", "endpoint", "contextSourceInfo", "scope", "mode",
    "operations", "refreshRate", "management"})
# Kept by the broker: never taken from a request body.
_BROKER_KEPT = frozenset({"createdAt", "modifiedAt", "status", "timesSent", "timesFailed",
                          "lastSuccess", "lastFailure"})
_GEO_MEMBERS = ("location", "observationSpace", "operationSpace")
MAX_INFORMATION = 100


@dataclass(frozen=True)
class Names:
    """How to turn a caller's names into stored names (``attr``, ``type``) and back
    (``out_attr``, ``out_type``)."""

    attr: Callable[[str], str]
    type: Callable[[str], str]
    out_attr: Callable[[str], str]
    out_type: Callable[[str], str]


# -- validation -------------------------------------------------------------------------------

def validate(raw: Any, names: Names, *, partial: bool = False,
             now: float | None = None) -> dict[str, Any]:
    """A registration (or, ``partial``, an update fragment) in stored names; BadRequest
    naming the first thing wrong."""
    if not isinstance(raw, Mapping):
        raise BadRequest("a context source registration must be a JSON object")
    reg: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "@context" or key in _BROKER_KEPT:
            continue
        if key in _MEMBERS:
            reg[key] = value
        elif key.startswith("@") or not key:
            raise BadRequest(f"{key[:64]!r} is not a registration member")
        else:
            reg[names.attr(key)] = value  # a Context Source Property
    if partial:
        # 5.9.3: the id is the path's and the type is fixed; a fragment changes neither.
        if "type" in reg and reg["type"] != TYPE:
            raise BadRequest(f'type must be "{TYPE}"')
        reg.pop("id", None)
        reg.pop("type", None)
        if not reg:
            raise BadRequest("the fragment changes no member of the registration")
        removed = {k for k, v in reg.items() if v is None or v == NULL}
        kept = removed & {"information", "endpoint"}
        if kept:
            raise BadRequest(f"{sorted(kept)[0]} is mandatory: it cannot be removed")
        # null removes a member (expiresAt: null, never expire); nothing to check in it.
        checked = validate_members({k: v for k, v in reg.items() if k not in removed},
                                   names, now)
        return {**checked, **{k: None for k in removed}}
    else:
        if reg.get("type") != TYPE:
            raise BadRequest(f'a context source registration needs "type": "{TYPE}"')
        if "id" in reg and not is_uri(reg["id"]):
            raise BadRequest("registration id must be a URI")
        for needed in ("information", "endpoint"):
            if needed not in reg:
                raise BadRequest(f"a context source registration needs {needed}")
    return validate_members(reg, names, now)


def validate_members(reg: dict[str, Any], names: Names, now: float | None
                     ) -> dict[str, Any]:
    """Check each member of ``reg`` (id and type aside) and put its names in stored form."""
    if "information" in reg:
        reg["information"] = _information(reg["information"], names)
    if "endpoint" in reg and not (isinstance(reg["endpoint"], str) and is_uri(reg["endpoint"])):
        raise BadRequest("endpoint must be a URI")
    for text in ("registrationName", "description", "tenant", "refreshRate"):
        if text in reg and not isinstance(reg[text], str):
            raise BadRequest(f"{text} must be a string")
    if "expiresAt" in reg:
        expires = parse_datetime(reg["expiresAt"])
        if expires is None:
            raise BadRequest("expiresAt must be an ISO 8601 date-time")
        if now is not None and expires.timestamp() <= now:
            raise BadRequest("expiresAt must be in the future")
    for interval in ("observationInterval", "managementInterval"):
        if interval in reg:
            _time_interval(reg[interval], interval)
    for geo in _GEO_MEMBERS:
        if geo in reg:
            _geometry(reg[geo], geo)
    if "contextSourceInfo" in reg:
        info = reg["contextSourceInfo"]
        if not isinstance(info, list) or not all(
                isinstance(p, Mapping) and set(p) == {"key", "value"}
                and all(isinstance(v, str) for v in p.values()) for p in info):
            raise BadRequest("contextSourceInfo must be an array of {key, value} strings")
    if "scope" in reg:
        scopes = reg["scope"] if isinstance(reg["scope"], list) else [reg["scope"]]
        if not scopes or not all(isinstance(s, str) and s.startswith("/") for s in scopes):
            raise BadRequest("scope must be a scope path or an array of them")
    if "mode" in reg and reg["mode"] not in MODES:
        raise BadRequest(f"mode must be one of {list(MODES)}")
    if "operations" in reg and not (isinstance(reg["operations"], list) and reg["operations"]
                                    and all(isinstance(o, str) for o in reg["operations"])):
        raise BadRequest("operations must be a non-empty array of operation names")
    if "management" in reg and not isinstance(reg["management"], Mapping):
        raise BadRequest("management must be an object")
    return reg


def _information(value: Any, names: Names) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise BadRequest("information must be a non-empty array of RegistrationInfo")
    if len(value) > MAX_INFORMATION:
        raise BadRequest(f"information holds at most {MAX_INFORMATION} entries")
    out = []
    for info in value:
        if not isinstance(info, Mapping):
            raise BadRequest("each information entry must be an object")
        unknown = set(info) - {"entities", "propertyNames", "relationshipNames"}
        if unknown:
            raise BadRequest(f"unknown RegistrationInfo member {sorted(unknown)[0][:64]!r}")
        if not info:
            # 5.2.10: at least one of entities, propertyNames, relationshipNames.
            raise BadRequest("a RegistrationInfo needs entities, propertyNames or "
                             "relationshipNames")
        entry: dict[str, Any] = {}
        if "entities" in info:
            entities = info["entities"]
            if not isinstance(entities, list) or not entities:
                raise BadRequest("information[].entities must be a non-empty array")
            entry["entities"] = [_entity_info(e, names) for e in entities]
        for key in ("propertyNames", "relationshipNames"):
            if key in info:
                listed = info[key]
                if not isinstance(listed, list) or not all(
                        isinstance(n, str) and n for n in listed):
                    raise BadRequest(f"information[].{key} must be an array of names")
                entry[key] = [names.attr(n) for n in listed]
        out.append(entry)
    return out


def _entity_info(e: Any, names: Names) -> dict[str, Any]:
    if not isinstance(e, Mapping) or not isinstance(e.get("type"), str) or not e["type"]:
        raise BadRequest("each information[].entities entry needs a type")
    unknown = set(e) - {"id", "idPattern", "type"}
    if unknown:
        raise BadRequest(f"unknown EntityInfo member {sorted(unknown)[0][:64]!r}")
    out: dict[str, Any] = {}
    if "id" in e:
        if not is_uri(e["id"]):
            raise BadRequest("information[].entities[].id must be a URI")
        out["id"] = e["id"]
    if "idPattern" in e:
        if not isinstance(e["idPattern"], str):
            raise BadRequest("information[].entities[].idPattern must be a string")
        id_pattern(e["idPattern"], "information[].entities[].idPattern")
        out["idPattern"] = e["idPattern"]
    out["type"] = names.type(e["type"])
    return out


def _time_interval(value: Any, what: str) -> None:
    if not isinstance(value, Mapping) or "startAt" not in value:
        raise BadRequest(f"{what} must be an object with startAt (and endAt)")
    unknown = set(value) - {"startAt", "endAt"}
    if unknown:
        raise BadRequest(f"unknown {what} member {sorted(unknown)[0][:64]!r}")
    start = parse_datetime(value["startAt"])
    end = parse_datetime(value["endAt"]) if "endAt" in value else None
    if start is None or ("endAt" in value and end is None):
        raise BadRequest(f"{what}.startAt and endAt must be ISO 8601 date-times")
    if end is not None and end < start:
        raise BadRequest(f"{what}.endAt is before its startAt")


def _geometry(value: Any, what: str) -> None:
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str) \
            or "coordinates" not in value:
        raise BadRequest(f"{what} must be a GeoJSON geometry")
    # The geo-query parser checks a geometry's shape (ring closure, positions) the same way.
    parse_geo("intersects", value["type"], orjson.dumps(value["coordinates"]).decode())


# -- storage ----------------------------------------------------------------------------------

class RegistrationStore:
    """Registrations in the store, each owned by one API client."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create(self, reg: dict[str, Any], *, owner: str) -> str:
        """Keep ``reg`` (validated) and answer its id (generated when it has none);
        AlreadyExists when the owner holds one with that id."""
        reg = {**reg}
        reg.setdefault("id", f"urn:ngsi-ld:{TYPE}:{uuid.uuid4()}")
        now = self._clock.now()
        await self._store.add_csource(CSourceRow(owner, reg["id"], orjson.dumps(reg), now, now,
                                                 _expiry(reg)))
        return str(reg["id"])

    async def get(self, reg_id: str, *, owner: str) -> CSourceRow:
        row = await self._store.get_csource(owner, reg_id)
        if row is None:
            raise NotFound(f"registration {reg_id[:256]} not found")
        return row

    async def owned_by(self, owner: str) -> list[CSourceRow]:
        return await self._store.list_csources(owner)

    async def update(self, reg_id: str, fragment: Mapping[str, Any], *, owner: str) -> None:
        """Merge ``fragment`` (validated, partial) into the registration (5.9.3: each member
        given replaces the one held; ``expiresAt: null`` removes the expiry)."""
        row = await self.get(reg_id, owner=owner)
        reg = orjson.loads(row.doc)
        for key, value in fragment.items():
            if value is None:
                reg.pop(key, None)
            else:
                reg[key] = value
        if not await self._store.replace_csource(CSourceRow(
                owner, reg_id, orjson.dumps(reg), row.created_at, self._clock.now(),
                _expiry(reg))):
            raise NotFound(f"registration {reg_id[:256]} not found")

    async def delete(self, reg_id: str, *, owner: str) -> None:
        if not await self._store.delete_csource(owner, reg_id):
            raise NotFound(f"registration {reg_id[:256]} not found")


def _expiry(reg: Mapping[str, Any]) -> float | None:
    expires = parse_datetime(reg["expiresAt"]) if "expiresAt" in reg else None
    return expires.timestamp() if expires is not None else None


# -- representation and discovery -------------------------------------------------------------

def representation(row: CSourceRow, names: Names, *, sys_attrs: bool = False
                   ) -> dict[str, Any]:
    """The registration in the caller's terms, with the defaults 5.2.9 gives (``mode``
    inclusive, ``operations`` federationOps) when it set none."""
    reg = orjson.loads(row.doc)
    out: dict[str, Any] = {}
    for key, value in reg.items():
        if key == "information":
            out[key] = [_outward_info(i, names) for i in value]
        elif key in _MEMBERS:
            out[key] = value
        else:
            out[names.out_attr(key)] = value
    out.setdefault("mode", "inclusive")
    out.setdefault("operations", ["federationOps"])
    if sys_attrs:
        out["createdAt"] = iso(row.created_at)
        out["modifiedAt"] = iso(row.modified_at)
    return out


def _outward_info(info: Mapping[str, Any], names: Names) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "entities" in info:
        out["entities"] = [{**e, "type": names.out_type(e["type"])} for e in info["entities"]]
    for key in ("propertyNames", "relationshipNames"):
        if key in info:
            out[key] = [names.out_attr(n) for n in info[key]]
    return out


@dataclass(frozen=True)
class Discovery:
    """What a Query Context Source Registrations asks (5.10.2), in stored names."""

    types: TypeExpr | None = None
    ids: tuple[str, ...] = ()
    id_pattern: str = ""
    attrs: tuple[str, ...] = ()


def matches(row: CSourceRow, query: Discovery, now: float) -> bool:
    """5.12: whether some RegistrationInfo of the registration covers the query (an expired
    registration covers nothing)."""
    if row.expires_at is not None and row.expires_at <= now:
        return False
    reg = orjson.loads(row.doc)
    return any(_info_matches(info, query) for info in reg.get("information", []))


def _info_matches(info: Mapping[str, Any], query: Discovery) -> bool:
    entities = info.get("entities")
    if entities is not None and not any(_entity_matches(e, query) for e in entities):
        return False
    if query.attrs:
        named = [*info.get("propertyNames", []), *info.get("relationshipNames", [])]
        # No names at all: the source may hold every attribute of its entities.
        if named and not set(named) & set(query.attrs):
            return False
    return True


def _entity_matches(e: Mapping[str, Any], query: Discovery) -> bool:
    if query.types is not None and not query.types.matches((e["type"],)):
        return False
    if query.ids:
        if "id" in e:
            return bool(e["id"] in query.ids)
        pattern = id_pattern(e.get("idPattern"))
        # A type-only EntityInfo covers every id of its type.
        return pattern is None or any(pattern.matches(i) for i in query.ids)
    if query.id_pattern and "id" in e:
        asked = id_pattern(query.id_pattern)
        return asked is None or asked.matches(e["id"])
    return True
