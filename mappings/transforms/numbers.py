"""Numbers: integers and decimals as Japanese files write them, and free-text capacities."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from mappings.errors import RecordError
from mappings.transforms.base import (
    Args,
    BuildContext,
    Built,
    Param,
    TransformSpec,
    a_number,
    a_str,
)

_normalize = unicodedata.normalize
# Digits with optional thousands separators ("1,371" or "1571"), never ",,1" or "1,37".
_INT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)")
_FLOAT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?|[+-]?\.\d+")


def _range_check(n: float, lo: float | None, hi: float | None) -> None:
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise RecordError("number_out_of_range", f"{n} is outside [{lo}, {hi}]")


def _build_to_int(args: Args, ctx: BuildContext) -> Built:
    suffix: str = args["suffix"] or ""
    lo, hi = args["min"], args["max"]
    fullmatch = _INT.fullmatch

    def forward(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            raise RecordError("integer_unparseable", f"{value!r} is not an integer")
        if isinstance(value, int):
            n = value
        elif isinstance(value, float):
            if not value.is_integer():
                raise RecordError("integer_unparseable", f"{value!r} is not an integer")
            n = int(value)
        else:
            text = value.strip()
            if not text.isascii():
                text = _normalize("NFKC", text).strip()
            if suffix and text.endswith(suffix):
                text = text[: -len(suffix)].rstrip()
            if text.endswith(".0"):
                # Spreadsheets export whole numbers as 12.0.
                text = text[:-2]
            try:
                # int() alone would also take "1_000"; the pattern check covers the rest.
                if "_" in text:
                    raise ValueError
                n = int(text)
            except ValueError:
                if not fullmatch(text):
                    raise RecordError("integer_unparseable",
                                      f"{value!r} is not an integer") from None
                n = int(text.replace(",", ""))
        if lo is not None or hi is not None:
            _range_check(n, lo, hi)
        return n

    def reverse(value: Any) -> Any:
        return None if value is None else str(value)

    return forward, reverse


def _build_to_float(args: Args, ctx: BuildContext) -> Built:
    lo, hi = args["min"], args["max"]
    fullmatch = _FLOAT.fullmatch

    def forward(value: Any) -> Any:
        if value is None:
            return None
        if value.__class__ is str:
            try:
                n = float(value)  # the common case: plain ASCII decimal text
            except ValueError:
                text = _normalize("NFKC", value).strip()
                if not fullmatch(text):
                    raise RecordError("number_unparseable",
                                      f"{value!r} is not a number") from None
                n = float(text.replace(",", ""))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            n = float(value)
        else:
            raise RecordError("number_unparseable", f"{value!r} is not a number")
        if n - n != 0.0:  # nan or infinite
            raise RecordError("number_unparseable", f"{value!r} is not a finite number")
        if lo is not None or hi is not None:
            _range_check(n, lo, hi)
        return n

    def reverse(value: Any) -> Any:
        return None if value is None else repr(float(value))

    return forward, reverse


# Capacity -----------------------------------------------------------------------------------
# Nanao writes "屋内1,371人／屋外5,470人（面積の1/2）", sometimes without the slash
# ("屋内2,736人屋外11,700人（面積の1/2）"), with half- or full-width brackets, and with other
# notes ("(座席数)"). After NFKC the slash is "/" and the brackets are ASCII.
_CAP_PART = re.compile(r"(屋内|屋外)\s*(\d{1,3}(?:,\d{3})+|\d+)\s*人?")
_CAP_TOTAL = re.compile(r"(?:約|計|合計)?\s*(\d{1,3}(?:,\d{3})+|\d+)\s*人?")
_CAP_NOTE = re.compile(r"[(\[]\s*(.*?)\s*[)\]]\s*$")
_CAP_SEPARATORS = " /・、,，"
# The shape nearly every row has, read with one match before the general path.
_CAP_COMMON = re.compile(r"屋内(\d{1,3}(?:,\d{3})+|\d+)人/?屋外(\d{1,3}(?:,\d{3})+|\d+)人"
                         r"(?:\((.*?)\))?")


def parse_capacity(value: Any) -> dict[str, Any] | None:
    """Parse a capacity text into ``{total, indoor, outdoor, note}`` (missing parts are None).

    Also the transform's forward: ``None`` stays ``None``, an integer is a total.
    """
    if value.__class__ is not str:
        return _capacity_forward(value)
    text = _normalize("NFKC", value).strip()
    m = _CAP_COMMON.fullmatch(text)
    if m:
        indoor, outdoor = int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
        return {"total": indoor + outdoor, "indoor": indoor, "outdoor": outdoor,
                "note": m.group(3) or None}
    note = None
    m = _CAP_NOTE.search(text)
    if m:
        note = m.group(1) or None
        text = text[: m.start()].rstrip()
    parts: dict[str, int] = {}
    pos = 0
    for part in _CAP_PART.finditer(text):
        if text[pos:part.start()].strip(_CAP_SEPARATORS):
            break
        key = "indoor" if part.group(1) == "屋内" else "outdoor"
        if key in parts:
            raise RecordError("capacity_unparseable", f"{value!r} gives {part.group(1)} twice")
        parts[key] = int(part.group(2).replace(",", ""))
        pos = part.end()
    if parts:
        if text[pos:].strip(_CAP_SEPARATORS):
            raise RecordError("capacity_unparseable", f"cannot read capacity {value!r}")
        inside, outside = parts.get("indoor"), parts.get("outdoor")
        total = (inside or 0) + (outside or 0)
        return {"total": total, "indoor": inside, "outdoor": outside, "note": note}
    m = _CAP_TOTAL.fullmatch(text)
    if not m:
        raise RecordError("capacity_unparseable", f"cannot read capacity {value!r}")
    return {"total": int(m.group(1).replace(",", "")), "indoor": None, "outdoor": None,
            "note": note}


def format_capacity(value: dict[str, Any]) -> str:
    """The canonical text of a parsed capacity (the reverse of :func:`parse_capacity`)."""
    indoor, outdoor, note = value.get("indoor"), value.get("outdoor"), value.get("note")
    if indoor is None and outdoor is None:
        text = f"{value['total']:,}人"
    else:
        pieces = []
        if indoor is not None:
            pieces.append(f"屋内{indoor:,}人")
        if outdoor is not None:
            pieces.append(f"屋外{outdoor:,}人")
        text = "／".join(pieces)
    return f"{text}（{note}）" if note else text


def _capacity_forward(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return {"total": value, "indoor": None, "outdoor": None, "note": None}
    raise RecordError("capacity_unparseable", f"cannot read capacity {value!r}")


def _build_capacity(args: Args, ctx: BuildContext) -> Built:
    forward = parse_capacity

    def reverse(value: Any) -> Any:
        if value is None or value.get("total") is None and value.get("indoor") is None \
                and value.get("outdoor") is None:
            return None
        if value.get("total") is None:
            value = dict(value, total=(value.get("indoor") or 0) + (value.get("outdoor") or 0))
        return format_capacity(value)

    return forward, reverse


_num_params = (Param("min", a_number, doc="smallest value accepted"),
               Param("max", a_number, doc="largest value accepted"))

_UNITS = "基|個|台|室|人|箇所|か所|ヶ所|ヵ所|カ所|機|面|席|名"
_COUNT = re.compile(rf"^(\d[\d,]*)\s*(?:{_UNITS})?\s*(.*)$", re.S)
_NO_COUNT = frozenset({"-", "ー", "―", "‐", "−", "なし", "無し", "無", "×", "不明", "*"})


def _build_count(args: Args, ctx: BuildContext) -> Built:
    notices = ctx.notices

    def forward(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            if float(value).is_integer() and value >= 0:
                return int(value)
            raise RecordError("integer_unparseable", f"{value!r} is not a count")
        text = _normalize("NFKC", str(value)).strip()
        if text in _NO_COUNT:
            return None
        m = _COUNT.match(text)
        if m is None:
            raise RecordError("integer_unparseable", f"{value!r} is not a count (a number, "
                              "optionally followed by a unit or a note)")
        digits, rest = m.group(1).replace(",", ""), m.group(2).strip()
        if rest in (".0", ""):
            return int(digits)
        if rest.startswith("."):
            raise RecordError("integer_unparseable", f"{value!r} is not a whole count")
        notices["count_note"] += 1
        return int(digits)

    return forward, lambda v: None if v is None else str(v)


SPECS = (
    TransformSpec(
        "count", "A count as cities write it: `2`, `２基`, `2（うち洋式1）` → 2 (a note after the "
        "number is counted in the run summary, not read); `－`/`なし` → none.", "lossy",
        "str(count)", _build_count, example="'２（多目的1）' → 2"),
    TransformSpec(
        "to_int", "Integer; thousands separators and full-width digits accepted, optional unit "
        "suffix; `min`/`max` range check.", "normalizes",
        "str(int(x)) (separators and suffix dropped)", _build_to_int,
        (Param("suffix", a_str, doc="unit written after the number, e.g. 人"), *_num_params),
        example="'1,371' → 1371"),
    TransformSpec(
        "to_float", "Decimal number; `min`/`max` range check.", "normalizes",
        "repr(float(x)) (shortest text of the same float)", _build_to_float, _num_params,
        example="'２．７' → 2.7"),
    TransformSpec(
        "capacity", "Free-text capacity → {total, indoor, outdoor, note}; pick parts with `get`.",
        "normalizes", "屋内{indoor:,}人／屋外{outdoor:,}人（{note}） or {total:,}人",
        _build_capacity,
        example="'屋内1,371人／屋外5,470人（面積の1/2）' → total 6841, indoor 1371, "
                "outdoor 5470, note '面積の1/2'"),
)
