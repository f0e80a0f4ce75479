"""Linked entity retrieval (``join=inline|flat``, ``joinLevel``, ``containedBy``).

ETSI GS CIM 009 v1.8.1 clause 4.5.23: the entities a Relationship (or ListRelationship) points
at are retrieved with the entity, up to ``joinLevel`` hops (default 1). ``inline`` puts each
linked entity in the relationship (normalized: an ``entity`` member beside ``object``;
keyValues: the linked entity replaces the object id); ``flat`` answers the linked entities
after the requested ones, each once. A link to an entity that does not exist (or that the
projection leaves empty) is left as it is. The nested lists of ``pick``/``omit``
(``locatedAt{id,name}``) project the linked entities; ids in ``containedBy`` (and every entity
already on the way) are not fetched again, so a cycle ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import BadRequest
from .projection import CORE_NAMES, Projection
from .render import Join, OutputOptions, render_entity
from .terms import Translator

MODES = ("inline", "flat")
MAX_LEVEL = 8
# An entity by id: (normalized entity in stored names, createdAt, modifiedAt), or None.
Fetch = Callable[[str], Awaitable[tuple[dict[str, Any], float | None, float | None] | None]]


def join_of(mode: str | None, level: str | None, contained_by: tuple[str, ...]) -> Join | None:
    """The join a request asks for (None: no linked entities), validated."""
    if mode in (None, "", "@none"):
        return None
    if mode not in MODES:
        raise BadRequest(f"join must be inline, flat or @none, got {mode[:32]!r}")
    depth = 1
    if level not in (None, ""):
        if not level.isdigit() or not 1 <= int(level) <= MAX_LEVEL:
            raise BadRequest(f"joinLevel must be an integer from 1 to {MAX_LEVEL}")
        depth = int(level)
    return Join(mode, depth, contained_by)


@dataclass
class _Walk:
    join: Join
    output: OutputOptions
    translator: Translator
    fetch: Fetch
    seen: set[str] = field(default_factory=set)
    flat: list[dict[str, Any]] = field(default_factory=list)


async def render_joined(entities: list[tuple[dict[str, Any], float | None, float | None]],
                        output: OutputOptions, translator: Translator, join: Join,
                        fetch: Fetch) -> list[dict[str, Any]]:
    """The entities rendered with their linked entities; flat: the linked ones follow."""
    walk = _Walk(join, output, translator, fetch,
                 seen={e["id"] for e, _c, _m in entities} | set(join.contained_by))
    out = []
    for entity, created, modified in entities:
        rendered = await _render(walk, entity, created, modified, output.projection,
                                 join.level, frozenset({entity["id"]}))
        if rendered:
            out.append(rendered)
    return out + walk.flat


async def _render(walk: _Walk, entity: Mapping[str, Any], created: float | None,
                  modified: float | None, projection: Projection, level: int,
                  path: frozenset[str]) -> dict[str, Any]:
    rendered = render_entity(entity, replace(walk.output, projection=projection),
                             walk.translator, created, modified)
    if not rendered or level == 0:
        return rendered
    kept = projection.apply(entity) if not projection.empty else dict(entity)
    for name, index, target in _links(kept):
        if target in path or target in walk.join.contained_by:
            continue  # a cycle, or an entity the caller already holds
        got = await walk.fetch(target)
        if got is None:
            continue
        linked = await _render(walk, got[0], got[1], got[2], projection.linked(name),
                               level - 1, path | {target})
        if not linked:
            continue
        if walk.join.mode == "inline":
            _attach(rendered, walk.translator.attr_name(name), index, linked,
                    walk.output.format == "simplified")
        elif target not in walk.seen:
            walk.seen.add(target)
            walk.flat.append(linked)
    return rendered


def _links(entity: Mapping[str, Any]) -> Iterator[tuple[str, int, str]]:
    """(attribute, instance index, linked id) of every relationship of the entity."""
    for name, attr in entity.items():
        if name in CORE_NAMES:
            continue
        instances = attr if isinstance(attr, list) else [attr]
        for index, inst in enumerate(instances):
            if not isinstance(inst, Mapping):
                continue
            if inst.get("type") == "Relationship":
                targets = inst.get("object")
            elif inst.get("type") == "ListRelationship":
                targets = inst.get("objectList")
            else:
                continue
            for target in targets if isinstance(targets, list) else [targets]:
                if isinstance(target, Mapping):  # objectList items may be {"object": id}
                    target = target.get("object")
                if isinstance(target, str):
                    yield name, index, target


def _attach(rendered: dict[str, Any], name: str, index: int, linked: dict[str, Any],
            simplified: bool) -> None:
    attr = rendered.get(name)
    if isinstance(attr, list):
        if index >= len(attr):
            return
        if simplified:
            attr[index] = linked
        elif isinstance(attr[index], dict):
            attr[index] = {**attr[index], "entity": linked}  # a copy: never the stored dict
    elif simplified:
        rendered[name] = linked
    elif isinstance(attr, dict):
        rendered[name] = {**attr, "entity": linked}
