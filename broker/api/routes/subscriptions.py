"""``/ngsi-ld/v1/subscriptions``: create, list, retrieve, update and delete subscriptions.

A subscription belongs to the API client that created it: every other operation sees only the
caller's own (another client's is 404, as if it did not exist), because a subscription holds
its owner's endpoint and the credentials the node sends there.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...ngsi.q import rename_q
from ...ngsi.scope import Audience
from ...ngsi.subscriptions import Names, representation, validate
from ..common import (
    Api,
    Terms,
    api_of,
    caller_of,
    flag,
    int_param,
    page_links,
    page_size,
    path_id,
    read_json,
    resource_location,
    terms_for,
)
from ..negotiation import link_context, render_object, response, response_type

BASE = "/ngsi-ld/v1/subscriptions"


def _names(terms: Terms) -> Names:
    return Names(attr=terms.attr, type=terms.type)


def _outward(sub: dict[str, Any], terms: Terms) -> dict[str, Any]:
    """A stored subscription in the caller's names."""
    out = terms.outward
    sub = dict(sub)
    if "entities" in sub:
        sub["entities"] = [{**e, "type": out.type_name(e["type"])} for e in sub["entities"]]
    if "watchedAttributes" in sub:
        sub["watchedAttributes"] = [out.attr_name(a) for a in sub["watchedAttributes"]]
    if "q" in sub:
        sub["q"] = rename_q(sub["q"], out.attr_name)
    if isinstance(sub.get("geoQ"), dict) and "geoproperty" in sub["geoQ"]:
        sub["geoQ"] = {**sub["geoQ"],
                       "geoproperty": out.attr_name(sub["geoQ"]["geoproperty"])}
    n = dict(sub.get("notification", {}))
    if "attributes" in n:
        n["attributes"] = [out.attr_name(a) for a in n["attributes"]]
    for key in ("pick", "omit"):
        if key in n:
            n[key] = [out.attr_name(a) for a in n[key]]
    sub["notification"] = n
    return sub


async def create(request: web.Request) -> web.Response:
    api = api_of(request)
    body, _media, context = await read_json(request)
    terms = await terms_for(request, context)
    sub = validate(body, _names(terms), api.egress, now=api.clock.now())
    if "jsonldContext" in sub:
        # 5.2.12: notifications are compacted with it; one never fetched is 503 now.
        await api.terms.get(sub["jsonldContext"])
    caller = caller_of(request)
    record = await api.subscriptions.create(
        sub, context=context, owner=caller.client_id, purpose=caller.purpose,
        cursor=await api.store.last_change_cursor())
    await api.notifier.sync_federated()
    return web.Response(status=201, headers={
        "Location": resource_location(BASE, record["subscription"]["id"])})


def _render(api: Api, record: dict[str, Any], terms: Terms) -> dict[str, Any]:
    sub = _outward(representation(record, api.clock.now()), terms)
    status = api.notifier.federation_status(record)
    if status not in ("local_only", "no_peers") and api.scope.plan(
            Audience(record.get("purpose") or None)):
        sub["renkeiFederation"] = {"status": status}
    return sub


async def list_subscriptions(request: web.Request) -> web.Response:
    api = api_of(request)
    media = response_type(request.headers.get("Accept"))
    terms = await terms_for(request, link_context(request))
    limit = page_size(request)
    offset = int_param(request, "offset", 0)
    records = await api.subscriptions.owned_by(caller_of(request).client_id)
    page = [_render(api, r, terms) for r in records[offset:offset + limit]]
    headers = {"NGSILD-Results-Count": str(len(records))} if flag(request, "count") else {}
    return response(render_object(page, media, terms.context), media, terms.context,
                    headers=headers,
                    links=page_links(request, offset, limit, offset + limit < len(records)))


async def retrieve(request: web.Request) -> web.Response:
    api = api_of(request)
    media = response_type(request.headers.get("Accept"))
    terms = await terms_for(request, link_context(request))
    record = await api.subscriptions.get(path_id(request, "sub_id"),
                                         owner=caller_of(request).client_id)
    return response(render_object(_render(api, record, terms), media, terms.context), media,
                    terms.context)


async def update(request: web.Request) -> web.Response:
    api = api_of(request)
    body, _media, context = await read_json(request, allow_merge_patch=True)
    terms = await terms_for(request, context)
    fragment = validate(body, _names(terms), api.egress, partial=True,
                        now=api.clock.now())
    await api.subscriptions.update(path_id(request, "sub_id"), fragment,
                                   owner=caller_of(request).client_id)
    await api.notifier.sync_federated()
    return web.Response(status=204)


async def delete(request: web.Request) -> web.Response:
    api = api_of(request)
    await api.subscriptions.delete(path_id(request, "sub_id"),
                                   owner=caller_of(request).client_id)
    await api.notifier.sync_federated()
    return web.Response(status=204)


def routes() -> list[tuple[str, str, Any]]:
    one = BASE + "/{sub_id}"
    return [("POST", BASE, create), ("GET", BASE, list_subscriptions), ("GET", one, retrieve),
            ("PATCH", one, update), ("DELETE", one, delete)]
