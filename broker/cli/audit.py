"""``renkei audit``: verify, show and checkpoint the node's audit log."""

from __future__ import annotations

import argparse
import datetime as dt

from trust.audit_verify import LogReport
from trust.clock import SystemClock
from trust.witness import make_witness_statement

from ..federation.witnessing import (
    CosignedSource,
    compare_witnesses,
    gather_cosigned,
    held_witness_keys,
)
from ..provider.witness import AuditWitness, witness_key
from .common import add_config, config_of, run
from .context import NodeContext, node_context


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the node's tamper-evident audit log")
    cmds = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    p = cmds.add_parser("verify", help="check the log against its hash chain, its signed "
                                       "checkpoints and the cosigned ones; name the first "
                                       "changed entry (exit 1 if anything is wrong)")
    add_config(p)
    p.add_argument("--witnesses", nargs="?", const="*", default=None, metavar="MEMBER,...",
                   help="also ask these peers (default: every member in the directory) for "
                        "the checkpoints of this log they cosigned, and check against them")
    p.set_defaults(handler=cmd_verify)
    p = cmds.add_parser("compare", help="compare what witnesses cosigned for one member's "
                                        "log: two roots for one size, or a tree that does not "
                                        "extend another, is a split view (exit 1)")
    add_config(p)
    p.add_argument("log", help="the member whose audit log to compare")
    p.add_argument("--witnesses", default="*", metavar="MEMBER,...",
                   help="the witnesses to ask (default: every other member in the directory)")
    p.set_defaults(handler=cmd_compare)
    p = cmds.add_parser("show", help="print the newest entries")
    add_config(p)
    p.add_argument("--last", type=int, default=20)
    p.set_defaults(handler=cmd_show)
    p = cmds.add_parser("checkpoint", help="sign a checkpoint of the current tree head with the "
                                           "node key and print it")
    add_config(p)
    p.set_defaults(handler=cmd_checkpoint)


def _witness_ids(arg: str, ctx: NodeContext, exclude: str) -> list[str]:
    if arg != "*":
        return [w.strip() for w in arg.split(",") if w.strip()]
    members = ctx.directory.current.members.values()
    return sorted(m.id for m in members if m.id != exclude and m.endpoints and not m.revoked)


def cmd_verify(args: argparse.Namespace) -> int:
    async def go() -> int:
        config = config_of(args)
        async with node_context(config) as ctx:
            directory = ctx.directory.current
            keys = await held_witness_keys(ctx.store, directory)
            cosigned: list[str] = []
            failures: dict[str, str] = {}
            if args.witnesses is not None:
                gathered = await gather_cosigned(
                    ctx.audit.origin, _witness_ids(args.witnesses, ctx, config.id),
                    ctx.peers(), directory, config.federation.deadline_seconds)
                cosigned, failures = gathered.cosigned, gathered.failures
                keys += gathered.keys
            report = await ctx.audit.verify(cosigned, keys)
        print(format_report(report))
        for witness, why in sorted(failures.items()):
            print(f"  witness {witness} did not answer: {why}")
        return 0 if report.ok else 1

    return run(go())


class _OwnRecord:
    """This node's own record as a witness, in the shape of a peer's ListCosigned answer."""

    def __init__(self, witness: AuditWitness) -> None:
        self._witness = witness

    async def list_cosigned(self, origin: str, min_size: int, timeout: float
                            ) -> tuple[list[str], str, bool]:
        page = await self._witness.list_cosigned(origin, min_size, 0)
        return list(page.checkpoints), page.witness_key, page.more


def cmd_compare(args: argparse.Namespace) -> int:
    async def go() -> int:
        config = config_of(args)
        async with node_context(config) as ctx:
            key = await witness_key(ctx.store)
            clock = SystemClock()
            own = AuditWitness(config.id, ctx.store, lambda: ctx.directory.current, key,
                               make_witness_statement(ctx.identity.key, config.id, key,
                                                      clock.now()), clock)
            sources: dict[str, CosignedSource] = {**ctx.peers(), config.id: _OwnRecord(own)}
            comparisons, gathered = await compare_witnesses(
                args.log, _witness_ids(args.witnesses, ctx, args.log), ctx.peers(), sources,
                ctx.directory.current, config.federation.deadline_seconds)
        for witness, notes in sorted(gathered.by_witness.items()):
            print(f"witness {witness}: {len(notes)} cosigned checkpoint(s) of {args.log}")
        for witness, why in sorted(gathered.failures.items()):
            print(f"witness {witness}: not usable: {why}")
        split = [c for c in comparisons if c.verdict == "split"]
        for c in comparisons:
            print(f"{c.verdict}: {c.message}")
        if split:
            print(f"SPLIT VIEW: {args.log} showed its witnesses different histories")
            return 1
        print(f"no split view of {args.log} among {len(gathered.by_witness)} witness(es)")
        return 0

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
