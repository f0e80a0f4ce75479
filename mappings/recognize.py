"""Which bundled rule a file is for, from its header: recognition, never misclassification.

Every bundled rule for a published layout declares ``identify:`` (the columns only its dataset
has). A file fits a rule when its header has them; among the rules that fit, the one reading
the larger share of the header wins (:func:`mappings.headers.coverage`), and when two come
within :data:`MARGIN` of each other nothing is guessed: the caller gets the candidates.
City overlays (``extends``) are not candidates: they read what their base reads, and a city
picks its overlay by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from mappings.errors import SourceError
from mappings.headers import coverage, signature_gaps
from mappings.loader import bundled_rule_names, bundled_rules, load_rules
from mappings.rules import MappingRule
from mappings.sources import detect_kind, open_records

__all__ = ["MARGIN", "Fit", "choose_rule", "file_header", "fitting_rules", "rank_rules"]

#: How far ahead (in header coverage) the best fitting rule must be to be chosen.
MARGIN = 0.05


@dataclass(frozen=True)
class Fit:
    """How one bundled rule fits a header: ``gaps`` (what its signature misses) and
    ``coverage`` (the share of the header it reads)."""

    rule: str
    dataset: str
    coverage: float
    gaps: tuple[str, ...]

    @property
    def fits(self) -> bool:
        return not self.gaps

    def describe(self) -> str:
        """``da_aed (AED設置箇所一覧): reads 91% of the header`` or what it lacks."""
        how = f"reads {self.coverage:.0%} of the header" if self.fits \
            else "its header has " + "; ".join(self.gaps)
        return f"{self.rule} ({self.dataset}): {how}"


@cache
def _candidates() -> tuple[MappingRule, ...]:
    rules = []
    for name in bundled_rule_names():
        rule = load_rules(bundled_rules(name))
        if rule.identify is not None and rule.origin == rule.path:
            rules.append(rule)
    return tuple(rules)


def rank_rules(header: Sequence[str], *, exclude: str = "") -> list[Fit]:
    """Every candidate rule's fit to ``header``: fitting ones first, best coverage first."""
    fits = []
    for rule in _candidates():
        if rule.name == exclude:
            continue
        assert rule.identify is not None
        fits.append(Fit(rule.name, rule.identify.dataset, coverage(rule, header),
                        tuple(signature_gaps(rule.identify, header))))
    return sorted(fits, key=lambda f: (not f.fits, len(f.gaps), -f.coverage, f.rule))


def file_header(path: str | Path, kind: str | None = None) -> tuple[str, ...]:
    """The header of a tabular file (its real format sniffed), or ``()`` when it has no rows."""
    for record in open_records(path, kind=kind or detect_kind(path)):
        return record.header
    return ()


def choose_rule(path: str | Path, kind: str | None = None) -> tuple[str, list[Fit]]:
    """The bundled rule for ``path`` and the ranking it was chosen from.

    Raises :class:`SourceError` ``unrecognized_dataset`` when no rule fits and
    ``ambiguous_dataset`` when two fit about equally, listing how each fits.
    """
    header = file_header(path, kind)
    ranked = rank_rules(header)
    fitting = [f for f in ranked if f.fits]
    listing = "; ".join(f.describe() for f in (fitting or ranked)[:4])
    if not fitting:
        raise SourceError(f"no bundled rule recognizes this header (closest: {listing}); "
                          "write a rule or an overlay for it (README: map your city's file)",
                          code="unrecognized_dataset", file=str(path), row=1)
    if len(fitting) > 1 and fitting[0].coverage - fitting[1].coverage < MARGIN:
        raise SourceError(f"the header fits more than one bundled rule: {listing}; name the "
                          "rule to use", code="ambiguous_dataset", file=str(path), row=1)
    return fitting[0].rule, ranked


def fitting_rules(header: Sequence[str], *, exclude: str = "") -> list[Fit]:
    """The candidate rules whose signature ``header`` has, best first."""
    return [f for f in rank_rules(header, exclude=exclude) if f.fits]
