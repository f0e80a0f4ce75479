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

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mappings.binding import BoundRule
from mappings.errors import RuleError, RuleProblem, SourceError
from mappings.loader import substitute_params
from mappings.passthrough import PassthroughRule
from mappings.pipeline import Pipeline, make_pipeline
from mappings.reverse import build_reverse
from mappings.rules import AttributeSpec, MappingRule, ValueSpec
from mappings.sources.records import SourceRecord
from mappings.transforms import TRANSFORMS, BuildContext, Step
from mappings.transforms.flags import flag_table
from mappings.views import AttributePipes, Rule

__all__ = ["CompiledRule", "Pipeline", "Rule", "compile_rule"]


def compile_rule(rule: MappingRule, params: Mapping[str, Any] | None = None) -> Rule:
    """Compile ``rule``; ``params`` override the rule file's ``params`` defaults.

    A ``mode: passthrough`` rule gives a :class:`~mappings.passthrough.PassthroughRule`, any
    other a :class:`CompiledRule`; both are a :class:`~mappings.views.Rule`. Raises
    :class:`RuleError` for an unknown parameter, or an argument that becomes invalid once
    parameters are substituted (a null parameter inside a longer text, for example).
    """
    if rule.mode == "passthrough":
        return PassthroughRule(rule)
    return CompiledRule(rule, params or {})


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
        #: What the transforms counted while mapping with this rule (see BuildContext).
        self.notices: Counter[str] = Counter()
        ctx = BuildContext(rule.tables, self.notices)
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
        self._reverse = build_reverse(self)

    # -- compile stage ------------------------------------------------------------------------
    def _subst(self, value: Any, line: int) -> Any:
        try:
            return substitute_params(value, self.params)
        except KeyError as exc:
            self._problems.append(RuleProblem(line, f"parameter {exc.args[0]} is not usable"))
            return value

    def _pipeline(self, spec: ValueSpec, ctx: BuildContext) -> Pipeline:
        steps: list[Step] = []
        for call in spec.pipe:
            try:
                steps.append(TRANSFORMS[call.name].bind(self._subst(call.args, call.line), ctx))
            except ValueError as exc:
                self._problems.append(RuleProblem(call.line, str(exc)))
        if spec.has_constant:
            spec = ValueSpec(spec.sources, spec.pipe, spec.line,
                             self._subst(spec.constant, spec.line), True)
        return make_pipeline(spec, steps)

    def _attr_pipelines(self, attr: AttributeSpec, ctx: BuildContext) -> AttributePipes:
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
            bound = BoundRule(self, key, file)
            if len(self._bound) >= 256:
                # Files have one header each; only bare mappings of varying keys (re-mapped
                # quarantine entries) get here often, and must not grow the cache forever.
                self._bound.clear()
            self._bound[key] = bound
        return bound

    def forward(self, record: SourceRecord | Mapping[str, Any]) -> dict[str, Any]:
        """Map one record (or a plain header → value mapping) to an entity."""
        if not isinstance(record, SourceRecord):
            return self._forward_mapping(record)
        header = record.header
        last_header, last_forward = self._last
        if last_header is header and last_forward is not None:
            return last_forward(record.values)
        forward = self.bind(header or None, record.file).forward
        self._last = (header, forward)
        return forward(record.values)

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

    def warnings(self) -> tuple[str, ...]:
        """What the run summary must show about the headers bound so far."""
        seen: list[str] = []
        for bound in list(self._bound.values()):
            seen += [w for w in bound.warnings if w not in seen]
        return tuple(seen)

    def column_round_trip(self) -> dict[str, str]:
        """Canonical header → what a round trip gives back for it (lossless/normalizes/lossy)."""
        return dict(self._reverse.round_trip)

    def canonical_header(self, name: str) -> str:
        """The header reverse mapping writes for logical column (or let source) ``name``."""
        col = self._columns.get(name)
        return col.headers[0] if col and col.headers else name


