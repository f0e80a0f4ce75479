"""xlsx: read by calamine (Rust; python-calamine), behind a bomb check.

An xlsx file is a zip of XML parts. Before calamine opens it, the zip directory is checked:
the total uncompressed size and each large part's compression ratio must stay under the limits,
so a few kilobytes cannot expand into gigabytes (``xlsx_bomb``). The sheet's declared
dimension is not trusted either: at most ``max_columns`` columns are read. Cells become the
same text the former openpyxl reader gave (bench/_openpyxl_reader.py keeps it as the
benchmark's baseline), some 10 times faster.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mappings.errors import RecordError, SourceError
from mappings.sources.records import Position, SourceLimits, SourceRecord

__all__ = ["check_zip", "read_xlsx"]

_RATIO_FLOOR = 1024 * 1024  # parts smaller than this may compress as well as they like


def check_zip(path: Path, file: str, limits: SourceLimits) -> None:
    """Refuse a zip whose parts would expand beyond the limits."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"not an xlsx (zip) file: {exc}", code="unreadable", file=file) \
            from None
    total = sum(i.file_size for i in infos)
    if total > limits.max_xlsx_uncompressed_bytes:
        raise SourceError(f"the workbook expands to {total} bytes, more than "
                          f"{limits.max_xlsx_uncompressed_bytes}", code="xlsx_bomb", file=file)
    for info in infos:
        if info.file_size > _RATIO_FLOOR and \
                info.file_size > limits.max_xlsx_ratio * max(info.compress_size, 1):
            fold = info.file_size // max(info.compress_size, 1)
            raise SourceError(f"part {info.filename} expands {fold}-fold, more than "
                              f"{limits.max_xlsx_ratio}", code="xlsx_bomb", file=file)


def cell_text(value: Any) -> str:
    """A cell's value as text, as a person reading the sheet would write it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dt.date):
        # A date-formatted cell holds a date and time (Excel has no date-only value): the
        # text is the same whether the reader hands over a date or a midnight datetime.
        return dt.datetime(value.year, value.month, value.day).isoformat()
    return str(value)


def _open_sheet(path: Path, file: str, sheet: str | None) -> Any:
    import python_calamine  # imported here: only xlsx sources pay for it

    try:
        wb = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several kinds (zip, XML, password...)
        raise SourceError(f"cannot open the workbook: {type(exc).__name__}: {exc}",
                          code="unreadable", file=file) from None
    try:
        if sheet is not None:
            if sheet not in wb.sheet_names:
                raise SourceError(f"no sheet {sheet!r} (sheets: {', '.join(wb.sheet_names)})",
                                  code="unreadable", file=file)
            name = sheet
        else:
            # The first worksheet, as Excel shows it (chart and dialog sheets hold no rows).
            names = [m.name for m in wb.sheets_metadata
                     if m.typ == python_calamine.SheetTypeEnum.WorkSheet]
            if not names:
                raise SourceError("the workbook has no worksheet", code="unreadable", file=file)
            name = names[0]
        return wb.get_sheet_by_name(name)
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(f"cannot read sheet: {type(exc).__name__}: {exc}",
                          code="unreadable", file=file) from None
    finally:
        wb.close()


def read_xlsx(path: Path, file: str, limits: SourceLimits, start_after: Position | None,
              sheet: str | None = None) -> Iterator[SourceRecord]:
    """Records of one sheet (the first unless ``sheet`` names one); row 1 is the header.

    Read by calamine (Rust), after the bomb check: the sheet's cells are loaded at once
    (bounded by the check) and turned into records row by row. Rows keep their numbers in the
    sheet; columns beyond ``max_columns`` are not read.
    """
    check_zip(path, file, limits)
    ws = _open_sheet(path, file, sheet)
    # calamine yields every row from the sheet's first (so row numbers are the sheet's), but
    # each from the first used column: cells left of it are empty (tests/mappings pin this).
    left = ws.start[1] if ws.start is not None else 0
    pad = [""] * left
    width = limits.max_columns
    try:
        cells_of = iter(ws.iter_rows())
    except Exception as exc:
        raise SourceError(f"cannot read sheet: {type(exc).__name__}: {exc}",
                          code="unreadable", file=file) from None
    first = next(cells_of, None)
    if first is None:
        return
    header_cells = (pad + list(first))[:width] if left else list(first[:width])
    header = tuple(cell_text(h).strip() for h in header_cells)
    while header and not header[-1]:
        header = header[:-1]
    start = start_after.row if start_after is not None and start_after.row > 1 else 1
    max_cell = limits.max_cell_chars
    for this, cells in enumerate(cells_of, 2):
        if this <= start:
            continue
        if left:
            cells = pad + list(cells)
        texts = [c if c.__class__ is str else cell_text(c) for c in cells[:width]]
        if not any(texts):
            continue  # an empty row holds no record
        values = dict(zip(header, texts))  # noqa: B905 - extra cells handled below
        error = None
        extra = [t for t in texts[len(header):] if t]
        if extra:
            error = RecordError("row_malformed", f"cells beyond the header's "
                                f"{len(header)} columns", raw_value=extra)
            for i, t in enumerate(extra, 1):
                values[f"#extra{i}"] = t
        elif max(map(len, texts)) > max_cell:
            big = next((h for h, v in values.items() if len(v) > max_cell), None)
            if big is not None:
                error = RecordError("cell_too_large", f"a cell is longer than {max_cell} "
                                    "characters", column=big, raw_value=values[big][:200])
        yield SourceRecord(file, this, values, Position(this, this), header, error)
