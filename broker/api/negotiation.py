"""Content negotiation of NGSI-LD: media types, the @context of a request, and rendering.

- ``Accept`` picks the response type among application/json, application/ld+json and (where
  the operation allows it) application/geo+json; nothing acceptable is a 406.
- A body is application/json (its @context, if any, comes from the ``Link`` header, and the
  body must not carry one) or application/ld+json (the @context is in the body and a ``Link``
  header is an error); anything else is a 415.
- Responses in application/json carry the context in a ``Link`` header; in
  application/ld+json, as ``@context`` in each entity (spliced into stored bytes, so that the
  fast path never decodes an entity).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import orjson
from aiohttp import web

from ..errors import BadRequest
from ..ngsi.terms import CORE_CONTEXT
from .errors import NotAcceptable, UnsupportedMediaType

JSON = "application/json"
LD = "application/ld+json"
GEO = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"


def _media_ranges(accept: str) -> list[tuple[str, float, int]]:
    out = []
    for i, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        out.append((media, q, i))
    return out


def response_type(accept: str | None, *, geo: bool = False) -> str:
    """The media type to answer with, or ``NotAcceptable``."""
    if not accept:
        return JSON
    return _response_type(accept, geo)


@lru_cache(maxsize=512)  # clients send the same few Accept headers over and over
def _response_type(accept: str, geo: bool) -> str:
    offered = [JSON, LD] + ([GEO] if geo else [])
    best: tuple[float, int, str] | None = None
    for media, q, order in _media_ranges(accept):
        if q <= 0:
            continue
        if media in ("*/*", "application/*"):
            candidate = JSON
        elif media in offered:
            candidate = media
        else:
            continue
        key = (q, -order, candidate)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        raise NotAcceptable(f"cannot produce any of: {accept[:200]}; offered: {', '.join(offered)}")
    return best[2]


def link_context(request: web.Request) -> str | None:
    """The @context URL of a JSON-LD ``Link`` header, if any."""
    headers = request.headers.getall("Link", ())
    found = [url for header in headers for url in _contexts_in(header)]
    if len(found) > 1:
        raise BadRequest("more than one JSON-LD context Link header")
    return found[0] if found else None


@lru_cache(maxsize=256)  # a client sends the same Link header with every request
def _contexts_in(header: str) -> tuple[str, ...]:
    """The JSON-LD context URLs of one ``Link`` header value (malformed: BadRequest)."""
    out = []
    for link in _split_links(header):
        url, params = _parse_link(link)
        if params.get("rel") == CONTEXT_REL:
            out.append(url)
    return tuple(out)


def _split_links(header: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    depth = 0
    for ch in header:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


def _parse_link(link: str) -> tuple[str, dict[str, str]]:
    if not link.startswith("<") or ">" not in link:
        raise BadRequest("malformed Link header")
    url, _, rest = link[1:].partition(">")
    params = {}
    for item in rest.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    if not url.startswith(("http://", "https://")):
        raise BadRequest("the JSON-LD Link header must hold an http(s) URL")
    return url, params


def body_media_type(request: web.Request, *, allow_merge_patch: bool = False) -> str:
    """``JSON`` or ``LD`` for a request body, else ``UnsupportedMediaType``."""
    media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media == JSON or media == LD:
        return media
    if allow_merge_patch and media == MERGE_PATCH:
        return JSON
    raise UnsupportedMediaType(
        f"Content-Type must be application/json or application/ld+json, got {media or 'none'!r}")


def body_context(media: str, body: Any, link: str | None) -> Any:
    """The @context that applies to a body, and the body without it."""
    if media == LD:
        if link is not None:
            raise BadRequest("application/ld+json bodies carry their @context in the body, "
                             "not in a Link header")
        if isinstance(body, Mapping):
            if "@context" not in body:
                raise BadRequest("an application/ld+json body needs an @context member")
            return body["@context"]
        return None  # arrays (batches): each entry carries its own
    if isinstance(body, Mapping) and "@context" in body:
        raise BadRequest("an application/json body may not carry @context (use a Link "
                         "header, or send application/ld+json)")
    return link


def response_context(context: Any) -> Any:
    """The @context to put in a response: what the caller used; without one, the core
    context (the only context a request without @context speaks)."""
    return CORE_CONTEXT if context is None else context


def link_header(context: Any) -> str | None:
    """A Link header for a JSON response: the first URL of the context (the core context's
    for a caller without one); none for a context given only inline."""
    if context is None or isinstance(context, str):
        return _link_header_of_url(context)
    return _link_header(context)


@lru_cache(maxsize=256)  # the value of every JSON response: built once per context URL
def _link_header_of_url(context: str | None) -> str | None:
    return _link_header(context)


def _link_header(context: Any) -> str | None:
    ctx = response_context(context)
    items = ctx if isinstance(ctx, list) else [ctx]
    urls = [c for c in items if isinstance(c, str)]
    if not urls:
        return None
    return f'<{urls[0]}>; rel="{CONTEXT_REL}"; type="{LD}"'


# -- rendering --------------------------------------------------------------------------------

def _ctx_prefix(context: Any) -> bytes:
    return b'{"@context":' + orjson.dumps(response_context(context))


def splice_context(doc: bytes, context: Any) -> bytes:
    """Put ``@context`` first in a serialized JSON object without decoding it."""
    body = doc.lstrip()
    if body == b"{}":
        return _ctx_prefix(context) + b"}"
    return _ctx_prefix(context) + b"," + body[1:]


def render_docs(docs: Iterable[bytes], media: str, context: Any) -> bytes:
    """A JSON array of serialized entities, each with its @context for JSON-LD."""
    if media == LD:
        prefix = _ctx_prefix(context) + b","
        docs = (prefix + d[1:] if d[:1] == b"{" and d != b"{}" else splice_context(d, context)
                for d in docs)
    return b"[" + b",".join(docs) + b"]"


def response(payload: bytes, media: str, context: Any, *, status: int = 200,
             headers: Mapping[str, str] | None = None, links: Sequence[str] = ()
             ) -> web.Response:
    """A response in ``media``; JSON carries the context as a ``Link`` header, and ``links``
    (pagination) come as further ``Link`` headers."""
    resp = web.Response(status=status, body=payload, content_type=media, headers=headers)
    if media == JSON or media == GEO:
        link = link_header(context)
        if link:
            resp.headers.add("Link", link)
    for link in links:
        resp.headers.add("Link", link)
    return resp


def render_object(obj: Any, media: str, context: Any) -> bytes:
    """A non-entity JSON document (type lists, subscriptions...)."""
    if media == LD and isinstance(obj, Mapping):
        return orjson.dumps({"@context": response_context(context), **obj})
    if media == LD and isinstance(obj, list):
        return render_docs((orjson.dumps(o) for o in obj), media, context)
    return orjson.dumps(obj)
