"""Flag sets: list attributes built from one yes/no/conditional column per code.

``suitableFor`` and ``conditionallySuitableFor`` read the same hazard columns; one function per
record reads them once and gives both lists, kept in an ``env`` slot the two attributes share.
Columns come from the rule (``columns:``) or, in the Digital Agency layout, from the header
itself: every ``災害種別_*`` column names its hazard after the prefix. Which env slot a flag
set gets is the bound rule's business (:meth:`mappings.binding.BoundRule.flag_slot`).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mappings.errors import RecordError
from mappings.rules import AttributeSpec
from mappings.transforms.codes import CODE_LISTS, code_index, code_key
from mappings.transforms.flags import CONDITIONAL, make_flag_reader

__all__ = ["CODE_LISTS", "FlagColumns", "flag_answers", "flag_columns", "prefixed_codes"]

FlagColumns = list[tuple[str, tuple[str, ...]]]
"""Code → the headers holding its flag, in code-list order."""
Answers = Callable[[Mapping[str, Any]], dict[int, list[str]]]

_RANK = {False: 0, CONDITIONAL: 1, True: 2}
_MISSING = object()


def flag_answers(columns: FlagColumns, table: Mapping[Any, Any],
                 notices: Counter[str] | None = None) -> Answers:
    """A function giving one record's ``{0: true codes, 1: conditional codes}``.

    ``table`` maps the marks seen so far to their answer (``flag_table``); other marks go
    through the flag transform, which names the header and raw value of one it refuses.
    """
    read = make_flag_reader(table, notices)
    lookup = dict(table)
    lookup[None] = False
    tget = lookup.get
    items = tuple((code, headers[0] if len(headers) == 1 else None, headers)
                  for code, headers in columns)

    def status(values: Mapping[str, Any], header: str) -> Any:
        raw = values[header]
        answer = tget(raw, _MISSING)
        if answer is _MISSING:
            try:
                answer = read(raw)
            except RecordError as exc:
                raise exc.located(header, raw) from None
        return answer

    if all(header is not None for _, header, _ in items):
        singles = tuple((code, header) for code, header, _ in items if header is not None)

        def answers_single(values: Mapping[str, Any]) -> dict[int, list[str]]:
            # One column per code (the usual case): the loop without the several-column
            # branch. {0: true codes, 1: conditional codes}.
            yes: list[str] = []
            conditional: list[str] = []
            for code, header in singles:
                answer = tget(values[header], _MISSING)
                if answer is True:
                    yes.append(code)
                elif answer is False:
                    continue
                elif answer is _MISSING:
                    answer = status(values, header)
                    if answer is True:
                        yes.append(code)
                    elif answer == CONDITIONAL:
                        conditional.append(code)
                else:
                    conditional.append(code)
            return {0: yes, 1: conditional}

        return answers_single

    def answers(values: Mapping[str, Any]) -> dict[int, list[str]]:
        # One pass over the flag columns gives both lists: {0: true codes, 1: conditional}.
        yes: list[str] = []
        conditional: list[str] = []
        for code, header, headers in items:
            if header is not None:
                answer = tget(values[header], _MISSING)
                if answer is _MISSING:
                    answer = status(values, header)
            else:
                # The least favourable answer counts: 'suitable' only if all columns say so.
                answer = min((status(values, h) for h in headers), key=_RANK.__getitem__)
            if answer is True:
                yes.append(code)
            elif answer == CONDITIONAL:
                conditional.append(code)
        return {0: yes, 1: conditional}

    return answers


def flag_columns(attr: AttributeSpec, resolved: Mapping[str, str | None],
                 header: Sequence[str]) -> FlagColumns:
    """Code → the headers holding ``attr``'s flags in a file with ``header`` whose logical
    columns were found under ``resolved`` (the prefix form is read off the header itself;
    an empty header, for schemaless records, gives every code's first name)."""
    spec = attr.flags
    assert spec is not None
    if spec.columns:
        return [(code, headers) for code, names in spec.columns
                if (headers := tuple(h for n in names if (h := resolved.get(n))))]
    prefix, codes = spec.prefix or "", CODE_LISTS[spec.code_list or ""]
    if not header:
        return [(code, (prefix + names[0],)) for code, names in codes.items()]
    found: dict[str, list[str]] = {}
    for h, code in prefixed_codes(prefix, codes, header).items():
        if code is not None:
            found.setdefault(code, []).append(h)
    return [(code, tuple(found[code])) for code in codes if code in found]


def prefixed_codes(prefix: str, codes: Mapping[str, tuple[str, ...]],
                   header: Sequence[str]) -> dict[str, str | None]:
    """Header → code for every header starting with ``prefix`` (compared loosely: ``災害種別_``,
    ``災害種別：``); the name after it matches a code's names exactly or, for the typos and
    separators that occur (``崖崩れ_土石流及び地滑り``, ``がけ崩れ土石流地すべり``), closely.
    ``None`` for a header naming no code (the run summary warns of it)."""
    index = code_index(codes)
    start = code_key(prefix).rstrip("_:")
    out: dict[str, str | None] = {}
    for h in header:
        key = code_key(h)
        if not key.startswith(start):
            continue
        name = key[len(start):].lstrip("_:")
        code = index.get(name)
        if code is None and name:
            close = difflib.get_close_matches(name, list(index), n=1, cutoff=0.75)
            code = index[close[0]] if close else None
        out[h] = code
    return out


