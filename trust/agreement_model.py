"""The data-sharing agreement document: fields, validation and canonical bytes.

Public names are re-exported by :mod:`trust.agreements`; import them from there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trust import _doc
from trust.canonical import canonical_bytes, loads_strict, sha256_hex
from trust.directory import check_member_id
from trust.errors import AgreementError, DocumentError, GeometryError
from trust.geo import Area

__all__ = [
    "ALWAYS_ALLOWED",
    "MAX_AGREEMENT_BYTES",
    "OPERATIONS",
    "PURPOSES",
    "RAW_OPERATIONS",
    "Agreement",
    "RateLimits",
]

#: Controlled list of purposes an agreement may name. Adding one is a federation decision.
PURPOSES = frozenset({
    "disaster_response",
    "mobility_planning",
    "tourism",
    "research",
    "statistics",
    "public_health",
    "infrastructure_maintenance",
    "environmental_monitoring",
})
OPERATIONS = frozenset({"query", "get", "aggregate", "subscribe", "catalog"})
#: Operations that return individual entities: refused under ``aggregate_only``.
RAW_OPERATIONS = frozenset({"query", "get", "subscribe"})
#: Attributes every field mask keeps: without them an entity is not an entity.
ALWAYS_ALLOWED = frozenset({"id", "type"})
MAX_AGREEMENT_BYTES = 1 << 20
_DOC_TYPE = "renkei-agreement/v1"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")
_READ = _doc.Reader(AgreementError, "invalid_agreement")


def _area(document: Any) -> Area:
    try:
        return Area(document)
    except GeometryError as exc:
        _READ.fail(f"agreement.area: {exc.message}")


@dataclass(frozen=True)
class RateLimits:
    """Per consumer and agreement: requests per minute and entities delivered per day."""

    requests_per_minute: int
    entities_per_day: int

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "entities_per_day"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                _READ.fail(f"rate_limits.{name} must be a positive integer")

    def to_document(self) -> dict[str, int]:
        return {"requests_per_minute": self.requests_per_minute,
                "entities_per_day": self.entities_per_day}


def _names(values: Any, where: str) -> frozenset[str]:
    out = frozenset(values)
    for name in out:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            _READ.fail(f"{where}: {str(name)[:64]!r} is not a valid name")
    return out


@dataclass(frozen=True)
class Agreement:
    """A data-sharing agreement between a provider and a consumer (see issue #4).

    ``attributes`` maps each entity type to the attributes the consumer may see (``id`` and
    ``type`` are always allowed). ``area`` ``None`` means no geographic restriction. Times are
    epoch seconds, inclusive. ``freshness_seconds`` is how long the consumer may present
    delivered data as current before refreshing it. ``k_threshold`` applies when
    ``aggregate_only``: groups of fewer than k entities are suppressed.
    """

    id: str
    provider: str
    consumer: str
    purpose: str
    entity_types: frozenset[str]
    attributes: Mapping[str, frozenset[str]]
    area: Area | None
    not_before: int
    not_after: int
    freshness_seconds: int
    rate_limits: RateLimits
    aggregate_only: bool = False
    k_threshold: int = 1
    onward_sharing: bool = False
    retention_days: int = 30
    directory_version: int = 1
    operations: frozenset[str] = field(default=OPERATIONS)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            _READ.fail("agreement id must be 1-128 characters of [A-Za-z0-9._:-]")
        check_member_id(self.provider, _READ)
        check_member_id(self.consumer, _READ)
        if self.provider == self.consumer:
            _READ.fail("provider and consumer must differ")
        if self.purpose not in PURPOSES:
            _READ.fail(f"purpose must be one of {sorted(PURPOSES)}")
        types = _names(self.entity_types, "entity_types")
        if not types:
            _READ.fail("entity_types must name at least one type")
        if set(self.attributes) != types:
            _READ.fail("attributes must list exactly the agreement's entity types")
        attributes = {t: _names(a, f"attributes.{t}") | ALWAYS_ALLOWED
                      for t, a in self.attributes.items()}
        operations = frozenset(self.operations)
        if not operations or not operations <= OPERATIONS:
            _READ.fail(f"operations must be a non-empty subset of {sorted(OPERATIONS)}")
        if self.not_after <= self.not_before:
            _READ.fail("not_after must follow not_before")
        for name in ("freshness_seconds", "retention_days", "directory_version", "k_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                _READ.fail(f"{name} must be a non-negative integer")
        if self.k_threshold < 1 or (self.aggregate_only and self.k_threshold < 2):
            _READ.fail("k_threshold must be >= 1, and >= 2 when aggregate_only")
        if self.area is not None and not isinstance(self.area, Area):
            _READ.fail("area must be an Area")
        object.__setattr__(self, "entity_types", types)
        object.__setattr__(self, "attributes", MappingProxyType(attributes))
        object.__setattr__(self, "operations", operations)

    def allowed_attributes(self, entity_type: str) -> frozenset[str]:
        """Attributes of ``entity_type`` the consumer may see (empty if the type is not shared)."""
        return self.attributes.get(entity_type, frozenset())

    def to_document(self) -> dict[str, Any]:
        """The JSON document both parties sign (sets as sorted lists)."""
        return {
            "type": _DOC_TYPE,
            "id": self.id,
            "provider": self.provider,
            "consumer": self.consumer,
            "purpose": self.purpose,
            "entity_types": sorted(self.entity_types),
            "attributes": {t: sorted(a - ALWAYS_ALLOWED) for t, a in self.attributes.items()},
            "operations": sorted(self.operations),
            "area": None if self.area is None else self.area.to_document(),
            "not_before": self.not_before,
            "not_after": self.not_after,
            "freshness_seconds": self.freshness_seconds,
            "rate_limits": self.rate_limits.to_document(),
            "aggregate_only": self.aggregate_only,
            "k_threshold": self.k_threshold,
            "onward_sharing": self.onward_sharing,
            "retention_days": self.retention_days,
            "directory_version": self.directory_version,
        }

    def canonical_bytes(self) -> bytes:
        """RFC 8785 bytes of :meth:`to_document`: what each party signs."""
        return canonical_bytes(self.to_document())

    def digest(self) -> str:
        """SHA-256 hex of the canonical bytes (names this exact version of the agreement)."""
        return sha256_hex(self.canonical_bytes())

    @classmethod
    def from_document(cls, d: Any) -> Agreement:
        """Parse and validate a document; raises ``AgreementError("invalid_agreement")``."""
        return cls._from_document(d)

    @classmethod
    def from_json(cls, data: bytes | str) -> Agreement:
        """Parse JSON text (size-limited, strict) into an agreement."""
        try:
            document = loads_strict(data, max_bytes=MAX_AGREEMENT_BYTES)
        except DocumentError as exc:
            code = "agreement_too_large" if exc.code == "document_too_large" else (
                "invalid_agreement")
            raise AgreementError(code, exc.message) from exc
        return cls.from_document(document)

    @classmethod
    def _from_document(cls, d: Any) -> Agreement:
        w = "agreement"
        d = _READ.obj(d, w)
        _READ.keys(d, w, required=(
            "type", "id", "provider", "consumer", "purpose", "entity_types", "attributes",
            "area", "not_before", "not_after", "freshness_seconds", "rate_limits",
            "aggregate_only", "k_threshold", "onward_sharing", "retention_days",
            "directory_version"), optional=("operations",))
        if d["type"] != _DOC_TYPE:
            _READ.fail(f"agreement.type must be {_DOC_TYPE!r}")
        raw_attributes = _READ.obj(d["attributes"], "agreement.attributes")
        attributes = {t: frozenset(_READ.strings(raw_attributes, t, "agreement.attributes",
                                                max_items=1024)) for t in raw_attributes}
        limits = _READ.obj(d["rate_limits"], "agreement.rate_limits")
        _READ.keys(limits, "agreement.rate_limits",
                  required=("requests_per_minute", "entities_per_day"))
        operations = (_READ.strings(d, "operations", w, max_items=8)
                      if "operations" in d else OPERATIONS)
        return cls(
            id=_READ.string(d, "id", w, max_len=128),
            provider=_READ.string(d, "provider", w, max_len=64),
            consumer=_READ.string(d, "consumer", w, max_len=64),
            purpose=_READ.string(d, "purpose", w, max_len=64),
            entity_types=frozenset(_READ.strings(d, "entity_types", w, max_items=256)),
            attributes=attributes,
            area=None if d["area"] is None else _area(d["area"]),
            not_before=_READ.integer(d, "not_before", w),
            not_after=_READ.integer(d, "not_after", w),
            freshness_seconds=_READ.integer(d, "freshness_seconds", w),
            rate_limits=RateLimits(
                requests_per_minute=_READ.integer(limits, "requests_per_minute", w, minimum=1),
                entities_per_day=_READ.integer(limits, "entities_per_day", w, minimum=1)),
            aggregate_only=_READ.boolean(d, "aggregate_only", w),
            k_threshold=_READ.integer(d, "k_threshold", w, minimum=1),
            onward_sharing=_READ.boolean(d, "onward_sharing", w),
            retention_days=_READ.integer(d, "retention_days", w),
            directory_version=_READ.integer(d, "directory_version", w),
            operations=frozenset(operations),
        )
