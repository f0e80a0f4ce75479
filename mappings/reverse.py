"""Reverse mapping: an entity in the shared vocabulary back to a row in a city's local schema.

The same rule runs backwards. Each attribute's value goes back through its pipeline (each
transform's ``reverse``, last step first) to the columns it came from; the id and relationship
templates are parsed to recover the values they were built from; parts picked with ``get``
(a capacity's ``indoor`` and ``outdoor``) are gathered and reassembled before their ``let``
pipeline runs backwards. Round-trip guarantees per column are those of the transforms used
(see :meth:`mappings.compiler.CompiledRule.column_round_trip`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappings.pipeline import Pipeline
from mappings.rules import AttributeSpec
from mappings.templates import template_parser
from mappings.transforms.codes import CODE_LISTS
from mappings.views import CompiledView

__all__ = ["ReverseMapper", "build_reverse"]

_WORSE = {"lossless": 0, "normalizes": 1, "lossy": 2}


class ReverseMapper:
    """``mapper(entity) -> row``; ``columns`` and ``round_trip`` describe the rows written."""

    def __init__(self, compiled: CompiledView) -> None:
        self.compiled = compiled
        rule = compiled.rule
        self.lets = {name: pipe for name, pipe in compiled.lets}
        self.let_order = [name for name, _ in compiled.lets]
        self.columns_list: list[str] = []
        self.round_trip: dict[str, str] = {}
        self.parse_id = template_parser(compiled.id_template)
        for col in rule.columns:
            self._column(compiled.canonical_header(col.name))
        self.flag_headers: list[tuple[Any, dict[str, tuple[str, ...]]]] = []
        for attr, pipes in compiled.attributes:
            for pipe in self._pipes(pipes):
                self._note(pipe.spec.sources, pipe.round_trip)
            if attr.flags is not None:
                self.flag_headers.append((pipes["flag_step"], self._flag_columns(attr)))
        for _, pipe in compiled.lets:
            self._note(pipe.spec.sources, pipe.round_trip)
        self.object_parsers = {attr.name: template_parser(pipes["object"])
                               for attr, pipes in compiled.attributes if "object" in pipes}

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.columns_list)

    # -- static bookkeeping ---------------------------------------------------------------------
    def _column(self, header: str) -> None:
        if header not in self.round_trip:
            self.columns_list.append(header)
            self.round_trip[header] = "lossless"

    def _note(self, sources: tuple[str, ...], round_trip: str) -> None:
        for name in sources:
            if name in self.lets:
                let = self.lets[name]
                worst = max(round_trip, let.round_trip, key=_WORSE.__getitem__)
                self._note(let.spec.sources, worst)
                continue
            header = self.compiled.canonical_header(name)
            self._column(header)
            self.round_trip[header] = max(self.round_trip[header], round_trip,
                                          key=_WORSE.__getitem__)

    @staticmethod
    def _pipes(pipes: Mapping[str, Any]) -> list[Pipeline]:
        out = [pipes[k] for k in ("value", "observed_at") if k in pipes]
        out += [p for _, p in pipes.get("languages", ())]
        out += [p for _, p in pipes.get("fields", ())]
        return out

    def _flag_columns(self, attr: AttributeSpec) -> dict[str, tuple[str, ...]]:
        spec = attr.flags
        assert spec is not None
        if spec.columns:
            mapping = {code: tuple(self.compiled.canonical_header(n) for n in names)
                       for code, names in spec.columns}
        else:
            prefix = spec.prefix or ""
            mapping = {code: (prefix + names[0],)
                       for code, names in CODE_LISTS[spec.code_list or ""].items()}
        for headers in mapping.values():
            for h in headers:
                self._column(h)
                self.round_trip[h] = max(self.round_trip[h], "normalizes", key=_WORSE.__getitem__)
        return mapping

    # -- per entity -----------------------------------------------------------------------------
    def __call__(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(self.columns_list, "")
        pending: dict[str, Any] = {}
        flags: dict[str, Any] = {}

        def assign(name: str, value: Any) -> None:
            if name in self.lets:
                have = pending.get(name)
                if isinstance(have, dict) and isinstance(value, dict):
                    have.update({k: v for k, v in value.items() if v is not None})
                elif have is None:
                    pending[name] = dict(value) if isinstance(value, dict) else value
                return
            header = self.compiled.canonical_header(name)
            if value is not None and row.get(header, "") == "":
                # Text for tabular sources; JSON objects and lists (a GeoJSON value of an
                # NGSIv2 source) stay as they are.
                row[header] = value if isinstance(value, str | dict | list) else str(value)

        def back(pipe: Pipeline, value: Any) -> None:
            if pipe.spec.has_constant:
                return  # a constant says nothing about the local row
            for step in reversed(pipe.steps):
                value = {step.args["key"]: value} if step.name == "get" else step.reverse(value)
            sources = pipe.spec.sources
            if len(sources) == 1:
                assign(sources[0], value)
            elif value is not None:
                for name, part in zip(sources, value, strict=True):
                    assign(name, part)

        for name, value in (self.parse_id(str(entity.get("id", ""))) or {}).items():
            assign(name, value)
        for attr, pipes in self.compiled.attributes:
            data = entity.get(attr.name)
            if not isinstance(data, Mapping):
                continue
            if "observed_at" in pipes and data.get("observedAt") is not None:
                back(pipes["observed_at"], data["observedAt"])
            if attr.kind == "LanguageProperty":
                lang_map = data.get("languageMap") or {}
                for tag, pipe in pipes["languages"]:
                    if lang_map.get(tag) is not None:
                        back(pipe, lang_map[tag])
            elif attr.kind == "Relationship":
                parsed = self.object_parsers[attr.name](str(data.get("object", ""))) or {}
                for name, value in parsed.items():
                    assign(name, value)
            elif attr.kind == "Flags" and attr.flags is not None:
                select = attr.flags.select
                for code in data.get("value") or ():
                    flags[code] = select
            elif pipes["fields"]:
                obj = data.get("value") or {}
                for key, pipe in pipes["fields"]:
                    if not pipe.spec.has_constant and obj.get(key) is not None:
                        back(pipe, obj[key])
            elif "value" in pipes and not pipes["value"].spec.has_constant:
                back(pipes["value"], data.get("value"))
        for name in reversed(self.let_order):
            if name in pending:
                back(self.lets[name], pending[name])
        for step, mapping in self.flag_headers:
            for code, headers in mapping.items():
                text = step.reverse(flags.get(code, False)) or ""
                for h in headers:
                    if row.get(h, "") == "":
                        row[h] = text
        return row


def build_reverse(compiled: CompiledView) -> ReverseMapper:
    """The reverse mapper of a compiled rule (a callable with ``columns`` and ``round_trip``)."""
    return ReverseMapper(compiled)
