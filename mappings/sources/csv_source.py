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
from mappings.sources.encoding import SAMPLE_BYTES, detect_encoding, display_name, pick
from mappings.sources.records import Position, SourceLimits, SourceRecord

__all__ = ["read_csv"]


class _Utf16Lines:
    """Raw lines of UTF-16 text: a line ends with the two bytes of U+000A at an even offset
    (a plain ``readline`` would cut inside characters)."""

    def __init__(self, f: BinaryIO, big_endian: bool) -> None:
        self.f = f
        self.newline = b"\x00\n" if big_endian else b"\n\x00"
        self.buf = b""
        self.pos = 0

    def seek(self, offset: int) -> None:
        self.f.seek(offset)
        self.buf, self.pos = b"", 0

    def readline(self, limit: int) -> bytes:
        start = self.pos
        while True:
            at = self.buf.find(self.newline, start)
            while at >= 0 and (at - self.pos) % 2:
                at = self.buf.find(self.newline, at + 1)  # across two characters: go on
            if at >= 0:
                line, self.pos = self.buf[self.pos:at + 2], at + 2
                return line
            if len(self.buf) - self.pos > limit:
                line, self.pos = self.buf[self.pos:self.pos + limit + 1], self.pos + limit + 1
                return line  # over the row limit: the caller stops the file
            start = max(self.pos, len(self.buf) - 1)
            chunk = self.f.read(1 << 16)
            if not chunk:
                line, self.buf, self.pos = self.buf[self.pos:], b"", 0
                return line
            self.buf, start, self.pos = self.buf[self.pos:] + chunk, start - self.pos, 0


class _Lines:
    """Decoded lines for the csv parser; remembers offsets, sizes and decoding trouble."""

    def __init__(self, f: BinaryIO, encoding: str, limits: SourceLimits, file: str,
                 offset: int, ascii_so_far: bool) -> None:
        self.f = f
        self._utf16 = _Utf16Lines(f, encoding == "utf-16-be") if "16" in encoding else None
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

    def seek(self, offset: int) -> None:
        if self._utf16 is not None:
            self._utf16.seek(offset)
        else:
            self.f.seek(offset)
        self.offset = offset

    def __iter__(self) -> Iterator[str]:
        readline = self._utf16.readline if self._utf16 is not None else self.f.readline
        limit = self.limits.max_row_bytes
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
            picked = pick(raw) if self.unconfirmed else None
            if picked is not None:
                self.encoding, self.unconfirmed = picked, False
                return raw.decode(picked)
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
    detected = detect_encoding(sample, whole_file=whole, file=file, declared=encoding)
    lines = _Lines(f, detected.codec, limits, file, 0, sample.isascii() and encoding is None)
    lines.seek(detected.bom)
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
        how = "declared" if encoding is not None else "detected from the file's first " \
            f"{len(sample)} bytes"
        raise SourceError(f"the header (row 1) is not {detected.name} text ({how}); "
                          "convert the file to UTF-8 (e.g. `iconv -f <encoding> -t UTF-8`) or "
                          "declare its encoding", code="encoding_error", file=file, row=1)
    if len(header_fields) > limits.max_columns:
        raise SourceError(f"{len(header_fields)} columns, more than {limits.max_columns}",
                          code="row_too_large", file=file, row=1)
    header = tuple(h.strip() for h in header_fields)
    width = len(header)
    row = 1
    if start_after is not None and start_after.row > 1:
        lines.seek(start_after.offset)
        row = start_after.row
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
            error = RecordError("encoding_error", f"the row is not valid "
                                f"{display_name(lines.encoding)} text, the file's encoding "
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
