"""A node's ``[[sources]]``: checked before it starts, kept ingested while it runs.

Two kinds of trouble get two answers:

* a source's *rule* (a misspelled ``bundled:`` name, a missing rule file, a YAML or rule error)
  is the operator's config: ``check_sources`` finds every such problem at once, so that
  ``renkei node run`` refuses the config before it binds a port and ``renkei rules check
  --config`` lists them all;
* a source's *data* (a missing or unreadable file, a header that does not fit the rule) is the
  world's: ``SourceWatch`` ingests each source on its own, reports a failure (log line with the
  stable code, ``SourceBoard`` for ``/health`` and ``/metrics``) and the node keeps serving
  everything else; when the data or rule file changes it ingests again, so a fixed file needs
  no restart.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mappings.engine import map_records
from mappings.errors import MappingError
from mappings.loader import load_rules
from mappings.report import check_rules
from mappings.sources import open_records
from trust.clock import Clock

from .config import NodeConfig, SourceConfig
from .errors import BrokerError, StoreFull
from .ingest import Ingestor, load_compiled, resolve_rules
from .service.model import CatalogOffer
from .service.progress import IngestProgress, ProgressLog
from .service.sources import FAILED, SourceBoard

log = logging.getLogger("renkei.sources")
RULE, DATA = "rule", "data"


@dataclass(frozen=True)
class SourceProblem:
    """One thing wrong with one ``[[sources]]`` entry; ``kind`` is ``rule`` or ``data``."""

    index: int
    source: str
    key: str  # the dotted config key: sources[2].rules
    code: str  # stable
    message: str
    kind: str

    def line(self, config_file: Path | str) -> str:
        return f"{config_file}: key '{self.key}' (source {self.source!r}): {self.message} " \
               f"[{self.code}]"


def failure_code(exc: BaseException) -> str:
    """The stable code of a failed check or ingest."""
    if isinstance(exc, BrokerError | MappingError):
        return exc.code
    if isinstance(exc, FileNotFoundError):
        return "source_missing"
    if isinstance(exc, OSError):
        return "source_unreadable"
    return "internal_error"


def failure_message(exc: BaseException) -> str:
    """The failure in one line, naming the file (and row) when the error does."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if isinstance(exc, BrokerError | MappingError | OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def check_rule(index: int, source: SourceConfig) -> list[SourceProblem]:
    """Every problem of the source's rule: the name, the file, its YAML and its rules."""
    key = f"sources[{index}].rules"
    try:
        path = resolve_rules(source.rules)
    except BrokerError as exc:
        return [SourceProblem(index, source.name, key, exc.code, str(exc), RULE)]
    if not path.is_file():
        return [SourceProblem(index, source.name, key, "rule_file_missing",
                              f"rule file {path} does not exist", RULE)]
    check = check_rules(path)
    return [SourceProblem(index, source.name, key, "rule_invalid", line, RULE)
            for line in ([] if check.ok else check.lines())]


def check_data(index: int, source: SourceConfig) -> list[SourceProblem]:
    """Whether the data file exists, opens and its first record fits the rule (a header
    without a column the rule needs fails here, as it would fail the whole ingest)."""
    key = f"sources[{index}].path"
    if not source.path.exists():
        return [SourceProblem(index, source.name, key, "source_missing",
                              f"data file {source.path} does not exist", DATA)]
    try:
        compiled = load_compiled(source.rules)
        records = open_records(source.path, kind=source.kind, encoding=source.encoding)
        for _ in itertools.islice(map_records(compiled, records, hashes=False), 1):
            pass
    except Exception as exc:  # every failure is a finding here, reported with its code
        return [SourceProblem(index, source.name, key, failure_code(exc),
                              failure_message(exc), DATA)]
    return []


def check_sources(config: NodeConfig, *, data: bool = False) -> list[SourceProblem]:
    """Every problem of every ``[[sources]]`` rule (and with ``data``, of every data file
    whose rule is sound), in config order. Blocking: run it off the event loop."""
    problems: list[SourceProblem] = []
    for index, source in enumerate(config.sources):
        found = check_rule(index, source)
        if not found and data:
            found = check_data(index, source)
        problems.extend(found)
    return problems


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def fingerprint(source: SourceConfig) -> tuple[object, ...]:
    """What a change of the source's inputs changes: its data file and its rule file."""
    rule = None if source.rules.startswith("bundled:") else _stat(Path(source.rules))
    return (_stat(source.path), rule)


def source_offers(sources: Sequence[SourceConfig], license_name: str,
                  publisher: str) -> tuple[CatalogOffer, ...]:
    """One offer per entity type the sources' rules map to, with the attributes they produce
    (a passthrough rule: none listed, any attribute). A source whose rule cannot be loaded
    offers nothing (it is reported as failed elsewhere). Blocking: run it off the loop."""
    attributes: dict[str, set[str]] = {}
    passthrough: set[str] = set()
    for source in sources:
        try:
            rule = load_rules(resolve_rules(source.rules, source.path))
        except Exception:  # a bad rule or file is the source's failure, not the catalog's
            continue
        attributes.setdefault(rule.target_type, set()).update(a.name for a in rule.attributes)
        if rule.mode == "passthrough":
            passthrough.add(rule.target_type)
    return tuple(CatalogOffer(t, () if t in passthrough else tuple(sorted(names)),
                              license_name, publisher)
                 for t, names in sorted(attributes.items()))


def pause_reporter(board: SourceBoard, clock: Clock
                   ) -> Callable[[str, StoreFull | None], None]:
    """An ``Ingestor`` ``on_pause`` callback that shows a source waiting for disk space as
    ``paused`` on the board (``/health``, ``/metrics``) until its ingest goes on."""
    def report(source: str, error: StoreFull | None) -> None:
        if error is not None:
            board.paused(source, clock.now(), error.code, str(error))
        else:
            board.resumed(source, clock.now())
    return report


class SourceWatch:
    """Ingests every configured source, and again whenever its files change.

    A changed file is ingested once it has looked the same twice in a row (a file still being
    copied in is not read half-written). One source failing never stops the others or the
    node.
    """

    def __init__(self, sources: Sequence[SourceConfig], ingestor: Ingestor, board: SourceBoard,
                 clock: Clock, *, watch_seconds: float,
                 console: Callable[[str], None] = lambda line: None,
                 progress_every: float = 10.0) -> None:
        self._sources = tuple(sources)
        self._progress_every = progress_every  # a long ingest logs how far it is this often
        self._ingestor = ingestor
        self._board = board
        self._clock = clock
        self._watch = watch_seconds
        self._console = console
        self._done: dict[str, tuple[object, ...]] = {}  # source -> fingerprint last ingested

    async def run(self) -> None:
        """Ingest each source, then (``watch_seconds`` > 0) look for changes until cancelled.

        Run as a supervised loop (``renkei node run``): restarted after an error, it goes on
        with the sources it has not ingested yet and then watches, without ingesting again
        the ones already done."""
        done = self._done
        for source in self._sources:
            if source.name in done:
                continue
            now = await asyncio.to_thread(fingerprint, source)
            await self.ingest(source)
            done[source.name] = now
        if self._watch <= 0:
            return
        seen: dict[str, tuple[object, ...]] = {}
        while True:
            await asyncio.sleep(self._watch)
            for source in self._sources:
                now = await asyncio.to_thread(fingerprint, source)
                if now == done[source.name]:
                    seen.pop(source.name, None)
                elif seen.get(source.name) != now:
                    seen[source.name] = now  # changed: ingest once it holds still
                else:
                    del seen[source.name]
                    done[source.name] = now
                    await self.ingest(source)

    async def ingest(self, source: SourceConfig) -> bool:
        """Ingest one source, recording the outcome on the board; True when it succeeded."""
        before = self._board.get(source.name)
        self._board.ingesting(source.name, self._clock.now())
        try:
            progress = ProgressLog(IngestProgress(source.name), log.info, self._progress_every)
            report = await self._ingestor.ingest(source.name, source.rules, source.path,
                                                 kind=source.kind, progress=progress,
                                                 encoding=source.encoding)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a source's failure is reported, never the node's end
            code, message = failure_code(exc), failure_message(exc)
            self._board.failed(source.name, self._clock.now(), code, message)
            if code == "internal_error":
                log.error("source %s failed: %s [%s]", source.name, message, code,
                          exc_info=exc)
            else:
                log.warning("source %s failed: %s [%s]; the node serves everything else and "
                            "ingests the source again when its file changes", source.name,
                            message, code)
            self._console(f"ingest {source.name}: FAILED: {message} [{code}]")
            return False
        self._board.succeeded(source.name, self._clock.now(), report.read, report.mapped,
                              report.quarantined)
        if before.state == FAILED:
            log.warning("source %s recovered: read %d, mapped %d, quarantined %d",
                        source.name, report.read, report.mapped, report.quarantined)
        self._console(f"ingest {source.name}: read {report.read}, mapped {report.mapped}, "
                      f"quarantined {report.quarantined}")
        return True
