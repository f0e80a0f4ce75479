"""``/ngsi-ld/v1/csourceRegistrations``: register, discover, update and delete context source
registrations (ETSI GS CIM 009 v1.8.1 5.9, 5.10; 6.8, 6.9).

A registration belongs to the API client that created it (another client's is 404), as a
subscription does. Discovery (``GET``) answers the caller's registrations that cover the asked
types, ids and attributes. ``q`` (on Context Source Properties), ``csf``, geo-queries and
temporal queries over registrations are not implemented: they are 422 OperationNotSupported,
never ignored (ignoring a filter would widen the answer).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...errors import BadRequest, NotSupported
from ...ngsi import registrations as csr
from ...ngsi.model import is_uri
from ...service.query import id_pattern, parse_types
from ..common import (
    Terms,
    api_of,
    caller_of,
    flag,
    int_param,
    list_param,
    options_of,
    page_links,
    page_size,
    path_id,
    read_json,
    resource_location,
    terms_for,
)
from ..negotiation import link_context, render_object, response, response_type

BASE = "/ngsi-ld/v1/csourceRegistrations"
ONE = BASE + "/{reg_id}"
# Defined by 6.8.3.2 but not implemented here: refused (see the module docstring).
UNSUPPORTED = ("q", "csf", "georel", "geometry", "coordinates", "geoproperty", "timeproperty",
               "timerel", "timeAt", "endTimeAt")


def _names(terms: Terms) -> csr.Names:
    out = terms.outward
    return csr.Names(attr=terms.attr, type=terms.type, out_attr=out.attr_name,
                     out_type=out.type_name)


def _store(request: web.Request) -> csr.RegistrationStore:
    api = api_of(request)
    return csr.RegistrationStore(api.store, api.clock)


async def create(request: web.Request) -> web.Response:
    body, _media, context = await read_json(request)
    terms = await terms_for(request, context)
    reg = csr.validate(body, _names(terms), now=api_of(request).clock.now())
    reg_id = await _store(request).create(reg, owner=caller_of(request).client_id)
    return web.Response(status=201, headers={"Location": resource_location(BASE, reg_id)})


def _discovery(request: web.Request, terms: Terms) -> csr.Discovery:
    q = request.query
    unsupported = next((p for p in UNSUPPORTED if p in q), None)
    if unsupported is not None:
        raise NotSupported(f"{unsupported} on context source registrations is not supported "
                           "by this node")
    if not q.get("type") and not q.get("attrs"):
        # 5.10.2.4: one of the entity types or attribute names is needed.
        raise BadRequest("a registration query needs type or attrs")
    ids = list_param(request, "id")
    bad = next((i for i in ids if not is_uri(i)), None)
    if bad is not None:
        raise BadRequest(f"id {bad[:64]!r} is not a URI")
    pattern = q.get("idPattern", "")
    id_pattern(pattern)  # BadRequest when it is not RE2
    return csr.Discovery(
        types=parse_types(q["type"], terms.type) if q.get("type") else None, ids=ids,
        id_pattern=pattern, attrs=tuple(terms.attr(a) for a in list_param(request, "attrs")))


def _sys_attrs(request: web.Request) -> bool:
    options = options_of(request)
    if options - {"sysAttrs"}:
        raise BadRequest(f"options {sorted(options - {'sysAttrs'})[0]!r} does not apply to "
                         "registrations")
    return "sysAttrs" in options


async def query(request: web.Request) -> web.Response:
    api = api_of(request)
    media = response_type(request.headers.get("Accept"))
    terms = await terms_for(request, link_context(request))
    wanted = _discovery(request, terms)
    sys_attrs = _sys_attrs(request)
    limit = page_size(request)
    offset = int_param(request, "offset", 0)
    now = api.clock.now()
    rows = [r for r in await _store(request).owned_by(caller_of(request).client_id)
            if csr.matches(r, wanted, now)]
    names = _names(terms)
    page = [csr.representation(r, names, sys_attrs=sys_attrs)
            for r in rows[offset:offset + limit]]
    headers = {"NGSILD-Results-Count": str(len(rows))} if flag(request, "count") else {}
    return response(render_object(page, media, terms.context), media, terms.context,
                    headers=headers,
                    links=page_links(request, offset, limit, offset + limit < len(rows)))


async def retrieve(request: web.Request) -> web.Response:
    media = response_type(request.headers.get("Accept"))
    terms = await terms_for(request, link_context(request))
    row = await _store(request).get(path_id(request, "reg_id"),
                                    owner=caller_of(request).client_id)
    body = csr.representation(row, _names(terms), sys_attrs=_sys_attrs(request))
    return response(render_object(body, media, terms.context), media, terms.context)


async def update(request: web.Request) -> web.Response:
    reg_id = path_id(request, "reg_id")
    body, _media, context = await read_json(request, allow_merge_patch=True)
    terms = await terms_for(request, context)
    if isinstance(body, dict) and "id" in body and body["id"] != reg_id:
        raise BadRequest("the fragment's id is not the registration's (the path's)")
    fragment = csr.validate(body, _names(terms), partial=True,
                            now=api_of(request).clock.now())
    await _store(request).update(reg_id, fragment, owner=caller_of(request).client_id)
    return web.Response(status=204)


async def delete(request: web.Request) -> web.Response:
    await _store(request).delete(path_id(request, "reg_id"),
                                 owner=caller_of(request).client_id)
    return web.Response(status=204)


def routes() -> list[tuple[str, str, Any]]:
    return [("POST", BASE, create), ("GET", BASE, query), ("GET", ONE, retrieve),
            ("PATCH", ONE, update), ("DELETE", ONE, delete)]
