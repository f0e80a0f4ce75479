"""``renkei authority``: the federation authority's key, member registry and directory."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path

from trust.authority import Authority

from ..authority_server import (
    AuthorityFiles,
    AuthorityService,
    authority_fingerprint,
    init_authority,
)
from .common import read_text_arg, run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    authority = sub.add_parser("authority", help="run the federation authority")
    cmds = authority.add_subparsers(dest="authority_command", metavar="SUBCOMMAND",
                                    required=True)

    def parser(name: str, help_text: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help_text)
        p.add_argument("--dir", default="authority", type=Path,
                       help="authority state directory (default: ./authority)")
        return p

    p = parser("init", "create the authority key pair (ES256 by default) and TLS certificate")
    p.add_argument("--algorithm", choices=("ES256", "EdDSA"), default="ES256")
    p.add_argument("--host", action="append", default=[], metavar="NAME",
                   help="extra DNS name or IP for the TLS certificate (repeatable)")
    p.set_defaults(handler=cmd_init)

    p = parser("add-member", "register a member directly from its public JWK")
    p.add_argument("--id", required=True, help="member id, e.g. jp-172022")
    p.add_argument("--name-ja", required=True)
    p.add_argument("--name-en", required=True)
    p.add_argument("--role", required=True, choices=("city", "agency", "provider"))
    p.add_argument("--endpoint", action="append", default=[], metavar="HOST:PORT")
    p.add_argument("--jwk", action="append", default=[], metavar="FILE",
                   help="public JWK file of the member's signing key (repeatable)")
    p.add_argument("--tls-fingerprint", action="append", default=[], metavar="sha256:HEX")
    p.set_defaults(handler=cmd_add_member)

    p = parser("admit", "verify a node's signed join request and add it as a member")
    p.add_argument("request", help="the join request: inline, @FILE, or - for stdin")
    p.add_argument("--rotation", action="store_true",
                   help="the member exists: add this key next to its current ones")
    p.set_defaults(handler=cmd_admit)

    p = parser("revoke", "revoke a member, or one of its keys (from the next publish)")
    p.add_argument("member")
    p.add_argument("--kid", help="revoke only this key")
    p.set_defaults(handler=cmd_revoke)

    p = parser("publish", "sign and write the next directory version")
    p.add_argument("--validity-hours", type=float, default=24.0,
                   help="hours until the directory's next-update time (default 24)")
    p.set_defaults(handler=cmd_publish)

    p = parser("show", "list the members the next directory will contain")
    p.set_defaults(handler=cmd_show)

    p = parser("serve", "serve the published directory to nodes over gRPC (TLS)")
    p.add_argument("--listen", default="127.0.0.1:7700", metavar="HOST:PORT")
    p.add_argument("--insecure-dev", action="store_true", help="plaintext (development only)")
    p.set_defaults(handler=cmd_serve, serves=True)


def cmd_init(args: argparse.Namespace) -> int:
    authority = init_authority(args.dir, args.algorithm, hosts=tuple(args.host))
    files = AuthorityFiles(args.dir)
    print(f"authority key:   {args.dir}/ (kid {authority.public_jwk().get('kid')})")
    print(f"public key:      {files.public_jwk}  <- every node pins this file")
    print(f"TLS certificate: {files.cert} ({authority_fingerprint(args.dir)})")
    return 0


def cmd_add_member(args: argparse.Namespace) -> int:
    authority = Authority.open(args.dir)
    keys = [json.loads(Path(f).read_text(encoding="utf-8")) for f in args.jwk]
    member = authority.add_member(args.id, args.name_ja, args.name_en, args.role,
                                  args.endpoint, keys, args.tls_fingerprint)
    print(f"added {member.id} ({member.role}) with {len(member.keys)} key(s); "
          "run `renkei authority publish` to make it effective")
    return 0


def cmd_admit(args: argparse.Namespace) -> int:
    authority = Authority.open(args.dir)
    request = read_text_arg(args.request).strip()
    checked = authority.inspect_join_request(request)
    member = authority.admit(request, rotation=args.rotation)
    print(f"admitted {member.id} ({checked.name_ja} / {checked.name_en}, {member.role}); "
          f"key thumbprint {checked.thumbprint}; run `renkei authority publish`")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    authority = Authority.open(args.dir)
    authority.revoke(args.member, args.kid)
    what = f"key {args.kid} of {args.member}" if args.kid else f"member {args.member}"
    print(f"revoked {what}; effective from the next `renkei authority publish`")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    authority = Authority.open(args.dir)
    authority.publish(validity_seconds=int(args.validity_hours * 3600))
    print(f"published directory version {authority.published_version} "
          f"({len(authority.members)} members)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    authority = Authority.open(args.dir)
    print(f"published version: {authority.published_version}")
    for member in authority.members.values():
        state = "REVOKED" if member.revoked else "active"
        keys = ", ".join(f"{k.kid}{' (revoked)' if k.revoked else ''}" for k in member.keys)
        print(f"  {member.id:<16} {member.role:<8} {state:<8} {member.name_ja} / "
              f"{member.name_en}  endpoints={','.join(member.endpoints) or '-'}  keys={keys}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    return run(_serve(args.dir, args.listen, args.insecure_dev))


async def _serve(state_dir: Path, listen: str, insecure: bool) -> int:
    service = AuthorityService(Authority.open(state_dir), state_dir, listen, insecure)
    port = await service.start()
    print(f"renkei authority: gRPC {listen.rpartition(':')[0]}:{port} "
          f"({'plaintext' if insecure else 'TLS ' + authority_fingerprint(state_dir)})",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await service.stop()
    return 0
