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


def _without_instance(existing: Any, dataset_id: str | None) -> Any:
    """The attribute without its instance of ``dataset_id`` (None: the default one);
    ``None`` when no instance is left."""
    kept = [i for i in _instances(existing) if i.get("datasetId") != dataset_id]
    return _pack(kept) if kept else None


def _null_instance(attr: Any) -> tuple[bool, str | None]:
    """Whether a fragment's attribute is an NGSI-LD Null (4.5.5: it deletes the instance of
    its datasetId, the default instance without one), and that datasetId."""
    if attr == NGSI_NULL:
        return True, None
    if isinstance(attr, Mapping) and _is_null(attr):
        return True, attr.get("datasetId")
    return False, None


def _delete_nulls(result: MergeResult, name: str, attr: Any) -> bool:
    """Apply the Null instances of ``attr`` to ``result``; True when ``attr`` was only
    Nulls (nothing else to merge)."""
    instances = attr if isinstance(attr, list) else [attr]
    nulls = [_null_instance(i) for i in instances]
    if not all(is_null for is_null, _ds in nulls):
        return False
    existing = result.entity.get(name)
    deleted = False
    for _is, dataset_id in nulls:
        if existing is not None and any(i.get("datasetId") == dataset_id
                                        for i in _instances(existing)):
            existing = _without_instance(existing, dataset_id)
            deleted = True
    if existing is None:
        result.entity.pop(name, None)
    else:
        result.entity[name] = existing
    if deleted:
        result.updated.append(name)
    else:
        result.skip(name, "no such attribute instance to delete")
    return True


def attributes(fragment: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fragment.items() if k not in ENTITY_MEMBERS}


def _scopes(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [s for s in value or () if isinstance(s, str)]


def _append_scope(result: MergeResult, fragment: Mapping[str, Any], no_overwrite: bool) -> None:
    """4.18: appending a scope replaces the entity's, or with noOverwrite adds to it."""
    if "scope" not in fragment:
        return
    new = _scopes(fragment["scope"])
    if no_overwrite and "scope" in result.entity:
        merged = _scopes(result.entity["scope"])
        merged += [s for s in new if s not in merged]
        new = merged
    result.entity["scope"] = new[0] if len(new) == 1 else new
    result.updated.append("scope")


def add_types(old: Any, new: Any) -> Any:
    """The entity's types after a fragment names ``new`` (4.16): the types it lacks are
    added after its own (update, append and merge only add; Replace Entity replaces)."""
    names = list(dict.fromkeys([*_type_names(old), *_type_names(new)]))
    return names[0] if len(names) == 1 else names


def _type_names(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [t for t in value or () if isinstance(t, str)]


def _add_types(result: MergeResult, fragment: Mapping[str, Any]) -> None:
    if "type" in fragment:
        result.entity["type"] = add_types(result.entity.get("type"), fragment["type"])


def append(entity: Mapping[str, Any], fragment: Mapping[str, Any], *,
           no_overwrite: bool = False) -> MergeResult:
    """Append Entity Attributes (POST .../attrs): add, or replace unless ``noOverwrite``;
    types are added."""
    result = MergeResult(dict(entity))
    _add_types(result, fragment)
    _append_scope(result, fragment, no_overwrite)
    for name, attr in attributes(fragment).items():
        existing = result.entity.get(name)
        if existing is not None and no_overwrite and _has_instance(existing, attr):
            result.skip(name, "attribute exists and options=noOverwrite")
            continue
        result.entity[name] = _put_instances(existing, attr)
        result.updated.append(name)
    return result


def update(entity: Mapping[str, Any], fragment: Mapping[str, Any]) -> MergeResult:
    """Update Entity Attributes (PATCH .../attrs): the instances given replace those with
    their datasetId, attributes the entity lacks are added (as the ETSI suite, 011_01_03,
    expects), NGSI-LD Nulls delete instances; a scope replaces the entity's only when it
    has one (4.18); types are added."""
    result = MergeResult(dict(entity))
    _add_types(result, fragment)
    if "scope" in fragment:
        if "scope" in result.entity:
            _append_scope(result, fragment, False)
        else:
            result.skip("scope", "the entity has no scope to update")
    for name, attr in attributes(fragment).items():
        if _delete_nulls(result, name, attr):
            continue
        result.entity[name] = _put_instances(result.entity.get(name), attr)
        result.updated.append(name)
    return result


def merge(entity: Mapping[str, Any], fragment: Mapping[str, Any]) -> MergeResult:
    """Merge Entity (PATCH /entities/{id}): attributes merged member by member; a value of
    ``urn:ngsi-ld:null`` deletes the attribute (or sub-attribute); types are added."""
    result = MergeResult(dict(entity))
    _add_types(result, fragment)
    for name, attr in attributes(fragment).items():
        if _delete_nulls(result, name, attr):
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


def update_attribute(entity: Mapping[str, Any], name: str, new: Mapping[str, Any], *,
                     same_type: bool = False) -> dict[str, Any]:
    """Partial Attribute Update (PATCH .../attrs/{attrId}). With ``same_type`` (the body
    names a type) a type other than the instance's is BadRequestData (5.6.4)."""
    existing = entity.get(name)
    if existing is None:
        raise NotFound(f"attribute {name} not found")
    out = dict(entity)
    ds = new.get("datasetId")
    instances = _instances(existing)
    if not any(i.get("datasetId") == ds for i in instances):
        raise NotFound(f"attribute {name} has no instance with datasetId {ds}")
    if same_type and not _is_null(new) and any(
            i.get("datasetId") == ds and i.get("type") != new.get("type") for i in instances):
        raise BadRequest(f"attribute {name} is not of type {str(new.get('type'))[:32]}")
    if _is_null(new):  # 4.5.5: an NGSI-LD Null deletes the instance
        rest = _without_instance(existing, ds)
        if rest is None:
            del out[name]
        else:
            out[name] = rest
        return out
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
    """Delete Attribute: the default instance, one ``datasetId``, or every instance; the
    entity's ``scope`` as a whole (4.18)."""
    if name not in entity:
        raise NotFound(f"attribute {name} not found")
    out = dict(entity)
    if name in ENTITY_MEMBERS:
        if name != "scope":
            raise BadRequest(f"{name} is not an attribute")
        del out[name]
        return out
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
        member = next((m for m in ("value", "object", "vocab", "languageMap", "valueList",
                                   "objectList", "json") if m in value), None)
        if member == "languageMap":  # 5.2.1: {"@none": "urn:ngsi-ld:null"}
            return value[member] in (NGSI_NULL, {"@none": NGSI_NULL})
        return member is not None and value[member] == NGSI_NULL
    return False


def _strip_nulls(attr: Any) -> Any:
    if isinstance(attr, Mapping):
        return {k: _strip_nulls(v) for k, v in attr.items() if not _is_null(v)}
    return attr
