"""NGSI-LD entity reads: local or federated, one page merged and rendered for the route.

The route negotiates (media type, the caller's @context) and writes the response; what it
answers is decided here: whether peers are asked (not with ``local=true``, and only when some
peer shares a wanted type under the caller's purpose), what goes on the wire to them (only
the comparisons and geo-queries the wire form carries exactly: everything is checked again
here on arrival with the same query stack), how local and remote matches merge (local
attributes win) and how much of it the page holds. A local page without anything to render
keeps the stored bytes (``EntityPage.array``/``docs``) so the hot path decodes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from ..errors import PeerUnavailable
from ..federation.fanout import PeerStatus, owner_of
from ..service.filters import And, Comparison, Near, Or, Within, on_the_wire
from ..service.model import FederatedQuery
from ..service.query import CORE_MEMBERS, INDEXED_GEOPROPERTY, TypeExpr
from ..store.base import Store
from .join import render_joined
from .order import sort_rows
from .q import Absent, q_is_conjunction
from .query import NgsiQuery, local_page
from .render import OutputOptions, render_entity
from .scope import FOLLOW_PAGE, Audience, FederationScope, ScopeResult, merge
from .terms import Translator


@dataclass
class EntityPage:
    """One page of a query's answer. Exactly one of ``array`` (the stored JSON array, as
    stored), ``docs`` (each entity's JSON) and ``entities`` (rendered dicts) is set."""

    array: bytes | None = None
    docs: list[bytes] | None = None
    entities: list[dict[str, Any]] | None = None
    count: int | None = None
    more: bool = False
    warnings: list[PeerStatus] = field(default_factory=list)


@dataclass(frozen=True)
class Shape:
    """How the route will write the page: which forms it can send as they are."""

    raw: bool = True  # entity JSON may be spliced into the body (not GeoJSON)
    array: bool = False  # a stored JSON array may be the body (plain JSON)


class EntityReads:
    """Query and retrieve entities for the NGSI-LD API, here and at the peers."""

    def __init__(self, store: Store, scope: FederationScope) -> None:
        self._store = store
        self._scope = scope

    def federates(self, audience: Audience, query: NgsiQuery) -> bool:
        """Whether a (non-local) query asks peers: some peer shares one of its types."""
        return bool(self._scope.plan(audience, query.type_names))

    async def query(self, query: NgsiQuery, output: OutputOptions, translator: Translator,
                    *, audience: Audience, local: bool, shape: Shape = Shape()) -> EntityPage:
        if local or not self.federates(audience, query):
            return await self._local(query, output, translator, shape)
        return await self._federated(query, output, translator, audience)

    async def _fetch(self, entity_id: str
                     ) -> tuple[dict[str, Any], float | None, float | None] | None:
        """A linked entity for ``join`` (local data)."""
        stored = await self._store.get_entity(entity_id)
        if stored is None:
            return None
        return orjson.loads(stored.doc), stored.created_at, stored.modified_at

    async def _local(self, query: NgsiQuery, output: OutputOptions, translator: Translator,
                     shape: Shape) -> EntityPage:
        if output.join is not None:
            page = await local_page(self._store, query)
            entities = await render_joined(
                [(h.decoded(), h.stored.created_at, h.stored.modified_at) for h in page.hits],
                output, translator, output.join, self._fetch)
            return EntityPage(entities=entities, count=page.count, more=page.more)
        # Without system attributes or GeoJSON a row's timestamps are not needed: the store
        # may answer with stored bytes only.
        docs_only = shape.raw and not output.sys_attrs
        as_stored = output.passthrough and translator.identity
        page = await local_page(self._store, query, docs_only=docs_only,
                                as_array=as_stored and shape.array)
        out = EntityPage(count=page.count, more=page.more)
        if page.array is not None:
            out.array = page.array
        elif docs_only and as_stored:
            out.docs = page.stored_docs()
        elif docs_only and output.passthrough:
            out.docs = translated_docs(page.stored_docs(), output, translator)
        elif docs_only:
            out.docs = [orjson.dumps(r) for r in (render_entity(e, output, translator)
                                                  for e in page.entities()) if r]
        else:
            out.entities = [r for r in (render_entity(h.decoded(), output, translator,
                                                      h.stored.created_at, h.stored.modified_at)
                                        for h in page.hits) if r]
        return out

    async def _federated(self, query: NgsiQuery, output: OutputOptions,
                         translator: Translator, audience: Audience) -> EntityPage:
        """One page of local and remote matches merged; ``more`` if a match follows it."""
        want = query.offset + query.limit
        # One beyond the page, here and at each peer, tells whether a next page exists. A count
        # or an order needs every match of every peer, not only each one's first page.
        exhaust = query.count or bool(query.order_by)
        page = await local_page(self._store, replace(query, offset=0, limit=want + 1))
        local = {h.stored.id: h for h in page.hits}
        first = max(want + 1, FOLLOW_PAGE) if exhaust else want + 1
        # Peers answered what the wire form could carry; the rest of the filter runs here, and
        # a peer whose answer the filter thins out is asked for more until the page is full.
        result = await self._scope.query(audience, wire_query(query, output, first),
                                         accept=query.matches, need=want + 1,
                                         exhaust=exhaust)
        remote = result.entities
        merged = merge([h.decoded() for h in page.hits], remote)
        if query.order_by:
            merged = sort_rows(merged, query.order_by, lambda e: e, lambda e: (
                (local[e["id"]].stored.created_at, local[e["id"]].stored.modified_at)
                if e["id"] in local else (None, None)))
        rows = []
        for entity in merged[query.offset:want]:
            hit = local.get(entity["id"])
            rows.append((entity, hit.stored.created_at if hit else None,
                         hit.stored.modified_at if hit else None))
        if output.join is not None:
            rendered = await render_joined(rows, output, translator, output.join, self._fetch)
        else:
            # A projection that leaves nothing drops the entity from the page.
            rendered = [r for r in (render_entity(e, output, translator, c, m)
                                    for e, c, m in rows) if r]
        count = None
        warnings = result.warnings
        if page.count is not None:
            total = page.count + sum(1 for e in remote if e["id"] not in local)
            if result.exhausted and result.all_answered:
                count = total
            else:
                # Some peer did not send all its matches: the total is only a lower bound,
                # which an exact-looking NGSILD-Results-Count would misstate.
                warnings = [*warnings, PeerStatus("renkei", "incomplete",
                                                  reason=f"count_lower_bound: at least {total}")]
        return EntityPage(entities=rendered, count=count,
                          more=len(merged) > want or not result.complete, warnings=warnings)

    async def retrieve(self, entity_id: str, output: OutputOptions, translator: Translator,
                       *, audience: Audience, local: bool, types: TypeExpr | None = None
                       ) -> tuple[dict[str, Any] | list[dict[str, Any]] | None,
                                  list[PeerStatus]]:
        """The entity rendered (None when neither here nor at a peer, or not of ``types``;
        with ``join=flat`` a list: the entity, then the entities it links to) and the peers'
        warnings."""
        stored = await self._store.get_entity(entity_id)
        entity = orjson.loads(stored.doc) if stored else None
        result = ScopeResult()
        if not local and self._scope.plan(audience):
            result = await self._scope.query(audience, FederatedQuery(
                ids=(entity_id,), attrs=output.projection.wanted_attrs, limit=1))
            remote = [e for e in result.entities if e.get("id") == entity_id]
            if remote:
                entity = merge([entity] if entity else [], remote)[0]
        if entity is not None and types is not None and not types.matches(
                _type_names(entity)):
            entity = None
        if entity is None:
            _unless_the_owner_was_silent(entity_id, result.statuses)
            return None, result.warnings
        created = stored.created_at if stored else None
        modified = stored.modified_at if stored else None
        if output.join is not None:
            joined = await render_joined([(entity, created, modified)], output, translator,
                                         output.join, self._fetch)
            if not joined:
                return None, result.warnings
            # flat: the entity and the entities it links to; nothing linked: the entity alone.
            return (joined if len(joined) > 1 else joined[0]), result.warnings
        rendered = render_entity(entity, output, translator, created, modified)
        # ETSI GS CIM 009 v1.8.1 4.21: nothing left after pick/omit is ResourceNotFound.
        return (rendered or None), result.warnings


RENDERED_MAX = 20_000  # entries per context (~1 KB each): the cache stays a few tens of MB


def translated_docs(docs: list[bytes], output: OutputOptions, translator: Translator
                    ) -> list[bytes]:
    """Stored entities in the caller's names, each rendered once per context: with
    ``output.passthrough`` (normalized, no projection, no system attributes) the result
    depends only on the stored bytes and the translator, so it is kept on the translator."""
    cache = translator.rendered
    out = []
    for doc in docs:
        hit = cache.get(doc)
        if hit is None:
            rendered = render_entity(orjson.loads(doc), output, translator)
            hit = orjson.dumps(rendered) if rendered else b""
            if len(cache) >= RENDERED_MAX:
                cache.clear()
            cache[doc] = hit
        if hit:
            out.append(hit)
    return out


def _unless_the_owner_was_silent(entity_id: str, statuses: list[PeerStatus]) -> None:
    """Raise when the member the id names was asked and did not answer: the entity may well
    exist there, so "not found" would be false (503, with the peer's status, instead)."""
    owner = owner_of(entity_id)
    for status in statuses:
        if status.peer == owner and status.status in ("unavailable", "deadline_exceeded"):
            raise PeerUnavailable(owner, f"{entity_id} belongs to {owner}, which did not "
                                  f"answer ({status.status}: {status.reason or 'no reason'}); "
                                  "try again later", code=status.reason or status.status)


def wire_query(query: NgsiQuery, output: OutputOptions, limit: int) -> FederatedQuery:
    """What peers are asked: only the comparisons the wire carries exactly (the others, e.g.
    ``~=`` or ``attr[key]``, would be refused there) and geo on the indexed ``location``;
    the consumer checks the whole query on arrival anyway.

    A projection goes on the wire with every attribute the consumer's own check and order
    read (``q``, the geo-property, ``orderBy``): peers project after filtering, and the
    consumer filters again and projects what they sent. The attributes asked for are then
    the same whatever the filter, so a peer's answer to a projection it may not show (a
    denial) does not depend on whether the query also filters.
    """
    conj = q_is_conjunction(query.q) if query.q is not None else ()
    wire = tuple(c for c in conj or () if on_the_wire(c))
    geo = query.geo if isinstance(query.geo, Near | Within) \
        and query.geoproperty == INDEXED_GEOPROPERTY else None
    attrs = output.projection.wanted_attrs
    if attrs:
        attrs = tuple(dict.fromkeys((*attrs, *sorted(read_attributes(query) - set(attrs)))))
    return FederatedQuery(types=query.type_names, ids=query.ids, id_pattern=query.id_pattern,
                          attrs=attrs, q=wire, geo=geo, limit=limit,
                          filter_attrs=tuple(sorted(read_attributes(query))))


def read_attributes(query: NgsiQuery) -> set[str]:
    """The attributes the consumer's check and order of ``query`` read (no core members)."""
    names: set[str] = set()

    def walk(term: Any) -> None:
        if isinstance(term, And | Or):
            for item in term.items:
                walk(item)
        elif isinstance(term, Comparison | Absent):
            names.add(term.attribute)

    walk(query.q)
    if query.geo is not None:
        names.add(query.geoproperty)
    names.update(key.path[0] for key in query.order_by if key.path)
    return names - CORE_MEMBERS


def _type_names(entity: dict[str, Any]) -> tuple[str, ...]:
    t = entity.get("type")
    return tuple(str(x) for x in t) if isinstance(t, list) else (str(t),)

