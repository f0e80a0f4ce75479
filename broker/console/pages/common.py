"""What every page handler does: render inside the layout with the session's notice."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from ..context import console_of, html_response, who_of
from ..layout import page


def render(request: web.Request, title: str, current: str, body: object, *,
           maps: bool = False) -> web.Response:
    console = console_of(request)
    who = who_of(request)
    notice = console.notices.pop(who.token_hash, None)
    deps = console.deps
    return html_response(page(title, body, node_id=deps.node_id, node_name=deps.node_name,
                              who=who, current=current, notice=notice, maps=maps))


def samples(registry: CollectorRegistry, name: str) -> list[tuple[dict[str, str], float]]:
    """The (labels, value) samples of one metric family (counters: their ``_total``)."""
    out = []
    for family in registry.collect():
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name in (name, f"{name}_total"):
                out.append((dict(sample.labels), float(sample.value)))
    return out
