"""``renkei map``, ``renkei rules check`` and ``renkei quarantine list``.

``renkei map RULES INPUT`` maps a file on its own (to JSON Lines, or ``--dry-run``);
``renkei map --config FILE`` ingests the node's configured sources into its store, and
``--retry-quarantine`` re-maps the quarantined records after a rule fix.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from mappings.errors import MappingError
from mappings.report import MapReport, check_rules, run_map

from ..errors import BadRequest, BrokerError
from ..ingest import Ingestor, resolve_rules
from ..service.progress import IngestProgress, ProgressLog
from ..sources import failure_code, failure_message
from ..store import open_store
from .common import add_config, config_of, run

PROGRESS_THRESHOLD = 64 * 1024  # bytes: smaller inputs finish before a bar helps


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("map", help="map a local file to the shared vocabulary, or ingest a "
                                   "node's configured sources")
    p.add_argument("rules", nargs="?", help="rule file, bundled:NAME, or auto (recognize the "
                                            "file's dataset by its header)")
    p.add_argument("input", nargs="?", type=Path, help="input file (CSV, xlsx, JSON, ...)")
    p.add_argument("--out", type=Path, metavar="FILE.jsonl", help="write entities here")
    p.add_argument("--dry-run", action="store_true", help="map and report, write nothing")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="set a rule parameter (e.g. member=jp-172022); repeatable")
    p.add_argument("--config", "-c", metavar="FILE",
                   help="ingest into this node's store (its [[sources]], or RULES INPUT)")
    p.add_argument("--source", help="with --config: only this configured source")
    p.add_argument("--encoding", metavar="NAME",
                   help="the CSV file's encoding (utf-8, cp932/shift_jis, euc-jp, utf-16); "
                        "detected when not given, and a file that disagrees is refused")
    p.add_argument("--retry-quarantine", action="store_true",
                   help="with --config: map quarantined records again (after a rule fix)")
    p.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS",
                   help="when stderr is not a terminal, print how far a long run is this "
                        "often (a terminal gets a live bar; default 10)")
    p.set_defaults(handler=cmd_map)

    rules = sub.add_parser("rules", help="mapping rule files")
    cmds = rules.add_subparsers(dest="rules_command", metavar="SUBCOMMAND", required=True)
    p = cmds.add_parser("check", help="validate a rule file (problems with their line "
                                      "numbers), or with --config every [[sources]] entry")
    p.add_argument("rules", nargs="?", help="rule file, or bundled:NAME")
    p.add_argument("--config", "-c", metavar="FILE",
                   help="check every [[sources]] of this node config: each rule, and that "
                        "each data file exists and its header fits the rule")
    p.set_defaults(handler=cmd_rules_check)

    quarantine = sub.add_parser("quarantine", help="records that could not be mapped")
    cmds = quarantine.add_subparsers(dest="quarantine_command", metavar="SUBCOMMAND",
                                     required=True)
    p = cmds.add_parser("list", help="list quarantined records with file, row and reason")
    add_config(p)
    p.add_argument("--source", help="only this source")
    p.add_argument("--all", action="store_true", help="include records already re-mapped")
    p.set_defaults(handler=cmd_quarantine_list)


def cmd_map(args: argparse.Namespace) -> int:
    if args.config:
        return run(_ingest(args))
    if not args.rules or not args.input:
        raise BadRequest("give RULES and INPUT (or --config FILE to ingest a node's sources)")
    return _map_file(args)


def _params(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadRequest(f"--param {pair!r}: write KEY=VALUE (e.g. member=jp-172022)")
        out[key.strip()] = value.strip()
    return out


def _map_file(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    rules = "auto" if args.rules == "auto" else resolve_rules(args.rules)
    out: IO[bytes] | None = None
    partial: Path | None = None
    if args.out and not args.dry_run:
        # Written beside the target and renamed on success: an interrupted or failed run
        # (Ctrl-C, a file that stops at a bad row) leaves no half-written --out file.
        partial = args.out.with_name(f".{args.out.name}.partial-{os.getpid()}")
        out = partial.open("wb")
    elif not args.dry_run:
        out = sys.stdout.buffer
    rows = 0

    def count(_result: object) -> None:
        nonlocal rows
        rows += 1

    try:
        with _progress(console, args.input.name, args.input, args.progress_every) as report_to:
            report = run_map(rules, args.input, params=_params(args.param), out=out,
                             on_result=count, encoding=args.encoding,
                             progress=lambda done, total: report_to(done, total, rows))
    except BaseException:
        if out is not None and partial is not None:
            out.close()
            partial.unlink(missing_ok=True)
        raise
    if out is not None and partial is not None:
        out.close()
        os.replace(partial, args.out)
    _summary(console, report)
    return 0


@contextlib.contextmanager
def _progress(console: Console, name: str, path: Path, every: float
              ) -> Iterator[Callable[[int, int, int], None]]:
    """A ``(done, total, rows)`` callback showing how far a run is: a live bar with percent,
    rows, rate and time left on a terminal, a line every ``every`` seconds otherwise (a log
    or a pipe). Small inputs finish before either helps."""
    line = ProgressLog(IngestProgress(name), lambda text: print(text, file=sys.stderr,
                                                                flush=True), every)
    if not console.is_terminal:
        yield line
        return
    try:
        small = path.stat().st_size < PROGRESS_THRESHOLD
    except OSError:  # a missing file: the run itself says so, with its code
        small = True
    if small:
        yield lambda done, total, rows: None
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                   TextColumn("{task.fields[rows]:,} rows, {task.fields[rate]:,.0f} rows/s"),
                   TimeElapsedColumn(), TextColumn("elapsed,"), TimeRemainingColumn(),
                   TextColumn("left"),
                   console=console)
    task = bar.add_task(name, total=None, rows=0, rate=0.0)

    def update(done: int, total: int, rows: int) -> None:
        line.progress.update(done, total, rows)
        bar.update(task, completed=done, total=total or None, rows=rows,
                   rate=line.progress.rate())

    with bar:
        yield update


def _summary(console: Console, report: MapReport) -> None:
    counts = report.counts
    quarantined = list(report.quarantined)
    table = Table(title=Path(report.input).name, caption="read = mapped + quarantined")
    for column in ("rule", "read", "mapped", "quarantined"):
        table.add_column(column, justify="right")
    table.add_row(report.rule, str(counts.read), str(counts.mapped), str(counts.quarantined))
    console.print(table)
    if report.recognition:
        console.print("recognized: " + "; ".join(f.describe() for f in report.recognition[:3]))
    codes = Table(title="counts by code")
    codes.add_column("code")
    codes.add_column("rows", justify="right")
    for code, n in sorted(counts.by_code.items()):
        codes.add_row(f"quarantined: {code}", str(n))
    for code, n in sorted(counts.notices.items()):
        codes.add_row(f"dropped: {code}", str(n))
    if counts.by_code or counts.notices:
        console.print(codes)
    for warning in report.warnings:
        console.print(f"warning: {warning}")
    if quarantined:
        reasons = Table(title="quarantined records")
        for column in ("row", "column", "code", "raw value", "message"):
            reasons.add_column(column)
        for q in quarantined[:50]:
            reasons.add_row(str(q.row), q.column or "", q.code, str(q.raw_value)[:40],
                            q.message[:60])
        console.print(reasons)
        if report.quarantine_truncated:
            console.print(f"... and {counts.quarantined - len(quarantined)} more")


async def _ingest(args: argparse.Namespace) -> int:
    from trust.clock import SystemClock

    config = config_of(args)
    store = await open_store(config)
    try:
        ingestor = Ingestor(store, SystemClock())
        sources: list[tuple[str, str, Path, str | None, str | None]]
        if args.rules and args.input:
            sources = [(args.source or Path(args.input).stem, args.rules, Path(args.input),
                        None, args.encoding)]
        else:
            sources = [(s.name, s.rules, s.path, s.kind, args.encoding or s.encoding)
                       for s in config.sources if not args.source or s.name == args.source]
            if not sources:
                raise BadRequest(f"no [[sources]] named {args.source!r} in {config.file}"
                                 if args.source else f"no [[sources]] in {config.file}")
        failed = 0
        for name, rules, path, kind, encoding in sources:
            if args.retry_quarantine:
                fixed, still = await ingestor.retry_quarantine(name, rules)
                print(f"{name}: re-mapped {fixed} quarantined record(s); {still} still "
                      "quarantined")
                continue
            try:
                with _progress(Console(stderr=True), name, path, args.progress_every) as shown:
                    report = await ingestor.ingest(name, rules, path, kind=kind,
                                                   progress=shown, encoding=encoding)
            except (BrokerError, MappingError, OSError) as exc:
                # One source failing does not stop the others; the exit status says it.
                failed += 1
                print(f"{name}: FAILED: {failure_message(exc)} [{failure_code(exc)}]",
                      file=sys.stderr)
                continue
            print(f"{name}: {path.name}: read {report.read} = mapped {report.mapped} + "
                  f"quarantined {report.quarantined} (created {report.created}, updated "
                  f"{report.updated}, unchanged {report.unchanged})")
            for reason in report.first_reasons:
                print(f"  quarantined: {reason}")
    finally:
        await store.close()
    return 1 if failed else 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    """Every problem of the rule file, one ``file:line: message`` each; exit 1 if any."""
    if args.config:
        return _check_config_sources(args)
    if not args.rules:
        raise BadRequest("give RULES (a rule file or bundled:NAME), or --config FILE")
    check = check_rules(resolve_rules(args.rules))
    for line in check.lines():
        print(line, file=sys.stdout if check.ok else sys.stderr)
    return 0 if check.ok else 1


def _check_config_sources(args: argparse.Namespace) -> int:
    """Every problem of every configured source, each ending with its stable code."""
    from ..sources import check_sources

    config = config_of(args)
    if args.rules:
        raise BadRequest("give RULES or --config, not both")
    problems = check_sources(config, data=True)
    for problem in problems:
        print(problem.line(config.file), file=sys.stderr)
    bad = {p.index for p in problems}
    for index, source in enumerate(config.sources):
        if index not in bad:
            print(f"{config.file}: source {source.name!r}: ok ({source.rules}, {source.path})")
    if not config.sources:
        print(f"{config.file}: no [[sources]]")
    return 1 if problems else 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    async def go() -> int:
        store = await open_store(config_of(args))
        try:
            entries = await store.list_quarantine(args.source, include_resolved=args.all)
        finally:
            await store.close()
        if not entries:
            print("no quarantined records")
        for q in entries:
            state = " (re-mapped)" if q.resolved else ""
            print(f"{q.source}  {Path(q.file).name}:{q.row}  column {q.column or '-'}  "
                  f"[{q.code}] {q.message}  raw={q.raw_value[:60]!r}{state}")
        return 0

    return run(go())
