"""``renkei operator``: the people who may sign in to this node's console (/console)."""

from __future__ import annotations

import argparse
import getpass
import sys

from trust.clock import SystemClock

from ..console.accounts import ROLES, OperatorAccounts, new_password
from ..errors import NotFound
from .common import add_config, config_of, run
from .context import NodeContext, node_context


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    operator = sub.add_parser("operator", help="console operator accounts (not API clients)")
    cmds = operator.add_subparsers(dest="operator_command", metavar="SUBCOMMAND",
                                   required=True)
    p = cmds.add_parser("add", help="add an operator; prints a new password once unless "
                                    "--password-stdin")
    add_config(p)
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, required=True,
                   help="viewer: sees every page; admin: may also change agreements and "
                        "retry peers")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (a prompt on a terminal)")
    p.set_defaults(handler=cmd_add)

    p = cmds.add_parser("list", help="list the operators")
    add_config(p)
    p.set_defaults(handler=cmd_list)

    p = cmds.add_parser("remove", help="remove an operator and end its sessions")
    add_config(p)
    p.add_argument("name")
    p.set_defaults(handler=cmd_remove)


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    if not args.password_stdin:
        return new_password(), True
    if sys.stdin.isatty():
        return getpass.getpass("password: "), False
    return sys.stdin.readline().rstrip("\n"), False


async def _audit(ctx: NodeContext, operation: str, name: str, details: dict[str, str | int]
                 ) -> None:
    await ctx.audit.record("cli", "", operation, ctx.audit.digest_request(operation, details),
                           True, "operator", 0, {"operator": name, **details})


def cmd_add(args: argparse.Namespace) -> int:
    password, generated = _password(args)

    async def main() -> int:
        async with node_context(config_of(args)) as ctx:
            row = await OperatorAccounts(ctx.store, SystemClock()).add(args.name, args.role,
                                                                       password)
            await _audit(ctx, "operator.add", row.name, {"role": row.role})
        print(f"added operator {row.name} ({row.role})")
        if generated:
            print(f"password (shown once): {password}")
        return 0

    return run(main())


def cmd_list(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with node_context(config_of(args)) as ctx:
            rows = await ctx.store.list_operators()
        for row in rows:
            print(f"{row.name}\t{row.role}")
        if not rows:
            print("no operators (add one with: renkei operator add NAME --role admin)")
        return 0

    return run(main())


def cmd_remove(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with node_context(config_of(args)) as ctx:
            if not await ctx.store.delete_operator(args.name):
                raise NotFound(f"no operator named {args.name!r}")
            await _audit(ctx, "operator.remove", args.name, {})
        print(f"removed operator {args.name}")
        return 0

    return run(main())
