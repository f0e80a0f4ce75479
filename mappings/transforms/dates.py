"""Dates and times as Japanese municipalities write them: eras, 午前/午後, 時 and 分.

``令和6年1月9日午後6時`` → ``2024-01-09T18:00:00+09:00``. Eras 令和, 平成, 昭和 and 大正 are
checked against their real spans (``平成32年`` is refused, not guessed); ``元年`` is year 1.
午前 and 午後 follow the 1872 convention used by municipalities: 午前0時 is midnight, 午後0時
noon, 午前12時 noon and 午後12時 the following midnight. Gregorian ``2024年1月9日`` and ISO-like
``2024-01-09 18:00`` / ``2024/1/9 18:00`` are read as well.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from mappings.errors import RecordError
from mappings.transforms.base import Args, BuildContext, Built, Param, TransformSpec, a_str

# (name, first day, last day) — last day None for the current era.
ERAS: tuple[tuple[str, date, date | None], ...] = (
    ("令和", date(2019, 5, 1), None),
    ("平成", date(1989, 1, 8), date(2019, 4, 30)),
    ("昭和", date(1926, 12, 25), date(1989, 1, 7)),
    ("大正", date(1912, 7, 30), date(1926, 12, 24)),
)
_ERA_BY_NAME = {name: (start, end) for name, start, end in ERAS}

_JP = re.compile(
    r"(?:(?P<era>令和|平成|昭和|大正)\s*(?P<ey>元|\d{1,2})|(?P<year>\d{4}))\s*年\s*"
    r"(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*日"
    r"(?:\s*[(（]?[月火水木金土日][曜]?[日]?[)）]?)?"  # an optional weekday: (火) or 火曜日
    r"(?:\s*(?P<ampm>午前|午後)?\s*(?P<hour>\d{1,2})\s*時"
    r"(?:\s*(?P<minute>\d{1,2})\s*分)?(?:\s*(?P<second>\d{1,2})\s*秒)?"
    r"|\s*(?P<noon>正午))?\s*(?:時点|現在)?")
_ISO = re.compile(
    r"(?P<year>\d{4})[-/](?P<month>\d{1,2})[-/](?P<day>\d{1,2})"
    r"(?:[T ](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?")


def _tz(text: str) -> timezone:
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if not m:
        raise ValueError(f"expected an offset like +09:00, got {text!r}")
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    return timezone(-delta if m.group(1) == "-" else delta)


def _gregorian_year(era: str, era_year: str, when: tuple[int, int]) -> int:
    start, end = _ERA_BY_NAME[era]
    n = 1 if era_year == "元" else int(era_year)
    year = start.year + n - 1
    day = date(year, *when) if 1 <= when[0] <= 12 and 1 <= when[1] <= 31 else None
    if n < 1 or day is None or day < start or (end is not None and day > end):
        raise RecordError("date_invalid", f"{era}{era_year}年{when[0]}月{when[1]}日 is not a date "
                          f"of the {era} era")
    return year


@lru_cache(maxsize=4096)
def _parse(text: str, tz: timezone) -> datetime:
    # Cached: a snapshot file repeats one timestamp on every row.
    norm = unicodedata.normalize("NFKC", text).strip()
    m = _JP.fullmatch(norm)
    if m:
        month, day = int(m["month"]), int(m["day"])
        try:
            if m["era"]:
                year = _gregorian_year(m["era"], m["ey"], (month, day))
            else:
                year = int(m["year"])
            base = datetime(year, month, day, tzinfo=tz)
        except ValueError:
            raise RecordError("date_invalid", f"{text!r} is not a real date") from None
        if m["noon"]:
            return base + timedelta(hours=12)
        if m["hour"] is None:
            return base
        hour, minute = int(m["hour"]), int(m["minute"] or 0)
        second = int(m["second"] or 0)
        if m["ampm"]:
            if hour > 12:
                raise RecordError("date_invalid", f"{text!r}: {m['ampm']}{hour}時 does not exist")
            hour = hour + 12 if m["ampm"] == "午後" else hour
        if hour > 24 or minute > 59 or second > 59 or (hour == 24 and (minute or second)):
            raise RecordError("date_invalid", f"{text!r} is not a real time")
        return base + timedelta(hours=hour, minutes=minute, seconds=second)
    m = _ISO.fullmatch(norm)
    if m:
        try:
            zone = tz if not m["tz"] else (UTC if m["tz"] == "Z" else _tz(m["tz"]))
            return datetime(int(m["year"]), int(m["month"]), int(m["day"]), int(m["hour"] or 0),
                            int(m["minute"] or 0), int(m["second"] or 0), tzinfo=zone)
        except ValueError:
            raise RecordError("date_invalid", f"{text!r} is not a real date and time") from None
    raise RecordError("date_unparseable", f"cannot read date {text!r}")


def era_of(day: date) -> tuple[str, int]:
    """The era name and era year of a Gregorian date."""
    for name, start, end in ERAS:
        if day >= start and (end is None or day <= end):
            return name, day.year - start.year + 1
    raise RecordError("date_invalid", f"{day.isoformat()} is before the 大正 era")


def format_era_date(day: date) -> str:
    """``2024-01-09`` → ``令和6年1月9日`` (year 1 written 元年)."""
    era, year = era_of(day)
    return f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日"


def format_era_datetime(moment: datetime) -> str:
    """``2024-01-09T18:00:00+09:00`` → ``令和6年1月9日午後6時`` (minutes and seconds if set)."""
    text = format_era_date(moment.date())
    hour = moment.hour
    clock = f"{'午前' if hour < 12 else '午後'}{hour % 12}時"
    if moment.minute or moment.second:
        clock += f"{moment.minute}分"
    if moment.second:
        clock += f"{moment.second}秒"
    return text + clock


def _build_datetime(args: Args, ctx: BuildContext) -> Built:
    tz = _tz(args["tz"])

    def forward(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise RecordError("date_unparseable", f"cannot read date {value!r}")
        return _parse(value, tz).isoformat()

    def reverse(value: Any) -> Any:
        if value is None:
            return None
        moment = datetime.fromisoformat(value).astimezone(tz)
        return format_era_datetime(moment)

    return forward, reverse


def _build_date(args: Args, ctx: BuildContext) -> Built:
    tz = _tz("+09:00")

    def forward(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise RecordError("date_unparseable", f"cannot read date {value!r}")
        return _parse(value, tz).date().isoformat()

    def reverse(value: Any) -> Any:
        return None if value is None else format_era_date(date.fromisoformat(value))

    return forward, reverse


SPECS = (
    TransformSpec(
        "japanese_datetime", "Era or Gregorian date with 午前/午後, 時, 分 → ISO 8601 with the "
        "offset `tz` (default +09:00).", "normalizes",
        "the era form 令和6年1月9日午後6時 (元年 for year 1; 分/秒 only when non-zero)",
        _build_datetime, (Param("tz", a_str, default="+09:00"),),
        example="'令和6年8月31日午後1時30分' → '2024-08-31T13:30:00+09:00'"),
    TransformSpec(
        "japanese_date", "Era or Gregorian date → ISO 8601 date.", "normalizes",
        "the era form 令和6年1月9日", _build_date, example="'平成31年4月30日' → '2019-04-30'"),
)
