"""Flag sets: list attributes built from one yes/no/conditional column per code.

``suitableFor`` and ``conditionallySuitableFor`` read the same hazard columns; one function per
record reads them once and gives both lists, kept in an ``env`` slot the two attributes share.
Columns come from the rule (``columns:``) or, in the Digital Agency layout, from the header
itself: every ``災害種別_*`` column names its hazard after the prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mappings.errors import RecordError
from mappings.rules import AttributeSpec
from mappings.transforms.codes import CODE_LISTS, code_index, code_key
from mappings.transforms.flags import CONDITIONAL, make_flag_reader

if TYPE_CHECKING:
    from mappings.binding import BoundRule

__all__ = ["flag_columns", "flag_slot"]

_RANK = {False: 0, CONDITIONAL: 1, True: 2}
_MISSING = object()


def flag_slot(bound: BoundRule, attr: AttributeSpec, table: Mapping[Any, Any]) -> int:
    """The env slot holding this record's (true codes, conditional codes) for ``attr``.

    Attributes reading the same columns with the same marks share one slot.
    """
    columns = flag_columns(bound, attr)
    for _, headers in columns:
        bound._used.update(headers)
    key = (tuple(columns), tuple(sorted(table.items(), key=repr)))
    if key in bound._flag_slots:
        return bound._flag_slots[key]
    read = make_flag_reader(table)
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

        def answers_single(values: Mapping[str, Any]) -> dict[int, list]:
            # One column per code (the usual case): the loop without the several-column
            # branch. {0: true codes, 1: conditional codes}.
            yes: list = []
            conditional: list = []
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

        slot = len(bound.compiled.lets) + len(bound._extras)
        bound._extras.append(answers_single)
        bound._flag_slots[key] = slot
        return slot

    def answers(values: Mapping[str, Any]) -> dict[int, list]:
        # One pass over the flag columns gives both lists: {0: true codes, 1: conditional}.
        yes: list = []
        conditional: list = []
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

    slot = len(bound.compiled.lets) + len(bound._extras)
    bound._extras.append(answers)
    bound._flag_slots[key] = slot
    return slot


def flag_columns(bound: BoundRule, attr: AttributeSpec) -> list[tuple[str, tuple[str, ...]]]:
    """Code → the headers holding its flag in this file (the prefix form read off the header)."""
    spec = attr.flags
    assert spec is not None
    if spec.columns:
        return [(code, headers) for code, names in spec.columns
                if (headers := tuple(h for n in names if (h := bound.resolved.get(n))))]
    prefix, codes = spec.prefix or "", CODE_LISTS[spec.code_list or ""]
    if not bound.header:
        return [(code, (prefix + names[0],)) for code, names in codes.items()]
    index = code_index(codes)
    found: dict[str, list[str]] = {}
    for h in bound.header:
        if h.startswith(prefix) and (code := index.get(code_key(h[len(prefix):]))):
            found.setdefault(code, []).append(h)
    return [(code, tuple(found[code])) for code in codes if code in found]


