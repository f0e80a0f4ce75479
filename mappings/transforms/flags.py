"""Yes/no/conditional flags as Japanese open data writes them.

``1``, ``1.0``, ``○``, ``◯``, ``有`` are true; blank, ``0``, ``×``, ``無`` are false; ``△`` is
"conditional" (usable with conditions, e.g. upper floors only). Anything else is quarantined
with ``flag_unrecognized`` rather than guessed; a rule can add its own tokens (Takamatsu writes
``-`` and ``−`` for "not designated").
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
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
    identity,
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


_NOTED = re.compile(r"^(?P<mark>[^()\s]+?)\s*[(](?P<note>[^()]*)[)]$|"
                    r"^(?P<mark2>[^:\s]+?)\s*[:]\s*(?P<note2>.+)$")


def split_note(text: str) -> tuple[str, str] | None:
    """``○(2階)`` / ``○（２階）`` / ``○:2階以上`` → (mark, note), NFKC-normalized; else None."""
    m = _NOTED.match(unicodedata.normalize("NFKC", text).strip())
    if m is None:
        return None
    mark, note = (m.group("mark"), m.group("note")) if m.group("mark") \
        else (m.group("mark2"), m.group("note2"))
    return mark, note.strip()


def make_flag_reader(table: Mapping[Any, Any],
                     notices: Counter[str] | None = None) -> Callable[[Any], Any]:
    """A function reading one cell with ``table`` (None and blank are false). A mark with a
    note (``○(2階)``) means what the mark means; the note is counted in ``notices``
    (``flag_note``) and read by the ``flag_note`` transform."""
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
            if meaning is missing and (noted := split_note(text)) is not None:
                meaning = get(noted[0], missing)
                if meaning is not missing and notices is not None:
                    notices["flag_note"] += 1
            if meaning is missing:
                raise RecordError("flag_unrecognized",
                                  f"{value!r} is not a known yes/no/conditional mark")
        return meaning

    return read


def _build_flag(args: Args, ctx: BuildContext) -> Built:
    table = flag_table(args["true_marks"] or (), args["false_marks"] or (),
                       args["conditional_marks"] or ())
    read = make_flag_reader(table, ctx.notices)
    if args["blank"] == "none":
        # A blank cell (or a column the file lacks) says nothing: no value, not "no".
        strict = read

        def read(value: Any) -> Any:
            if value is None or (isinstance(value, str) and not value.strip()):
                return None
            return strict(value)
    elif args["blank"] != "false":
        raise ValueError("`blank` is false (the default: blank means no) or none")
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
    Param("blank", a_str, default="false", doc="false, or none: a blank cell is no value"),
)

def _build_flag_note(args: Args, ctx: BuildContext) -> Built:
    def forward(value: Any) -> Any:
        if value is None:
            return None
        noted = split_note(str(value))
        return noted[1] or None if noted else None

    return forward, identity


SPECS = (
    TransformSpec(
        "flag_note", "The note of a flag written with one (`○(2階)` → `2階`); none otherwise.",
        "lossy", "the note", _build_flag_note, example="'○（２階）' → '2階'"),
    TransformSpec(
        "flag", "Yes/no/conditional mark → true, false or \"conditional\"; unknown marks are "
        "quarantined.", "normalizes", "the `write_*` token of the meaning of x",
        _build_flag, FLAG_PARAMS, example="'○' → true, '△' → 'conditional', '' → false"),
)
