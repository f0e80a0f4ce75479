"""Text encodings of municipal CSV files: UTF-8, UTF-8 with a BOM, CP932 (Shift_JIS)."""

from __future__ import annotations

import codecs

from mappings.errors import SourceError

__all__ = ["SAMPLE_BYTES", "detect_encoding"]

#: How much of a file the detection reads. Large enough that a CP932 file almost always shows a
#: non-ASCII byte in it; the CSV reader still switches if the first non-ASCII line says otherwise.
SAMPLE_BYTES = 256 * 1024


def _decodes(sample: bytes, encoding: str, final: bool) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        # Not final unless the sample is the whole file: it may end inside a character.
        decoder.decode(sample, final=final)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(sample: bytes, *, whole_file: bool, file: str) -> str:
    """The Python codec name for a file starting with ``sample``.

    ``utf-8-sig`` when there is a UTF-8 BOM; ``utf-8`` when the sample is valid UTF-8; ``cp932``
    (Microsoft's Shift_JIS, what Excel writes in Japan) when it is valid CP932. When neither
    decodes cleanly, the one with fewer undecodable bytes wins and the rows that do not decode
    are quarantined with ``encoding_error``.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceError("UTF-16 text is not supported; save the file as UTF-8 or CP932",
                          code="encoding_error", file=file)
    if _decodes(sample, "utf-8", whole_file):
        return "utf-8"
    if _decodes(sample, "cp932", whole_file):
        return "cp932"
    bad_utf8 = sample.decode("utf-8", "replace").count("\ufffd")
    bad_cp932 = sample.decode("cp932", "replace").count("\ufffd")
    return "utf-8" if bad_utf8 <= bad_cp932 else "cp932"
