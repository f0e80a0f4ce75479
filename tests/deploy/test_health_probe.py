"""The health probe the container and the Kubernetes manifests run, against a real server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from broker.authority_server import AuthorityService, init_authority


async def probe(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.federation.health", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_probe_passes_on_a_serving_tls_server_and_fails_when_it_stops(
        tmp_path: Path) -> None:
    # The authority's server is the same GrpcServer (TLS, health service) a node runs.
    service = AuthorityService(init_authority(tmp_path / "a"), tmp_path / "a", "127.0.0.1:0")
    port = await service.start()
    try:
        code, out = await probe(f"127.0.0.1:{port}")
        assert (code, out.strip().endswith("SERVING")) == (0, True), out
    finally:
        await service.stop(0)
    code, out = await probe(f"127.0.0.1:{port}", "--timeout", "1")
    assert code == 1 and "unreachable" in out
