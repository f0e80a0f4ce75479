"""``renkei audit``: verify, show and checkpoint the node's audit log."""

from __future__ import annotations

import argparse
import datetime as dt

from trust.audit_verify import LogReport

from .common import add_config, config_of, run
from .context import node_context


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    audit = sub.add_parser("audit", help="the node's tamper-evident audit log")
    cmds = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    p = cmds.add_parser("verify", help="check the log against its hash chain, its signed "
                                       "checkpoints and the cosigned ones; name the first "
                                       "changed entry (exit 1 if anything is wrong)")
    add_config(p)
    p.set_defaults(handler=cmd_verify)
    p = cmds.add_parser("show", help="print the newest entries")
    add_config(p)
    p.add_argument("--last", type=int, default=20)
    p.set_defaults(handler=cmd_show)
    p = cmds.add_parser("checkpoint", help="sign a checkpoint of the current tree head with the "
                                           "node key and print it")
    add_config(p)
    p.set_defaults(handler=cmd_checkpoint)


def cmd_verify(args: argparse.Namespace) -> int:
    async def go() -> int:
        async with node_context(config_of(args)) as ctx:
            report = await ctx.audit.verify()
        print(format_report(report))
        return 0 if report.ok else 1

    return run(go())


def format_report(report: LogReport) -> str:
    """What ``renkei audit verify`` prints: the verdict, every finding, and coverage."""
    coverage = (f"{report.checkpoints_verified} signed checkpoint(s) verified, "
                f"{report.cosigned_verified} cosignature(s) from "
                f"{len(report.witnesses)} witness(es)"
                + (f" ({', '.join(report.witnesses)})" if report.witnesses else "")
                + f"; {report.uncovered_tail} entries at the tail covered by no witness")
    lines = []
    if report.ok:
        lines.append(f"audit log OK: {report.size} entries, tree root "
                     f"{report.root.hex()[:16]}…, {coverage}")
    else:
        first = report.findings[0]
        where = f"entry {first.first_seq}" if first.first_seq is not None else "the log"
        lines.append(f"audit log BROKEN at {where}: {first.problem}: {first.message}")
        lines += [f"  also: {f.problem}: {f.message}" for f in report.findings[1:]]
        lines.append(f"  ({report.size} entries; {coverage})")
    lines += [f"  note: {n}" for n in report.notes]
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    async def go() -> int:
        async with node_context(config_of(args)) as ctx:
            seq, _ = await ctx.audit.head()
            entries = await ctx.audit.entries(after_seq=max(0, seq - args.last))
        for e in entries:
            when = dt.datetime.fromtimestamp(e.record.time, dt.UTC).isoformat(timespec="seconds")
            print(f"{e.seq:>6} {when} {e.record.operation:<10} {e.record.caller:<16} "
                  f"{e.record.decision:<7} {e.record.reason:<22} n={e.record.result_count:<6} "
                  f"{e.record.agreement_id or '-'} {e.entry_hash[:12]}")
        return 0

    return run(go())


def cmd_checkpoint(args: argparse.Namespace) -> int:
    async def go() -> int:
        async with node_context(config_of(args)) as ctx:
            checkpoint = await ctx.audit.checkpoint()
        if checkpoint is None:
            print("the audit log is empty")
        else:
            print(checkpoint.format(), end="")
        return 0

    return run(go())
