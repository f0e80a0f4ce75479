"""Structured results for the command line: ``renkei rules check`` and ``renkei map``.

The CLI (in ``broker``) prints these; nothing here prints or knows about terminals. A progress
callback receives ``(done, total)`` in bytes for text sources and rows for xlsx (``total`` is
then the sheet's declared row count, or 0 when unknown).
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from mappings.compiler import compile_rule
from mappings.engine import Mapped, Quarantined, RunCounts, RunTally, map_records
from mappings.errors import RuleError, RuleProblem, SourceError
from mappings.loader import bundled_rules, load_rules
from mappings.recognize import Fit, choose_rule
from mappings.rules import MappingRule
from mappings.sources import SourceLimits, detect_kind, open_records, real_kind
from mappings.vocab import SCHEMA_FILES, context_terms

__all__ = ["MapReport", "RuleCheck", "check_rules", "run_map"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RuleCheck:
    """The verdict on one rule file."""

    path: str
    problems: tuple[RuleProblem, ...]
    name: str = ""
    target_type: str = ""
    source_kind: str = ""
    attributes: tuple[str, ...] = ()
    transforms: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """Human-readable lines: ``file:line: message`` per problem, or a one-line summary."""
        if self.problems:
            return [f"{self.path}:{p.line}: {p.message}" if p.line else f"{self.path}: {p.message}"
                    for p in self.problems]
        return [f"{self.path}: ok — rule {self.name!r} maps {self.source_kind or 'any'} records "
                f"to {self.target_type} ({len(self.attributes)} attributes, transforms: "
                f"{', '.join(self.transforms) or 'none'})"]


def check_rules(path: str | Path, params: Mapping[str, Any] | None = None) -> RuleCheck:
    """Load and compile a rule file, collecting its problems (never raises for a bad rule)."""
    try:
        rule = load_rules(path)
        compile_rule(rule, params)
    except RuleError as err:
        return RuleCheck(err.file, err.problems)
    names = _name_problems(rule)
    if names:
        return RuleCheck(str(path), tuple(names))
    used: list[str] = []
    for attr in rule.attributes:
        specs = [attr.value, attr.observed_at, *(v for _, v in attr.languages),
                 *(v for _, v in attr.fields)]
        for spec in specs:
            for call in spec.pipe if spec else ():
                if call.name not in used:
                    used.append(call.name)
    for _, spec in rule.lets:
        for call in spec.pipe:
            if call.name not in used:
                used.append(call.name)
    return RuleCheck(str(path), (), rule.name, rule.target_type, rule.source.kind or "",
                     tuple(a.name for a in rule.attributes), tuple(used))


def _name_problems(rule: MappingRule) -> list[RuleProblem]:
    # Attribute and field names must be terms of the target type in the shared vocabulary:
    # anything else expands to the NGSI-LD default vocabulary and means nothing to a peer.
    if rule.mode == "passthrough" or rule.target_type not in SCHEMA_FILES:
        return []
    terms = context_terms(rule.target_type)
    problems = []
    for attr in rule.attributes:
        names = [(attr.name, attr.line)] + [(f, v.line) for f, v in attr.fields]
        for name, line in names:
            if name not in terms:
                close = difflib.get_close_matches(name, sorted(terms), n=1, cutoff=0.7)
                hint = f"; did you mean {close[0]!r}?" if close else (
                    "; add the term to the vocabulary (mappings/contexts) first")
                problems.append(RuleProblem(line, f"{name!r} is not a term of "
                                            f"{rule.target_type} in the shared vocabulary{hint}"))
    return problems


@dataclass(frozen=True)
class MapReport:
    """What one ``renkei map`` run did; ``counts.read == counts.mapped + counts.quarantined``."""

    rule: str
    input: str
    counts: RunCounts
    elapsed_seconds: float
    quarantined: tuple[Quarantined, ...] = ()
    unused_headers: tuple[str, ...] = ()
    quarantine_truncated: bool = False
    by_code: Mapping[str, int] = field(default_factory=dict)
    #: What the summary must show besides counts: a header column the rule cannot name, a file
    #: whose real format differs from its name.
    warnings: tuple[str, ...] = ()
    #: ``auto``: how each bundled rule fitted the header (the chosen one first).
    recognition: tuple[Fit, ...] = ()

    @property
    def records_per_second(self) -> float:
        return self.counts.read / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows for a summary table."""
        rows = [("rule", self.rule), ("input", self.input), ("read", str(self.counts.read)),
                ("mapped", str(self.counts.mapped)),
                ("quarantined", str(self.counts.quarantined))]
        rows += [(f"  {code}", str(n)) for code, n in sorted(self.counts.by_code.items())]
        rows += [(f"dropped: {code}", str(n)) for code, n in sorted(self.counts.notices.items())]
        rows += [("warning", w) for w in self.warnings]
        if self.unused_headers:
            rows.append(("columns not used", ", ".join(self.unused_headers)))
        rows.append(("records/s", f"{self.records_per_second:,.0f}"))
        return rows


def run_map(rules: str | Path, input_path: str | Path, *,
            params: Mapping[str, Any] | None = None, kind: str | None = None,
            limits: SourceLimits | None = None, start_after: str | None = None,
            out: IO[bytes] | None = None, on_result: Callable[[Mapped | Quarantined], None]
            | None = None, progress: Progress | None = None, keep_quarantined: int = 50,
            encoding: str | None = None) -> MapReport:
    """Map one file with one rule file.

    Mapped entities are written to ``out`` as JSON Lines when given (``--dry-run`` gives none)
    and every result goes to ``on_result`` (the broker's store). The report keeps the first
    ``keep_quarantined`` quarantine entries; the counts cover all of them. ``encoding``
    declares a CSV file's encoding (detected otherwise; a file that disagrees is refused).
    """
    recognition: tuple[Fit, ...] = ()
    if str(rules) == "auto":
        name, ranked = choose_rule(input_path, kind)
        rules, recognition = bundled_rules(name), tuple(ranked)
    rule = load_rules(rules)
    compiled = compile_rule(rule, params)
    named = kind or rule.source.kind or detect_kind(input_path)
    kind = real_kind(input_path, named)
    warnings = [f"{Path(input_path).name} is {kind}, not {named} as "
                f"{'its name' if named == detect_kind_or_none(input_path) else 'the rule'} "
                f"says: read as {kind}"] if kind != named else []
    records = open_records(input_path, kind=kind, limits=limits, start_after=start_after,
                           sheet=rule.source.sheet, encoding=encoding)
    total = _progress_total(Path(input_path), kind)
    tally = RunTally()
    kept: list[Quarantined] = []
    started = time.perf_counter()
    last_tick = 0.0
    for result in map_records(compiled, records, tally=tally, unique_ids=True):
        if isinstance(result, Mapped):
            if out is not None:
                out.write(orjson.dumps(result.entity) + b"\n")
        elif len(kept) < keep_quarantined:
            kept.append(result)
        if on_result is not None:
            on_result(result)
        if progress is not None and result.position is not None:
            now = time.perf_counter()
            if now - last_tick > 0.1:
                progress(result.position.offset, total)
                last_tick = now
    elapsed = time.perf_counter() - started
    if progress is not None:
        progress(total, total)
    counts = tally.counts()
    warnings += getattr(compiled, "warnings", tuple)()
    return MapReport(rule.name, str(input_path), counts, elapsed, tuple(kept),
                     compiled.unused_headers(),
                     counts.quarantined > len(kept), counts.by_code, tuple(warnings),
                     recognition)


def detect_kind_or_none(path: str | Path) -> str | None:
    """The kind ``path``'s name suggests, or None."""
    try:
        return detect_kind(path)
    except SourceError:
        return None


def _progress_total(path: Path, kind: str) -> int:
    if kind != "xlsx":
        return path.stat().st_size
    return 0
