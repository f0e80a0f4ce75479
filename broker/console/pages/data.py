"""Data: each source's last ingest, the entity counts by type, and the quarantined rows
(raw values are attacker text: rendered escaped, like everything else)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ...store.base import EntityFilter, IngestRun, Store
from ..context import Route, console_of
from ..geo import MAX_FEATURES, entity_feature, map_div
from ..layout import when
from ..markup import el, join, table
from .common import render

QUARANTINE_SHOWN = 500
ENTITIES_SHOWN = 50


def _name(doc: bytes) -> str:
    """An entity's name as stored (any language), for display only."""
    try:
        entity = orjson.loads(doc)
    except orjson.JSONDecodeError:
        return ""
    prop = entity.get("name") if isinstance(entity, dict) else None
    if not isinstance(prop, dict):
        return ""
    names = prop.get("languageMap")
    if isinstance(names, dict) and names:
        return " / ".join(str(v) for v in names.values())
    return str(prop.get("value", ""))


async def _entities(store: Store) -> tuple[list[tuple[object, ...]], list[dict[str, Any]]]:
    """The first entities' rows, and up to ``MAX_FEATURES`` located entities for the map."""
    rows: list[tuple[object, ...]] = []
    features: list[dict[str, Any]] = []
    scan = store.scan_entities(EntityFilter(), chunk=500)
    try:
        async for entity in scan:
            name = _name(entity.doc)
            if len(rows) < ENTITIES_SHOWN:
                rows.append((el("code", entity.id), entity.type, name))
            feature = entity_feature(entity.id, name, entity.doc)
            if feature is not None:
                features.append(feature)
            if len(features) >= MAX_FEATURES:
                break
    finally:  # stop the scan's generator now, not when it is collected
        close = getattr(scan, "aclose", None)
        if close is not None:
            await close()
    return rows, features


def routes() -> list[Route]:
    return [Route("GET", "/data", show)]


async def show(request: web.Request) -> web.StreamResponse:
    deps = console_of(request).deps
    store = deps.store
    last: dict[str, IngestRun] = {}
    for run in await store.list_runs(200):
        if run.source not in last or run.started_at > last[run.source].started_at:
            last[run.source] = run
    runs = table(("Source", "File", "Started", "Finished", "Read", "Mapped", "Quarantined",
                  "Created", "Updated", "Unchanged"),
                 [(el("code", r.source), r.file, when(r.started_at), when(r.finished_at),
                   r.read, r.mapped, r.quarantined, r.created, r.updated, r.unchanged)
                  for r in sorted(last.values(), key=lambda r: r.source)], id="ingest-runs")
    types = table(("Entity type", "Entities"),
                  sorted((await store.entity_types()).items()), id="entity-types")
    source = request.query.get("source", "").strip() or None
    code = request.query.get("code", "").strip()
    records = await store.list_quarantine(source=source, limit=QUARANTINE_SHOWN)
    if code:
        records = [q for q in records if q.code == code]
    quarantine = table(("Source", "File", "Row", "Column", "Raw value", "Code", "Reason"),
                       [(q.source, q.file, q.row, q.column, el("span", q.raw_value, class_="raw"),
                         el("code", q.code), q.message) for q in records], id="quarantine")
    filters = el("form",
                 el("label", "Source ", el("input", name="source", value=source or "")),
                 el("label", " Code ", el("input", name="code", value=code)),
                 el("button", "Filter", type="submit"), method="get", action="/console/data")
    entity_rows, features = await _entities(store)
    more = f", the first {QUARANTINE_SHOWN}" if len(records) >= QUARANTINE_SHOWN else ""
    body = join(el("h2", "Last ingest per source"),
                runs if last else el("p", "No ingest has run on this node."),
                el("h2", "Entities by type"), types,
                el("h2", f"Entities on the map ({len(features)} with a location)"),
                map_div(features, "entity-map"),
                el("h2", f"Entities (the first {ENTITIES_SHOWN} by id)"),
                table(("Id", "Type", "Name"), entity_rows, id="entities"),
                el("h2", f"Quarantined rows ({len(records)} open{more})"),
                filters, quarantine)
    return render(request, "Data", "data", body, maps=True)
