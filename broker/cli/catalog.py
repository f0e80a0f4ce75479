"""``renkei catalog PEER``: what another member offers this node, for an agreement proposal.

    renkei catalog MEMBER_ID [--config FILE] [--purpose PURPOSE] [--json]

Asks the member's Catalog RPC (as this node, with its token) and prints two parts:

* what the member offers any member, agreement or not: each entity type its sources publish
  with the attributes its rules produce, its licence and publisher (from the member's
  configuration, never its data);
* the datasets this node already has under active agreements with it (those that allow the
  ``catalog`` operation): types, attributes, entity counts in the agreed area (withheld
  below k under an aggregate-only agreement), area and freshness.

The offers are what ``renkei agreement propose --type TYPE:ATTR,...`` may ask for.
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from trust.errors import DirectoryError

from ..errors import NotFound
from ..service.model import Catalog
from .common import add_config, config_of, run
from .context import NodeContext, node_context


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("catalog", help="what another member offers this node "
                                                   "(types, attributes; for a proposal)")
    parser.add_argument("member", help="the member's id (jp-NNNNNN)")
    add_config(parser)
    parser.add_argument("--purpose", default="", help="only datasets of agreements for this "
                                                      "purpose")
    parser.add_argument("--json", action="store_true", help="print the catalog as JSON")
    parser.set_defaults(handler=cmd_catalog)


def cmd_catalog(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with node_context(config_of(args)) as ctx:
            catalog = await fetch(ctx, args.member, args.purpose)
        print(orjson.dumps(as_json(catalog), option=orjson.OPT_INDENT_2).decode()
              if args.json else describe(catalog))
        return 0

    return run(main())


async def fetch(ctx: NodeContext, member: str, purpose: str) -> Catalog:
    """The member's catalog as this node sees it; ``NotFound`` for a non-member."""
    try:
        directory = ctx.directory.current
    except DirectoryError as exc:
        raise NotFound(f"this node holds no member directory yet ({exc}): run the node once "
                       "its authority has published one") from None
    entry = directory.members.get(member)
    if entry is None or entry.revoked or member == ctx.config.id:
        raise NotFound(f"{member} is not another (unrevoked) member in directory "
                       f"v{directory.version} (renkei peers list shows them)")
    channel = ctx.peers().get(member)
    if channel is None:
        raise NotFound(f"{member} has no endpoint in directory v{directory.version}")
    return await channel.catalog(purpose, ctx.config.federation.deadline_seconds)


def as_json(catalog: Catalog) -> dict[str, Any]:
    return {"provider": catalog.provider,
            "offers": [{"entityType": o.entity_type, "attributes": list(o.attributes),
                        "license": o.license, "publisher": o.publisher}
                       for o in catalog.offers],
            "datasets": [{"agreement": d.agreement_id, "entityType": d.entity_type,
                          "attributes": list(d.attributes), "entityCount": d.entity_count,
                          "aggregateOnly": d.aggregate_only, "spatial": d.spatial,
                          "accrualPeriodicity": d.accrual_periodicity,
                          "modified": d.modified, "license": d.license}
                         for d in catalog.datasets]}


def describe(catalog: Catalog) -> str:
    """The catalog as an operator reads it before writing a proposal."""
    lines = [f"{catalog.provider} offers (to any member; propose with --type TYPE:ATTR,...):"]
    for o in catalog.offers:
        attrs = ",".join(o.attributes) if o.attributes else "(any: NGSI-LD passed through)"
        lines.append(f"  {o.entity_type}: {attrs}  [licence {o.license}; {o.publisher}]")
    if not catalog.offers:
        lines.append("  nothing: it publishes no sources")
    lines.append("under active agreements with this node:")
    for d in catalog.datasets:
        area = " in the agreed area" if d.spatial else ""
        kind = ", aggregates only" if d.aggregate_only else ""
        lines.append(f"  {d.agreement_id} {d.entity_type}: {d.entity_count} entities{area}"
                     f"{kind}; attributes {','.join(d.attributes)}; refreshed "
                     f"{d.accrual_periodicity}; licence {d.license}")
    if not catalog.datasets:
        lines.append("  none (or none that allows the catalog operation)")
    return "\n".join(lines)
