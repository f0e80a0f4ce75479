"""Text transforms: Unicode normal form, whitespace, dashes, prefixes, splitting."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from mappings.errors import RecordError
from mappings.transforms.base import (
    Args,
    BuildContext,
    Built,
    Fn,
    Param,
    TransformSpec,
    a_str,
    a_str_list,
    identity,
)

_normalize = unicodedata.normalize
# Whitespace here is Unicode whitespace as str.split() and str.strip() know it: ASCII, the
# ideographic space U+3000 Japanese files use, NBSP, newlines.
# Dash-like characters written between digits in addresses: 52－1, ４ー５, 31―1, 3‐5. The
# ASCII hyphen needs no replacing, so a text holding none of the others skips the substitution
# (the look-behind pattern is slow to scan).
_DIGIT_DASH = re.compile(r"(?<=\d)[‐‑‒–—―−ー－ｰ](?=\d)")
_ANY_DASH = re.compile(r"[‐‑‒–—―−ー－ｰ]").search


def as_text(value: Any) -> str | None:
    """A value a text transform can work on: text as it is, a JSON number as text, no value as
    ``None``; a list, an object or a boolean is not text (``value_invalid``)."""
    if value is None or value.__class__ is str:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, str):
        return str(value)
    raise RecordError("value_invalid", f"expected text, got {type(value).__name__}")


def nfkc_text(value: Any) -> Any:
    """NFKC-normalize text (full-width digits and letters to ASCII, half-width kana to full)."""
    value = as_text(value)
    return None if value is None else _normalize("NFKC", value)


def _build_nfkc(args: Args, ctx: BuildContext) -> Built:
    return nfkc_text, identity


def strip_text(value: Any) -> Any:
    """Strip surrounding whitespace (including U+3000); blank becomes ``None``."""
    value = as_text(value)
    return None if value is None else value.strip() or None


def _build_strip(args: Args, ctx: BuildContext) -> Built:
    return strip_text, identity


def collapse_spaces(value: Any) -> Any:
    """Collapse every run of whitespace (newlines, U+3000...) to one space, then strip."""
    value = as_text(value)
    return None if value is None else " ".join(value.split()) or None


def _build_collapse(args: Args, ctx: BuildContext) -> Built:
    return collapse_spaces, identity


def digit_dashes(value: Any) -> Any:
    """Replace a dash-like character between two digits by ``-``."""
    value = as_text(value)
    if value is None or not _ANY_DASH(value):
        return value
    return _DIGIT_DASH.sub("-", value)


def _build_digit_dashes(args: Args, ctx: BuildContext) -> Built:
    return digit_dashes, identity


#: Text transforms that commute with each other (each touches only what the others leave alone:
#: compatibility forms, dashes between digits, whitespace), so a run of them can be fused into
#: one function applying them in a fixed order. ``required`` may end such a run.
FUSABLE = frozenset({"nfkc", "strip", "collapse_spaces", "digit_dashes"})


def _nfkc_collapse(value: Any) -> Any:
    if value.__class__ is not str:
        if value is None:
            return None
        value = as_text(value)
    if not value.isascii():
        value = _normalize("NFKC", value)
    return " ".join(value.split()) or None


def _nfkc_strip(value: Any) -> Any:
    if value.__class__ is not str:
        if value is None:
            return None
        value = as_text(value)
    if not value.isascii():
        value = _normalize("NFKC", value)
    return value.strip() or None


def _nfkc_collapse_required(value: Any) -> Any:
    if value.__class__ is not str:
        value = as_text(value)
    if value is not None:
        if not value.isascii():
            value = _normalize("NFKC", value)
        value = " ".join(value.split())
    if not value:
        raise RecordError("missing_required", "a value is required here")
    return value


def _nfkc_strip_required(value: Any) -> Any:
    if value.__class__ is not str:
        value = as_text(value)
    if value is not None:
        if not value.isascii():
            value = _normalize("NFKC", value)
        value = value.strip()
    if not value:
        raise RecordError("missing_required", "a value is required here")
    return value


def _nfkc_dashes_collapse(value: Any) -> Any:
    if value.__class__ is not str:
        if value is None:
            return None
        value = as_text(value)
    if not value.isascii():
        value = _normalize("NFKC", value)
        if _ANY_DASH(value):
            value = _DIGIT_DASH.sub("-", value)
    return " ".join(value.split()) or None


# The shapes rules use most, written out (no per-call flag tests); others use the general one.
_FUSED = {(frozenset({"nfkc", "collapse_spaces"}), False): _nfkc_collapse,
          (frozenset({"nfkc", "strip"}), False): _nfkc_strip,
          (frozenset({"nfkc", "collapse_spaces"}), True): _nfkc_collapse_required,
          (frozenset({"nfkc", "strip"}), True): _nfkc_strip_required,
          (frozenset({"nfkc", "digit_dashes", "collapse_spaces"}), False): _nfkc_dashes_collapse}


def fuse(names: list[str], required: bool) -> Fn:
    """One function doing the text transforms ``names`` (a run of FUSABLE) and ``required``."""
    special = _FUSED.get((frozenset(names), required))
    if special is not None:
        return special
    do_nfkc = "nfkc" in names
    do_dashes = "digit_dashes" in names
    do_collapse = "collapse_spaces" in names
    do_strip = "strip" in names and not do_collapse
    dash_sub = _DIGIT_DASH.sub

    def fused(value: Any) -> Any:
        if value.__class__ is not str and value is not None:
            value = as_text(value)
        if value is not None:
            if do_nfkc and not value.isascii():
                value = _normalize("NFKC", value)
            if do_dashes and _ANY_DASH(value):
                value = dash_sub("-", value)
            if do_collapse:
                value = " ".join(value.split()) or None
            elif do_strip:
                value = value.strip() or None
        if value is None and required:
            raise RecordError("missing_required", "a value is required here")
        return value

    return fused


def _build_prefix(args: Args, ctx: BuildContext) -> Built:
    prefix: str = args["text"]
    n = len(prefix)

    def forward(value: Any) -> Any:
        if value is None:
            return None
        return prefix + str(value)

    def reverse(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not value.startswith(prefix):
            raise RecordError("value_invalid", f"{value!r} does not start with {prefix!r}")
        return value[n:]

    return forward, reverse


def _build_split(args: Args, ctx: BuildContext) -> Built:
    sep: str = args["sep"]
    pattern = re.compile("|".join(re.escape(s) for s in sep)) if len(sep) > 1 else None
    joiner = sep[0]

    def forward(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return value
        parts = pattern.split(value) if pattern else value.split(sep)
        items = [p.strip() for p in parts]
        return [p for p in items if p] or None

    def reverse(value: Any) -> Any:
        if value is None:
            return None
        return joiner.join(str(v) for v in value)

    return forward, reverse


def _build_blank_if(args: Args, ctx: BuildContext) -> Built:
    markers = frozenset(args["values"]) | frozenset(_normalize("NFKC", v).strip()
                                                    for v in args["values"])

    def forward(value: Any) -> Any:
        if value is None:
            return None
        if value in markers or (isinstance(value, str)
                                and _normalize("NFKC", value).strip() in markers):
            return None
        return value

    return forward, identity


def _build_to_text(args: Args, ctx: BuildContext) -> Built:
    def forward(value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return forward, identity


_CJK = "\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef"
_JOINED = re.compile(rf"(?<=[{_CJK}])[ \t]*\r?\n[ \t\u3000]*(?=[{_CJK}])")


def _build_join_lines(args: Args, ctx: BuildContext) -> Built:
    def forward(value: Any) -> Any:
        if value is None or not isinstance(value, str) or "\n" not in value:
            return value
        return _JOINED.sub("", value)

    return forward, identity


SPECS = (
    TransformSpec(
        "join_lines", "A line break between two Japanese characters is removed (a name wrapped "
        "in its cell: 七尾市\\n文化ホール → 七尾市文化ホール); other breaks are left to "
        "collapse_spaces.", "normalizes", "x with those breaks removed", _build_join_lines,
        example="'中央\\n公民館' → '中央公民館'"),
    TransformSpec(
        "nfkc", "Unicode NFKC: full-width digits and letters to ASCII, half-width kana to full.",
        "normalizes", "unicodedata.normalize('NFKC', x)", _build_nfkc,
        example="一本杉町１２４ → 一本杉町124"),
    TransformSpec(
        "strip", "Strip surrounding whitespace, including the ideographic space; blank → none.",
        "normalizes", "x stripped of surrounding whitespace", _build_strip,
        example="'　七尾 ' → '七尾'"),
    TransformSpec(
        "collapse_spaces", "Collapse whitespace runs (newlines, U+3000) to one space, then strip.",
        "normalizes", "whitespace runs of x collapsed to one space, stripped", _build_collapse,
        example="'旧七尾工業高校\\u3000運動場' → '旧七尾工業高校 運動場'"),
    TransformSpec(
        "digit_dashes", "A dash-like character between digits (－ ー ― ‐ −) becomes '-'.",
        "normalizes", "x with dashes between digits replaced by '-'", _build_digit_dashes,
        example="52－1 → 52-1; ４ー５ (after nfkc 4ー5) → 4-5"),
    TransformSpec(
        "prefix", "Prepend fixed text (reverse removes it).", "lossless", "x",
        _build_prefix, (Param("text", a_str, required=True),), example="prefix: 'jp-'"),
    TransformSpec(
        "split", "Split text into a list on any of the separator characters; items stripped.",
        "normalizes", "items of x joined by the first separator", _build_split,
        (Param("sep", a_str, default=","),), example="'津波, 地震' → ['津波', '地震']"),
    TransformSpec(
        "blank_if", "Treat marker values meaning 'none' (e.g. '-', 'なし') as blank.",
        "normalizes", "'' for a marker, else x", _build_blank_if,
        (Param("values", a_str_list, required=True),), example="blank_if: ['-', 'なし']"),
    TransformSpec(
        "to_text", "Render a JSON number or boolean as text (integral floats without '.0').",
        "normalizes", "str(x)", _build_to_text, example="12.0 → '12'"),
)
