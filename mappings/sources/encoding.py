"""Text encodings of municipal CSV files: which one a file is in, or why it is refused.

Read: UTF-8 (with or without a BOM), CP932 (Microsoft's Shift_JIS, what Excel writes in
Japan), EUC-JP, and UTF-16 with a BOM. Detection reads a sample of the file:

* a BOM decides (UTF-8, UTF-16 LE/BE); a UTF-32 BOM, NUL bytes without a BOM (UTF-16 without
  a BOM, or a binary file such as an ``.xls`` workbook) and ISO-2022-JP escapes are refused
  (``encoding_unsupported``);
* otherwise strict UTF-8 first: it almost never decodes text in another encoding;
* then CP932 and EUC-JP. The two overlap: EUC-JP bytes are very often valid CP932 too (as
  half-width katakana and stray kanji), so when both decode the one whose text looks like
  Japanese (kana, kanji, full-width punctuation; few half-width katakana) wins;
* a sample that decodes in none of them, or only as implausible text (mojibake), is refused
  with ``encoding_unrecognized``, naming what was tried and the best guess; a few lines that
  do not decode in an otherwise clean file are quarantined row by row (``encoding_error``).

A *declared* encoding (``[[sources]] encoding``) is trusted only when the file agrees: a file
that does not decode in it, or that is clearly another of the encodings above, is refused with
``encoding_mismatch`` naming both, instead of being read as mojibake.
"""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass

from mappings.errors import SourceError

__all__ = ["CANDIDATES", "SAMPLE_BYTES", "Detected", "detect_encoding", "display_name",
           "japanese_score", "normalize_encoding", "pick"]

#: How much of a file the detection reads. Large enough that a CP932 file almost always shows a
#: non-ASCII byte in it; the CSV reader still switches if the first non-ASCII line says otherwise.
SAMPLE_BYTES = 256 * 1024
#: Byte-compatible-with-ASCII encodings tried without a BOM, in this order.
CANDIDATES = ("utf-8", "cp932", "euc_jp")
_DISPLAY = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "cp932": "CP932 (Shift_JIS)",
            "euc_jp": "EUC-JP", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE"}
_TRIED = "UTF-8 (with or without BOM), CP932 (Shift_JIS), EUC-JP, UTF-16 with BOM"
_CONVERT = ("convert it to UTF-8 (e.g. `iconv -f <encoding> -t UTF-8`) or declare its "
            "encoding with `encoding = ...` in its [[sources]] entry")
# The share of lines with non-ASCII bytes that may fail to decode before a file counts as
# being in another encoding: a damaged row or two is quarantined, a foreign file is refused.
_BAD_SHARE = 0.1
_BAD_LINES_MIN = 3
# Text decoded in the right encoding holds almost no Latin-1, control or private-use
# characters; more than this share of them among the non-ASCII ones is another encoding.
_FOREIGN_SHARE = 0.2
# A CP932 or EUC-JP sample with this many non-ASCII characters and no kana at all is not
# taken for Japanese (Chinese text in GB2312 decodes as EUC-JP kanji).
_KANA_AFTER = 100


@dataclass(frozen=True)
class Detected:
    """The codec a file is read with (per line) and the length of its BOM."""

    codec: str  # a Python codec name: utf-8, cp932, euc_jp, utf-16-le, utf-16-be
    bom: int = 0

    @property
    def name(self) -> str:
        """The encoding as an operator names it (UTF-8 with BOM, CP932 (Shift_JIS), ...)."""
        if self.codec == "utf-8" and self.bom:
            return _DISPLAY["utf-8-sig"]
        return display_name(self.codec) + (" with BOM" if self.bom and "16" in self.codec
                                           else "")


def display_name(codec: str) -> str:
    return _DISPLAY.get(codec, codec)


def normalize_encoding(name: str) -> str:
    """The codec a declared encoding names (``Shift_JIS``, ``ms932``, ``EUC-JP``, ``utf8``,
    ``UTF-16`` ...); ``ValueError`` for one Renkei does not read."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None
    # Shift_JIS as declared in Japan means what Excel writes: Microsoft's superset, CP932.
    mapped = {"shift_jis": "cp932", "cp932": "cp932", "shift_jis_2004": "cp932",
              "utf-8": "utf-8", "utf-8-sig": "utf-8", "euc_jp": "euc_jp",
              "euc_jis_2004": "euc_jp", "utf-16": "utf-16", "utf-16-le": "utf-16-le",
              "utf-16-be": "utf-16-be"}.get(codec)
    if mapped is None:
        raise ValueError(f"encoding {name!r} is not one Renkei reads ({_TRIED})")
    return mapped


def _decodes(sample: bytes, encoding: str, final: bool) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        # Not final unless the sample is the whole file: it may end inside a character.
        decoder.decode(sample, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _bad_lines(sample: bytes, encoding: str, whole_file: bool) -> tuple[int, int]:
    """(lines that do not decode, lines with non-ASCII bytes) in the sample."""
    lines = sample.split(b"\n")
    if not whole_file and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut in the middle of a character
    bad = non_ascii = 0
    for line in lines:
        if line.isascii():
            continue
        non_ascii += 1
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            bad += 1
    return bad, non_ascii


def japanese_score(text: str) -> tuple[float, float]:
    """(score, foreign share) of ``text``, per non-ASCII character.

    The score says how much it looks like Japanese (1.0: all kana, kanji and full-width
    punctuation; low or negative: many half-width katakana, which is what EUC-JP read as CP932
    looks like). The foreign share counts what Japanese text in the right encoding does not
    hold: Latin-1 letters, private-use, control and unassigned characters."""
    score = 0.0
    count = foreign = 0
    for ch in text:
        o = ord(ch)
        if o < 0x80:
            continue
        count += 1
        if 0x3040 <= o <= 0x30FF or 0x4E00 <= o <= 0x9FFF or 0x3000 <= o <= 0x303F \
                or 0xFF01 <= o <= 0xFF60 or 0x3400 <= o <= 0x4DBF:
            score += 1.0  # kana, kanji, CJK and full-width punctuation
        elif 0xFF61 <= o <= 0xFF9F:
            score -= 0.5  # half-width katakana: real, but what the wrong decoding produces
        elif 0x2000 <= o <= 0x2BFF or 0x0391 <= o <= 0x0451 or 0x3200 <= o <= 0x33FF:
            score += 0.5  # symbols JIS X 0208 has: ○×△※①, arrows, box drawing, Greek, ㈱
        elif unicodedata.category(ch) in ("Co", "Cc", "Cn") or 0x80 <= o <= 0x24F:
            score -= 1.0  # private use, controls, unassigned; Latin-1 letters
            foreign += 1
    return (score / count, foreign / count) if count else (1.0, 0.0)


def _has_kana(text: str) -> bool:
    return any(0x3041 <= ord(c) <= 0x30FA or 0xFF66 <= ord(c) <= 0xFF9D for c in text)


def _worse(sample: bytes, codec: str, other: str) -> bool:
    """Whether the sample read as ``codec`` is clearly less Japanese than read as ``other``
    (mojibake): half a point of score per character, or foreign characters."""
    mine, mine_foreign = japanese_score(sample.decode(codec, "replace"))
    theirs, _ = japanese_score(sample.decode(other, "replace"))
    return mine_foreign > _FOREIGN_SHARE or mine + 0.5 <= theirs


def pick(raw: bytes) -> str | None:
    """The codec of one line with non-ASCII bytes in a file whose sample was all ASCII:
    UTF-8 if it decodes, else the more Japanese of CP932 and EUC-JP; None if none decodes."""
    if _decodes(raw, "utf-8", True):
        return "utf-8"
    clean = [c for c in CANDIDATES[1:] if _decodes(raw, c, True)]
    if not clean:
        return None
    return max(clean, key=lambda c: japanese_score(raw.decode(c))[0])


def _refuse(message: str, code: str, file: str) -> SourceError:
    return SourceError(message, code=code, file=file)


def _by_bom(sample: bytes, file: str) -> Detected | None:
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise _refuse("the file is UTF-32 text, which Renkei does not read; convert it to "
                      "UTF-8 (`iconv -f UTF-32 -t UTF-8`)", "encoding_unsupported", file)
    if sample.startswith(codecs.BOM_UTF8):
        return Detected("utf-8", 3)
    if sample.startswith(codecs.BOM_UTF16_LE):
        return Detected("utf-16-le", 2)
    if sample.startswith(codecs.BOM_UTF16_BE):
        return Detected("utf-16-be", 2)
    return None


def _unsupported(sample: bytes, file: str) -> None:
    """Refuse what is recognizably not text in a readable encoding."""
    if b"\0" in sample:
        if sample.startswith(b"\xd0\xcf\x11\xe0"):
            what = "an Excel 97-2003 (.xls) workbook, not CSV text; save it as .xlsx or CSV"
        elif bool(sample[1::2].count(0)) != bool(sample[0::2].count(0)):  # one parity only
            what = ("UTF-16 text without a byte-order mark (BOM); save it as UTF-8, or as "
                    "UTF-16 with a BOM")
        else:
            what = "binary, not text (it holds NUL bytes)"
        raise _refuse(f"the file is {what}", "encoding_unsupported", file)
    if b"\x1b$B" in sample or b"\x1b$@" in sample or b"\x1b(J" in sample:
        raise _refuse("the file is ISO-2022-JP (JIS) text, which Renkei does not read; "
                      "convert it to UTF-8 (`iconv -f ISO-2022-JP -t UTF-8`)",
                      "encoding_unsupported", file)


def _guess(sample: bytes, whole_file: bool, file: str) -> Detected:
    if _decodes(sample, "utf-8", whole_file):
        return Detected("utf-8")
    clean = [c for c in ("cp932", "euc_jp") if _decodes(sample, c, whole_file)]
    if clean:
        scores = {c: japanese_score(sample.decode(c, "replace")) for c in clean}
        best = max(clean, key=lambda c: scores[c][0])
        if scores[best][1] > _FOREIGN_SHARE:
            raise _refuse(f"the file decodes as {display_name(best)} but not as Japanese text "
                          f"(it would be mojibake): it is in an encoding Renkei does not read "
                          f"(tried {_TRIED}); {_CONVERT}", "encoding_unrecognized", file)
        text = sample.decode(best, "replace")
        if not _has_kana(text) and sum(not c.isascii() for c in text) >= _KANA_AFTER:
            # Chinese GB2312 text decodes as EUC-JP kanji; Japanese prose has kana.
            raise _refuse(f"the file decodes as {display_name(best)} but holds kanji and no "
                          f"kana: likely Chinese (GB2312, Big5) or another encoding, which "
                          f"would be mojibake; {_CONVERT} (declared, a kanji-only file is "
                          f"read as it says)", "encoding_unrecognized", file)
        return Detected(best)
    # Decodes in none: damaged rows of one of them (quarantined), or another encoding.
    tally = {c: _bad_lines(sample, c, whole_file) for c in CANDIDATES}
    best = min(CANDIDATES, key=lambda c: tally[c][0])
    bad, non_ascii = tally[best]
    if bad and (bad == non_ascii or (bad >= _BAD_LINES_MIN and bad > _BAD_SHARE * non_ascii)):
        raise _refuse(f"the file is in none of the encodings Renkei reads (tried {_TRIED}): "
                      f"the closest, {display_name(best)}, leaves {bad} of the {non_ascii} "
                      f"non-ASCII lines read undecodable; {_CONVERT}",
                      "encoding_unrecognized", file)
    return Detected(best)


def detect_encoding(sample: bytes, *, whole_file: bool, file: str,
                    declared: str | None = None) -> Detected:
    """The encoding of a file starting with ``sample`` (``whole_file``: the sample is all of
    it), or ``declared`` (see :func:`normalize_encoding`) when the file agrees with it.

    Raises ``SourceError`` (``encoding_unsupported``, ``encoding_unrecognized``,
    ``encoding_mismatch``) naming the file and the encodings concerned.
    """
    by_bom = _by_bom(sample, file)
    if declared is None:
        if by_bom is not None:
            return by_bom
        _unsupported(sample, file)
        return _guess(sample, whole_file, file)
    try:
        codec = normalize_encoding(declared)
    except ValueError as exc:
        raise _refuse(str(exc), "encoding_unsupported", file) from None
    if by_bom is not None:
        if codec != by_bom.codec and not (codec == "utf-16" and "16" in by_bom.codec):
            raise _refuse(f"declared {display_name(codec)} but the file starts with the "
                          f"byte-order mark of {by_bom.name}", "encoding_mismatch", file)
        return by_bom
    if codec == "utf-16":
        raise _refuse("declared UTF-16 but the file has no byte-order mark: declare "
                      "UTF-16LE or UTF-16BE", "encoding_mismatch", file)
    if "16" in codec:
        return Detected(codec)
    _unsupported(sample, file)
    try:
        detected: Detected | None = _guess(sample, whole_file, file)
    except SourceError:
        detected = None
    if not _decodes(sample, codec, whole_file):
        seen = f"it looks like {detected.name}" if detected is not None else \
            "it is in none of the encodings Renkei reads"
        raise _refuse(f"declared {display_name(codec)} but the file does not decode as "
                      f"{display_name(codec)}: {seen}", "encoding_mismatch", file)
    if detected is not None and detected.codec != codec and \
            _worse(sample, codec, detected.codec):
        raise _refuse(f"declared {display_name(codec)} but the file is {detected.name} text "
                      f"(read as {display_name(codec)} it would be mojibake)",
                      "encoding_mismatch", file)
    return Detected(codec)
