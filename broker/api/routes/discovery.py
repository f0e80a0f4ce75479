"""``/ngsi-ld/v1/types`` and ``/ngsi-ld/v1/attributes``: what this node holds (local data)."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from ...errors import NotFound
from ..common import api_of, flag, terms_for
from ..negotiation import link_context, render_object, response, response_type

BASE = "/ngsi-ld/v1"


def _list_id(kind: str, names: list[str]) -> str:
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return f"urn:ngsi-ld:{kind}:{digest}"


async def _discovery(request: web.Request) -> Any:
    return api_of(request).discovery


async def list_types(request: web.Request) -> web.Response:
    media = response_type(request.headers.get("Accept"))
    terms = await terms_for(request, link_context(request))
    types = await (await _discovery(request)).types()
    out = terms.outward
    default = api_of(request).terms.default
    if flag(request, "details"):
        body: Any = [{"id": default.expand(t), "type": "EntityType",
                      "typeName": out.type_name(t),
                      "attributeNames": sorted(out.attr_name(a) for a in info.attributes)}
                     for t, info in types.items()]
    else:
        names = [out.type_name(t) for t in types]
        body = {"id": _list_id("EntityTypeList", names), "type": "EntityTypeList",
                "typeList": names}
    return response(render_object(body, media, terms.context), media, terms.context)


async def type_info(request: web.Request) -> web.Response:
    media = response_type(request.headers.get("Accept"))
    terms = await terms_for(request, link_context(request))
    stored = terms.type(request.match_info["type"])
    info = (await (await _discovery(request)).types()).get(stored)
    if info is None:
        raise NotFound(f"no entities of type {request.match_info['type'][:128]}")
    out = terms.outward
    default = api_of(request).terms.default
    body = {"id": default.expand(stored), "type": "EntityTypeInfo",
            "typeName": out.type_name(stored), "entityCount": info.count,
            "attributeDetails": [{"id": default.expand(a), "type": "Attribute",
                                  "attributeName": out.attr_name(a),
                                  "attributeTypes": sorted(kinds)}
                                 for a, kinds in info.attributes.items()]}
    return response(render_object(body, media, terms.context), media, terms.context)


async def list_attributes(request: web.Request) -> web.Response:
    media = response_type(request.headers.get("Accept"))
    terms = await terms_for(request, link_context(request))
    attrs = await (await _discovery(request)).attributes()
    out = terms.outward
    default = api_of(request).terms.default
    if flag(request, "details"):
        body: Any = [{"id": default.expand(a), "type": "Attribute",
                      "attributeName": out.attr_name(a),
                      "typeNames": sorted(out.type_name(t) for t in e["typeNames"])}
                     for a, e in attrs.items()]
    else:
        names = [out.attr_name(a) for a in attrs]
        body = {"id": _list_id("AttributeList", names), "type": "AttributeList",
                "attributeList": names}
    return response(render_object(body, media, terms.context), media, terms.context)


async def attribute_info(request: web.Request) -> web.Response:
    media = response_type(request.headers.get("Accept"))
    terms = await terms_for(request, link_context(request))
    stored = terms.attr(request.match_info["attr"])
    entry = (await (await _discovery(request)).attributes()).get(stored)
    if entry is None:
        raise NotFound(f"no attribute {request.match_info['attr'][:128]}")
    out = terms.outward
    body = {"id": api_of(request).terms.default.expand(stored), "type": "Attribute",
            "attributeName": out.attr_name(stored), "attributeCount": entry["count"],
            "attributeTypes": sorted(entry["types"]),
            "typeNames": sorted(out.type_name(t) for t in entry["typeNames"])}
    return response(render_object(body, media, terms.context), media, terms.context)


def routes() -> list[tuple[str, str, Any]]:
    return [("GET", f"{BASE}/types", list_types), ("GET", f"{BASE}/types/{{type}}", type_info),
            ("GET", f"{BASE}/attributes", list_attributes),
            ("GET", f"{BASE}/attributes/{{attr}}", attribute_info)]
