"""From a stored entity to what a client asked for: system attributes, projection, language,
format (normalized, concise, keyValues) and the caller's names, in that order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .model import concise, language_filtered, simplified, with_sys_attrs
from .projection import CORE_NAMES, Projection
from .terms import Translator

FORMATS = ("normalized", "concise", "simplified")


@dataclass(frozen=True)
class Join:
    """Linked entity retrieval asked for (``broker.ngsi.join`` does it)."""

    mode: str  # inline | flat
    level: int = 1
    contained_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutputOptions:
    format: str = "normalized"
    sys_attrs: bool = False
    projection: Projection = Projection()  # attrs, pick or omit, in stored names
    lang: str | None = None
    geoproperty: str = "location"
    join: Join | None = None
    # datasetId (4.5.5): only these instances ("@none": the default one) are shown.
    dataset_ids: tuple[str, ...] | None = None

    @property
    def passthrough(self) -> bool:
        """Whether stored bytes can be sent as they are."""
        return (self.format == "normalized" and not self.sys_attrs and self.projection.empty
                and self.lang is None and self.join is None and self.dataset_ids is None)


def render_entity(entity: Mapping[str, Any], options: OutputOptions, translator: Translator,
                  created_at: float | None = None, modified_at: float | None = None
                  ) -> dict[str, Any]:
    out: Mapping[str, Any] = entity
    if options.sys_attrs:
        out = with_sys_attrs(out, created_at, modified_at)
    if not options.projection.empty:
        out = options.projection.apply(out)
        if not out:
            return {}  # nothing left: the caller drops the entity (or answers 404)
    if options.dataset_ids is not None:
        out = with_datasets(out, options.dataset_ids)
    if options.lang is not None and options.format != "simplified":
        out = language_filtered(out, options.lang)
    if options.format == "simplified":
        out = simplified(out, options.lang)
    elif options.format == "concise":
        out = concise(out)
    return translator.entity(out)


def with_datasets(entity: Mapping[str, Any], dataset_ids: tuple[str, ...]) -> dict[str, Any]:
    """The entity with only the attribute instances of ``dataset_ids`` (``@none``: the
    default instance); an attribute left without instances goes, the entity stays."""
    keep = set(dataset_ids)
    out: dict[str, Any] = {}
    for name, attr in entity.items():
        if name in CORE_NAMES:
            out[name] = attr
            continue
        instances = attr if isinstance(attr, list) else [attr]
        kept = [i for i in instances if isinstance(i, Mapping)
                and str(i.get("datasetId", "@none")) in keep]
        if kept:
            out[name] = kept[0] if len(kept) == 1 else kept
    return out


def merge_local_wins(remote: Mapping[str, Any], local: Mapping[str, Any]) -> dict[str, Any]:
    """One entity known here and at a peer: the peer's attributes, overridden by ours."""
    return {**remote, **local}
