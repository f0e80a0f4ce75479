"""Map a stream of records: every record comes out as a mapped entity or a quarantine entry.

Nothing is lost: a record the rule cannot map (a value a transform refuses, a row the reader
could not decode) becomes a :class:`Quarantined` entry carrying the file, the row, the column,
the raw value, a stable reason code, a message, and the record's full raw values, so it can be
mapped again later (:func:`records_from_quarantine`). The rest of the file goes on, and
``read == mapped + quarantined`` always holds (:class:`RunTally`).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from mappings.errors import RecordError
from mappings.sources.records import Position, SourceRecord

__all__ = ["Mapped", "Quarantined", "RunCounts", "RunTally", "content_hash", "map_records",
           "records_from_quarantine"]

log = logging.getLogger("renkei.mappings")
_SORTED = orjson.OPT_SORT_KEYS


class Forward(Protocol):
    def forward(self, record: SourceRecord) -> dict[str, Any]: ...


def content_hash(entity: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the entity's canonical JSON (orjson, sorted keys): equal entities, equal
    hashes, so a broker can tell an unchanged record from an update."""
    return hashlib.sha256(orjson.dumps(entity, option=_SORTED)).hexdigest()


@dataclass(frozen=True, slots=True)
class Mapped:
    """An entity mapped from ``file`` at ``row``; ``position`` resumes after it."""

    entity: dict[str, Any]
    file: str
    row: int
    content_hash: str
    position: Position | None = None
    rule: str = ""


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that could not be mapped, with everything needed to map it again later.

    ``column`` and ``raw_value`` point at the value at fault (``None`` when the fault is the
    whole row); ``record`` holds all the raw values of the row and ``header`` the file's header.
    """

    file: str
    row: int
    column: str | None
    raw_value: Any
    code: str
    message: str
    record: Mapping[str, Any] = field(default_factory=dict)
    header: tuple[str, ...] = ()
    position: Position | None = None
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (what a quarantine store keeps)."""
        return {"file": self.file, "row": self.row, "column": self.column,
                "raw_value": self.raw_value, "code": self.code, "message": self.message,
                "record": dict(self.record), "header": list(self.header),
                "position": str(self.position) if self.position else None, "rule": self.rule}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Quarantined:
        """Read :meth:`to_dict` output back."""
        pos = data.get("position")
        return cls(data["file"], int(data["row"]), data.get("column"), data.get("raw_value"),
                   data["code"], data.get("message", ""), dict(data.get("record") or {}),
                   tuple(data.get("header") or ()), Position.parse(pos) if pos else None,
                   data.get("rule", ""))


@dataclass(frozen=True)
class RunCounts:
    """The counts of one run; ``read == mapped + quarantined``."""

    read: int
    mapped: int
    quarantined: int
    by_code: Mapping[str, int] = field(default_factory=dict)
    #: What transforms counted without quarantining (``telephone_placeholder``: a ``－`` or
    #: ``0`` where a number goes, dropped).
    notices: Mapping[str, int] = field(default_factory=dict)


class RunTally:
    """Counts filled in while :func:`map_records` runs; :meth:`counts` gives a snapshot."""

    def __init__(self) -> None:
        self.read = 0
        self.mapped = 0
        self.quarantined = 0
        self.by_code: Counter[str] = Counter()
        self.notices: Counter[str] = Counter()

    def counts(self) -> RunCounts:
        assert self.read == self.mapped + self.quarantined
        return RunCounts(self.read, self.mapped, self.quarantined, dict(self.by_code),
                         dict(self.notices))


def _quarantine(record: SourceRecord, err: RecordError, rule: str) -> Quarantined:
    return Quarantined(record.file, record.row, err.column, err.raw_value, err.code,
                       err.message, record.values, record.header, record.position, rule)


def map_records(compiled: Forward, records: Iterable[SourceRecord], *,
                tally: RunTally | None = None, hashes: bool = True,
                unique_ids: bool = False) -> Iterator[Mapped | Quarantined]:
    """Map ``records`` with a compiled rule, yielding one result per record, in order.

    File-level problems (a header without a required column, a row over the size limit)
    raise :class:`~mappings.errors.SourceError` and end the stream; everything yielded before
    stays valid, with its position. ``hashes=False`` skips the content hash (benchmarks).

    ``unique_ids=True`` holds the results until the input ends and quarantines every record
    whose entity id another record of the input also maps to (``duplicate_id``, naming the
    other rows): two different facilities under one id must not overwrite each other, and
    which one "wins" must not depend on row order.
    """
    tally = tally if tally is not None else RunTally()
    if unique_ids:
        return _unique_ids(_map(compiled, records, tally, hashes, keep=True), tally)
    return (result for result, _ in _map(compiled, records, tally, hashes, keep=False))


def _unique_ids(results: Iterable[tuple[Mapped | Quarantined, SourceRecord | None]],
                tally: RunTally) -> Iterator[Mapped | Quarantined]:
    """The results once the input ended, every record whose id another one shares
    quarantined. They wait on disk (``_Spill``), not in memory: a million rows held as
    objects took 7 GB; what stays in memory is each id's first row (~170 bytes an id)."""
    first: dict[str, int] = {}
    shared: dict[str, list[int]] = {}
    with _Spill() as spill:
        for result, record in results:
            if isinstance(result, Mapped):
                entity_id = result.entity["id"]
                row = first.setdefault(entity_id, result.row)
                if row != result.row:
                    shared.setdefault(entity_id, [row]).append(result.row)
            spill.put(result, record)
        for result, record in spill.replay():
            if isinstance(result, Mapped) and record is not None \
                    and (same := shared.get(result.entity["id"])) is not None:
                others = ", ".join(str(r) for r in same if r != result.row)
                err = RecordError("duplicate_id", f"row(s) {others} of this file map to the "
                                  f"same id {result.entity['id']}; none of them is stored until "
                                  "the ids are unique (fix the source's ID column)",
                                  raw_value=result.entity["id"])
                tally.mapped -= 1
                tally.quarantined += 1
                tally.by_code[err.code] += 1
                yield _quarantine(record, err, result.rule)
            else:
                yield result


class _Spill:
    """Results written to a temporary file as JSON lines and read back in order (orjson:
    a few microseconds a row, against tens for mapping it). Headers are written once each:
    every record of a file shares its header tuple."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="renkei-held-")
        self._headers: list[tuple[str, ...]] = []
        self._header_ids: dict[int, int] = {}

    def __enter__(self) -> _Spill:
        return self

    def __exit__(self, *_: object) -> None:
        self._file.close()

    def _header(self, header: tuple[str, ...]) -> int:
        at = self._header_ids.get(id(header))
        if at is None or self._headers[at] is not header:
            at = self._header_ids[id(header)] = len(self._headers)
            self._headers.append(header)
        return at

    def put(self, result: Mapped | Quarantined, record: SourceRecord | None) -> None:
        if isinstance(result, Mapped):
            pos = result.position
            line: list[Any] = [0, result.entity, result.file, result.row, result.content_hash,
                               None if pos is None else [pos.offset, pos.row], result.rule]
            if record is not None:
                rp = record.position
                line += [record.values, self._header(record.header), [rp.offset, rp.row]]
        else:
            pos = result.position
            line = [1, result.file, result.row, result.column, result.raw_value, result.code,
                    result.message, result.record, self._header(tuple(result.header)),
                    None if pos is None else [pos.offset, pos.row], result.rule]
        self._file.write(orjson.dumps(line, default=str))
        self._file.write(b"\n")

    def replay(self) -> Iterator[tuple[Mapped | Quarantined, SourceRecord | None]]:
        self._file.seek(0)
        headers = self._headers
        for raw in self._file:
            line = orjson.loads(raw)
            if line[0] == 0:
                pos = None if line[5] is None else Position(*line[5])
                mapped = Mapped(line[1], line[2], line[3], line[4], pos, line[6])
                record = None
                if len(line) > 7:
                    record = SourceRecord(line[2], line[3], line[7], Position(*line[9]),
                                          headers[line[8]])
                yield mapped, record
            else:
                pos = None if line[9] is None else Position(*line[9])
                yield Quarantined(line[1], line[2], line[3], line[4], line[5], line[6],
                                  line[7], headers[line[8]], pos, line[10]), None


def _map(compiled: Forward, records: Iterable[SourceRecord], tally: RunTally, hashes: bool,
         keep: bool) -> Iterator[tuple[Mapped | Quarantined, SourceRecord | None]]:
    rule = getattr(getattr(compiled, "rule", None), "name", "")
    forward = compiled.forward
    notices: Counter[str] | None = getattr(compiled, "notices", None)
    before = Counter(notices) if notices is not None else None
    try:
        yield from _map_each(forward, records, tally, hashes, keep, rule)
    finally:
        if notices is not None and before is not None:
            tally.notices.update(notices - before)


def _map_each(forward: Callable[[SourceRecord], dict[str, Any]], records: Iterable[SourceRecord],
              tally: RunTally, hashes: bool, keep: bool, rule: str) \
        -> Iterator[tuple[Mapped | Quarantined, SourceRecord | None]]:
    for record in records:
        tally.read += 1
        if record.error is not None:
            tally.quarantined += 1
            tally.by_code[record.error.code] += 1
            yield _quarantine(record, record.error, rule), None
            continue
        try:
            entity = forward(record)
        except RecordError as err:
            tally.quarantined += 1
            tally.by_code[err.code] += 1
            yield _quarantine(record, err, rule), None
            continue
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            # A value of a shape no transform expected (a JSON list where text was due...):
            # quarantined, not fatal, and logged because it may also be a bug worth a look.
            log.warning("mapping[%s] %s row %d: %s: %s", rule, record.file, record.row,
                        type(exc).__name__, exc)
            odd = RecordError("value_invalid", f"unexpected value shape: {type(exc).__name__}")
            tally.quarantined += 1
            tally.by_code[odd.code] += 1
            yield _quarantine(record, odd, rule), None
            continue
        tally.mapped += 1
        yield Mapped(entity, record.file, record.row, content_hash(entity) if hashes else "",
                     record.position, rule), record if keep else None


def records_from_quarantine(entries: Iterable[Quarantined]) -> Iterator[SourceRecord]:
    """The quarantined records as source records again (for a retry after a rule fix)."""
    for q in entries:
        # An empty header means a schemaless (JSON) source: absent keys are blank, as when the
        # record was first read; a tabular record keeps its file's header.
        yield SourceRecord(q.file, q.row, dict(q.record),
                           q.position or Position(0, q.row), tuple(q.header))
