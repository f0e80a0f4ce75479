"""Attribute merge rules of the NGSI-LD entity operations, on plain dicts.

Each function takes the stored (normalized) entity and a normalized fragment and returns the
new entity plus what was and was not applied, so the HTTP layer only has to pick 204 or 207.
Multi-attributes (several instances told apart by ``datasetId``) are lists; an instance
without ``datasetId`` is the default instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest, NotFound
from .model import ATTRIBUTE_MEMBERS, ENTITY_MEMBERS, NGSI_NULL


@dataclass
class MergeResult:
    entity: dict[str, Any]
    updated: list[str] = field(default_factory=list)
    not_updated: list[dict[str, str]] = field(default_factory=list)

    def skip(self, name: str, reason: str) -> None:
        self.not_updated.append({"attributeName": name, "reason": reason})


def _instances(attr: Any) -> list[dict[str, Any]]:
    return list(attr) if isinstance(attr, list) else [attr]


def _pack(instances: list[dict[str, Any]]) -> Any:
    return instances[0] if len(instances) == 1 else instances


def _put_instances(existing: Any, new: Any) -> Any:
    """Replace instances with the same datasetId, add the others."""
    current = _instances(existing) if existing is not None else []
    for inst in _instances(new):
        ds = inst.get("datasetId")
        current = [c for c in current if c.get("datasetId") != ds] + [inst]
    return _pack(current)


def _has_instance(existing: Any, new: Any) -> bool:
    datasets = {c.get("datasetId") for c in _instances(existing)}
    return all(inst.get("datasetId") in datasets for inst in _instances(new))


def attributes(fragment: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fragment.items() if k not in ENTITY_MEMBERS}


def append(entity: Mapping[str, Any], fragment: Mapping[str, Any], *,
           no_overwrite: bool = False) -> MergeResult:
    """Append Entity Attributes (POST .../attrs): add, or replace unless ``noOverwrite``."""
    result = MergeResult(dict(entity))
    for name, attr in attributes(fragment).items():
        existing = result.entity.get(name)
        if existing is not None and no_overwrite and _has_instance(existing, attr):
            result.skip(name, "attribute exists and options=noOverwrite")
            continue
        result.entity[name] = _put_instances(existing, attr)
        result.updated.append(name)
    return result


def update(entity: Mapping[str, Any], fragment: Mapping[str, Any]) -> MergeResult:
    """Update Entity Attributes (PATCH .../attrs): only attributes that exist are replaced."""
    result = MergeResult(dict(entity))
    for name, attr in attributes(fragment).items():
        existing = result.entity.get(name)
        if existing is None or not _has_instance(existing, attr):
            result.skip(name, "attribute does not exist")
            continue
        result.entity[name] = _put_instances(existing, attr)
        result.updated.append(name)
    return result


def merge(entity: Mapping[str, Any], fragment: Mapping[str, Any]) -> MergeResult:
    """Merge Entity (PATCH /entities/{id}): attributes merged member by member; a value of
    ``urn:ngsi-ld:null`` deletes the attribute (or sub-attribute)."""
    result = MergeResult(dict(entity))
    for name, attr in attributes(fragment).items():
        if _is_null(attr):
            if result.entity.pop(name, None) is not None:
                result.updated.append(name)
            continue
        existing = result.entity.get(name)
        if existing is None:
            result.entity[name] = _strip_nulls(attr)
        else:
            merged = []
            by_ds = {i.get("datasetId"): i for i in _instances(existing)}
            for inst in _instances(attr):
                ds = inst.get("datasetId")
                by_ds[ds] = merge_attribute(by_ds[ds], inst) if ds in by_ds else _strip_nulls(
                    inst)
            merged = list(by_ds.values())
            result.entity[name] = _pack(merged)
        result.updated.append(name)
    return result


def merge_attribute(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Partial attribute update: members of ``new`` replace those of ``old``; sub-attributes
    merge recursively; the attribute type may change with its value member."""
    out = dict(old)
    if "type" in new and new["type"] != old.get("type"):
        # The kind changed (Property -> Relationship...): the old value member goes.
        for member in ("value", "object", "languageMap", "vocab", "valueList", "objectList",
                       "json"):
            out.pop(member, None)
    for key, value in new.items():
        if key in ATTRIBUTE_MEMBERS:
            out[key] = value
        elif _is_null(value):
            out.pop(key, None)
        elif isinstance(out.get(key), Mapping) and isinstance(value, Mapping):
            out[key] = merge_attribute(out[key], value)
        else:
            out[key] = value
    return out


def update_attribute(entity: Mapping[str, Any], name: str, new: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """Partial Attribute Update (PATCH .../attrs/{attrId})."""
    existing = entity.get(name)
    if existing is None:
        raise NotFound(f"attribute {name} not found")
    out = dict(entity)
    ds = new.get("datasetId")
    instances = _instances(existing)
    if not any(i.get("datasetId") == ds for i in instances):
        raise NotFound(f"attribute {name} has no instance with datasetId {ds}")
    out[name] = _pack([merge_attribute(i, new) if i.get("datasetId") == ds else i
                       for i in instances])
    return out


def replace_attribute(entity: Mapping[str, Any], name: str, new: Any) -> dict[str, Any]:
    """Replace Attribute (PUT .../attrs/{attrId})."""
    if name not in entity:
        raise NotFound(f"attribute {name} not found")
    out = dict(entity)
    out[name] = _put_instances(entity[name], new)
    return out


def delete_attribute(entity: Mapping[str, Any], name: str, *, dataset_id: str | None = None,
                     delete_all: bool = False) -> dict[str, Any]:
    """Delete Attribute: the default instance, one ``datasetId``, or every instance."""
    if name not in entity:
        raise NotFound(f"attribute {name} not found")
    out = dict(entity)
    if delete_all:
        del out[name]
        return out
    instances = _instances(entity[name])
    kept = [i for i in instances if i.get("datasetId") != dataset_id]
    if len(kept) == len(instances):
        raise NotFound(f"attribute {name} has no instance with datasetId {dataset_id}")
    if kept:
        out[name] = _pack(kept)
    else:
        del out[name]
    return out


def replace(entity: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Replace Entity (PUT /entities/{id}): all attributes replaced, id kept, type given."""
    if new.get("id", entity["id"]) != entity["id"]:
        raise BadRequest("the entity id in the body differs from the one in the path")
    out = {"id": entity["id"], "type": new.get("type", entity["type"])}
    if "scope" in new:
        out["scope"] = new["scope"]
    out.update(attributes(new))
    return out


def _is_null(value: Any) -> bool:
    if value == NGSI_NULL:
        return True
    if isinstance(value, Mapping):
        member = next((m for m in ("value", "object", "vocab", "languageMap") if m in value),
                      None)
        return member is not None and value[member] == NGSI_NULL
    return False


def _strip_nulls(attr: Any) -> Any:
    if isinstance(attr, Mapping):
        return {k: _strip_nulls(v) for k, v in attr.items() if not _is_null(v)}
    return attr
