"""Probe a node's gRPC health service: the container HEALTHCHECK and the Kubernetes probes.

``python -m broker.federation.health [--insecure] [--timeout S] [HOST:PORT]`` exits 0 when the
node answers SERVING, 1 otherwise, printing one line. Kubernetes' built-in gRPC probe cannot
speak TLS and a node's gRPC port is TLS-only, hence this small client (an exec probe).

The probe trusts whatever certificate the endpoint presents (it reads it first, then
verifies the TLS session against it): it runs inside the node's own container against
127.0.0.1, sends no credential and learns only SERVING or not, so pinning would add nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_ENDPOINT = "127.0.0.1:50051"


async def check(endpoint: str, *, insecure: bool = False, service: str = "",
                timeout: float = 3.0) -> str:
    """The health status name (``SERVING``, ``NOT_SERVING``, ...) of ``service`` at ``endpoint``."""
    if insecure:
        channel = grpc.aio.insecure_channel(endpoint)
    else:
        host, _, port = endpoint.rpartition(":")
        pem = await asyncio.to_thread(ssl.get_server_certificate, (host, int(port)),
                                      timeout=timeout)
        credentials = grpc.ssl_channel_credentials(root_certificates=pem.encode())
        # Every node certificate names "localhost" (trust.tls / broker.identity).
        channel = grpc.aio.secure_channel(
            endpoint, credentials, options=[("grpc.ssl_target_name_override", "localhost")])
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
    finally:
        await channel.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m broker.federation.health",
        description="Exit 0 when the node's gRPC health service answers SERVING.")
    parser.add_argument("endpoint", nargs="?", default=DEFAULT_ENDPOINT,
                        help=f"HOST:PORT of the node's gRPC server (default {DEFAULT_ENDPOINT})")
    parser.add_argument("--insecure", action="store_true",
                        help="plaintext gRPC (a node run with insecure_dev = true)")
    parser.add_argument("--service", default="", help="service name (default: the server)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = parser.parse_args(argv)
    try:
        status = asyncio.run(check(args.endpoint, insecure=args.insecure,
                                   service=args.service, timeout=args.timeout))
    except (OSError, ValueError, grpc.RpcError) as exc:
        detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else exc
        print(f"renkei health: {args.endpoint}: unreachable ({detail})", file=sys.stderr)
        return 1
    print(f"renkei health: {args.endpoint}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
