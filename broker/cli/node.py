"""``renkei node``: create a node's identity, print its join request, run it, repair its
stored member directory."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys

from trust.errors import DirectoryError

from ..config import NodeConfig
from ..errors import BadRequest, ConfigError
from ..identity import init_identity, join_request, load_identity
from ..node import Node
from .common import add_config, config_of, run

log = logging.getLogger("renkei.cli")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = sub.add_parser("node", help="create, join and run a node")
    cmds = node.add_subparsers(dest="node_command", metavar="SUBCOMMAND", required=True)

    p = cmds.add_parser("init", help="generate the node key pair and TLS certificate, "
                                     "and print the join request for the authority")
    add_config(p)
    p.add_argument("--algorithm", choices=("ES256", "EdDSA"), default="ES256")
    p.add_argument("--endpoint", action="append", default=[], metavar="HOST:PORT",
                   help="gRPC endpoint peers use to reach this node (repeatable)")
    p.add_argument("--host", action="append", default=[], metavar="NAME",
                   help="extra DNS name or IP for the TLS certificate (repeatable)")
    p.set_defaults(handler=cmd_init)

    p = cmds.add_parser("join-request", help="print a fresh signed join request")
    add_config(p)
    p.add_argument("--endpoint", action="append", default=[], metavar="HOST:PORT")
    p.set_defaults(handler=cmd_join_request)

    p = cmds.add_parser("run", help="run the node until interrupted")
    add_config(p)
    p.add_argument("--insecure-dev", action="store_true",
                   help="plaintext gRPC (development only; every peer must do the same)")
    p.add_argument("--no-ingest", action="store_true",
                   help="do not ingest the configured [[sources]] at start")
    # Replicas share one config file; on one host each needs its own ports.
    p.add_argument("--grpc-listen", type=_listen, metavar="HOST:PORT",
                   help="listen here for gRPC instead of [grpc] listen (port 0 picks a free "
                        "one): for a second replica on the same host")
    p.add_argument("--http-listen", type=_listen, metavar="HOST:PORT",
                   help="listen here for HTTP instead of [http] listen (port 0 picks a free "
                        "one)")
    p.set_defaults(handler=cmd_run, serves=True)

    p = cmds.add_parser("repair-directory",
                        help="replace a damaged member directory in the node's store by the "
                             "authority's (verified under the pinned key)")
    add_config(p)
    p.set_defaults(handler=cmd_repair_directory)


def _listen(value: str) -> str:
    """A ``HOST:PORT`` command-line value, checked as the config's listen keys are."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT (port 0 picks a free one), got {value!r}")
    return value


def _endpoints(args: argparse.Namespace, listen: str) -> list[str] | None:
    """Endpoints peers use: --endpoint, else the listen address when it is a usable one."""
    if args.endpoint:
        return list(args.endpoint)
    host, _, port = listen.rpartition(":")
    if port == "0" or host in ("0.0.0.0", "[::]", "::"):
        return None
    return [listen]


def cmd_init(args: argparse.Namespace) -> int:
    config = config_of(args)
    identity = init_identity(config, algorithm=args.algorithm, hosts=tuple(args.host))
    print(f"node key:        {config.key_path} (mode 0600, kid {identity.key.kid})")
    print(f"TLS certificate: {config.cert_path} ({identity.tls_fingerprint})")
    endpoints = _endpoints(args, config.grpc.listen)
    if endpoints is None:
        print("join request:    run `renkei node join-request --endpoint HOST:PORT` once you "
              "know the address peers will use")
        return 0
    print("join request (give it to the federation authority: renkei authority admit):")
    print(join_request(config, identity, endpoints))
    return 0


def cmd_join_request(args: argparse.Namespace) -> int:
    config = config_of(args)
    endpoints = _endpoints(args, config.grpc.listen)
    if endpoints is None:
        raise BadRequest(f"give --endpoint HOST:PORT: the listen address {config.grpc.listen} "
                         "is not one peers can use")
    print(join_request(config, load_identity(config), endpoints))
    return 0


def cmd_repair_directory(args: argparse.Namespace) -> int:
    config = config_of(args)
    return run(_repair_directory(config))


async def _repair_directory(config: NodeConfig) -> int:
    from trust.clock import SystemClock

    from ..federation.directory_sync import authority_key, repair_directory
    from ..store import open_store

    authority_key(config)  # a bad key file fails before the store is opened
    store = await open_store(config)
    try:
        repair = await repair_directory(config, store, SystemClock())
    finally:
        await store.close()
    if repair.dropped:
        print("dropped damaged member directory copies: "
              + ", ".join(f"version {v}" for v in repair.dropped))
    else:
        print("no damaged member directory copy in the store")
    kept = f"version {repair.kept}" if repair.kept else "none"
    print(f"newest intact copy kept: {kept}; installed version {repair.installed} from the "
          "authority (a running node fetches it too, at its next directory poll)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config = config_of(args)
    if args.insecure_dev:
        config = dataclasses.replace(config, grpc=dataclasses.replace(config.grpc,
                                                                      insecure_dev=True))
    if args.grpc_listen:
        config = dataclasses.replace(config, grpc=dataclasses.replace(
            config.grpc, listen=args.grpc_listen))
    if args.http_listen:
        config = dataclasses.replace(config, http=dataclasses.replace(
            config.http, listen=args.http_listen))
    return run(_serve(config, ingest=not args.no_ingest))


async def _serve(config: object, *, ingest: bool) -> int:
    from ..config import NodeConfig

    assert isinstance(config, NodeConfig)
    if config.grpc.insecure_dev:
        print("WARNING: --insecure-dev: gRPC WITHOUT TLS; never use this outside development",
              file=sys.stderr)
    if ingest and config.sources:
        # A bad rule is a bad config: refuse it before binding a port, naming every problem.
        # (A bad data file is not: the node reports it and serves everything else.)
        from ..sources import check_sources

        problems = await asyncio.to_thread(check_sources, config)
        if problems:
            for problem in problems:
                print(f"renkei: error: {problem.line(config.file)}", file=sys.stderr)
            raise ConfigError(str(config.file), "sources",
                              f"{len(problems)} source rule problem(s) above; fix them (check "
                              f"with `renkei rules check --config {config.file}`)")
    node = await Node.start(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        try:
            version = await node.refresh_directory()
        except Exception as exc:  # the node still serves health; peers come with the directory
            log.warning("directory not fetched yet: %s", exc)
            version = node.directory.version
        _warn_unless_admitted(node)
        http = f", HTTP {node.http.url}" if node.http is not None else ""
        tls = "plaintext" if config.grpc.insecure_dev else "TLS"
        print(f"renkei node {node.id}: gRPC {node.grpc_endpoint} ({tls}){http}; "
              f"directory v{version}", flush=True)
        if ingest and config.sources:
            from ..ingest import Ingestor  # the mapping engine loads only when needed
            from ..sources import SourceWatch, pause_reporter

            ingestor = Ingestor(node.store, node.clock, node.changes.notify,
                                on_pause=pause_reporter(node.sources, node.clock))
            sources = SourceWatch(config.sources, ingestor, node.sources, node.clock,
                                  watch_seconds=config.ingest.watch_seconds,
                                  console=lambda line: print(line, flush=True),
                                  progress_every=config.ingest.progress_seconds)
            # Supervised like the node's other loops: an error in the watch itself is logged,
            # restarted and shown on /health and /metrics, never a silent end of ingesting.
            with node.telemetry.active():  # each ingest run the watch starts is a trace
                node.loops.start("sources", sources.run,
                                 finite=config.ingest.watch_seconds <= 0)
        await stop.wait()
        print(f"renkei node {node.id}: stopping", flush=True)
    finally:
        await node.stop()
    return 0


def _warn_unless_admitted(node: Node) -> None:
    """Say so when this node is not (or no longer) a member of the directory it holds: peers
    would refuse its calls and never call it."""
    try:
        directory = node.directory.current
    except DirectoryError:
        log.warning("node %s holds no member directory yet: no peer can be called until the "
                    "authority at [trust] authority_endpoint answers", node.id)
        return
    member = directory.members.get(node.id)
    if member is None or member.revoked:
        state = "revoked in" if member is not None else "not in"
        log.warning("node %s is %s member directory v%d: peers refuse its calls and never call "
                    "it. Give `renkei node join-request --config %s --endpoint HOST:PORT` to "
                    "the authority (renkei authority admit, then publish)", node.id, state,
                    directory.version, node.config.file)
