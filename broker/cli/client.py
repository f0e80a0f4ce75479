"""``renkei client``: credentials for City OS applications and service providers.

    renkei client add NAME --purpose P --config FILE [--write] [--agreement ID ...]
                      [--third-party]
    renkei client list --config FILE
    renkei client disable CLIENT_ID --config FILE

``add`` prints the client id and secret once; the node keeps only a salted hash.

Who counts as the member's own: an application this member runs or has built for its own
work (its City OS dashboards, its staff's tools). A client registered for anyone else (a
service provider, another organisation, a public app of a third party) is ``--third-party``:
rows this node fetched from a peer under an agreement with ``onward_sharing = false`` never go
to it. ``--agreement`` binds a client to the only agreements its federated reads may use.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from trust.agreements import PURPOSES
from trust.clock import SystemClock

from ..config import load_config
from ..store import open_store
from .common import add_config


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("client", help="API clients of this node (OAuth2 client "
                                   "credentials for the NGSI-LD API)")
    sub = parser.add_subparsers(dest="client_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="register a client and print its secret once")
    add.add_argument("name", help="a name for the application (letters, digits, - _ .)")
    add.add_argument("--purpose", required=True, choices=sorted(PURPOSES),
                     help="purpose of its federated reads (must match agreements)")
    add.add_argument("--write", action="store_true",
                     help="also grant the write scope (create/update/delete, subscriptions)")
    add.add_argument("--agreement", action="append", default=[], metavar="ID",
                     help="the only agreement(s) its federated reads may use (repeatable; "
                          "default: any for its purpose)")
    add.add_argument("--third-party", action="store_true",
                     help="not this member's own application: never receives rows of "
                          "agreements that forbid onward sharing")
    add_config(add)
    add.set_defaults(handler=_add)
    ls = sub.add_parser("list", help="list registered clients (never their secrets)")
    add_config(ls)
    ls.set_defaults(handler=_list)
    off = sub.add_parser("disable", help="disable a client: no new tokens, its live tokens "
                         "refused at once")
    off.add_argument("client_id")
    add_config(off)
    off.set_defaults(handler=_disable)


async def _with_registry(config_file: str, action: Any) -> Any:
    from ..api.auth import ClientRegistry

    store = await open_store(load_config(config_file))
    try:
        return await action(ClientRegistry(store, SystemClock()))
    finally:
        await store.close()


def _add(args: argparse.Namespace) -> int:
    scopes = ("read", "write") if args.write else ("read",)
    client_id, secret = asyncio.run(_with_registry(
        args.config, lambda r: r.add(args.name, args.purpose, scopes,
                                     agreements=tuple(args.agreement),
                                     third_party=args.third_party)))
    print(f"client_id:     {client_id}")
    print(f"client_secret: {secret}")
    print(f"purpose:       {args.purpose}")
    print(f"scopes:        {' '.join(scopes)}")
    print(f"agreements:    {' '.join(args.agreement) or 'any for its purpose'}")
    third = ("yes (no rows of agreements without onward sharing)" if args.third_party
             else "no (one of this member's own applications)")
    print(f"third party:   {third}")
    print("The secret is shown only this once; the node stores a hash of it.")
    print("Get a token: curl -u CLIENT_ID:SECRET -d grant_type=client_credentials "
          "http://NODE/oauth2/token")
    return 0


def _list(args: argparse.Namespace) -> int:
    clients = asyncio.run(_with_registry(args.config, lambda r: r.list()))
    for client_id, record in sorted(clients.items()):
        state = "disabled" if record.get("disabled") else "active"
        print(f"{client_id}\t{record.get('purpose')}\t{' '.join(record.get('scopes', []))}"
              f"\t{state}")
    return 0


def _disable(args: argparse.Namespace) -> int:
    done = asyncio.run(_with_registry(args.config, lambda r: r.disable(args.client_id)))
    print(f"{args.client_id}: {'disabled' if done else 'no such client'}")
    return 0 if done else 1
