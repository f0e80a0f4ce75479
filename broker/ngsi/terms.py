"""Term maps: expand and compact NGSI-LD attribute and type names without JSON-LD per request.

Entities are stored with the short names of the federation's default context
(``mappings.contexts.DEFAULT_CONTEXT``: Renkei terms, then the core context). A client speaks
whatever context it sends; a request without any @context speaks the NGSI-LD core context
alone, as the specification says (terms the core does not define expand with its ``@vocab``,
``https://uri.etsi.org/ngsi-ld/default-context/``). Translating names between the caller's
context and the stored one is what JSON-LD expansion and compaction would do, but running pyld
on every entity of every response is far too slow, so each context is turned once into a
``TermMap`` (term -> IRI, plus the type-scoped terms of types such as ``OffStreetParking``)
and requests use dictionary look-ups.

A name the store's context defines with another IRI (``name`` is ``sdm:name`` for Renkei, but
``default-context/name`` for a client without context) is stored as its full IRI, so each
client reads back exactly the names it wrote.

pyld (through ``mappings.jsonld``) is used only to build a map: one probe document holding
every term of the context as a property (type-scoped terms on a node of their type), expanded
once, so that whatever JSON-LD says about protected terms, prefixes and scoped contexts is
what the map says, at the cost of one pyld run rather than one per term. Maps are cached per
context value (bounded); building runs off the loop. Inline contexts are capped (terms and
bytes): each distinct one a caller sends costs a build.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mappings.contexts import (
    DEFAULT_CONTEXT,
    NGSI_LD_CORE_URL,
    NGSI_LD_CORE_V1_8_URL,
    FrozenDocumentLoader,
)
from mappings.jsonld import expand

from .context_probe import candidate_terms, check_inline, expand_terms

#: What a request without any @context speaks: the core context of the version we implement.
CORE_CONTEXT = NGSI_LD_CORE_V1_8_URL
# NGSI-LD brokers expand a term no context defines with this vocabulary.
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
_PROBE = "renkeiUndefinedTermProbe"
CORE_ALIASES = frozenset({
    NGSI_LD_CORE_URL,
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld",
})
# Members of an entity that are NGSI-LD structure, never attribute names to translate.
STRUCTURAL = frozenset({"id", "type", "@context", "scope", "createdAt", "modifiedAt",
                        "deletedAt", "observedAt", "datasetId", "unitCode", "value", "object",
                        "languageMap", "vocab", "valueList", "objectList", "json", "lang",
                        "instanceId", "previousValue", "previousObject", "expiresAt"})


_GEN_DELIMS = (":", "/", "?", "#", "[", "]", "@")


@dataclass
class TermMap:
    """One context, flattened: names to IRIs and back, global and per type."""

    key: str
    context: Any
    terms: dict[str, str] = field(default_factory=dict)
    scoped: dict[str, dict[str, str]] = field(default_factory=dict)  # type IRI -> terms
    vocab: str = DEFAULT_VOCAB
    reverse: dict[str, str] = field(default_factory=dict)
    reverse_scoped: dict[str, dict[str, str]] = field(default_factory=dict)
    # (IRI, term) of terms that may prefix a compact IRI (their IRI ends in a gen-delim).
    prefixes: list[tuple[str, str]] = field(default_factory=list)

    def finish(self) -> TermMap:
        # When several terms name one IRI the first defined wins, as a compactor's shortest
        # choice would usually pick it; iteration order is the context's.
        for term, iri in self.terms.items():
            self.reverse.setdefault(iri, term)
        for type_iri, terms in self.scoped.items():
            rev: dict[str, str] = {}
            for term, iri in terms.items():
                rev.setdefault(iri, term)
            self.reverse_scoped[type_iri] = rev
        self.prefixes = sorted(((iri, term) for term, iri in self.terms.items()
                                if iri.endswith(_GEN_DELIMS) and ":" not in term),
                               key=lambda p: -len(p[0]))
        return self

    # -- expansion --------------------------------------------------------------------------
    def expand(self, name: str, type_iris: Sequence[str] = ()) -> str:
        """The IRI of an attribute name (type-scoped terms of ``type_iris`` first)."""
        for t in type_iris:
            scoped = self.scoped.get(t)
            if scoped and name in scoped:
                return scoped[name]
        iri = self.terms.get(name)
        if iri is not None:
            return iri
        prefix, sep, suffix = name.partition(":")
        if sep:
            base = self.terms.get(prefix)
            if base is not None and not suffix.startswith("//"):
                return base + suffix
            return name  # an absolute IRI already
        return self.vocab + name

    # -- compaction -------------------------------------------------------------------------
    def compact(self, iri: str, type_iris: Sequence[str] = ()) -> str:
        """The short name of an IRI in this context, or the IRI when it has none."""
        for t in type_iris:
            rev = self.reverse_scoped.get(t)
            if rev and iri in rev:
                return rev[iri]
        term = self.reverse.get(iri)
        if term is not None:
            return term
        if iri.startswith(self.vocab):
            rest = iri[len(self.vocab):]
            # A vocabulary-relative name must not collide with a defined term (it would read
            # back as that term's IRI), nor look like an IRI itself.
            if rest and rest not in self.terms and ":" not in rest and "/" not in rest:
                return rest
        # JSON-LD 1.1 IRI compaction: a compact IRI with the longest prefix term
        # (ngsi-ld:default-context/x for a default-context IRI a term of the context shadows).
        for base, prefix in self.prefixes:
            if iri.startswith(base) and len(iri) > len(base):
                compact = f"{prefix}:{iri[len(base):]}"
                if compact not in self.terms and not iri[len(base):].startswith("//"):
                    return compact
        return iri

class TermMaps:
    """Builds and caches ``TermMap`` per context; the only place that asks pyld about terms."""

    def __init__(self, loader: FrozenDocumentLoader, max_cached: int = 64) -> None:
        self.loader = loader
        self._max = max_cached
        self._cache: OrderedDict[str, TermMap] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        #: The store's names (the federation's default context).
        self.default = build_term_map(list(DEFAULT_CONTEXT), loader)
        # The store's names stay full IRIs where no term names them: stored documents must
        # not change form between versions (compact IRIs are for callers' contexts).
        self.default.prefixes = []
        #: The names of a request without @context (the core context alone).
        self.core = build_term_map([CORE_CONTEXT], loader)
        # Never evicted: every request without a context, and every stored entity, uses them.
        self._pinned = {self.default.key: self.default, self.core.key: self.core}

    @staticmethod
    def effective(context: Any) -> list[Any]:
        """The context a request means: what it sent, with the core context appended when
        missing (NGSI-LD always applies the core context last); nothing sent is the core
        context alone."""
        if context is None:
            return [CORE_CONTEXT]
        items = list(context) if isinstance(context, list) else [context]
        if not any(isinstance(c, str) and c in CORE_ALIASES for c in items):
            items.append(CORE_CONTEXT)
        return items

    async def get(self, context: Any) -> TermMap:
        """The map for a request's context (``ContextNotAvailable`` if a URL is unknown)."""
        if context is None:
            return self.core
        effective = self.effective(context)
        check_inline(effective)
        key = context_key(effective)
        hit = self._pinned.get(key) or self._cache.get(key)
        if hit is not None:
            if key in self._cache:
                self._cache.move_to_end(key)
            return hit
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._cache.get(key)
            if hit is None:
                hit = await asyncio.to_thread(build_term_map, effective, self.loader)
                self._cache[key] = hit
                while len(self._cache) > self._max:
                    del self._cache[next(iter(self._cache))]
        self._locks.pop(key, None)
        return hit


def context_key(context: Any) -> str:
    return orjson.dumps(context, option=orjson.OPT_SORT_KEYS).decode()


def build_term_map(context: Any, loader: FrozenDocumentLoader) -> TermMap:
    """Flatten ``context`` with pyld: every term, global and type-scoped, in one expansion."""
    m = TermMap(context_key(context), context)
    # Validate the whole context first: an unknown URL fails here, before anything is cached,
    # and a term that fails below can only be the term's own fault.
    probe = expand({"@context": context, _PROBE: "x"}, loader)
    keys = [k for k in (probe[0] if probe else {}) if not k.startswith("@")]
    if keys and keys[0].endswith(_PROBE):
        m.vocab = keys[0][: -len(_PROBE)]
    candidates, scoped_types = candidate_terms(context, loader)
    units: list[tuple[str | None, str]] = [(None, t) for t in candidates]
    units += [(type_term, t) for type_term, inner in scoped_types.items() for t in inner]
    found = expand_terms(context, units, loader)
    for term in candidates:
        if (None, term) in found:
            m.terms[term] = found[(None, term)]
    for type_term, inner in scoped_types.items():
        type_iri = m.terms.get(type_term)
        if type_iri is None:
            continue
        m.scoped[type_iri] = {t: found[(type_term, t)] for t in inner
                              if (type_term, t) in found}
    return m.finish()


class Translator:
    """Renames an entity's type and attribute names from one context's terms to another's.

    Translations are memoized per (name, entity types): a page of entities of one type asks
    for the same few names over and over.
    """

    MAX_MEMO = 8192

    def __init__(self, src: TermMap, dst: TermMap) -> None:
        self.src = src
        self.dst = dst
        self.identity = src is dst or src.key == dst.key
        self._memo: dict[tuple[str, tuple[str, ...]], str] = {}
        self._type_memo: dict[str, str] = {}
        # Stored entity bytes -> the same entity in ``dst`` names as bytes (b"" when nothing
        # is left), filled by the API's reads: a client without the Renkei context asks for
        # the same entities over and over, and translating each costs five times sending it.
        # Keyed by the bytes themselves, so a changed entity is a new entry, never stale.
        self.rendered: dict[bytes, bytes] = {}

    def type_name(self, name: str) -> str:
        if self.identity:
            return name
        hit = self._type_memo.get(name)
        if hit is None:
            hit = self.dst.compact(self.src.expand(name))
            if len(self._type_memo) >= self.MAX_MEMO:
                self._type_memo.clear()
            self._type_memo[name] = hit
        return hit

    def attr_name(self, name: str, type_iris: Sequence[str] = ()) -> str:
        if self.identity or name in STRUCTURAL:
            return name
        return self._name(name, tuple(type_iris))

    def _name(self, name: str, type_iris: tuple[str, ...]) -> str:
        key = (name, type_iris)
        hit = self._memo.get(key)
        if hit is None:
            hit = self.dst.compact(self.src.expand(name, type_iris), type_iris)
            if len(self._memo) >= self.MAX_MEMO:
                self._memo.clear()
            self._memo[key] = hit
        return hit

    def entity(self, entity: Mapping[str, Any], type_iris: Sequence[str] | None = None
               ) -> dict[str, Any]:
        """The entity (or fragment) in ``dst`` names; ``type_iris`` gives a fragment's types."""
        if self.identity:
            return dict(entity)
        types = entity.get("type")
        if type_iris is None:
            type_list = types if isinstance(types, list) else [types] if isinstance(
                types, str) else []
            type_iris = [self.src.expand(t) for t in type_list]
        scope = tuple(type_iris)
        memo = self._memo
        out: dict[str, Any] = {}
        for name, value in entity.items():
            if name == "type":
                out[name] = ([self.dst.compact(i) for i in type_iris] if isinstance(types, list)
                             else self.dst.compact(type_iris[0]) if type_iris else types)
            elif name in STRUCTURAL:
                out[name] = value
            else:
                out[memo.get((name, scope)) or self._name(name, scope)] = \
                    self._attribute(value, scope)
        return out

    def _attribute(self, attr: Any, scope: tuple[str, ...]) -> Any:
        if isinstance(attr, list):
            return [self._attribute(a, scope) for a in attr]
        if not isinstance(attr, dict | Mapping):
            return attr
        for key in attr:
            if key not in STRUCTURAL and key[:1] != "@":
                break
        else:
            return attr  # nothing to rename (most attributes): shared, not copied
        out: dict[str, Any] = {}
        for key, value in attr.items():
            if key in STRUCTURAL or key[:1] == "@":
                out[key] = value
            else:
                out[self._name(key, scope)] = self._attribute(value, scope)
        return out
