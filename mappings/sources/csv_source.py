"""CSV: streamed line by line from the raw bytes, so positions are byte offsets.

The reader pulls raw lines (bounded by the row limit, so one runaway line cannot exhaust
memory), decodes each in the detected encoding and feeds the standard ``csv`` parser, which
consumes exactly the lines of one record before yielding it. So after each record the byte
offset is known, and a reader can later resume right after it by seeking there. A quoted field
with an embedded newline spans several lines but is one record and one spreadsheet row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import BinaryIO

from mappings.errors import RecordError, SourceError
from mappings.sources.encoding import SAMPLE_BYTES, detect_encoding
from mappings.sources.records import Position, SourceLimits, SourceRecord

__all__ = ["read_csv"]


class _Lines:
    """Decoded lines for the csv parser; remembers offsets, sizes and decoding trouble."""

    def __init__(self, f: BinaryIO, encoding: str, limits: SourceLimits, file: str,
                 offset: int, ascii_so_far: bool) -> None:
        self.f = f
        self.encoding = encoding
        self.limits = limits
        self.file = file
        self.offset = offset
        self.record_bytes = 0
        self.bad_line: str | None = None
        self.row = 0  # the row being read, for messages
        # A file whose sample was pure ASCII was guessed as UTF-8; the first non-ASCII line
        # confirms or corrects that guess (a CP932 file with a long ASCII head).
        self.unconfirmed = ascii_so_far and encoding == "utf-8"

    def __iter__(self) -> Iterator[str]:
        readline, limit = self.f.readline, self.limits.max_row_bytes
        while True:
            raw = readline(limit + 1)
            if not raw:
                return
            self.offset += len(raw)
            self.record_bytes += len(raw)
            if self.record_bytes > limit:
                raise SourceError(f"a row is larger than {limit} bytes (an unterminated quote?)",
                                  code="row_too_large", file=self.file, row=self.row)
            yield self._decode(raw)

    def _decode(self, raw: bytes) -> str:
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError:
            if self.unconfirmed:
                try:
                    text = raw.decode("cp932")
                except UnicodeDecodeError:
                    pass
                else:
                    self.encoding, self.unconfirmed = "cp932", False
                    return text
            self.bad_line = raw.decode(self.encoding, "replace")
            return self.bad_line
        if self.unconfirmed and not raw.isascii():
            self.unconfirmed = False
        return text


def read_csv(f: BinaryIO, file: str, limits: SourceLimits, start_after: Position | None,
             encoding: str | None = None) -> Iterator[SourceRecord]:
    """Records of a CSV file opened in binary mode (row 1 is the header)."""
    sample = f.read(SAMPLE_BYTES)
    whole = len(sample) < SAMPLE_BYTES
    encoding = encoding or detect_encoding(sample, whole_file=whole, file=file)
    f.seek(0)
    bom = 3 if encoding == "utf-8-sig" else 0
    line_encoding = "utf-8" if encoding == "utf-8-sig" else encoding
    f.seek(bom)
    lines = _Lines(f, line_encoding, limits, file, bom, sample.isascii())
    reader = csv.reader(iter(lines))
    lines.row = 1
    try:
        header_fields = next(reader, None)
    except csv.Error as exc:
        raise SourceError(f"cannot read the header: {exc}", code="unreadable", file=file,
                          row=1) from None
    if header_fields is None:
        return
    if lines.bad_line is not None:
        raise SourceError(f"the header is not {encoding} text", code="encoding_error",
                          file=file, row=1)
    if len(header_fields) > limits.max_columns:
        raise SourceError(f"{len(header_fields)} columns, more than {limits.max_columns}",
                          code="row_too_large", file=file, row=1)
    header = tuple(h.strip() for h in header_fields)
    width = len(header)
    row = 1
    if start_after is not None and start_after.row > 1:
        f.seek(start_after.offset)
        lines.offset, row = start_after.offset, start_after.row
    max_cell = limits.max_cell_chars
    while True:
        lines.record_bytes = 0
        lines.bad_line = None
        lines.row = row + 1
        try:
            fields = next(reader, None)
        except csv.Error as exc:
            raise SourceError(f"cannot parse CSV: {exc}", code="unreadable", file=file,
                              row=row + 1) from None
        if fields is None:
            return
        row += 1
        if not fields:
            continue  # a blank line: a spreadsheet shows an empty row; it holds no record
        if len(fields) < width:
            fields += [""] * (width - len(fields))  # a short row: its missing cells are blank
        values = dict(zip(header, fields))  # noqa: B905 - extra fields are handled below
        error = None
        if lines.bad_line is not None:
            error = RecordError("encoding_error", f"the row is not valid {lines.encoding} text "
                                "(undecodable bytes shown as U+FFFD)")
        elif len(fields) > width and any(fields[width:]):
            error = RecordError("row_malformed", f"{len(fields)} fields but the header has "
                                f"{width}", raw_value=fields[width:])
            for i, extra in enumerate(fields[width:], 1):
                values[f"#extra{i}"] = extra  # kept, so the quarantine loses nothing
        elif lines.record_bytes > max_cell:
            big = next((h for h, v in values.items() if len(v) > max_cell), None)
            if big is not None:
                error = RecordError("cell_too_large", f"a cell is longer than {max_cell} "
                                    "characters", column=big, raw_value=values[big][:200])
        yield SourceRecord(file, row, values, Position(lines.offset, row), header, error)
