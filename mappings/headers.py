"""Headers compared loosely, and whether a file's header is the dataset a rule is for.

A rule's ``identify:`` block (:class:`~mappings.rules.Signature`) names the columns only its
dataset has; :func:`signature_gaps` says which of them a header lacks, and :func:`coverage`
how much of a header a rule reads (recognition ranks the rules that fit by it).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from mappings.rules import MappingRule, Signature

__all__ = ["coverage", "header_key", "signature_gaps"]

_SPACE = re.compile(r"\s+")


def header_key(text: str) -> str:
    """A header compared loosely: headers drift invisibly (a BOM, spaces, full-width letters)."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).lstrip("\ufeff")


def _keys(header: Iterable[str]) -> set[str]:
    return {header_key(h) for h in header}


def signature_gaps(signature: Signature, header: Sequence[str]) -> list[str]:
    """What ``header`` lacks of ``signature``, in words (empty when the header fits)."""
    keys = _keys(header)
    gaps = [f"no {' or '.join(group)} column" for group in signature.all
            if not any(header_key(h) in keys for h in group)]
    if signature.any and not any(header_key(h) in keys for h in signature.any):
        gaps.append("none of the columns " + ", ".join(signature.any))
    if signature.prefix is not None:
        start = header_key(signature.prefix)
        if not any(k.startswith(start) for k in keys):
            gaps.append(f"no column starting with {signature.prefix}")
    # `none: [人数]` also catches 人数_令和6年1月9日午後6時時点 (a header carrying a value).
    present = [h for h in signature.none
               if any(k == header_key(h) or k.startswith(header_key(h) + "_") for k in keys)]
    if present:
        gaps.append(f"a {', '.join(present)} column, which a {signature.dataset} does not have")
    return gaps


def coverage(rule: MappingRule, header: Sequence[str]) -> float:
    """The share of ``header``'s (non-blank) columns that ``rule`` reads: its columns' headers,
    their patterns, and columns under a flag set's prefix."""
    named = [h for h in header if header_key(h)]
    if not named:
        return 0.0
    wanted = {header_key(h) for c in rule.columns for h in c.headers}
    patterns = [re.compile(p) for c in rule.columns for p in c.patterns]
    prefixes = [header_key(a.flags.prefix) for a in rule.attributes
                if a.flags is not None and a.flags.prefix]
    read = 0
    for h in named:
        k = header_key(h)
        if k in wanted or any(p.fullmatch(h) for p in patterns) \
                or any(k.startswith(p) for p in prefixes):
            read += 1
    return read / len(named)
