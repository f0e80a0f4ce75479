"""Code lists, rule-file lookup tables and municipality codes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from mappings.errors import RecordError
from mappings.transforms.base import Args, BuildContext, Built, Param, TransformSpec, a_any, a_str

# Shared hazard codes (docs/architecture.md, "Shared vocabulary") and the Japanese names cities
# use for them. The first name is the one the Digital Agency standard layout uses in its
# 災害種別_* headers; reverse mapping writes it.
HAZARDS: Mapping[str, tuple[str, ...]] = {
    "flood": ("洪水",),
    "sediment_disaster": ("崖崩れ、土石流及び地滑り", "崖崩れ・土石流及び地滑り",
                          "がけ崩れ、土石流及び地滑り", "がけ崩れ・土石流及び地すべり", "土砂災害"),
    "storm_surge": ("高潮",),
    "earthquake": ("地震",),
    "tsunami": ("津波",),
    "large_fire": ("大規模な火事", "大規模な火災", "大規模火災", "大火災"),
    "inland_flooding": ("内水氾濫", "内水"),
    "volcano": ("火山現象", "火山"),
}

#: Code lists by name, as a rule refers to them (`code: hazard`).
CODE_LISTS: Mapping[str, Mapping[str, tuple[str, ...]]] = {"hazard": HAZARDS}

_PUNCT = re.compile(r"[\s、・,，/／_＿]+")


def code_key(name: str) -> str:
    """The comparison key of a code-list name: NFKC, no spaces or list punctuation."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", name))


def code_index(codes: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Name (and the code itself) → code, keyed by :func:`code_key`."""
    index: dict[str, str] = {}
    for code, names in codes.items():
        index[code_key(code)] = code
        for name in names:
            index[code_key(name)] = code
    return index


def _elementwise(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [fn(v) for v in value]
        return fn(value)
    return apply


def _build_code(args: Args, ctx: BuildContext) -> Built:
    codes = CODE_LISTS[args["list"]]
    index = code_index(codes)
    canonical = {code: names[0] for code, names in codes.items()}
    list_name = args["list"]

    def one(value: Any) -> str:
        code = index.get(value)
        if code is None:
            code = index.get(code_key(str(value)))
            if code is None:
                raise RecordError("code_unknown", f"{value!r} is not in code list {list_name!r}")
        return code

    return _elementwise(one), _elementwise(lambda code: canonical[code])


def _code_list(value: Any) -> str:
    if value not in CODE_LISTS:
        raise ValueError(f"unknown code list {value!r} (known: {', '.join(sorted(CODE_LISTS))})")
    return str(value)


def _build_lookup(args: Args, ctx: BuildContext) -> Built:
    table = args["table"]
    if isinstance(table, str):
        if table not in ctx.tables:
            raise ValueError(f"no table {table!r} in this rule's `tables`")
        table = ctx.tables[table]
    if not isinstance(table, Mapping) or not table:
        raise ValueError("`table` must be a non-empty mapping or the name of one in `tables`")
    forward_table = {str(k): v for k, v in table.items()}
    inverse: dict[Any, str] = {}
    for key, val in forward_table.items():
        inverse.setdefault(_hashable(val), key)
    injective = len(inverse) == len(forward_table)
    default, has_default = args["default"], args["default"] is not None
    missing = object()

    def one(value: Any) -> Any:
        out = forward_table.get(value if isinstance(value, str) else str(value), missing)
        if out is missing:
            if has_default:
                return default
            raise RecordError("lookup_missing", f"{value!r} is not in the lookup table")
        return out

    def back(value: Any) -> Any:
        key = inverse.get(_hashable(value))
        if key is None:
            raise RecordError("lookup_missing", f"{value!r} is not a value of the lookup table")
        return key

    if not injective or has_default:
        args["_round_trip"] = "lossy"
    return _elementwise(one), _elementwise(back)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# 全国地方公共団体コード: five digits plus a check digit (JIS X 0401/0402 style modulus 11).
def municipality_check_digit(five: str) -> str:
    """The check digit of a 5-digit local government code (``17202`` → ``2``)."""
    total = sum(int(d) * w for d, w in zip(five, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


@lru_cache(maxsize=4096)
def _municipality_code(value: str) -> str | None:
    # Cached: Japan has under 2,000 municipalities, and a file repeats its own code on every row.
    text = unicodedata.normalize("NFKC", value).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if len(text) == 5 and text.isdigit():
        return text + municipality_check_digit(text)
    if len(text) == 6 and text.isdigit() and municipality_check_digit(text[:5]) == text[5]:
        return text
    return None


def _why_invalid(value: str) -> str:
    # Say what is wrong and what to write, not only that the code is invalid.
    text = unicodedata.normalize("NFKC", value).strip().removesuffix(".0")
    if len(text) == 6 and text.isdigit():
        right = text[:5] + municipality_check_digit(text[:5])
        return (f"{value!r}: the last digit of a 全国地方公共団体コード is a check digit, and for "
                f"{text[:5]} it is {right[5]}, not {text[5]}: the code is probably {right} (fix "
                "the source, or write the 5-digit code without its check digit)")
    return (f"{value!r} is not a 全国地方公共団体コード: write the 6-digit code (5 digits and a "
            "check digit, e.g. 172022 for 七尾市) or the 5 digits without the check digit")


def _build_member(args: Args, ctx: BuildContext) -> Built:
    prefix: str = args["prefix"]
    memo: dict[str, str] = {}  # a file repeats its own code on every row

    def forward(value: Any) -> Any:
        if value is None:
            return None
        member = memo.get(value)
        if member is not None:
            return member
        code = _municipality_code(value if isinstance(value, str) else str(value))
        if code is None:
            raise RecordError("municipality_code_invalid", _why_invalid(str(value)))
        if len(memo) < 4096 and isinstance(value, str):
            memo[value] = prefix + code
        return prefix + code

    def reverse(value: Any) -> Any:
        if value is None:
            return None
        return value[len(prefix):] if value.startswith(prefix) else value

    return forward, reverse


SPECS = (
    TransformSpec(
        "code", "A name from a code list → its shared code (`list: hazard`); lists elementwise.",
        "normalizes", "the list's first name for the code", _build_code,
        (Param("list", _code_list, required=True),), example="'崖崩れ・土石流及び地滑り' → "
        "'sediment_disaster'"),
    TransformSpec(
        "lookup", "Map values through a table written in the rule file (inline or by name "
        "from `tables`); `default` for values not in it.",
        "lossless", "x when the table is one-to-one and has no default (else lossy)",
        _build_lookup, (Param("table", a_any, required=True), Param("default", a_any)),
        example="lookup: {table: {'1': public}}"),
    TransformSpec(
        "municipality_member", "全国地方公共団体コード (6 digits, or 5 without the check digit) → "
        "member id `jp-XXXXXX`; the check digit is verified.", "normalizes",
        "the 6-digit code", _build_member, (Param("prefix", a_str, default="jp-"),),
        example="'17202' → 'jp-172022'"),
)
