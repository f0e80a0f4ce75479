"""Rule files: YAML → :class:`~mappings.rules.MappingRule`, every problem with its line number.

The loader checks everything that can be checked without data: the structure, that each
transform exists and accepts its arguments, that every name a pipeline or template uses is a
column or an earlier ``let`` value, and that every ``${param}`` is declared. All problems are
collected and raised together in one :class:`~mappings.errors.RuleError`.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from pathlib import Path

from mappings._parser import FORMAT_VERSION, RuleParser, substitute_params
from mappings._yaml import LDict, YamlProblem, load_yaml
from mappings.errors import RuleError, RuleProblem
from mappings.rules import ColumnSpec, MappingRule, Signature

__all__ = ["FORMAT_VERSION", "bundled_rule_names", "bundled_rules", "bundled_sample",
           "bundled_samples",
           "load_rules", "parse_rules", "substitute_params"]

RULESETS = Path(__file__).resolve().parent / "rulesets"
_OVERLAY = {"renkei_rules", "extends", "name", "description", "params", "columns"}


def load_rules(path: str | Path) -> MappingRule:
    """Load and validate a rule file; raise :class:`RuleError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(str(path), [RuleProblem(0, f"cannot read rule file: {exc}")]) from None
    return parse_rules(text, str(path))


def parse_rules(text: str, path: str = "<rules>") -> MappingRule:
    """Validate rule YAML given as text (``path`` only names it in messages)."""
    try:
        doc = load_yaml(text)
    except YamlProblem as exc:
        raise RuleError(path, [RuleProblem(exc.line, exc.message)]) from None
    if isinstance(doc, LDict) and "extends" in doc:
        return _overlay(doc, path)
    parser = RuleParser(path)
    rule = parser.parse(doc)
    if parser.problems or rule is None:
        raise RuleError(path, sorted(parser.problems, key=lambda p: p.line))
    return rule


def _overlay(doc: LDict, path: str) -> MappingRule:
    # A city overlay: another rule file with its own name, parameter values and header
    # aliases (the base's columns under the names this city's file gives them); nothing else.
    problems = [RuleProblem(doc.key_lines[k], f"an overlay (with `extends`) may only set "
                            f"{', '.join(sorted(_OVERLAY - {'extends'}))}; not {k!r}")
                for k in doc if k not in _OVERLAY]
    base_ref = doc["extends"]
    if not isinstance(base_ref, str):
        problems.append(RuleProblem(doc.line_of("extends"), "`extends` is a relative path"))
        raise RuleError(path, problems)
    base = load_rules(Path(path).parent / base_ref)
    params = doc.get("params", {})
    if not isinstance(params, dict):
        problems.append(RuleProblem(doc.line_of("params"), "`params` must be a mapping"))
        params = {}
    for key in params:
        if key not in base.params:
            problems.append(RuleProblem(params.key_lines[key] if isinstance(params, LDict) else 0,
                                        f"{base_ref} has no parameter {key!r} (it has: "
                                        f"{', '.join(base.params) or 'none'})"))
    columns = _overlay_columns(doc, base, base_ref, problems)
    if doc.get("renkei_rules") != FORMAT_VERSION:
        problems.append(RuleProblem(doc.line, f"`renkei_rules: {FORMAT_VERSION}` is required"))
    if problems:
        raise RuleError(path, problems)
    return replace(base, name=str(doc.get("name", base.name)),
                   description=str(doc.get("description", base.description)),
                   params={**base.params, **params}, columns=columns,
                   identify=_aliased_signature(base, columns), origin=path)


def _aliased_signature(base: MappingRule, columns: tuple[ColumnSpec, ...]) -> Signature | None:
    # A header alias also counts where the base's signature names the column's own headers:
    # an overlay for a city writing 設置場所 for 設置位置 is still an AED list.
    sig = base.identify
    if sig is None:
        return None
    aliases: dict[str, tuple[str, ...]] = {}
    for col in columns:
        for h in col.headers:
            aliases[h] = col.headers
    groups = tuple(tuple(dict.fromkeys(a for h in g for a in aliases.get(h, (h,))))
                   for g in sig.all)
    any_ = tuple(dict.fromkeys(a for h in sig.any for a in aliases.get(h, (h,))))
    return replace(sig, all=groups, any=any_)


def _overlay_columns(doc: LDict, base: MappingRule, base_ref: str,
                     problems: list[RuleProblem]) -> tuple[ColumnSpec, ...]:
    """The base's columns with the overlay's extra headers added after the base's own."""
    if "columns" not in doc:
        return base.columns
    extra = doc["columns"]
    if not isinstance(extra, LDict):
        problems.append(RuleProblem(doc.line_of("columns"), "`columns` maps the base's logical "
                                    "columns to extra headers"))
        return base.columns
    by_name = {c.name: c for c in base.columns}
    for name, spec in extra.items():
        line = extra.key_lines[name]
        headers = spec.get("headers", []) if isinstance(spec, dict) else spec
        headers = [headers] if isinstance(headers, str) else headers
        if name not in by_name:
            problems.append(RuleProblem(line, f"{base_ref} has no column {name!r} (its columns: "
                                        f"{', '.join(by_name)})"))
        elif not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
            problems.append(RuleProblem(line, f"column {name!r}: give a list of header texts"))
        else:
            col = by_name[name]
            by_name[name] = replace(col, headers=col.headers + tuple(
                h for h in headers if h not in col.headers))
    return tuple(by_name.values())


def bundled_rule_names() -> tuple[str, ...]:
    """Names of the rule sets shipped under ``mappings/rulesets``."""
    return tuple(sorted(p.parent.name for p in RULESETS.glob("*/rules.yaml")))


def bundled_rules(name: str) -> Path:
    """Path of the bundled rule set ``name``'s ``rules.yaml``."""
    path = RULESETS / name / "rules.yaml"
    if not name or "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        close = difflib.get_close_matches(name, bundled_rule_names(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise RuleError(f"bundled:{name}", [RuleProblem(0, (
            f"no bundled rule set {name!r}; {hint}bundled rule sets: "
            f"{', '.join(bundled_rule_names())} (or `auto` to recognize the file)"))])
    return path


def bundled_samples(name: str) -> tuple[Path, ...]:
    """The data files bundled with rule set ``name``, in name order (snapshots by date)."""
    files = tuple(sorted(p for p in (RULESETS / name / "sample").glob("*")
                         if p.is_file() and p.suffix != ".md"))
    if not files:
        raise KeyError(f"rule set {name!r} has no bundled sample data")
    return files


def bundled_sample(name: str) -> Path:
    """The (first) data file bundled with rule set ``name``."""
    return bundled_samples(name)[0]
