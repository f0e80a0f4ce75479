"""Opening hours: day letters and HH:MM columns → schema.org ``openingHours`` text."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from mappings.errors import RecordError
from mappings.transforms.base import Args, BuildContext, Built, Fn, Param, TransformSpec

_DAYS = "月火水木金土日"
_CODES = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_WEEKDAYS = "月火水木金"
# Whole-word day expressions that are not a run of day letters.
_NAMED = {"平日": _WEEKDAYS, "土日祝以外": _WEEKDAYS, "毎日": _DAYS, "全日": _DAYS,
          "年中無休": _DAYS, "土日": "土日"}
_RANGE = re.compile(r"([月火水木金土日])[~〜～\-ー－]([月火水木金土日])")
_TIME = re.compile(r"(\d{1,2}):?(\d{2})")  # 7:30, 07:30, and 1700 (a colon left out)


def _days(text: str) -> str:
    norm = unicodedata.normalize("NFKC", text).strip().replace("曜日", "").replace("曜", "")
    norm = norm.replace("・", "").replace("、", "").replace(",", "").replace(" ", "")
    if norm in _NAMED:
        return _NAMED[norm]
    # Holidays (祝, 祝日) have no schema.org day code: 月～金祝 reads as 月～金.
    norm = norm.replace("祝日", "").replace("祝", "") if norm not in ("祝", "祝日") else norm
    norm = _RANGE.sub(lambda m: _DAYS[_DAYS.index(m.group(1)):_DAYS.index(m.group(2)) + 1]
                      if _DAYS.index(m.group(1)) <= _DAYS.index(m.group(2)) else m.group(0), norm)
    if norm and all(c in _DAYS for c in norm) and len(set(norm)) == len(norm):
        return "".join(c for c in _DAYS if c in norm)
    raise RecordError("opening_hours_unparseable", f"cannot read opening days {text!r}", part=0)


def _time(text: str, part: int) -> str:
    m = _TIME.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59:
        raise RecordError("opening_hours_unparseable", f"cannot read time {text!r}", part=part)
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def _lenient(forward: Fn, args: Args, ctx: BuildContext) -> Fn:
    # `unparseable: none`: free-text hours (「施設の開館時間に準ずる」) are no value, counted in the
    # run summary, instead of quarantining the whole place for them.
    if args["unparseable"] == "quarantine":
        return forward
    notices = ctx.notices

    def soft(value: Any) -> Any:
        try:
            return forward(value)
        except RecordError:
            notices["opening_hours_unparsed"] += 1
            return None

    return soft


def _unparseable(value: Any) -> str:
    if value not in ("quarantine", "none"):
        raise ValueError("`unparseable` is quarantine (the default) or none")
    return str(value)


_LENIENT = (Param("unparseable", _unparseable, default="quarantine",
                  doc="quarantine, or none: unreadable hours become no value (counted)"),)


def _build_opening_hours(args: Args, ctx: BuildContext) -> Built:
    forward, reverse = _opening_hours()
    return _lenient(forward, args, ctx), reverse


def _build_daily_hours(args: Args, ctx: BuildContext) -> Built:
    forward, reverse = _daily_hours()
    return _lenient(forward, args, ctx), reverse


def _opening_hours() -> Built:
    def forward(value: Any) -> Any:
        if value is None:
            return None
        days_raw, start_raw, end_raw = value
        if days_raw is None and start_raw is None and end_raw is None:
            return None
        pieces = []
        if days_raw is not None:
            pieces.append(",".join(_CODES[_DAYS.index(c)] for c in _days(days_raw)))
        if start_raw is not None or end_raw is not None:
            if start_raw is None or end_raw is None:
                raise RecordError("opening_hours_unparseable", "an opening time lacks its other "
                                  "end", part=1 if start_raw is None else 2)
            pieces.append(f"{_time(start_raw, 1)}-{_time(end_raw, 2)}")
        return " ".join(pieces)

    def reverse(value: Any) -> Any:
        if value is None:
            return None
        days = start = end = None
        for piece in value.split(" "):
            if "-" in piece and ":" in piece:
                start, end = piece.split("-")
            else:
                days = "".join(_DAYS[_CODES.index(code)] for code in piece.split(","))
        return (days, start, end)

    return forward, reverse


def _daily_hours() -> Built:
    def forward(value: Any) -> Any:
        if value is None or value == (None, None):
            return None
        start_raw, end_raw = value
        if start_raw is None or end_raw is None:
            raise RecordError("opening_hours_unparseable", "an opening time lacks its other end",
                              part=0 if start_raw is None else 1)
        return f"Mo-Su {_time(start_raw, 0)}-{_time(end_raw, 1)}"

    def reverse(value: Any) -> Any:
        if value is None:
            return None
        start, end = value.split(" ")[-1].split("-")
        return (start, end)

    return forward, reverse


SPECS = (
    TransformSpec(
        "opening_hours", "Three columns (days as 月火水…/平日, start HH:MM, end HH:MM) → "
        "schema.org openingHours text.", "normalizes",
        "days as day letters in week order, times as HH:MM",
        _build_opening_hours, _LENIENT,
        example="('月火水木金土日', '7:30', '22:00') → 'Mo,Tu,We,Th,Fr,Sa,Su 07:30-22:00'"),
    TransformSpec(
        "daily_hours", "Two columns (start HH:MM, end HH:MM), open every day → schema.org "
        "openingHours text.", "normalizes", "times as HH:MM", _build_daily_hours, _LENIENT,
        example="('0:00', '24:00') → 'Mo-Su 00:00-24:00'"),
)
