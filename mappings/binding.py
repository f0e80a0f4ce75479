"""A compiled rule bound to one file's header: the closures that run once per record.

Binding resolves every logical column to the header it has in this file (aliases, loose
matching, header patterns), decides how each value spec reads its input (:class:`Access`),
and has :mod:`mappings.builders` make one closure per attribute. Flag columns shared by two
attributes (``suitableFor`` and ``conditionallySuitableFor``) are read once per record. Errors
raised by transforms are located here with the header and raw value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mappings import builders, flagsets
from mappings.errors import RecordError, SourceError
from mappings.headers import header_key, signature_gaps
from mappings.pipeline import Access, Builder, Env, Getter, Pipeline
from mappings.recognize import fitting_rules
from mappings.rules import AttributeSpec, ColumnSpec
from mappings.templates import id_part, parse_template
from mappings.views import AttributePipes, CompiledView

__all__ = ["BoundRule", "header_key"]

Values = Mapping[str, Any]
Forward = Callable[[Values], dict[str, Any]]
LetPlan = tuple[str | None, Any, Getter]


class BoundRule:
    """``forward(values) -> entity`` for records of one header.

    ``unused_headers`` lists headers the rule does not read (reports show them, so a column a
    city adds does not go unnoticed); ``resolved`` maps logical columns to the headers used.
    """

    def __init__(self, compiled: CompiledView, header: tuple[str, ...] | None, file: str) \
            -> None:
        self.compiled = compiled
        self.header = header or ()
        self.file = file
        self.resolved: dict[str, str | None] = {}
        self.captured: dict[str, str] = {}
        #: Things about this header a run summary must show (a 災害種別_ column naming no
        #: known hazard is not read).
        self.warnings: list[str] = []
        self._used: set[str] = set()
        if header is None:
            # Schemaless records (JSON): each column is its first name; an absent key is blank.
            self.resolved = {c.name: c.headers[0] if c.headers else c.name
                             for c in compiled.rule.columns}
        else:
            self._resolve_columns(compiled.rule.columns)
        self._lets = tuple(self._let_plan(p) for _, p in compiled.lets)
        self._extras: list[Callable[[Values], Any]] = []
        self._flag_slots: dict[Any, int] = {}
        self._id = self.template(compiled.id_template, required=True)
        self._attrs = builders.make_builders(self)
        self.unused_headers = tuple(h for h in self.header if h not in self._used)
        forward = self._make_forward()
        self.forward: Forward
        if header is None:
            # Builders read values[header] (a subscript is cheaper than .get on the hot path);
            # schemaless records may lack keys, so they are read through a blank-filling view.
            def forward_schemaless(values: Values) -> dict[str, Any]:
                return forward(_Blank(values))
            self.forward = forward_schemaless
        else:
            self.forward = forward

    # -- columns ----------------------------------------------------------------------------------
    @property
    def attributes(self) -> tuple[tuple[AttributeSpec, AttributePipes], ...]:
        """The rule's attributes with their bound pipelines (what the builders build)."""
        return self.compiled.attributes

    def _check_signature(self) -> None:
        # A file of another dataset (an AED list given to the evacuation-site rule) must stop
        # here, with the rule that fits it, not map every row as the wrong type.
        rule = self.compiled.rule
        if rule.identify is None:
            return
        gaps = signature_gaps(rule.identify, self.header)
        if not gaps:
            return
        others = fitting_rules(self.header, exclude=rule.name)
        hint = ("its header fits " + "; ".join(f.describe() for f in others[:3])
                + f": map it with bundled:{others[0].rule}") if others \
            else "no bundled rule recognizes its header"
        raise SourceError(f"this file is not a {rule.identify.dataset} (rule {rule.name!r}): "
                          f"its header has {'; '.join(gaps)}; {hint}",
                          code="wrong_dataset", file=self.file, row=1)

    def _resolve_columns(self, columns: Sequence[ColumnSpec]) -> None:
        self._check_signature()
        exact = set(self.header)
        by_key = {header_key(h): h for h in self.header}
        missing = []
        for col in columns:
            actual = next((h for h in col.headers if h in exact), None)
            if actual is None:
                actual = next((by_key[k] for k in map(header_key, col.headers) if k in by_key),
                              None)
            for pattern in col.patterns if actual is None else ():
                m = next((m for h in self.header if (m := re.fullmatch(pattern, h))), None)
                if m is not None:
                    actual = m.string
                    self.captured.update({k: v for k, v in m.groupdict().items() if v})
                    break
            self.resolved[col.name] = actual
            if actual is not None:
                self._used.add(actual)
            elif not col.optional:
                missing.append(col)
        # A column absent from this file may be carried by another column's header pattern.
        missing = [c for c in missing if c.name not in self.captured]
        if missing:
            wanted = "; ".join(f"{c.name} (headers: {', '.join(c.headers) or '-'})"
                               for c in missing)
            raise SourceError(f"the header lacks column(s) rule {self.compiled.rule.name!r} "
                              f"needs: {wanted}", code="missing_column", file=self.file, row=1)

    def column_label(self, name: str) -> str:
        """The header a logical column was found under (or its canonical header)."""
        return self.resolved.get(name) or self.compiled.canonical_header(name)

    def _source_reader(self, name: str) -> tuple[Getter, str]:
        """A reader for one source name, and the column its errors should name."""
        let_index = self.compiled.let_index.get(name)
        if let_index is not None:
            let_spec = self.compiled.lets[let_index][1].spec
            where = ",".join(self.column_label(s) for s in let_spec.sources) or name
            return (lambda values, env: env[let_index]), where
        actual = self.resolved.get(name)
        if actual is None:
            constant = self.captured.get(name)
            return (lambda values, env: constant), self.column_label(name)

        def read(values: Values, env: Env) -> Any:
            v = values[actual]
            return None if v == "" else v

        return read, actual

    def access(self, pipeline: Pipeline) -> Access:
        """How ``pipeline`` reads its input from a record of this header."""
        spec, fn = pipeline.spec, pipeline.forward
        if spec.has_constant:
            constant = fn(spec.constant) if fn else spec.constant
            return Access(lambda values, env: constant)
        if len(spec.sources) == 1:
            name = spec.sources[0]
            actual = self.resolved.get(name)
            if name not in self.compiled.let_index and actual is not None:
                if pipeline.required and pipeline.core is not None:
                    return Access(_column_getter(actual, fn), "column", actual,
                                   pipeline.core, required=True, full=fn)
                return Access(_column_getter(actual, fn), "column" if fn else "generic",
                               actual, fn)
            read, where = self._source_reader(name)
            if fn is None:
                return Access(read)
            let_index = self.compiled.let_index.get(name)
            if let_index is not None and [s.name for s in pipeline.steps] == ["get"]:
                # A part of a structured let value (a parsed capacity's `indoor`).
                key = pipeline.steps[0].args["key"]

                def get_part(values: Values, env: Env) -> Any:
                    v = env[let_index]
                    return None if v is None else v.get(key)

                return Access(get_part, "part", index=let_index, key=key)

            def get_one(values: Values, env: Env) -> Any:
                raw = read(values, env)
                try:
                    return fn(raw)
                except RecordError as exc:
                    raise exc.located(where, raw) from None

            return Access(get_one)
        readers = [self._source_reader(s) for s in spec.sources]
        reads = tuple(r for r, _ in readers)
        labels = tuple(w for _, w in readers)
        if len(spec.sources) == 2 and fn is not None and all(
                s not in self.compiled.let_index and self.resolved.get(s) for s in spec.sources):
            # Two plain columns (latitude and longitude): read them without the generic loop.
            first, second = labels

            def get_pair(values: Values, env: Env) -> Any:
                a, b = values[first], values[second]
                raw = (None if a == "" else a, None if b == "" else b)
                try:
                    return fn(raw)
                except RecordError as exc:
                    part = exc.part
                    raise exc.located(labels[part] if part is not None else ",".join(labels),
                                      raw[part] if part is not None else list(raw)) from None

            if pipeline.required and pipeline.core is not None:
                return Access(get_pair, "pair", first, pipeline.core, second, required=True)
            return Access(get_pair, "pair", first, fn, second)

        def get_many(values: Values, env: Env) -> Any:
            raw = tuple(r(values, env) for r in reads)
            try:
                return fn(raw) if fn else raw
            except RecordError as exc:
                part = exc.part
                column = labels[part] if part is not None else ",".join(labels)
                raise exc.located(column, raw[part] if part is not None else list(raw)) from None

        return Access(get_many)

    def _let_plan(self, pipeline: Pipeline) -> LetPlan:
        """(column, fn, getter): column and fn set when forward can read the let inline."""
        access = self.access(pipeline)
        if access.kind == "column":
            return access.column, access.full if access.required else access.fn, access.getter
        return None, None, access.getter

    def template(self, template: str, required: bool) -> Getter:
        """A function making ``template``'s text from a record (``None`` when a part is blank
        and not ``required``; a blank part of a required template is ``missing_required``)."""
        literals, names = parse_template(template)
        if not names:
            return lambda values, env: template
        readers = tuple(self._source_reader(n) for n in names)
        parts = tuple(zip(readers, literals[1:], names, strict=True))
        head = literals[0]
        let_index = self.compiled.let_index
        if required and len(names) == 2 and all(n in let_index for n in names):
            # The usual id, `urn:ngsi-ld:<Type>:{member}:{local_id}`, from two let values.
            i, j = let_index[names[0]], let_index[names[1]]
            mid, tail = literals[1], literals[2]

            last: list[Any] = [None, ""]  # the previous member id and its id part

            def build_two(values: Values, env: Env) -> str | None:
                a, b = env[i], env[j]
                if a is None or b is None or a == "" or b == "":
                    return build(values, env)  # raises missing_required with the column
                # Plain ASCII letters and digits need no encoding (no call); a member id repeats
                # (as the same object) on every row; others go through id_part.
                if a is last[0]:
                    a = last[1]
                elif not (a.__class__ is str and a.isascii() and a.isalnum()):
                    last[0], a = a, id_part(a)
                    last[1] = a
                if not (b.__class__ is str and b.isascii() and b.isalnum()):
                    b = id_part(b)
                made: str = head + a + mid + b + tail
                return made


        def build(values: Values, env: Env) -> str | None:
            out = head
            for (read, where), literal, name in parts:
                v = read(values, env)
                if v is None or v == "":
                    if not required:
                        return None
                    raise RecordError("missing_required", f"the id needs {name!r}",
                                      column=where, raw_value=v)
                out += id_part(v) + literal
            return out

        if required and len(names) == 2 and all(n in let_index for n in names):
            return build_two
        return build

    def flag_slot(self, attr: AttributeSpec, table: Mapping[Any, Any]) -> int:
        """The env slot holding this record's flag lists for ``attr`` (shared by attributes
        reading the same columns with the same marks); see :mod:`mappings.flagsets`."""
        columns = flagsets.flag_columns(attr, self.resolved, self.header)
        for _, headers in columns:
            self._used.update(headers)
        spec = attr.flags
        if spec is not None and spec.prefix and self.header:
            codes = flagsets.CODE_LISTS[spec.code_list or ""]
            for h, code in flagsets.prefixed_codes(spec.prefix, codes, self.header).items():
                warning = (f"column {h!r} starts with {spec.prefix} but names no known "
                           f"{spec.code_list} code (known: {', '.join(codes)}); it is not read")
                if code is None and warning not in self.warnings:
                    self.warnings.append(warning)
        key = (tuple(columns), tuple(sorted(table.items(), key=repr)))
        slot = self._flag_slots.get(key)
        if slot is None:
            slot = len(self.compiled.lets) + len(self._extras)
            self._extras.append(flagsets.flag_answers(
                columns, table, getattr(self.compiled, "notices", None)))
            self._flag_slots[key] = slot
        return slot

    def _make_forward(self) -> Forward:
        lets, extras, make_id = self._lets, tuple(self._extras), self._id
        attrs, target_type = self._attrs, self.compiled.target_type
        if len(lets) == 3 and all(column is not None for column, _, _ in lets) and \
                len(extras) <= 1:
            return _forward_three(lets, extras, make_id, attrs, target_type)

        def forward(values: Values) -> dict[str, Any]:
            env: Env = []
            append = env.append
            for column, fn, get in lets:
                if column is None:
                    append(get(values, env))
                    continue
                v = values[column]
                if v == "":
                    v = None
                try:
                    append(fn(v))
                except RecordError as exc:
                    raise exc.located(column, values.get(column)) from None
            for extra in extras:
                append(extra(values))
            entity = {"id": make_id(values, env), "type": target_type}
            for build in attrs:
                build(values, env, entity)
            return entity

        return forward


def _forward_three(lets: tuple[LetPlan, ...], extras: tuple[Callable[[Values], Any], ...],
                   make_id: Getter, attrs: tuple[Builder, ...], target_type: str) -> Forward:
    """``forward`` written out for three column lets (member, local id, one parsed value: the
    common rule shape), without the per-let loop."""
    (c0, f0, _), (c1, f1, _), (c2, f2, _) = lets
    assert c0 is not None and c1 is not None and c2 is not None
    extra = extras[0] if extras else None

    def forward(values: Values) -> dict[str, Any]:
        column = c0
        try:
            v = values[c0]
            e0 = f0(None if v == "" else v)
            column = c1
            v = values[c1]
            e1 = f1(None if v == "" else v)
            column = c2
            v = values[c2]
            e2 = f2(None if v == "" else v)
        except RecordError as exc:
            raise exc.located(column, values.get(column)) from None
        env = [e0, e1, e2] if extra is None else [e0, e1, e2, extra(values)]
        entity = {"id": make_id(values, env), "type": target_type}
        for build in attrs:
            build(values, env, entity)
        return entity

    return forward


class _Blank(dict[str, Any]):
    """A record's values where an absent key reads as blank."""

    def __missing__(self, key: str) -> str:
        return ""


def _column_getter(actual: str, fn: Callable[[Any], Any] | None) -> Getter:
    if fn is None:
        def get_raw(values: Values, env: Env) -> Any:
            v = values[actual]
            return None if v == "" else v
        return get_raw

    def get(values: Values, env: Env) -> Any:
        v = values[actual]
        if v == "":
            v = None
        try:
            return fn(v)
        except RecordError as exc:
            raise exc.located(actual, v) from None

    return get
