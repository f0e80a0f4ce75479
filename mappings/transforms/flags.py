"""Yes/no/conditional flags as Japanese open data writes them.

``1``, ``1.0``, ``○``, ``◯``, ``有`` are true; blank, ``0``, ``×``, ``無`` are false; ``△`` is
"conditional" (usable with conditions, e.g. upper floors only). Anything else is quarantined
with ``flag_unrecognized`` rather than guessed; a rule can add its own tokens (Takamatsu writes
``-`` and ``−`` for "not designated").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from mappings.errors import RecordError
from mappings.transforms.base import (
    Args,
    BuildContext,
    Built,
    Param,
    TransformSpec,
    a_str,
    a_str_list,
)

CONDITIONAL = "conditional"

TRUE_TOKENS = ("1", "1.0", "○", "◯", "〇", "有", "あり", "有り", "可", "true", "True", "TRUE",
               "yes", "Yes", "Y")
FALSE_TOKENS = ("", "0", "0.0", "×", "✕", "無", "なし", "無し", "不可", "false", "False",
                "FALSE", "no", "No", "N")
CONDITIONAL_TOKENS = ("△", "▲")


def flag_table(true: tuple[str, ...] = (), false: tuple[str, ...] = (),
               conditional: tuple[str, ...] = ()) -> dict[str, Any]:
    """Token → True/False/"conditional", for the default tokens plus the given ones.

    Keys are stored both as written and NFKC-normalized, so the per-value lookup is one dict
    access in the common case.
    """
    table: dict[str, Any] = {}
    for tokens, meaning in ((FALSE_TOKENS + false, False), (TRUE_TOKENS + true, True),
                            (CONDITIONAL_TOKENS + conditional, CONDITIONAL)):
        for token in tokens:
            table[token] = meaning
            table[unicodedata.normalize("NFKC", token).strip()] = meaning
    return table


def make_flag_reader(table: Mapping[Any, Any]) -> Callable[[Any], Any]:
    """A function reading one cell with ``table`` (None and blank are false)."""
    get = table.get
    missing = object()

    def read(value: Any) -> Any:
        if value is None:
            return False
        if value is True or value is False:
            return value
        meaning = get(value, missing)
        if meaning is missing:
            text = unicodedata.normalize("NFKC", str(value)).strip()
            meaning = get(text, missing)
            if meaning is missing:
                raise RecordError("flag_unrecognized",
                                  f"{value!r} is not a known yes/no/conditional mark")
        return meaning

    return read


def _build_flag(args: Args, ctx: BuildContext) -> Built:
    table = flag_table(args["true_marks"] or (), args["false_marks"] or (),
                       args["conditional_marks"] or ())
    read = make_flag_reader(table)
    written = {True: args["write_true"], False: args["write_false"],
               CONDITIONAL: args["write_conditional"]}

    def reverse(value: Any) -> Any:
        return written[value] or None

    return read, reverse


FLAG_PARAMS = (
    # Not `true:`/`false:` as keys: YAML reads those as booleans.
    Param("true_marks", a_str_list, doc="extra marks meaning yes"),
    Param("false_marks", a_str_list, doc="extra marks meaning no"),
    Param("conditional_marks", a_str_list, doc="extra marks meaning conditional"),
    Param("write_true", a_str, default="1", doc="what reverse writes for yes"),
    Param("write_false", a_str, default="", doc="what reverse writes for no"),
    Param("write_conditional", a_str, default="△", doc="what reverse writes for conditional"),
)

SPECS = (
    TransformSpec(
        "flag", "Yes/no/conditional mark → true, false or \"conditional\"; unknown marks are "
        "quarantined.", "normalizes", "the `write_*` token of the meaning of x",
        _build_flag, FLAG_PARAMS, example="'○' → true, '△' → 'conditional', '' → false"),
)
