"""What every source reader yields: records, their positions, and the limits readers enforce."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mappings.errors import MappingError, RecordError

__all__ = ["Position", "SourceLimits", "SourceRecord"]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a reader stands after a record: enough to resume right after it, cheaply.

    ``offset`` is a byte offset in the file for text sources (CSV, JSON, JSON Lines) and the
    number of rows consumed for xlsx; ``row`` is the record's 1-based row as a spreadsheet
    counts it. ``str(position)`` is a compact token the broker stores; :meth:`parse` reads it.
    """

    offset: int
    row: int

    def __str__(self) -> str:
        return f"{self.offset}:{self.row}"

    @classmethod
    def parse(cls, token: str | Position) -> Position:
        """Read a token made by ``str(position)``."""
        if isinstance(token, Position):
            return token
        try:
            offset, row = (int(part) for part in token.split(":"))
        except (AttributeError, ValueError):
            raise MappingError(f"bad source position {token!r}", code="bad_position") from None
        if offset < 0 or row < 0:
            raise MappingError(f"bad source position {token!r}", code="bad_position")
        return cls(offset, row)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record read from a source file.

    ``values`` maps the file's headers to text for tabular sources (CSV, xlsx); for JSON
    sources it holds JSON values (NGSIv2 attributes are flattened to ``attr``,
    ``attr.type`` and ``attr.metadata.<name>``; an NGSI-LD entity is the entity itself).
    ``header`` is the file's header tuple, shared by all its records (compiled rules bind to it
    once per file). ``error`` is set when the reader could not read the record cleanly (a line
    that is not in the file's encoding, an oversized cell): the engine quarantines it.
    """

    file: str
    row: int
    values: Mapping[str, Any]
    position: Position
    header: tuple[str, ...] = ()
    error: RecordError | None = None


@dataclass(frozen=True)
class SourceLimits:
    """Limits a reader enforces; each breach is a clear error naming the file and row.

    A file over ``max_file_bytes`` or a row over ``max_row_bytes`` stops the read
    (``SourceError``); a cell over ``max_cell_chars`` quarantines that record (``cell_too_large``)
    and the file goes on. For xlsx, the sum of uncompressed sizes and the compression ratio of
    its parts are checked before parsing (decompression bombs).
    """

    max_file_bytes: int = 512 * 1024 * 1024
    max_row_bytes: int = 1024 * 1024
    max_cell_chars: int = 64 * 1024
    max_xlsx_uncompressed_bytes: int = 1024 * 1024 * 1024
    max_xlsx_ratio: int = 200
    max_columns: int = 1000
