"""Ingest: a source file through its mapping rule into the store, in crash-safe batches.

Reading and mapping are blocking (CSV/xlsx parsing, NFKC, ...) and run in a worker thread one
batch at a time; each batch is committed in one transaction together with the source position
of its last record. After a crash the next run resumes right after the last committed position
(the file's size and mtime must be unchanged), and because upserts are idempotent by id and
content hash, re-reading a batch neither loses nor duplicates anything. Every record read is
either mapped or quarantined (with file, row, column, raw value, reason): counts add up.

A full disk pauses an ingest instead of failing it: the batch that did not fit is committed
again every ``pause_seconds`` until space is freed (each commit is one transaction, so a retry
neither loses nor doubles anything), with a WARNING when it pauses and when it resumes.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from mappings.compiler import compile_rule
from mappings.engine import Mapped, Quarantined, map_records, records_from_quarantine
from mappings.errors import MappingError, RuleError, RuleProblem
from mappings.loader import bundled_rule_names, bundled_rules, load_rules
from mappings.recognize import choose_rule
from mappings.sources import open_records, sniff_format
from mappings.views import Rule
from trust.clock import Clock

from .errors import StoreFull, UnknownRuleSet
from .service.entity_write import entity_write
from .store.base import EntityWrite, QuarantineRecord, Store, UpsertCounts
from .telemetry.spans import set_attributes, span

log = logging.getLogger("renkei.ingest")
# Rows per committed batch: larger batches amortize the commit (measured: 2000 rows of ~1 KB
# commit ~35% faster than 500) while a crash re-reads at most one batch.
BATCH = 2000
PAUSE_SECONDS = 2.0  # how often a paused ingest tries its batch again on a full disk
T = TypeVar("T")


@dataclass(frozen=True)
class IngestReport:
    source: str
    file: str
    run_id: int
    read: int
    mapped: int
    quarantined: int
    created: int
    updated: int
    unchanged: int
    resumed_from: str | None = None
    first_reasons: tuple[str, ...] = field(default_factory=tuple)


def resolve_rules(rules: str, path: Path | None = None) -> Path:
    """``bundled:<name>`` names a rule set shipped with Renkei; ``auto`` the bundled rule whose
    signature the file ``path`` fits (mappings.recognize: it stops when none or two fit);
    anything else is a path."""
    if rules == "auto":
        if path is None:
            raise RuleError("auto", [RuleProblem(0, "rules = \"auto\" needs the input file")])
        return bundled_rules(choose_rule(path)[0])
    if rules.startswith("bundled:"):
        name = rules.removeprefix("bundled:")
        if name not in bundled_rule_names():
            raise UnknownRuleSet(name, bundled_rule_names())
        return bundled_rules(name)
    return Path(rules)


def load_compiled(rules: str, path: Path | None = None,
                  params: dict[str, Any] | None = None) -> Rule:
    return compile_rule(load_rules(resolve_rules(rules, path)), params)


def to_quarantine(source: str, q: Quarantined) -> QuarantineRecord:
    """The store form keeps the whole raw record, so that a rule fix can map it again."""
    raw = "" if q.raw_value is None else str(q.raw_value)
    return QuarantineRecord(source=source, file=q.file, row=q.row, column=q.column or "",
                            raw_value=raw, code=q.code, message=q.message,
                            record=_jsonable(q.to_dict()))


class Ingestor:
    """Runs ingests for one node's store."""

    def __init__(self, store: Store, clock: Clock, on_change: Callable[[], None] | None = None,
                 batch_size: int = BATCH, pause_seconds: float = PAUSE_SECONDS,
                 on_pause: Callable[[str, StoreFull | None], None] | None = None) -> None:
        """``on_pause(source, error)`` is told when an ingest starts waiting for disk space
        (with the ``StoreFull``) and when it goes on (``None``): ``/health`` and ``/metrics``
        show the source as paused in between."""
        self._store = store
        self._clock = clock
        self._on_change = on_change or (lambda: None)
        self._batch = batch_size
        self._pause = pause_seconds
        self._on_pause = on_pause or (lambda source, error: None)
        self.paused: set[str] = set()  # sources waiting for disk space now

    async def _write(self, source: str, write: Callable[[], Awaitable[T]]) -> T:
        """``write()``, retried every ``pause_seconds`` while the store's disk is full."""
        paused_at = None
        while True:
            try:
                result = await write()
            except StoreFull as exc:
                if paused_at is None:
                    paused_at = asyncio.get_running_loop().time()
                    self.paused.add(source)
                    log.warning("ingest[%s] paused: %s; it resumes by itself once space is "
                                "freed", source, exc)
                    self._on_pause(source, exc)
                await asyncio.sleep(self._pause)
                continue
            if paused_at is not None:
                self.paused.discard(source)
                log.warning("ingest[%s] resumed after %.0fs paused on a full disk", source,
                            asyncio.get_running_loop().time() - paused_at)
                self._on_pause(source, None)
            return result

    async def ingest(self, source: str, rules: str, path: Path, *,
                     kind: str | None = None,
                     progress: Callable[[int, int, int], None] | None = None,
                     encoding: str | None = None) -> IngestReport:
        """Ingest ``path`` with ``rules`` under the source name ``source``.

        ``progress(done, total, rows)`` is called after every committed batch: ``done`` and
        ``total`` in bytes of the file (rows for xlsx, whose total is then 0: unknown),
        ``rows`` the records read so far in this run. ``encoding`` declares a CSV file's
        encoding (detected otherwise)."""
        with span("ingest.run", {"renkei.source": source}) as opened:
            report = await self._run(source, rules, path, kind, progress, encoding)
            set_attributes(opened, {"renkei.read": report.read, "renkei.mapped": report.mapped,
                                    "renkei.quarantined": report.quarantined})
            return report

    async def _run(self, source: str, rules: str, path: Path, kind: str | None,
                   progress: Callable[[int, int, int], None] | None,
                   encoding: str | None) -> IngestReport:
        path = Path(path)
        compiled = await asyncio.to_thread(load_compiled, rules, path)
        stat = path.stat()
        fingerprint = f"{path.resolve()}|{stat.st_size}|{int(stat.st_mtime)}"
        saved = await self._store.source_position(source)
        start_after = None
        if saved:
            saved_doc = orjson.loads(saved)
            if saved_doc.get("fingerprint") == fingerprint and saved_doc.get("position"):
                start_after = saved_doc["position"]
        run_id = await self._write(source, lambda: self._store.start_run(
            source, str(path), self._clock.now()))
        outcomes = _outcomes(compiled, path, kind, start_after, encoding)
        reasons: list[str] = []
        total = 0 if counts_rows(path) else stat.st_size
        rows = 0

        def next_batch() -> asyncio.Future[_Batch]:
            return asyncio.ensure_future(asyncio.to_thread(
                _prepare, outcomes, self._batch, source, fingerprint))

        # Read and map the next batch while the store commits this one.
        pending = next_batch()
        try:
            while True:
                batch = await pending
                if not batch.read:
                    break
                pending = next_batch()
                reasons.extend(batch.reasons[:5 - len(reasons)])
                counts = await self._write(source, functools.partial(
                    self._commit, run_id, source, batch))
                if counts.created or counts.updated:
                    self._on_change()
                rows += batch.read
                if progress is not None:
                    progress(batch.offset, total, rows)
        finally:
            if not pending.done():  # a failed commit: let the read-ahead finish, unused
                await asyncio.gather(pending, return_exceptions=True)
        # A finished run leaves no position: the next run of this source reads it all again.
        await self._write(source, lambda: self._store.reset_source_position(source))
        run = await self._write(source, lambda: self._store.finish_run(run_id,
                                                                        self._clock.now()))
        log.info("ingest[%s] %s: read %d, mapped %d, quarantined %d", source, path.name,
                 run.read, run.mapped, run.quarantined)
        return IngestReport(source, str(path), run_id, run.read, run.mapped, run.quarantined,
                            run.created, run.updated, run.unchanged, start_after, tuple(reasons))

    async def _commit(self, run_id: int, source: str, batch: _Batch) -> UpsertCounts:
        return await self._store.commit_batch(run_id, source, batch.writes, batch.quarantine,
                                              batch.token, read=batch.read,
                                              now=self._clock.now())

    async def retry_quarantine(self, source: str, rules: str) -> tuple[int, int]:
        """Map quarantined records of ``source`` again (after a rule fix).

        Returns (now mapped, still quarantined).
        """
        compiled = await asyncio.to_thread(load_compiled, rules)
        entries = await self._store.list_quarantine(source)
        records = records_from_quarantine(Quarantined.from_dict(e.record) for e in entries)
        outcomes = await asyncio.to_thread(lambda: list(map_records(compiled, records)))
        fixed: list[EntityWrite] = []
        fixed_ids: list[int] = []
        still: list[QuarantineRecord] = []
        for entry, outcome in zip(entries, outcomes, strict=True):
            if isinstance(outcome, Mapped):
                fixed.append(entity_write(outcome.entity))
                fixed_ids.append(entry.id)
            else:
                still.append(to_quarantine(source, outcome))
        if fixed:
            await self._store.upsert_entities(fixed, self._clock.now())
            await self._store.resolve_quarantine(fixed_ids, self._clock.now())
            self._on_change()
        return len(fixed), len(still)


def counts_rows(path: Path) -> bool:
    """True when the reader's positions count rows, not bytes: a workbook (xlsx), whatever
    its name says, as the reader decides."""
    try:
        return sniff_format(path) == "zip"
    except (OSError, MappingError):
        return False  # the reader reports it


def _outcomes(compiled: Rule, path: Path, kind: str | None, start_after: str | None,
              encoding: str | None = None) -> Iterator[Mapped | Quarantined]:
    records = open_records(path, kind=kind, start_after=start_after, encoding=encoding)
    # The store hashes the bytes it keeps (entity_write); the engine need not hash them too.
    # Rows sharing an id are all quarantined (duplicate_id): none overwrites another, and an
    # unchanged file ingested again changes nothing.
    return iter(map_records(compiled, records, hashes=False, unique_ids=True))


@dataclass
class _Batch:
    read: int
    writes: list[EntityWrite]
    quarantine: list[QuarantineRecord]
    token: str
    reasons: list[str]
    offset: int = 0  # the reader's position after the batch (bytes; rows for xlsx)


def _prepare(outcomes: Iterator[Mapped | Quarantined], n: int, source: str,
             fingerprint: str) -> _Batch:
    """The next ``n`` outcomes in store form (runs in a worker thread)."""
    writes: list[EntityWrite] = []
    quarantine: list[QuarantineRecord] = []
    reasons: list[str] = []
    position = None
    read = 0
    for outcome in itertools.islice(outcomes, n):
        read += 1
        position = outcome.position
        if isinstance(outcome, Mapped):
            writes.append(entity_write(outcome.entity))
        else:
            quarantine.append(to_quarantine(source, outcome))
            reasons.append(f"row {outcome.row} [{outcome.code}] {outcome.message}")
    token = orjson.dumps({"fingerprint": fingerprint,
                          "position": str(position) if position else None}).decode()
    return _Batch(read, writes, quarantine, token, reasons,
                  position.offset if position else 0)


def _jsonable(values: Any) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(orjson.dumps(dict(values), default=str))
    return doc
