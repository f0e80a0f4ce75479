"""``renkei peers``: the other members as this node sees them, and a retry now.

    renkei peers list [--config FILE] [--no-probe]
    renkei peers retry MEMBER_ID [--config FILE]

``list`` shows every member of the directory the node holds (except itself) with its
endpoint, this node's backoff state for it (kept in the store, so a running node's state is
what is shown) and, unless ``--no-probe``, whether its gRPC health service answers from here
now. ``retry`` clears the backoff of one peer: the next call to it goes out at once, and a
running node sees the clear at its next health probe of the peer.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from trust.clock import SystemClock
from trust.errors import DirectoryError

from ..errors import NotFound
from ..federation.backoff import BackoffState, PeerBackoff
from .common import add_config, config_of, run
from .context import NodeContext, node_context

PROBE_SECONDS = 2.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("peers", help="other members as this node sees them; "
                                                 "retry one now")
    sub = parser.add_subparsers(dest="peers_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="other members: endpoint, backoff state, whether they "
                                     "answer now")
    add_config(ls)
    ls.add_argument("--no-probe", action="store_true",
                    help="do not ask each peer's gRPC health service (offline listing)")
    ls.set_defaults(handler=cmd_peers)
    retry = sub.add_parser("retry", help="clear a peer's backoff: call it again now")
    retry.add_argument("member", help="the peer's member id (jp-NNNNNN)")
    add_config(retry)
    retry.set_defaults(handler=cmd_retry)


def describe(state: BackoffState, now: float) -> str:
    """This node's view of the peer: ok, or backing off with why and until when."""
    if not state.failures:
        return "ok"
    wait = max(0.0, state.next_attempt_at - now)
    due = f"next attempt in {wait:.0f} s" if wait else "due now"
    return f"backing_off ({state.failures} failure(s), {due}): {state.last_error}"


def cmd_peers(args: argparse.Namespace) -> int:
    async def go(ctx: NodeContext) -> None:
        try:
            directory = ctx.directory.current
        except DirectoryError as exc:
            raise NotFound(f"this node holds no member directory yet ({exc}): run the node "
                           "once its authority has published one") from None
        clock = SystemClock()
        backoff = PeerBackoff(ctx.store, clock, ctx.config.federation)
        members = [m for m in directory.members.values() if m.id != ctx.config.id]
        if not members:
            print(f"no other members in directory v{directory.version}")
        channels = ctx.peers()
        answers: dict[str, bool] = {}
        if not args.no_probe:
            probed = [m.id for m in members if m.id in channels]
            results = await asyncio.gather(*(channels[p].serving(PROBE_SECONDS)
                                             for p in probed))
            answers = dict(zip(probed, results, strict=True))
        for m in sorted(members, key=lambda m: m.id):
            name = m.name_en or m.name_ja
            endpoint = m.endpoints[0] if m.endpoints else "no endpoint"
            if m.revoked:
                print(f"{m.id} {name} ({m.role}) {endpoint}: revoked in the directory")
                continue
            line = f"{m.id} {name} ({m.role}) {endpoint}: " \
                   f"{describe(await backoff.state(m.id), clock.now())}"
            if m.id in answers:
                line += "; answers its health check now" if answers[m.id] else \
                    "; does not answer its health check from here"
            print(line)

    return _with_context(args, go)


def cmd_retry(args: argparse.Namespace) -> int:
    async def go(ctx: NodeContext) -> None:
        try:
            known = args.member in ctx.directory.current.members
        except DirectoryError:
            known = False
        if not known or args.member == ctx.config.id:
            raise NotFound(f"{args.member} is not another member in the directory this node "
                           "holds (renkei peers list shows them)")
        cleared = await PeerBackoff(ctx.store, SystemClock(),
                                    ctx.config.federation).clear(args.member)
        if cleared.failures:
            print(f"{args.member}: backoff cleared after {cleared.failures} failure(s) "
                  f"({cleared.last_error}); the next call goes out now")
        else:
            print(f"{args.member}: not backing off; nothing to clear")

    return _with_context(args, go)


def _with_context(args: argparse.Namespace, body: Any) -> int:
    async def main() -> int:
        async with node_context(config_of(args)) as ctx:
            await body(ctx)
        return 0

    return run(main())
