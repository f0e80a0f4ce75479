"""The former xlsx reader (openpyxl in read-only mode), kept as bench/mapping.py's baseline.

Not the product's reader (mappings/sources/xlsx_source.py reads with calamine); kept verbatim
so that the benchmark measures the speed-up against what it replaced, in the same run. Cells
become text through the product's ``cell_text``, so both readers yield the same records.

An xlsx file is a zip of XML parts. Before openpyxl opens it, the zip directory is checked:
the total uncompressed size and each large part's compression ratio must stay under the limits,
so a few kilobytes cannot expand into gigabytes (``xlsx_bomb``). The sheet's declared
dimension is not trusted either: at most ``max_columns`` columns are read.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

from mappings.errors import RecordError, SourceError
from mappings.sources.records import Position, SourceLimits, SourceRecord
from mappings.sources.xlsx_source import cell_text, check_zip

__all__ = ["read_xlsx"]

def read_xlsx(path: Path, file: str, limits: SourceLimits, start_after: Position | None,
              sheet: str | None = None) -> Iterator[SourceRecord]:
    """Records of one sheet (the first unless ``sheet`` names one); row 1 is the header."""
    check_zip(path, file, limits)
    import openpyxl  # imported here: only xlsx sources pay for it

    try:
        with warnings.catch_warnings():
            # openpyxl warns about unsupported extensions (data validation...) it can ignore.
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise SourceError(f"cannot open the workbook: {type(exc).__name__}: {exc}",
                          code="unreadable", file=file) from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise SourceError(f"no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})",
                              code="unreadable", file=file)
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        # openpyxl pads every row to the width it is given, and reads fastest with one: the
        # declared dimension when there is a sane one, else the header's width (a workbook
        # without a dimension cannot show cells beyond its header, which are then not read).
        declared = ws.max_column
        first = next(ws.iter_rows(values_only=True, max_row=1,
                                  max_col=min(declared or limits.max_columns,
                                              limits.max_columns)), None)
        if first is None:
            return
        width = min(declared or len(first), limits.max_columns)
        rows = ws.iter_rows(min_row=2, values_only=True, max_col=width)
        header = tuple(cell_text(h).strip() for h in first)
        while header and not header[-1]:
            header = header[:-1]
        start = start_after.row if start_after is not None and start_after.row > 1 else 1
        if start > 1:
            rows = ws.iter_rows(min_row=start + 1, values_only=True, max_col=width)
        max_cell = limits.max_cell_chars
        for row, cells in enumerate(rows, start + 1):
            texts = [c if c.__class__ is str else cell_text(c) for c in cells]
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
            else:
                big = next((h for h, v in values.items() if len(v) > max_cell), None)
                if big is not None:
                    error = RecordError("cell_too_large", f"a cell is longer than {max_cell} "
                                        "characters", column=big, raw_value=values[big][:200])
            yield SourceRecord(file, row, values, Position(row, row), header, error)
    finally:
        wb.close()
