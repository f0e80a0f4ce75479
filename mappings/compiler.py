"""Compile a rule into plain Python callables: record → entity, entity → record.

Design. Compilation happens in two stages, so the per-record path does no rule look-ups:

1. :func:`compile_rule` (once per rule): parameters are substituted and every transform is
   bound to its arguments, giving each pipeline as a chain of closures.
2. :meth:`CompiledRule.bind` (once per file header): logical columns are resolved to the
   file's actual headers (aliases, header patterns, the Digital Agency ``災害種別_`` prefix),
   and one closure per attribute is built that reads ``values[header]`` directly. The result,
   a :class:`BoundRule`, is cached per header tuple.

Mapping a record is then one call per attribute plus a dict literal. Nothing in a rule is ever
evaluated as code: rules name transforms from a fixed library and the compiler wires them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mappings.errors import RecordError, RuleError, RuleProblem, SourceError
from mappings.loader import substitute_params
from mappings.rules import AttributeSpec, MappingRule, ValueSpec
from mappings.sources.records import SourceRecord
from mappings.transforms import TRANSFORMS, BuildContext, Step, text
from mappings.transforms.base import identity
from mappings.transforms.control import require_value
from mappings.transforms.flags import flag_table

if TYPE_CHECKING:
    from mappings.binding import BoundRule

__all__ = ["CompiledRule", "Pipeline", "compile_rule", "header_key"]


def compile_rule(rule: MappingRule, params: Mapping[str, Any] | None = None) -> CompiledRule:
    """Compile ``rule``; ``params`` override the rule file's ``params`` defaults.

    Raises :class:`RuleError` for an unknown parameter, or an argument that becomes invalid
    once parameters are substituted (a null parameter inside a longer text, for example).
    """
    if rule.mode == "passthrough":
        from mappings.passthrough import PassthroughRule
        return PassthroughRule(rule)  # type: ignore[return-value]
    return CompiledRule(rule, params or {})


@dataclass(frozen=True)
class Pipeline:
    """A value spec with its transforms bound: sources, chained forward, steps for reverse."""

    spec: ValueSpec
    steps: tuple[Step, ...]
    forward: Callable[[Any], Any] | None  # None when every step is the identity
    # The same without a final `required`, for builders that check for no value themselves
    # (one call less per record on the hot path).
    core: Callable[[Any], Any] | None = None
    required: bool = False

    @property
    def round_trip(self) -> str:
        classes = {s.round_trip for s in self.steps}
        return "lossy" if "lossy" in classes else "normalizes" if "normalizes" in classes \
            else "lossless"


_NO_DEFAULT = object()


def _chain(fns: Sequence[Callable[[Any], Any]]) -> Callable[[Any], Any] | None:
    fns = [f for f in fns if f is not identity]
    if not fns:
        return None
    if len(fns) >= 2 and getattr(fns[-1], "fallback", _NO_DEFAULT) is not _NO_DEFAULT:
        # `default` last: one wrapper instead of a chain of two calls.
        before, fallback = _chain(fns[:-1]), fns[-1].fallback  # type: ignore[attr-defined]
        assert before is not None

        def then_default(v: Any) -> Any:
            v = before(v)
            return fallback if v is None else v

        return then_default
    if len(fns) >= 2 and fns[-1] is require_value:
        inner = _chain(fns[:-1])
        assert inner is not None

        def then_required(v: Any) -> Any:
            v = inner(v)
            if v is None:
                raise RecordError("missing_required", "a value is required here")
            return v

        return then_required
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        f, g = fns
        return lambda v: g(f(v))
    if len(fns) == 3:
        f, g, h = fns
        return lambda v: h(g(f(v)))

    def run(v: Any) -> Any:
        for fn in fns:
            v = fn(v)
        return v

    return run


def _fused_forwards(steps: Sequence[Step]) -> list[Callable[[Any], Any]]:
    """The forward functions of ``steps``, runs of commuting text transforms fused into one."""
    out: list[Callable[[Any], Any]] = []
    i = 0
    while i < len(steps):
        j = i
        while j < len(steps) and steps[j].name in text.FUSABLE:
            j += 1
        if j - i >= 1 and (j - i >= 2 or (j < len(steps) and steps[j].name == "required")):
            required = j < len(steps) and steps[j].name == "required"
            out.append(text.fuse([s.name for s in steps[i:j]], required))
            i = j + (1 if required else 0)
        else:
            out.append(steps[i].forward)
            i += 1
    return out


def header_key(text: str) -> str:
    """A header compared loosely: headers drift invisibly (a BOM, spaces, full-width letters)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lstrip("\ufeff")


class CompiledRule:
    """A rule ready to map records; see the module docstring for how it is built.

    ``forward(record)`` returns a normalized NGSI-LD entity (no ``@context``) or raises
    :class:`RecordError` naming the column and raw value at fault. ``reverse(entity)`` returns
    the local row (canonical header → text) the entity corresponds to.
    """

    def __init__(self, rule: MappingRule, params: Mapping[str, Any]) -> None:
        self.rule = rule
        self.target_type = rule.target_type
        unknown = set(params) - set(rule.params)
        problems = [RuleProblem(0, f"unknown parameter {p!r}") for p in sorted(unknown)]
        self.params = {**rule.params, **params}
        if problems:
            raise RuleError(rule.path, problems)
        self._problems: list[RuleProblem] = []
        ctx = BuildContext(rule.tables)
        self.lets = tuple((name, self._pipeline(spec, ctx)) for name, spec in rule.lets)
        self.let_index = {name: i for i, (name, _) in enumerate(self.lets)}
        self.id_template = self._subst(rule.id_template, rule.id_line)
        self.attributes = tuple((a, self._attr_pipelines(a, ctx)) for a in rule.attributes)
        if self._problems:
            raise RuleError(rule.path, self._problems)
        self._columns = {c.name: c for c in rule.columns}
        self._bound: dict[tuple[str, ...] | None, BoundRule] = {}
        # (header, forward) of the last record: consecutive records of one file share the
        # header object, so the per-record check is one identity test. One tuple, replaced as a
        # whole, so threads mapping different files with this rule never pair them wrongly.
        self._last: tuple[Any, Callable[[Mapping[str, Any]], dict[str, Any]] | None] = \
            (None, None)
        from mappings.reverse import build_reverse
        self._reverse = build_reverse(self)

    # -- compile stage ------------------------------------------------------------------------
    def _subst(self, value: Any, line: int) -> Any:
        try:
            return substitute_params(value, self.params)
        except KeyError as exc:
            self._problems.append(RuleProblem(line, f"parameter {exc.args[0]} is not usable"))
            return value

    def _pipeline(self, spec: ValueSpec, ctx: BuildContext) -> Pipeline:
        steps = []
        for call in spec.pipe:
            try:
                steps.append(TRANSFORMS[call.name].bind(self._subst(call.args, call.line), ctx))
            except ValueError as exc:
                self._problems.append(RuleProblem(call.line, str(exc)))
        if spec.has_constant:
            spec = ValueSpec(spec.sources, spec.pipe, spec.line,
                             self._subst(spec.constant, spec.line), True)
        required = bool(steps) and steps[-1].name == "required"
        core = _chain(_fused_forwards(steps[:-1])) if required else None
        return Pipeline(spec, tuple(steps), _chain(_fused_forwards(steps)), core, required)

    def _attr_pipelines(self, attr: AttributeSpec, ctx: BuildContext) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if attr.value is not None:
            out["value"] = self._pipeline(attr.value, ctx)
        if attr.observed_at is not None:
            out["observed_at"] = self._pipeline(attr.observed_at, ctx)
        out["languages"] = tuple((t, self._pipeline(s, ctx)) for t, s in attr.languages)
        out["fields"] = tuple((k, self._pipeline(s, ctx)) for k, s in attr.fields)
        if attr.object_template is not None:
            out["object"] = self._subst(attr.object_template, attr.line)
        if attr.flags is not None:
            args = attr.flags.flag_args
            out["flag_table"] = flag_table(*(tuple(args.get(k) or ()) for k in
                                             ("true_marks", "false_marks",
                                              "conditional_marks")))
            out["flag_step"] = TRANSFORMS["flag"].bind(dict(args))
        return out

    # -- bind stage -----------------------------------------------------------------------------
    def bind(self, header: Sequence[str] | None, file: str = "") -> BoundRule:
        """The rule bound to one file's header (cached per header); ``None`` for schemaless
        records (JSON), where every column is read by its first name and may be absent.

        Raises :class:`SourceError` (``missing_column``) when the header lacks a required column.
        """
        key = tuple(header) if header is not None else None
        bound = self._bound.get(key)
        if bound is None:
            from mappings.binding import BoundRule
            bound = BoundRule(self, key, file)
            if len(self._bound) >= 256:
                # Files have one header each; only bare mappings of varying keys (re-mapped
                # quarantine entries) get here often, and must not grow the cache forever.
                self._bound.clear()
            self._bound[key] = bound  # type: ignore[index]
        return bound

    def forward(self, record: SourceRecord | Mapping[str, Any]) -> dict[str, Any]:
        """Map one record (or a plain header → value mapping) to an entity."""
        if record.__class__ is not SourceRecord:
            return self._forward_mapping(record)  # type: ignore[arg-type]
        header = record.header  # type: ignore[union-attr]
        last = self._last
        if last[0] is header:
            return last[1](record.values)  # type: ignore[misc,union-attr]
        forward = self.bind(header or None, record.file).forward  # type: ignore[union-attr]
        self._last = (header, forward)
        return forward(record.values)  # type: ignore[union-attr]

    def _forward_mapping(self, values: Mapping[str, Any]) -> dict[str, Any]:
        # A bare mapping (a quarantined record's values) has no header of its own: its keys are
        # the header when they hold every column the rule needs (aliases and header patterns
        # then work); otherwise, as with JSON records, absent keys are blank.
        try:
            bound = self.bind(tuple(values))
        except SourceError:
            bound = self.bind(None)
        return bound.forward(values)

    def reverse(self, entity: Mapping[str, Any]) -> dict[str, str]:
        """The local row (canonical header → text; blank as ``""``) for an entity."""
        return self._reverse(entity)

    def unused_headers(self) -> tuple[str, ...]:
        """Headers of the files bound so far that the rule does not read."""
        seen: list[str] = []
        for bound in list(self._bound.values()):
            seen += [h for h in bound.unused_headers if h not in seen]
        return tuple(seen)

    @property
    def reverse_columns(self) -> tuple[str, ...]:
        """The headers :meth:`reverse` writes, in rule order."""
        return self._reverse.columns  # type: ignore[attr-defined]

    def column_round_trip(self) -> dict[str, str]:
        """Canonical header → what a round trip gives back for it (lossless/normalizes/lossy)."""
        return dict(self._reverse.round_trip)  # type: ignore[attr-defined]

    def canonical_header(self, name: str) -> str:
        """The header reverse mapping writes for logical column (or let source) ``name``."""
        col = self._columns.get(name)
        return col.headers[0] if col and col.headers else name


