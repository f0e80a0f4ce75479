"""What a JSON-LD @context defines, found with one pyld run, and the limits of inline ones.

``term_map``'s builder asks here for the IRI of every term of a context: a probe document
holds each term as a property with a distinct value and is expanded once (pyld processes the
context once per run, so one run per term made a 3,000-term inline context cost minutes of
CPU). Inline contexts are what a caller controls, so they are capped before any of that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from mappings.contexts import FrozenDocumentLoader
from mappings.errors import MappingError
from mappings.jsonld import expand

from ..errors import BadRequest

#: Limits of the @context a request gives inline (URLs the loader serves are the operator's
#: and do not count): each distinct context costs a pyld run over all its terms.
MAX_INLINE_TERMS = 2000
MAX_INLINE_BYTES = 128 * 1024
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def check_inline(context: Any) -> None:
    """Refuse (BadRequest) an inline context over the limits, or a context reference that is
    not an absolute URL (nothing to resolve a relative one against: pyld would fail on it)."""
    if len(orjson.dumps(context)) > MAX_INLINE_BYTES:
        raise BadRequest(f"the inline @context is larger than {MAX_INLINE_BYTES} bytes "
                         "(register a large context under [contexts] and refer to it by URL)")
    terms = 0
    stack = [context]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if not _ABSOLUTE.match(item):
                raise BadRequest(f"@context reference {item[:64]!r} is not an absolute URL")
        elif isinstance(item, Mapping):
            for term, definition in item.items():
                if not term.startswith("@"):
                    terms += 1
                if isinstance(definition, Mapping) and "@context" in definition:
                    stack.append(definition["@context"])  # a scoped context's terms count
                elif term == "@import":
                    stack.append(definition)
    if terms > MAX_INLINE_TERMS:
        raise BadRequest(f"the inline @context defines {terms} terms; at most "
                         f"{MAX_INLINE_TERMS} are accepted (register a large context under "
                         "[contexts] and refer to it by URL)")


# Expansions one map may cost beyond the first two: a term whose definition fails (a scoped
# context naming an unknown URL...) is found by halving, and only a few such terms are
# tolerated, so that no context costs more than a bounded number of pyld runs.
_MAX_EXPANSIONS = 48
_MARKER = "x-renkei-probe:"


def expand_terms(context: Any, units: list[tuple[str | None, str]],
                 loader: FrozenDocumentLoader, budget: list[int] | None = None
                 ) -> dict[tuple[str | None, str], str]:
    """The IRI of each (type term or None, term) used as a property of a node (of that type,
    whose type-scoped terms then apply), from one pyld expansion of a probe document.

    Each property gets a distinct absolute-IRI value, so that whatever coercion its
    definition asks for (``@id``, ``@vocab``, ``@json``, a container), the value can be
    traced back to its term. One run replaces one run per term, which made a context of
    3,000 terms cost minutes of CPU.
    """
    if not units:
        return {}
    if budget is None:
        budget = [_MAX_EXPANSIONS]
    nodes: dict[str | None, dict[str, Any]] = {}
    for i, (type_term, term) in enumerate(units):
        node = nodes.get(type_term)
        if node is None:
            node = nodes[type_term] = {"@id": f"urn:renkei:probe-node:{len(nodes)}"}
            if type_term is not None:
                node["@type"] = type_term
        node[term] = f"urn:{_MARKER}{i}"
    try:
        expanded = expand({"@context": context, "@graph": list(nodes.values())}, loader)
    except (MappingError, RecursionError):
        if len(units) == 1:
            return {}  # a term whose definition needs a value shape we did not give
        budget[0] -= 2
        if budget[0] < 0:
            raise BadRequest("the @context defines too many terms that cannot be expanded"
                             ) from None
        half = len(units) // 2
        return {**expand_terms(context, units[:half], loader, budget),
                **expand_terms(context, units[half:], loader, budget)}
    out: dict[tuple[str | None, str], str] = {}
    for node in expanded:
        for iri, values in node.items() if isinstance(node, Mapping) else ():
            if iri.startswith("@"):
                continue  # @reverse properties and keywords are not attribute names
            for i in _markers(values):
                if 0 <= i < len(units):
                    out.setdefault(units[i], iri)
    return out


def _markers(value: Any) -> list[int]:
    """The indexes of the probe markers in an expanded value (however it was coerced: an
    ``@id`` resolved against a prefix or base still ends with the marker)."""
    found: list[int] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            head, sep, tail = item.rpartition(_MARKER)
            if sep and tail.isdigit():
                found.append(int(tail))
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
    return found


def candidate_terms(context: Any, loader: FrozenDocumentLoader
                     ) -> tuple[list[str], dict[str, list[str]]]:
    """Every term the context documents define, and the terms of type-scoped contexts."""
    terms: list[str] = []
    scoped: dict[str, list[str]] = {}
    seen_urls: set[str] = set()

    def walk(ctx: Any) -> None:
        if isinstance(ctx, list):
            for c in ctx:
                walk(c)
        elif isinstance(ctx, str):
            if ctx in seen_urls:
                return
            seen_urls.add(ctx)
            doc = loader.document(ctx)
            walk(doc.get("@context") if isinstance(doc, Mapping) else None)
        elif isinstance(ctx, Mapping):
            for term, definition in ctx.items():
                if term.startswith("@"):
                    continue
                if isinstance(definition, str) and definition.startswith("@"):
                    continue  # keyword aliases (id, type) are structure, not names
                if isinstance(definition, Mapping) and str(definition.get("@id", "")
                                                           ).startswith("@"):
                    continue
                terms.append(term)
                if isinstance(definition, Mapping) and isinstance(definition.get("@context"),
                                                                  Mapping):
                    scoped.setdefault(term, []).extend(
                        t for t in definition["@context"] if not t.startswith("@"))

    walk(context)
    return list(dict.fromkeys(terms)), scoped
