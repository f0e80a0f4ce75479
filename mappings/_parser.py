"""The rule-file parser: one pass over the YAML tree, collecting problems with their lines.

Used by :mod:`mappings.loader`; it checks structure, names (columns, ``let`` values,
``${parameters}``) and every transform's arguments, without data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mappings._yaml import LDict, line_of
from mappings.errors import RuleProblem
from mappings.rules import (
    AttributeSpec,
    ColumnSpec,
    FlagSetSpec,
    MappingRule,
    Signature,
    SourceSpec,
    TransformCall,
    ValueSpec,
)
from mappings.transforms import TRANSFORMS, BuildContext
from mappings.transforms.codes import CODE_LISTS
from mappings.transforms.flags import FLAG_PARAMS

__all__ = ["FORMAT_VERSION", "PARAM", "RuleParser", "substitute_params"]

FORMAT_VERSION = 1
PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PARAM = PARAM
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_TOP = {"renkei_rules", "name", "description", "source", "params", "tables", "target",
        "columns", "let", "attributes", "extends", "identify"}
_KINDS = {"csv", "xlsx", "json", "jsonl", "ngsiv2", "ngsild"}
_ATTR_KEYS = {"type", "from", "pipe", "value", "unit", "observed_at", "keep_empty", "languages",
              "fields", "object", "flags"}
_FLAG_ARG_NAMES = {p.name for p in FLAG_PARAMS}


def substitute_params(value: Any, params: Mapping[str, Any]) -> Any:
    """Replace ``${name}`` in every string inside ``value`` (a whole-string placeholder keeps the
    parameter's type, so ``default: ${capacity}`` can be a number, or null)."""
    if isinstance(value, str):
        whole = _PARAM.fullmatch(value)
        if whole:
            return params[whole.group(1)]

        def text(m: re.Match[str]) -> str:
            if params[m.group(1)] is None:
                raise KeyError(f"{m.group(1)} (no value given, needed inside {value!r})")
            return str(params[m.group(1)])

        return _PARAM.sub(text, value)
    if isinstance(value, Mapping):
        return {k: substitute_params(v, params) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [substitute_params(v, params) for v in value]
    return value



class RuleParser:
    """One pass over the YAML tree, collecting problems instead of stopping at the first."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[RuleProblem] = []
        self.params: dict[str, Any] = {}
        self.tables: dict[str, Any] = {}
        self.columns: dict[str, ColumnSpec] = {}
        self.implicit: dict[str, int] = {}
        self.lets: list[str] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(RuleProblem(line, message))

    # -- top level ----------------------------------------------------------------------------
    def parse(self, doc: Any) -> MappingRule | None:
        if not isinstance(doc, LDict):
            self.problem(line_of(doc, 0, 1), "a rule file is a YAML mapping")
            return None
        for key in doc:
            if key not in _TOP:
                self.problem(doc.key_lines[key], f"unknown key {key!r} "
                             f"(expected one of {', '.join(sorted(_TOP))})")
        version = doc.get("renkei_rules")
        if version != FORMAT_VERSION:
            self.problem(doc.line_of("renkei_rules") if "renkei_rules" in doc else doc.line,
                         f"`renkei_rules: {FORMAT_VERSION}` (the format version) is required")
        name = self.text(doc, "name", required=True)
        self.params = self.mapping(doc, "params")
        self.tables = self.mapping(doc, "tables")
        source = self.source(doc.get("source"), doc.line_of("source"))
        identify = self.signature(doc.get("identify"), doc.line_of("identify"))
        target = doc.get("target")
        if not isinstance(target, LDict):
            self.problem(doc.line_of("target"), "`target` (type and id) is required")
            return None
        type_ = self.text(target, "type", required=True)
        mode = target.get("mode", "map")
        if mode not in ("map", "passthrough"):
            self.problem(target.line_of("mode"), "`mode` is `map` or `passthrough`")
        accept = target.get("accept_types", [])
        if not isinstance(accept, list) or not all(isinstance(t, str) for t in accept):
            self.problem(target.line_of("accept_types"), "`accept_types` is a list of types")
            accept = []
        id_template = self.text(target, "id", required=mode == "map") or ""
        self.parse_columns(doc.get("columns"), doc.line_of("columns"))
        lets = self.parse_lets(doc.get("let"), doc.line_of("let"))
        if id_template:
            self.template(id_template, target.line_of("id"))
        attributes = self.parse_attributes(doc.get("attributes"), doc.line_of("attributes"),
                                           required=mode == "map")
        columns = tuple(self.columns.values()) + tuple(
            ColumnSpec(n, (n,), line=line) for n, line in self.implicit.items()
            if n not in self.columns)
        return MappingRule(
            name=name or "", path=self.path, target_type=type_ or "", id_template=id_template,
            id_line=target.line_of("id"), mode=mode, description=str(doc.get("description", "")),
            source=source, params=dict(self.params), tables=dict(self.tables), columns=columns,
            lets=lets, attributes=attributes, accept_types=tuple(accept), identify=identify,
            origin=self.path)

    def text(self, d: LDict, key: str, required: bool = False) -> str | None:
        value = d.get(key)
        if value is None:
            if required:
                self.problem(d.line, f"`{key}` is required")
            return None
        if not isinstance(value, str) or not value:
            self.problem(d.line_of(key), f"`{key}` must be non-empty text")
            return None
        self.check_params(value, d.line_of(key))
        return value

    def mapping(self, d: LDict, key: str) -> dict[str, Any]:
        value = d.get(key, {})
        if not isinstance(value, dict):
            self.problem(d.line_of(key), f"`{key}` must be a mapping")
            return {}
        return value

    def source(self, value: Any, line: int) -> SourceSpec:
        if value is None:
            return SourceSpec()
        if not isinstance(value, LDict):
            self.problem(line, "`source` must be a mapping")
            return SourceSpec()
        kind = value.get("kind")
        if kind is not None and kind not in _KINDS:
            self.problem(value.line_of("kind"), f"unknown source kind {kind!r} "
                         f"(expected one of {', '.join(sorted(_KINDS))})")
        for key in set(value) - {"kind", "sheet"}:
            self.problem(value.key_lines[key], f"unknown source key {key!r}")
        return SourceSpec(kind=kind, sheet=value.get("sheet"), line=value.line)

    def signature(self, value: Any, line: int) -> Signature | None:
        if value is None:
            return None
        if not isinstance(value, LDict):
            self.problem(line, "`identify` is a mapping: dataset, all, any, prefix")
            return None
        for key in set(value) - {"dataset", "all", "any", "prefix", "none"}:
            self.problem(value.key_lines[key], f"unknown identify key {key!r} "
                         "(expected dataset, all, any, prefix, none)")
        dataset = value.get("dataset")
        if not isinstance(dataset, str) or not dataset:
            self.problem(value.line, "`identify.dataset` names the dataset (e.g. AED設置箇所一覧)")
            dataset = ""
        groups: list[tuple[str, ...]] = []
        for i, item in enumerate(value.get("all") or []):
            group = [item] if isinstance(item, str) else item
            if not isinstance(group, list) or not group \
                    or not all(isinstance(h, str) for h in group):
                self.problem(line_of(value.get("all"), i, value.line),
                             "`identify.all` items are a header or a list of alternatives")
                continue
            groups.append(tuple(group))
        any_ = value.get("any") or []
        if not isinstance(any_, list) or not all(isinstance(h, str) for h in any_):
            self.problem(value.line_of("any"), "`identify.any` is a list of headers")
            any_ = []
        none = value.get("none") or []
        if not isinstance(none, list) or not all(isinstance(h, str) for h in none):
            self.problem(value.line_of("none"), "`identify.none` is a list of headers")
            none = []
        prefix = value.get("prefix")
        if prefix is not None and not isinstance(prefix, str):
            self.problem(value.line_of("prefix"), "`identify.prefix` is text")
            prefix = None
        if not groups and not any_ and prefix is None:
            self.problem(value.line, "`identify` needs `all`, `any` or `prefix`: the columns "
                         "only this dataset has")
        return Signature(dataset, tuple(groups), tuple(any_), prefix, tuple(none), value.line)

    def check_params(self, text: Any, line: int) -> None:
        if isinstance(text, str):
            for m in _PARAM.finditer(text):
                if m.group(1) not in self.params:
                    self.problem(line, f"parameter ${{{m.group(1)}}} is not declared in `params`")
        elif isinstance(text, Mapping):
            for k, v in text.items():
                self.check_params(v, line_of(text, k, line))
        elif isinstance(text, list):
            for i, v in enumerate(text):
                self.check_params(v, line_of(text, i, line))

    # -- columns and lets ---------------------------------------------------------------------
    def parse_columns(self, value: Any, line: int) -> None:
        if value is None:
            return
        if not isinstance(value, LDict):
            self.problem(line, "`columns` maps logical names to their headers")
            return
        for name, spec in value.items():
            at = value.line_of(name)
            if isinstance(spec, str):
                spec = [spec]
            if isinstance(spec, list):
                headers, patterns, optional = spec, [], False
            elif isinstance(spec, LDict):
                unknown = set(spec) - {"headers", "patterns", "optional"}
                for key in unknown:
                    self.problem(spec.key_lines[key], f"unknown column key {key!r}")
                headers = spec.get("headers", [name])
                patterns = spec.get("patterns", [])
                optional = spec.get("optional", False)
            else:
                self.problem(at, f"column {name!r}: give a list of headers or a mapping")
                continue
            if not all(isinstance(h, str) for h in headers) or not isinstance(headers, list):
                self.problem(at, f"column {name!r}: headers must be a list of texts")
                continue
            compiled = []
            for pattern in patterns if isinstance(patterns, list) else [patterns]:
                try:
                    compiled.append(re.compile(pattern).pattern)
                except (re.error, TypeError) as exc:
                    self.problem(at, f"column {name!r}: bad header pattern {pattern!r}: {exc}")
            self.columns[str(name)] = ColumnSpec(str(name), tuple(headers), tuple(compiled),
                                                 bool(optional), at)

    def parse_lets(self, value: Any, line: int) -> tuple[tuple[str, ValueSpec], ...]:
        if value is None:
            return ()
        if not isinstance(value, LDict):
            self.problem(line, "`let` maps names to value specs")
            return ()
        out = []
        for name, spec in value.items():
            if name in self.columns:
                self.problem(value.key_lines[name], f"let {name!r} has the name of a column")
            vs = self.value_spec(spec, value.line_of(name), f"let {name!r}")
            self.lets.append(str(name))
            if vs is not None:
                out.append((str(name), vs))
        return tuple(out)

    def reference(self, name: str, line: int) -> None:
        if name in self.lets or name in self.columns:
            return
        self.implicit.setdefault(name, line)

    def template(self, template: str, line: int) -> None:
        for m in _PLACEHOLDER.finditer(_PARAM.sub("", template)):
            self.reference(m.group(1), line)

    # -- values and pipelines -----------------------------------------------------------------
    def value_spec(self, spec: Any, line: int, what: str) -> ValueSpec | None:
        if isinstance(spec, str):
            spec_map: dict[str, Any] = {"from": spec}
            at = line
        elif isinstance(spec, LDict):
            spec_map, at = spec, spec.line
            for key in set(spec) - {"from", "pipe", "value"}:
                self.problem(spec.key_lines[key], f"{what}: unknown key {key!r}")
        else:
            self.problem(line, f"{what}: expected a column name or {{from, pipe}}")
            return None
        if "value" in spec_map:
            if "from" in spec_map:
                self.problem(at, f"{what}: give `from` or `value`, not both")
            self.check_params(spec_map["value"], line)
            return ValueSpec((), self.pipe(spec_map.get("pipe"), line_of(spec_map, "pipe", at)),
                             at, spec_map["value"], True)
        sources = spec_map.get("from")
        if isinstance(sources, str):
            sources = [sources]
        if not isinstance(sources, list) or not sources \
                or not all(isinstance(s, str) for s in sources):
            self.problem(line_of(spec_map, "from", at), f"{what}: `from` names a column, a let "
                         "value, or a list of them")
            return None
        for s in sources:
            self.reference(s, line_of(spec_map, "from", at))
        pipe = self.pipe(spec_map.get("pipe"), line_of(spec_map, "pipe", at))
        return ValueSpec(tuple(sources), pipe, at)

    def pipe(self, value: Any, line: int) -> tuple[TransformCall, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            value = [value]
        calls = []
        for i, item in enumerate(value):
            at = line_of(value, i, line)
            if isinstance(item, str):
                name, args = item, None
            elif isinstance(item, dict) and len(item) == 1:
                name, args = next(iter(item.items()))
            else:
                self.problem(at, "a pipeline step is a transform name or {name: arguments}")
                continue
            spec = TRANSFORMS.get(name)
            if spec is None:
                self.problem(at, f"unknown transform {name!r} "
                             f"(known: {', '.join(sorted(TRANSFORMS))})")
                continue
            self.check_params(args, at)
            try:
                # Bind once now with default parameters, to report bad arguments at load time.
                spec.bind(substitute_params(args, self._param_defaults()),
                          BuildContext(self.tables))
            except (ValueError, KeyError) as exc:
                self.problem(at, str(exc).strip("'\""))
            calls.append(TransformCall(name, args, at))
        return tuple(calls)

    def _param_defaults(self) -> dict[str, Any]:
        return {k: ("" if v is None else v) for k, v in self.params.items()}

    # -- attributes ---------------------------------------------------------------------------
    def parse_attributes(self, value: Any, line: int, required: bool) \
            -> tuple[AttributeSpec, ...]:
        if value is None:
            if required:
                self.problem(line, "`attributes` is required")
            return ()
        if not isinstance(value, LDict):
            self.problem(line, "`attributes` maps attribute names to their definitions")
            return ()
        out = []
        for name, spec in value.items():
            if name in ("id", "type", "@context"):
                self.problem(value.key_lines[name],
                             f"{name!r} is set by `target`, not an attribute")
                continue
            attr = self.attribute(str(name), spec, value.line_of(name))
            if attr is not None:
                out.append(attr)
        return tuple(out)

    def attribute(self, name: str, spec: Any, line: int) -> AttributeSpec | None:
        what = f"attribute {name!r}"
        if isinstance(spec, str):
            vs = self.value_spec(spec, line, what)
            return AttributeSpec(name, "Property", line, value=vs) if vs else None
        if not isinstance(spec, LDict):
            self.problem(line, f"{what}: expected a column name or a mapping")
            return None
        for key in set(spec) - _ATTR_KEYS:
            self.problem(spec.key_lines[key], f"{what}: unknown key {key!r} "
                         f"(expected one of {', '.join(sorted(_ATTR_KEYS))})")
        declared = spec.get("type")
        at = spec.line
        unit = spec.get("unit")
        if unit is not None and not isinstance(unit, str):
            self.problem(spec.line_of("unit"), f"{what}: `unit` is a UN/CEFACT code such as C62")
        observed = None
        if "observed_at" in spec:
            observed = self.value_spec(spec["observed_at"], spec.line_of("observed_at"),
                                       f"{what} observed_at")
        common: dict[str, Any] = {"unit": unit, "observed_at": observed,
                                  "keep_empty": bool(spec.get("keep_empty", False))}
        value_keys = {"from", "value", "pipe"} & set(spec)
        if "languages" in spec:
            langs = spec["languages"]
            if not isinstance(langs, LDict) or not langs:
                self.problem(spec.line_of("languages"), f"{what}: `languages` maps language "
                             "tags to value specs")
                return None
            pairs = tuple((str(tag), vs) for tag, raw in langs.items()
                          if (vs := self.value_spec(raw, langs.line_of(tag),
                                                    f"{what} [{tag}]")) is not None)
            return AttributeSpec(name, "LanguageProperty", at, languages=pairs, **common)
        if "flags" in spec:
            flags = self.flag_set(spec["flags"], spec.line_of("flags"), what)
            return AttributeSpec(name, "Flags", at, flags=flags, **common) if flags else None
        if "object" in spec or declared == "Relationship":
            template = spec.get("object")
            if not isinstance(template, str):
                self.problem(at, f"{what}: a Relationship needs `object`, an id template")
                return None
            self.check_params(template, spec.line_of("object"))
            self.template(template, spec.line_of("object"))
            return AttributeSpec(name, "Relationship", at, object_template=template, **common)
        if "fields" in spec:
            fields = spec["fields"]
            if not isinstance(fields, LDict) or not fields:
                self.problem(spec.line_of("fields"), f"{what}: `fields` maps keys to value specs")
                return None
            pairs = tuple((str(k), vs) for k, raw in fields.items()
                          if (vs := self.value_spec(raw, fields.line_of(k),
                                                    f"{what}.{k}")) is not None)
            return AttributeSpec(name, "Property", at, fields=pairs, **common)
        if declared not in (None, "Property", "GeoProperty"):
            self.problem(spec.line_of("type"), f"{what}: unknown attribute type {declared!r}")
        if not value_keys:
            self.problem(at, f"{what}: give `from` (and `pipe`) or `value`")
            return None
        vs = self.value_spec(_subset(spec, value_keys), at, what)
        if vs is None:
            return None
        return AttributeSpec(name, declared or "Property", at, value=vs, **common)

    def flag_set(self, spec: Any, line: int, what: str) -> FlagSetSpec | None:
        if not isinstance(spec, LDict):
            self.problem(line, f"{what}: `flags` is a mapping")
            return None
        for key in set(spec) - {"columns", "prefix", "codes", "select", "flag"}:
            self.problem(spec.key_lines[key], f"{what}: unknown flags key {key!r}")
        select = spec.get("select", True)
        if select not in (True, "conditional"):
            self.problem(spec.line_of("select"), f"{what}: `select` is true or conditional")
        flag_args = spec.get("flag", {}) or {}
        if not isinstance(flag_args, dict) or set(flag_args) - _FLAG_ARG_NAMES:
            self.problem(spec.line_of("flag"), f"{what}: `flag` takes "
                         f"{', '.join(sorted(_FLAG_ARG_NAMES))}")
            flag_args = {}
        else:
            try:
                TRANSFORMS["flag"].bind(dict(flag_args))
            except ValueError as exc:
                self.problem(spec.line_of("flag"), f"{what}: {exc}")
        if "columns" in spec:
            cols = spec["columns"]
            if not isinstance(cols, LDict):
                self.problem(spec.line_of("columns"), f"{what}: `columns` maps codes to columns")
                return None
            pairs = []
            for code, names in cols.items():
                names = [names] if isinstance(names, str) else names
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    self.problem(cols.line_of(code), f"{what}: code {code!r} needs column names")
                    continue
                for n in names:
                    self.reference(n, cols.line_of(code))
                pairs.append((str(code), tuple(names)))
            return FlagSetSpec(select, columns=tuple(pairs), flag_args=dict(flag_args),
                               line=spec.line)
        prefix, codes = spec.get("prefix"), spec.get("codes")
        if not isinstance(prefix, str) or codes not in CODE_LISTS:
            self.problem(spec.line, f"{what}: give `columns`, or `prefix` with `codes` (one of "
                         f"{', '.join(sorted(CODE_LISTS))})")
            return None
        return FlagSetSpec(select, prefix=prefix, code_list=codes, flag_args=dict(flag_args),
                           line=spec.line)


def _subset(spec: LDict, keys: set[str]) -> LDict:
    # An attribute's own from/pipe/value keys re-read as a value spec, keeping their lines.
    out = LDict()
    out.line = spec.line
    for key in keys:
        out[key] = spec[key]
        out.lines[key] = spec.lines[key]
        out.key_lines[key] = spec.key_lines[key]
    return out
