"""NGSI-LD sources: normalized entities are validated and passed through unchanged.

A City OS that already speaks NGSI-LD needs no mapping, only checks: the entity's structure
(id, type, attributes with the member their type requires, GeoJSON in range), and its
``@context``. Entities leave without ``@context`` (the federation's default applies), so an
input context is accepted only when every attribute term means what it means under the default
context. Contexts are URLs the frozen loader serves; the term check runs pyld once per distinct
context and term and is cached, so the per-record cost is dictionary look-ups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from mappings import jsonld
from mappings.contexts import DEFAULT_CONTEXT, FrozenDocumentLoader
from mappings.errors import ContextNotAvailable, MappingError, RecordError
from mappings.rules import MappingRule
from mappings.sources.records import SourceRecord
from mappings.transforms.geo import check_point

__all__ = ["PassthroughRule", "validate_entity"]

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
_CORE_MEMBERS = {"id", "type", "@context", "scope", "location", "observationSpace",
                 "operationSpace", "createdAt", "modifiedAt"}
_REQUIRED_MEMBER = {"Property": "value", "GeoProperty": "value", "Relationship": "object",
                    "LanguageProperty": "languageMap", "ListProperty": "valueList",
                    "ListRelationship": "objectList", "JsonProperty": "json",
                    "VocabProperty": "vocab"}
_SAME_AS_DEFAULT = (list(DEFAULT_CONTEXT), DEFAULT_CONTEXT)


def _bad(message: str, column: str | None = None) -> RecordError:
    return RecordError("entity_invalid", message, column=column)


def _check_geometry(value: Any, name: str) -> None:
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str) \
            or "coordinates" not in value:
        raise _bad(f"{name}: a GeoProperty value is a GeoJSON geometry", name)
    if value["type"] == "Point":
        coords = value["coordinates"]
        if not isinstance(coords, list) or len(coords) < 2 or not all(
                isinstance(c, int | float) and not isinstance(c, bool) for c in coords):
            raise _bad(f"{name}: bad Point coordinates", name)
        try:
            check_point(float(coords[0]), float(coords[1]), None)
        except RecordError as err:
            raise err.located(name, coords) from None


def _check_attribute(name: str, attr: Any) -> None:
    if isinstance(attr, list):  # several instances, told apart by datasetId
        for instance in attr:
            _check_attribute(name, instance)
        return
    if not isinstance(attr, Mapping):
        raise _bad(f"{name}: an attribute is an object with a type (normalized form)", name)
    kind = attr.get("type")
    member = _REQUIRED_MEMBER.get(kind) if isinstance(kind, str) else None
    if member is None:
        raise _bad(f"{name}: unknown attribute type {kind!r}", name)
    if member not in attr:
        raise _bad(f"{name}: a {kind} needs {member!r}", name)
    if kind == "GeoProperty":
        _check_geometry(attr["value"], name)
    elif kind == "Relationship" and not (isinstance(attr["object"], str)
                                         and _URI.fullmatch(attr["object"])):
        raise _bad(f"{name}: a Relationship object is a URI", name)
    elif kind == "LanguageProperty" and not isinstance(attr["languageMap"], Mapping):
        raise _bad(f"{name}: languageMap is an object", name)
    when = attr.get("observedAt")
    if when is not None:
        try:
            datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        except ValueError:
            raise RecordError("date_unparseable", f"{name}: observedAt {when!r} is not ISO "
                              "8601", column=name, raw_value=when) from None
    for sub, value in attr.items():
        if isinstance(value, Mapping) and "type" in value and sub not in ("value", "json"):
            _check_attribute(f"{name}.{sub}", value)  # a property of the property


def validate_entity(entity: Any, accept_types: tuple[str, ...] = ()) -> None:
    """Raise :class:`RecordError` unless ``entity`` is a well-formed normalized NGSI-LD entity."""
    if not isinstance(entity, Mapping):
        raise _bad("an entity is a JSON object")
    eid, etype = entity.get("id"), entity.get("type")
    if not isinstance(eid, str) or not _URI.fullmatch(eid):
        raise RecordError("entity_invalid", "the entity id is not a URI", column="id",
                          raw_value=eid)
    types = etype if isinstance(etype, list) else [etype]
    if not types or not all(isinstance(t, str) and t for t in types):
        raise RecordError("missing_required", "the entity has no type", column="type")
    if accept_types and not set(types) & set(accept_types):
        raise RecordError("entity_invalid", f"type {etype!r} is not accepted by this rule "
                          f"({', '.join(accept_types)})", column="type", raw_value=etype)
    for name, attr in entity.items():
        if name in ("id", "type", "@context", "scope", "createdAt", "modifiedAt"):
            continue
        _check_attribute(name, attr)


def _urls(context: Any) -> list[str]:
    if isinstance(context, str):
        return [context]
    if isinstance(context, list):
        return [u for item in context for u in _urls(item)]
    if isinstance(context, Mapping):
        inner = [v.get("@context") for v in context.values() if isinstance(v, Mapping)]
        return [u for item in inner if item is not None for u in _urls(item)]
    return []


class PassthroughRule:
    """The compiled form of a ``mode: passthrough`` rule (a :class:`~mappings.views.Rule`, as
    :class:`~mappings.compiler.CompiledRule` is)."""

    def __init__(self, rule: MappingRule, loader: FrozenDocumentLoader | None = None) -> None:
        self.rule = rule
        self.target_type = rule.target_type
        self.loader = loader or FrozenDocumentLoader()
        self._default_iris: dict[tuple[str, str], str | None] = {}
        self._agrees: dict[tuple[bytes, str, str], bool] = {}
        self._served: set[bytes] = set()

    def forward(self, record: SourceRecord | Mapping[str, Any]) -> dict[str, Any]:
        entity = record.values if isinstance(record, SourceRecord) else record
        validate_entity(entity, self.rule.accept_types)
        context = entity.get("@context")
        if context is not None and context not in _SAME_AS_DEFAULT:
            etype = entity["type"] if isinstance(entity["type"], str) else entity["type"][0]
            self._check_context(context, etype, [k for k in entity if k not in _CORE_MEMBERS])
        return {k: v for k, v in entity.items() if k != "@context"}

    def reverse(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        """An NGSI-LD city takes entities as they are."""
        return dict(entity)

    def unused_headers(self) -> tuple[str, ...]:
        """Entities have no header: every member is passed on."""
        return ()

    def _check_context(self, context: Any, etype: str, terms: list[str]) -> None:
        key = orjson.dumps(context, option=orjson.OPT_SORT_KEYS)
        if key not in self._served:
            # Every URL in the context must be one the frozen loader serves, whatever the terms.
            for url in _urls(context):
                if not self.loader.knows(url):
                    raise RecordError("context_not_available", str(ContextNotAvailable(url)),
                                      column="@context", raw_value=url)
            self._served.add(key)
        unknown = [t for t in terms if (key, etype, t) not in self._agrees]
        if unknown:
            try:
                theirs = jsonld.term_iris(context, unknown, self.loader, etype)
            except ContextNotAvailable as exc:
                raise RecordError("context_not_available", str(exc), column="@context",
                                  raw_value=exc.url) from None
            except MappingError as exc:
                raise RecordError("entity_invalid", f"@context: {exc}", column="@context") \
                    from None
            missing = [t for t in unknown if (etype, t) not in self._default_iris]
            if missing:
                ours = jsonld.term_iris(list(DEFAULT_CONTEXT), missing, self.loader, etype)
                self._default_iris.update({(etype, t): ours.get(t) for t in missing})
            for t in unknown:
                self._agrees[(key, etype, t)] = theirs.get(t) == self._default_iris[(etype, t)]
        for t in terms:
            if not self._agrees[(key, etype, t)]:
                raise RecordError("context_mismatch", f"attribute {t!r} means something else "
                                  "under the entity's @context than under Renkei's default "
                                  "context", column=t)
