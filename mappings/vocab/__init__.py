"""JSON Schemas of the shared types (Renkei extension and the Smart Data Models used).

Data plus two helpers; validating needs ``jsonschema``, which the product does not depend on
(tests do): build a ``referencing.Registry`` from :func:`schema_resources`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import orjson

__all__ = ["SCHEMA_FILES", "context_terms", "schema_for", "schema_resources", "to_key_values"]

_HERE = Path(__file__).resolve().parent

#: Entity type → its bundled schema file.
SCHEMA_FILES: Mapping[str, str] = {
    "EvacuationSite": "renkei/EvacuationSite.schema.json",
    "ShelterOccupancy": "renkei/ShelterOccupancy.schema.json",
    "Event": "renkei/Event.schema.json",
    "OffStreetParking": "sdm/OffStreetParking.schema.json",
    "PointOfInterest": "sdm/PointOfInterest.schema.json",
}
_COMMON = "sdm/common-schema.json"


@cache
def _load(name: str) -> bytes:
    return (_HERE / name).read_bytes()


_CONTEXTS = _HERE.parent / "contexts"
#: Core NGSI-LD attribute names a rule may write besides the vocabulary's terms.
_CORE_TERMS = frozenset({"location", "observationSpace", "operationSpace", "name",
                         "description"})


@cache
def context_terms(entity_type: str) -> frozenset[str]:
    """The attribute (and field) names the default context defines for ``entity_type``: Renkei's
    terms, the type's own scoped terms and the core ones. A name outside them expands to the
    NGSI-LD default vocabulary, which is how a misspelt ``indoorCapacty`` would slip through."""
    context = orjson.loads((_CONTEXTS / "renkei-context-v1.jsonld").read_bytes())["@context"]
    terms = {k for k, v in context.items() if not k.startswith("@") and k not in SCHEMA_FILES
             and not (isinstance(v, str) and v.endswith(("/", "#")))}
    scoped = context.get(entity_type)
    if isinstance(scoped, Mapping):
        terms |= set(scoped.get("@context", {}))
    return frozenset(terms | _CORE_TERMS)


def schema_for(entity_type: str) -> dict[str, Any]:
    """The JSON Schema (key-values form) of ``entity_type``."""
    schema: dict[str, Any] = orjson.loads(_load(SCHEMA_FILES[entity_type]))
    return schema


def schema_resources() -> dict[str, dict[str, Any]]:
    """URI → schema document, for every bundled schema and the common schema SDM refers to."""
    out: dict[str, dict[str, Any]] = {}
    for name in (*SCHEMA_FILES.values(), _COMMON):
        doc = orjson.loads(_load(name))
        out[doc["$id"]] = doc
    return out


def to_key_values(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The key-values form of a normalized NGSI-LD entity (as NGSI-LD's ``options=keyValues``)."""
    out: dict[str, Any] = {}
    for name, attr in entity.items():
        if name in ("id", "type") or not isinstance(attr, Mapping):
            out[name] = attr
            continue
        kind = attr.get("type")
        if kind == "Relationship":
            out[name] = attr.get("object")
        elif kind == "LanguageProperty":
            out[name] = dict(attr.get("languageMap") or {})
        else:
            out[name] = attr.get("value")
    return out
