"""JSON arrays and JSON Lines, streamed element by element; NGSIv2 and NGSI-LD entities.

A top-level array is read element by element with the C JSON decoder over a sliding window of
the file, so memory stays at about one element (bounded by ``max_row_bytes``) whatever the file
size. JSON Lines (and any sequence of concatenated JSON values) go through the same loop. A
record's ``row`` is its 1-based index in the file; its position is the byte offset after it.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from mappings.errors import RecordError, SourceError
from mappings.sources.records import Position, SourceLimits, SourceRecord

__all__ = ["flatten_ngsiv2", "read_json", "unflatten_ngsiv2"]

_CHUNK = 64 * 1024
_WS = " \t\r\n"
_decode = json.JSONDecoder().raw_decode


def flatten_ngsiv2(entity: Any) -> dict[str, Any]:
    """An NGSIv2 entity as flat values: ``id``, ``type``, ``attr``, ``attr.type``,
    ``attr.metadata.<name>``. Attributes in keyValues form (a bare value) are taken as they are.
    """
    if not isinstance(entity, dict):
        raise RecordError("entity_invalid", "an NGSIv2 entity is a JSON object")
    out: dict[str, Any] = {}
    for name, attr in entity.items():
        if name in ("id", "type") or not isinstance(attr, dict) or "value" not in attr:
            out[name] = attr
            continue
        out[name] = attr["value"]
        if "type" in attr:
            out[f"{name}.type"] = attr["type"]
        for meta_name, meta in (attr.get("metadata") or {}).items():
            out[f"{name}.metadata.{meta_name}"] = meta.get("value") if isinstance(meta, dict) \
                else meta
    return out


def unflatten_ngsiv2(row: Mapping[str, Any], entity_type: str) -> dict[str, Any]:
    """An NGSIv2 entity (normalized) from flat values such as a reverse mapping gives.

    The NGSIv2 attribute type is inferred from the value: ``true``/``false`` → Boolean,
    numeric text → Number, a GeoJSON object → geo:json, another object or list →
    StructuredValue, anything else → Text. Blank values are left out.
    """
    entity: dict[str, Any] = {"id": row.get("id", ""), "type": entity_type}
    for name, value in row.items():
        if name in ("id", "type") or "." in name or value in ("", None):
            continue
        entity[name] = {"type": _v2_type(value), "value": _v2_value(value), "metadata": {}}
    return entity


def _v2_type(value: Any) -> str:
    if isinstance(value, dict):
        return "geo:json" if value.get("type") in _GEOJSON else "StructuredValue"
    if isinstance(value, list):
        return "StructuredValue"
    if value in ("true", "false") or isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float) or _NUMBER.fullmatch(str(value)):
        return "Number"
    return "Text"


def _v2_value(value: Any) -> Any:
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        number = float(value)
        return int(number) if number.is_integer() and "." not in value else number
    return value


_GEOJSON = {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}
# No leading zeros: a telephone number such as 0768000101 stays text.
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


class _Window:
    """Decoded text of the file from the current position on, refilled in chunks.

    ``offset`` is the byte offset of ``text[pos]`` in the file, kept by encoding only the text
    consumed since the last step (a record), never the whole window.
    """

    def __init__(self, f: BinaryIO, offset: int) -> None:
        self.f = f
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.pos = 0
        self.offset = offset
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.f.read(_CHUNK)
        self.eof = not chunk
        self.text = self.text[self.pos:] + self.decoder.decode(chunk, final=self.eof)
        self.pos = 0
        return True

    def advance(self, new_pos: int) -> None:
        seg = self.text[self.pos:new_pos]
        self.offset += len(seg) if seg.isascii() else len(seg.encode("utf-8"))
        self.pos = new_pos

    def skip(self, chars: str) -> str:
        """Skip ``chars``; return the next other character ('' at the end)."""
        while True:
            text, pos = self.text, self.pos
            while pos < len(text) and text[pos] in chars:
                pos += 1
            self.advance(pos)
            if pos < len(text):
                return text[pos]
            if not self.fill():
                return ""


def read_json(f: BinaryIO, file: str, limits: SourceLimits, start_after: Position | None,
              flavour: str) -> Iterator[SourceRecord]:
    """Records of a JSON array or JSON Lines file. ``flavour`` is ``json`` (objects as they
    are), ``ngsiv2`` (flattened entities) or ``ngsild`` (entities as they are)."""
    bom = 3 if f.read(3) == codecs.BOM_UTF8 else 0
    start = start_after.offset if start_after is not None and start_after.row > 0 else bom
    row = start_after.row if start_after is not None and start_after.row > 0 else 0
    f.seek(start)
    win = _Window(f, start)
    first = win.skip(_WS)
    if row == 0:
        in_array = first == "["
        if in_array:
            win.advance(win.pos + 1)
        elif first not in ("{", ""):
            raise SourceError("expected a JSON array or JSON objects (one per line)",
                              code="malformed_json", file=file, row=1)
    else:
        in_array = _resumed_in_array(f, file)
    limit = limits.max_row_bytes
    while True:
        c = win.skip(_WS + ("," if in_array else ""))
        if c == "" or (in_array and c == "]"):
            return
        row += 1
        bad_line = None
        while True:
            try:
                value, end = _decode(win.text, win.pos)
            except json.JSONDecodeError as exc:
                if not win.eof and len(win.text) - win.pos <= limit:
                    win.fill()  # most likely the record continues in the next chunk
                    continue
                if not in_array:
                    # JSON Lines: a bad line is one quarantined record; the file goes on.
                    newline = win.text.find("\n", win.pos)
                    if newline < 0 and not win.eof:
                        raise SourceError(f"a line is longer than {limit} bytes",
                                          code="row_too_large", file=file, row=row) from None
                    end = newline + 1 if newline >= 0 else len(win.text)
                    bad_line = win.text[win.pos:end].rstrip("\r\n")
                    break
                if win.eof:
                    raise SourceError(f"malformed JSON: {exc.msg}", code="malformed_json",
                                      file=file, row=row) from None
                raise SourceError(f"a record is larger than {limit} bytes",
                                  code="row_too_large", file=file, row=row) from None
            # A number at the very end of the window may continue in the next chunk.
            if end < len(win.text) or win.eof or not isinstance(value, int | float):
                break
            win.fill()
        win.advance(end)
        position = Position(win.offset, row)
        if bad_line is not None:
            yield SourceRecord(file, row, {"#line": bad_line}, position, (),
                               RecordError("row_malformed", "the line is not valid JSON",
                                           raw_value=bad_line[:200]))
        else:
            yield _record(value, file, row, position, flavour)


def _resumed_in_array(f: BinaryIO, file: str) -> bool:
    # Resuming mid-file: whether the file is an array is told by its first character.
    here = f.tell()
    f.seek(0)
    head = f.read(64).decode("utf-8-sig", "replace").lstrip(_WS)
    f.seek(here)
    return head.startswith("[")


def _record(value: Any, file: str, row: int, position: Position, flavour: str) -> SourceRecord:
    error = None
    if flavour == "ngsiv2":
        try:
            values = flatten_ngsiv2(value)
        except RecordError as exc:
            values, error = {"#value": value}, exc
    elif isinstance(value, dict):
        values = value
    else:
        values, error = {"#value": value}, RecordError("row_malformed",
                                                       "a record is not a JSON object")
    return SourceRecord(file, row, values, position, (), error)
