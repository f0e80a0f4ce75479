"""Telephone numbers as Japanese open data writes them.

Cities write ``0767-53-1111``, ``０７６７－５３－１１１１``, ``(0767)53-1111``, ``0767-53-1111（内線
123）`` and, for "none", ``－``, ``-``, ``0``, ``なし``. A placeholder is no value (counted as
``telephone_placeholder`` in the run summary, never stored as a number); anything else must be
a number of 10 or 11 digits starting with 0 (or a 3-digit emergency/short number, or a local
number of 5 to 8 digits without its area code), else the record is quarantined with
``telephone_invalid``. An extension (内線) is kept after the number as ``ext.``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from mappings.errors import RecordError
from mappings.transforms.base import Args, BuildContext, Built, TransformSpec, identity

PLACEHOLDERS = frozenset({"-", "--", "ー", "―", "‐", "−", "0", "なし", "無し", "無", "×", "未定",
                          "非公開", "不明", "該当なし", "なし。", "ー-", "*"})
_DASHES = re.compile(r"[\u2010-\u2015\u2212\u30fc\uff70\ufe63\u2043]")
_EXTENSION = re.compile(r"[（(]?\s*(?:内線|内|ext\.?|EXT\.?)\s*[:：]?\s*(\d+)\s*[)）]?\s*$")
_AREA = re.compile(r"^\((0\d{1,4})\)")


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip()
    return _DASHES.sub("-", text)


def _build_telephone(args: Args, ctx: BuildContext) -> Built:
    notices = ctx.notices

    def forward(value: Any) -> Any:
        if value is None:
            return None
        text = _normal(str(value))
        if text in PLACEHOLDERS or not text.strip("-"):
            notices["telephone_placeholder"] += 1
            return None
        extension = ""
        if (m := _EXTENSION.search(text)) is not None:
            extension = m.group(1)
            text = text[:m.start()].strip()
        text = _AREA.sub(r"\1-", text).replace(" ", "").replace(")", "-").replace("(", "")
        digits = text.replace("-", "")
        ok = digits.isdigit() and (
            (digits.startswith("0") and len(digits) in (10, 11))
            or len(digits) == 3 or (5 <= len(digits) <= 8 and not digits.startswith("0")))
        if not ok or "--" in text:
            raise RecordError("telephone_invalid", f"{value!r} is not a telephone number "
                              "(10 or 11 digits from 0, e.g. 0767-53-1111; write nothing, or "
                              "－, for none)")
        return f"{text} ext. {extension}" if extension else text

    return forward, identity


SPECS = (
    TransformSpec(
        "telephone", "A Japanese telephone number, validated and normalized (NFKC, '-' dashes, "
        "内線 as ext.); placeholders (－, -, 0, なし) become no value and are counted.",
        "normalizes", "the normalized number", _build_telephone,
        example="'０７６７－５３－１１１１' → '0767-53-1111'; '－' → none"),
)
