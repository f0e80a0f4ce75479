"""``renkei audit``: verify, show and checkpoint the node's audit chain."""

from __future__ import annotations

import argparse
import datetime as dt

from .common import add_config, config_of, run
from .context import node_context


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    audit = sub.add_parser("audit", help="the node's tamper-evident audit log")
    cmds = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    p = cmds.add_parser("verify", help="walk the chain; name the first bad entry; check the "
                                       "signed checkpoints (exit 1 if anything is wrong)")
    add_config(p)
    p.set_defaults(handler=cmd_verify)
    p = cmds.add_parser("show", help="print the newest entries")
    add_config(p)
    p.add_argument("--last", type=int, default=20)
    p.set_defaults(handler=cmd_show)
    p = cmds.add_parser("checkpoint", help="sign the current chain head with the node key")
    add_config(p)
    p.set_defaults(handler=cmd_checkpoint)


def cmd_verify(args: argparse.Namespace) -> int:
    async def go() -> int:
        async with node_context(config_of(args)) as ctx:
            report = await ctx.audit.verify()
        if report.ok:
            print(f"audit chain OK: {report.checked} entries, head {report.head_seq} "
                  f"{report.head_hash[:16]}…, {report.checkpoints_verified} signed "
                  "checkpoint(s) verified")
            return 0
        where = f"entry {report.bad_seq}" if report.bad_seq is not None else "the chain"
        print(f"audit chain BROKEN at {where}: {report.problem}: {report.message}")
        return 1

    return run(go())


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
            jws = await ctx.audit.checkpoint()
            seq, head = await ctx.audit.head()
        print(f"checkpoint at entry {seq} ({head[:16]}…)" if jws else "the audit log is empty")
        return 0

    return run(go())
