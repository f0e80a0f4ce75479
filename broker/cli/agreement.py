"""``renkei agreement``: propose, sign, show, list and revoke data-sharing agreements."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from trust.agreement_model import PURPOSES, Agreement
from trust.agreements import SignedAgreement
from trust.errors import GeometryError
from trust.geo import Area

from ..errors import BadRequest
from ..service.agreement_terms import (
    Terms,
    check_party,
    draft_agreement,
    parse_bbox,
    parse_type_attributes,
)
from .common import add_config, config_of, run
from .context import NodeContext, node_context


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agreement = sub.add_parser("agreement", help="data-sharing agreements with other members")
    cmds = agreement.add_subparsers(dest="agreement_command", metavar="SUBCOMMAND",
                                    required=True)

    p = cmds.add_parser("propose", help="as consumer: sign an agreement and send it to the "
                                        "provider for countersignature")
    add_config(p)
    p.add_argument("--provider", required=True, help="member id of the data provider")
    p.add_argument("--purpose", required=True, choices=sorted(PURPOSES))
    p.add_argument("--type", dest="types", action="append", required=True,
                   metavar="TYPE[:ATTR,ATTR...]",
                   help="entity type and the attributes allowed for it (repeatable)")
    area = p.add_mutually_exclusive_group()
    area.add_argument("--area", type=Path, metavar="FILE",
                      help="GeoJSON Polygon or MultiPolygon the data is restricted to")
    area.add_argument("--bbox", metavar="MINLON,MINLAT,MAXLON,MAXLAT")
    p.add_argument("--id", help="agreement id (default: a new one)")
    p.add_argument("--days", type=int, default=365, help="validity from now, in days")
    p.add_argument("--requests-per-minute", type=int, default=60)
    p.add_argument("--entities-per-day", type=int, default=100_000)
    p.add_argument("--aggregate-only", action="store_true")
    p.add_argument("--k", type=int, default=1, help="k-threshold for aggregate-only")
    p.add_argument("--freshness-seconds", type=int, default=3600)
    p.add_argument("--retention-days", type=int, default=30)
    p.add_argument("--onward-sharing", action="store_true")
    p.add_argument("--no-send", action="store_true", help="sign and store only")
    p.set_defaults(handler=cmd_propose)

    p = cmds.add_parser("sign", help="countersign a proposal held by this node and send the "
                                     "signature back: the agreement becomes active")
    add_config(p)
    p.add_argument("id")
    p.add_argument("--no-send", action="store_true")
    p.add_argument("--allow-unknown", action="store_true",
                   help="countersign although this node holds no entity of a proposed type "
                        "or attribute (yet)")
    p.set_defaults(handler=cmd_sign)

    p = cmds.add_parser("send", help="send this node's last message about an agreement again "
                                     "(a proposal, countersignature or revocation the peer "
                                     "did not get)")
    add_config(p)
    p.add_argument("id")
    p.set_defaults(handler=cmd_send)

    p = cmds.add_parser("show", help="show one agreement, its signatures and state")
    add_config(p)
    p.add_argument("id")
    p.set_defaults(handler=cmd_show)

    p = cmds.add_parser("list", help="list this node's agreements")
    add_config(p)
    p.set_defaults(handler=cmd_list)

    p = cmds.add_parser("revoke", help="revoke an agreement and tell the other party")
    add_config(p)
    p.add_argument("id")
    p.add_argument("--reason", default="")
    p.add_argument("--no-send", action="store_true")
    p.set_defaults(handler=cmd_revoke)


def parse_area(args: argparse.Namespace) -> Area | None:
    if args.area is not None:
        try:
            return Area(json.loads(args.area.read_text(encoding="utf-8")))
        except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
            raise BadRequest(f"--area {args.area}: not JSON ({exc})") from None
        except GeometryError as exc:
            raise BadRequest(f"--area {args.area}: {exc.message}") from None
    if args.bbox:
        return parse_bbox(args.bbox)
    return None


def _same_terms(new: Agreement, old: Agreement) -> bool:
    """Equal but for the validity window and directory version a re-run moves."""
    return dataclasses.replace(new, not_before=old.not_before, not_after=old.not_after,
                               directory_version=old.directory_version).digest() == old.digest()


def cmd_propose(args: argparse.Namespace) -> int:
    async def go(ctx: NodeContext) -> None:
        check_party(ctx.directory.current, ctx.config.id, args.provider)
        terms = Terms(
            provider=args.provider, purpose=args.purpose,
            types=parse_type_attributes(args.types), area=parse_area(args),
            agreement_id=args.id or "", days=args.days,
            requests_per_minute=args.requests_per_minute,
            entities_per_day=args.entities_per_day, aggregate_only=args.aggregate_only,
            k=args.k, freshness_seconds=args.freshness_seconds,
            retention_days=args.retention_days, onward_sharing=args.onward_sharing)
        agreement = draft_agreement(terms, ctx.config.id, ctx.directory.version, time.time())
        if args.id and args.id in {v.id for v in ctx.agreements.views()}:
            # Proposing again (the provider was down, the shell history re-ran): the same id
            # and terms are the same proposal, its validity from the first time.
            held = ctx.agreements.get(args.id).signed.agreement
            if not _same_terms(agreement, held):
                raise BadRequest(f"{args.id} exists with different terms (see `renkei "
                                 f"agreement show {args.id}`); choose another --id",
                                 code="already_exists")
            agreement = held
        if args.no_send:
            view = await ctx.agreements.sign(SignedAgreement(agreement))
        else:
            view = await ctx.exchange.propose(agreement)
        print(f"proposed {view.id} to {agreement.provider} ({view.state})")

    return _with_context(args, go)


async def offer_problems(ctx: NodeContext, agreement: Agreement) -> list[str]:
    """What the proposal names that this provider does not hold: a type none of its
    entities has, an attribute no entity of the type has (with the closest name)."""
    import difflib

    from ..ngsi.discovery import Discovery

    held = await Discovery(ctx.store).types()
    problems = []
    for type_name in sorted(agreement.entity_types):
        info = held.get(type_name)
        if info is None:
            close = difflib.get_close_matches(type_name, list(held), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"type {type_name!r}: this node holds no such entities{hint}; "
                            f"types held: {', '.join(held) or 'none'}")
            continue
        for attr in sorted(agreement.attributes.get(type_name, frozenset())):
            if attr in ("id", "type") or attr in info.attributes:
                continue
            close = difflib.get_close_matches(attr, list(info.attributes), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{type_name} attribute {attr!r}: no entity of the type has it"
                            f"{hint}")
    return problems


def cmd_sign(args: argparse.Namespace) -> int:
    async def go(ctx: NodeContext) -> None:
        agreement = ctx.agreements.get(args.id).signed.agreement
        if agreement.provider == ctx.config.id and not args.allow_unknown:
            problems = await offer_problems(ctx, agreement)
            if problems:
                raise BadRequest(f"not countersigned: {args.id} asks for what this node does "
                                 f"not hold: {'; '.join(problems)} (--allow-unknown to sign "
                                 "anyway)", code="unknown_offer")
        if args.no_send:
            view = await ctx.agreements.sign(ctx.agreements.get(args.id).signed)
        else:
            view = await ctx.exchange.countersign(args.id)
        print(f"signed {view.id}: {view.state}")

    return _with_context(args, go)


def cmd_send(args: argparse.Namespace) -> int:
    async def go(ctx: NodeContext) -> None:
        view, delivery = await ctx.exchange.send(args.id)
        print(f"sent {delivery.kind} of {view.id} to {delivery.peer} ({view.state})")

    return _with_context(args, go)


def cmd_show(args: argparse.Namespace) -> int:
    async def go(ctx: NodeContext) -> None:
        view = ctx.agreements.get(args.id)
        delivery = await ctx.exchange.delivery(args.id)
        print(json.dumps({"state": view.state, "agreement": view.signed.agreement.to_document(),
                          "signed_by": sorted(view.signed.signatures),
                          "revoked": view.signed.revocation is not None,
                          "delivery": delivery.describe() if delivery else "delivered"},
                         ensure_ascii=False, indent=2))

    return _with_context(args, go)


def cmd_list(args: argparse.Namespace) -> int:
    async def go(ctx: NodeContext) -> None:
        views = ctx.agreements.views()
        unreadable = ctx.agreements.unreadable()
        if not views and not unreadable:
            print("no agreements")
        for view in views:
            delivery = await ctx.exchange.delivery(view.id)
            pending = f" | {delivery.describe()}" if delivery else ""
            line = describe(view.signed.agreement, view.state) + pending
            print(f"{line} | damaged: {view.damage}" if view.damage else line)
        for row in unreadable:  # listed, not hidden: an operator must see what broke
            print(f"{row.id} [damaged] {row.provider} -> {row.consumer} | unreadable: "
                  f"{row.damage}")

    return _with_context(args, go)


def cmd_revoke(args: argparse.Namespace) -> int:
    async def go(ctx: NodeContext) -> None:
        if args.no_send:
            view, _ = await ctx.agreements.revoke(args.id, args.reason)
        else:
            view = await ctx.exchange.revoke(args.id, args.reason)
        print(f"revoked {view.id}")

    return _with_context(args, go)


def describe(a: Agreement, state: str) -> str:
    """One readable line per agreement (also used by the demo)."""
    fields = "; ".join(f"{t}: {', '.join(sorted(a.allowed_attributes(t) - {'id', 'type'}))}"
                       for t in sorted(a.entity_types))
    area = "anywhere" if a.area is None else "area " + ",".join(
        f"{v:.3f}" for v in a.area.bounds)
    until = dt.datetime.fromtimestamp(a.not_after, dt.UTC).date().isoformat()
    mode = f"aggregate-only k={a.k_threshold}" if a.aggregate_only else "raw"
    return (f"{a.id} [{state}] {a.provider} -> {a.consumer} purpose={a.purpose} {mode} "
            f"{area} until {until} | {fields}")


def _with_context(args: argparse.Namespace, body: Any) -> int:
    async def main() -> int:
        async with node_context(config_of(args)) as ctx:
            await body(ctx)
        return 0

    return run(main())

