"""Source readers: files of records in a city's local schema, streamed in constant memory.

:func:`open_records` picks the reader from ``kind`` (or the file name) and yields
:class:`SourceRecord` objects with the file, the 1-based row as a spreadsheet counts it, the
values, and a :class:`Position` to resume after. Kinds: ``csv`` (UTF-8, UTF-8 with BOM or CP932,
detected), ``xlsx`` (calamine, bomb-checked), ``json`` (an array or JSON Lines of
objects), ``jsonl``, ``ngsiv2`` (NGSIv2 entities, flattened) and ``ngsild`` (NGSI-LD entities).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from mappings.errors import SourceError
from mappings.sources.records import Position, SourceLimits, SourceRecord

__all__ = ["KINDS", "Position", "SourceLimits", "SourceRecord", "detect_kind", "open_records",
           "real_kind", "sniff_format"]

KINDS = ("csv", "xlsx", "json", "jsonl", "ngsiv2", "ngsild")
_BY_SUFFIX = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
              ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonld": "ngsild"}


def detect_kind(path: str | Path) -> str:
    """The source kind a file name suggests (``x.ngsiv2.json`` and ``x.ngsild.json`` name the
    JSON flavour too)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in (".json", ".jsonl") \
            and suffixes[-2] in (".ngsiv2", ".ngsild"):
        return suffixes[-2][1:]
    kind = _BY_SUFFIX.get(Path(path).suffix.lower())
    if kind is None:
        raise SourceError(f"cannot tell the kind of {Path(path).name!r} from its name; give "
                          f"kind= one of {', '.join(KINDS)}", code="unsupported_kind",
                          file=str(path))
    return kind


_ZIP_MAGIC = b"PK\x03\x04"
_TABULAR = ("csv", "xlsx")


def sniff_format(path: str | Path) -> str:
    """What the file's first bytes say it is: ``zip`` (an xlsx workbook is a zip) or ``text``."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror}", code="unreadable",
                          file=str(path)) from None
    return "zip" if head == _ZIP_MAGIC else "text"


def real_kind(path: str | Path, kind: str) -> str:
    """The kind to read ``path`` as, when its name or the rule says ``kind``.

    Cities rename files (an Excel workbook saved as ``.csv``; a CSV named ``.xlsx``): between
    the two tabular kinds the file's own bytes decide. A workbook where JSON is due is refused
    with ``kind_mismatch`` rather than parsed as text.
    """
    fmt = sniff_format(path)
    if kind in _TABULAR:
        return "xlsx" if fmt == "zip" else "csv"
    if fmt == "zip":
        raise SourceError(f"the file is a zip archive (an xlsx workbook?), not {kind} text; "
                          "give a rule for a tabular source or convert the file",
                          code="kind_mismatch", file=str(path))
    return kind


def open_records(path: str | Path, *, kind: str | None = None,
                 limits: SourceLimits | None = None,
                 start_after: Position | str | None = None,
                 sheet: str | None = None, encoding: str | None = None) \
        -> Iterator[SourceRecord]:
    """Stream the records of ``path``.

    ``start_after`` (a :class:`Position` or its string form from an earlier record) resumes
    right after that record without re-reading what came before it (xlsx loads the sheet
    and skips the rows up to there). ``encoding`` overrides CSV detection.
    File-level problems raise :class:`~mappings.errors.SourceError` (possibly after some
    records, for a row over the size limit); problems of one record arrive as the record's
    ``error`` and the engine quarantines it.
    """
    path = Path(path)
    file = str(path)
    kind = kind or detect_kind(path)
    if kind not in KINDS:
        raise SourceError(f"unknown source kind {kind!r}", code="unsupported_kind", file=file)
    kind = real_kind(path, kind)
    limits = limits or SourceLimits()
    position = Position.parse(start_after) if start_after is not None else None
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror}", code="unreadable", file=file) from None
    if size > limits.max_file_bytes:
        raise SourceError(f"the file is {size} bytes, more than the limit of "
                          f"{limits.max_file_bytes}", code="file_too_large", file=file)
    return _records(path, file, kind, limits, position, sheet, encoding)


def _records(path: Path, file: str, kind: str, limits: SourceLimits, position: Position | None,
             sheet: str | None, encoding: str | None) -> Iterator[SourceRecord]:
    if kind == "xlsx":
        from mappings.sources.xlsx_source import read_xlsx
        yield from read_xlsx(path, file, limits, position, sheet)
        return
    with open(path, "rb") as f:
        if kind == "csv":
            from mappings.sources.csv_source import read_csv
            yield from read_csv(f, file, limits, position, encoding)
        else:
            from mappings.sources.json_source import read_json
            flavour = kind if kind in ("ngsiv2", "ngsild") else "json"
            yield from read_json(f, file, limits, position, flavour)
