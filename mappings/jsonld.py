"""The only module that uses pyld: expansion and compaction with a frozen document loader.

JSON-LD processing is for validation, conformance tests and edge cases; the per-record path of
the engine never comes here (compiled rules build plain dicts whose expansion the tests prove
equal to the vocabulary's). Every call takes the loader explicitly: pyld's global default loader
would fetch from the network, and Renkei never does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from pyld import jsonld as _pyld

from mappings.contexts import DEFAULT_CONTEXT, FrozenDocumentLoader
from mappings.errors import ContextNotAvailable, MappingError

__all__ = ["JsonLdFailed", "compact", "expand", "term_iris", "with_default_context"]


class JsonLdFailed(MappingError):
    """pyld rejected a document or context (invalid JSON-LD, a protected term redefined...)."""

    code = "jsonld_invalid"


@contextmanager
def _translated() -> Iterator[None]:
    # pyld wraps loader failures in JsonLdError; the caller wants to know that a context was
    # refused, so the ContextNotAvailable in the cause chain is re-raised as itself.
    try:
        yield
    except _pyld.JsonLdError as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ContextNotAvailable):
                raise ContextNotAvailable(cause.url) from exc
            cause = cause.__cause__ or getattr(cause, "cause", None)
        detail = getattr(exc, "code", None) or type(exc).__name__
        raise JsonLdFailed(f"JSON-LD processing failed: {detail}") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        # pyld lets some malformed input escape as plain Python errors (a relative context
        # reference with no base: ValueError); for its caller that is invalid JSON-LD too.
        raise JsonLdFailed(f"JSON-LD processing failed: {type(exc).__name__}") from exc


def with_default_context(entity: Mapping[str, Any],
                         context: Sequence[str] | str = DEFAULT_CONTEXT) -> dict[str, Any]:
    """A copy of a normalized entity (no ``@context``) with ``context`` attached."""
    doc = dict(entity)
    doc["@context"] = list(context) if not isinstance(context, str) else context
    return doc


def expand(doc: Any, loader: FrozenDocumentLoader) -> list[Any]:
    """Expand ``doc`` (which carries its own ``@context``) using only ``loader``."""
    with _translated():
        expanded: list[Any] = _pyld.expand(copy.deepcopy(doc), {"documentLoader": loader})
    return expanded


def compact(doc: Any, context: Any, loader: FrozenDocumentLoader) -> dict[str, Any]:
    """Compact ``doc`` against ``context`` using only ``loader``."""
    with _translated():
        compacted: dict[str, Any] = _pyld.compact(copy.deepcopy(doc), context,
                                                  {"documentLoader": loader})
    return compacted


def term_iris(context: Any, terms: Sequence[str], loader: FrozenDocumentLoader,
              node_type: str | None = None) -> dict[str, str]:
    """The IRI each of ``terms`` expands to as a property of a node (of ``node_type``, whose
    type-scoped terms then apply) under ``context``; absent when it does not expand, e.g. a
    JSON-LD keyword. One pyld call for all the terms."""
    probe: dict[str, Any] = {"@context": context, "@id": "urn:renkei:probe"}
    if node_type is not None:
        probe["type"] = node_type
    markers = {}
    for i, term in enumerate(terms):
        marker = f"renkei-probe-{i}"
        probe[term] = marker
        markers[marker] = term
    out: dict[str, str] = {}
    for node in expand(probe, loader):
        for iri, values in node.items():
            if iri.startswith("@"):
                continue
            for v in values if isinstance(values, list) else [values]:
                if isinstance(v, dict) and v.get("@value") in markers:
                    out[markers[v["@value"]]] = iri
    return out
