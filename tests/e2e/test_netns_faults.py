"""Network faults between two nodes, with the city in a network namespace of its own (issue 18).

The kernel here has no netem and no packet filter, so the faults are made by a TCP proxy this
test runs (delay, black hole) and by the namespace's link itself (partition: the veth taken
down). The city runs as a child process inside the namespace, listening only on its side of
the veth, so the agency can reach it through the proxy alone: nothing bypasses the fault over
127.0.0.1. The authority stays on the host; the city reaches it through a second, healthy
proxy on the host's side of the veth. Needs root (``ip netns``): without it the test fails,
it does not skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import AGENCY, NANAO, SITE_ATTRS, seed_child, site, spec  # noqa: E402

from broker.config import load_config  # noqa: E402
from broker.demo.harness import LocalFederation  # noqa: E402
from broker.demo.node_process import START_TIMEOUT, ChildNode  # noqa: E402
from broker.identity import init_identity, join_request  # noqa: E402
from broker.node import Node  # noqa: E402
from broker.service.model import FederatedQuery  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PURPOSE = "disaster_response"
QUERY = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, limit=10_000)
SITES = 40


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Namespace:
    name: str
    host_if: str  # the veth end on the host
    host_ip: str
    ns_ip: str


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    """A network namespace joined to the host by a veth pair on a /30 of its own."""
    tag = f"{os.getpid() % 10000}{random.randrange(100, 999)}"
    net = Namespace(f"renkei-{tag}", f"rk{tag}h", "", "")
    for _ in range(20):  # a free /30 (other test runs on this machine may hold some)
        third, fourth = random.randrange(1, 255), random.randrange(0, 64) * 4
        net.host_ip, net.ns_ip = f"10.77.{third}.{fourth + 1}", f"10.77.{third}.{fourth + 2}"
        if subprocess.run(["ip", "-o", "addr", "show", "to", f"{net.host_ip}/30"],
                          capture_output=True, text=True).stdout == "":
            break
    try:
        ip("netns", "add", net.name)
    except RuntimeError as exc:
        pytest.fail(f"cannot create a network namespace (needs root): {exc}")
    inner = f"rk{tag}n"
    try:
        ip("netns", "exec", net.name, "ip", "link", "set", "lo", "up")
        ip("link", "add", net.host_if, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", net.name)
        ip("addr", "add", f"{net.host_ip}/30", "dev", net.host_if)
        ip("link", "set", net.host_if, "up")
        ip("netns", "exec", net.name, "ip", "addr", "add", f"{net.ns_ip}/30", "dev", inner)
        ip("netns", "exec", net.name, "ip", "link", "set", inner, "up")
        yield net
    finally:
        with contextlib.suppress(RuntimeError):
            ip("link", "del", net.host_if)
        with contextlib.suppress(RuntimeError):
            ip("netns", "del", net.name)


class FaultProxy:
    """A TCP proxy that passes, delays or black-holes what it carries (set ``mode``)."""

    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        self._listen_host, self._target = listen_host, target
        self.mode = "pass"
        self.delay = 0.0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.connections = 0  # accepted so far

    def set(self, mode: str, delay: float = 0.0) -> None:
        self.mode, self.delay = mode, delay
        if mode == "stall":
            self._flowing.clear()  # connections stay open, bytes wait: a black hole
        else:
            self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._listen_host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._flowing.wait()
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
            except OSError:
                return  # the far side is unreachable: the caller sees the connection end
            try:
                await asyncio.gather(self._pump(reader, up_writer),
                                     self._pump(up_reader, writer))
            finally:
                up_writer.close()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self._flowing.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            writer.write(data)
            await writer.drain()
        writer.close()


@dataclass
class Federation:
    fed: LocalFederation
    net: Namespace
    proxy: FaultProxy  # the agency's only way to the city

    async def statuses(self) -> list[tuple[str, str, int]]:
        outcome = await asyncio.wait_for(self.fed.nodes[AGENCY].fanout.query(QUERY, deadline=4),
                                         30)
        return [(s.peer, s.status, s.count) for s in outcome.statuses]

    async def until_ok(self, timeout: float = 30.0) -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while (got := await self.statuses()) != [(NANAO, "ok", SITES)]:
            if loop.time() - start > timeout:
                raise AssertionError(f"the city did not answer again within {timeout}s: {got}")
            await asyncio.sleep(0.2)
        return loop.time() - start


async def start_city_in(net: Namespace, config_file: Path) -> ChildNode:
    process = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", net.name, sys.executable, "-m", "broker.demo.node_process",
        str(config_file), cwd=REPO, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        endpoint = json.loads(line)["endpoint"]
    except (TimeoutError, ValueError, KeyError) as exc:
        process.kill()
        await process.wait()
        raise AssertionError("the city did not start in its namespace") from exc
    return ChildNode(NANAO, process, endpoint)


@pytest.fixture
async def federation(tmp_path: Path, namespace: Namespace) -> AsyncIterator[Federation]:
    fed = LocalFederation(tmp_path)
    proxies: list[FaultProxy] = []
    try:
        authority = await fed.start_authority()
        # The agency listens on the host's side of the veth, so that the city can deliver to
        # it (countersignatures) without any proxy: the faults are on the way to the city.
        agency_file = fed.write_config(spec(AGENCY))
        agency_file.write_text(agency_file.read_text(encoding="utf-8").replace(
            'listen = "127.0.0.1:0"\ninsecure_dev',
            f'listen = "{namespace.host_ip}:0"\ninsecure_dev', 1), encoding="utf-8")
        agency_config = load_config(agency_file)
        agency_identity = init_identity(agency_config)
        agency = await Node.start(agency_config, clock=fed.clock)
        fed.nodes[AGENCY] = agency
        assert agency.grpc_endpoint.startswith(namespace.host_ip + ":")
        authority.authority.admit(join_request(agency_config, agency_identity,
                                               [agency.grpc_endpoint]))
        # The city reaches the authority through a healthy proxy on the host's side of the veth.
        to_authority = FaultProxy(namespace.host_ip, ("127.0.0.1", authority.port))
        await to_authority.start()
        proxies.append(to_authority)
        city = spec(NANAO)
        config_file = fed.write_config(city)
        text = config_file.read_text(encoding="utf-8")
        text = text.replace('listen = "127.0.0.1:0"\ninsecure_dev',
                            f'listen = "{namespace.ns_ip}:0"\ninsecure_dev', 1)
        text = text.replace(f'authority_endpoint = "127.0.0.1:{authority.port}"',
                            f'authority_endpoint = "{namespace.host_ip}:{to_authority.port}"')
        assert namespace.ns_ip in text and namespace.host_ip in text
        config_file.write_text(text, encoding="utf-8")
        config = load_config(config_file)
        identity = init_identity(config)
        child = await start_city_in(namespace, config_file)
        fed.children[NANAO], fed.specs[NANAO] = child, city
        host, _, port = child.endpoint.rpartition(":")
        assert host == namespace.ns_ip  # the city listens inside its namespace only
        proxy = FaultProxy("127.0.0.1", (host, int(port)))
        await proxy.start()
        proxies.append(proxy)
        authority.authority.admit(join_request(config, identity, [f"127.0.0.1:{proxy.port}"]))
        await fed.publish()  # the child fetches it through the veth
        await seed_child(fed, NANAO, [site(NANAO, n) for n in range(SITES)])
        await fed.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-netns",
                        purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS})
        yield Federation(fed, namespace, proxy)
    finally:
        await fed.stop()
        for p in proxies:
            await p.stop()


async def test_a_slow_link_a_black_hole_and_a_partition_each_end_and_the_city_comes_back(
        federation: Federation) -> None:
    """One federation for the three faults (setting it up is most of the time)."""
    fed, proxy = federation.fed, federation.proxy
    assert await federation.statuses() == [(NANAO, "ok", SITES)]
    assert proxy.connections > 0  # the agency's calls went through the proxy
    directory = fed.nodes[AGENCY].directory.current
    assert directory.members[NANAO].endpoints == (f"127.0.0.1:{proxy.port}",)

    # A slow link: every chunk each way waits 50 ms; the answer is whole.
    proxy.set("pass", delay=0.05)
    outcome = await fed.nodes[AGENCY].fanout.query(QUERY, deadline=4)
    [status] = outcome.statuses
    assert (status.peer, status.status, status.count) == (NANAO, "ok", SITES)
    assert len(outcome.entities) == SITES and status.elapsed_ms >= 50

    # A black hole: connections stay open and nothing comes back. The query ends at its
    # deadline with the city reported, not answered; once the path clears, the city is back.
    proxy.set("stall")
    [(peer, state, count)] = await federation.statuses()
    assert (peer, state) == (NANAO, "deadline_exceeded")
    assert count == 0
    proxy.set("pass")
    await federation.until_ok()

    # A partition: the namespace's link goes down (no route to the city at all).
    ip("link", "set", federation.net.host_if, "down")
    try:
        [(peer, state, count)] = await federation.statuses()
        assert peer == NANAO and state != "ok" and count == 0
    finally:
        ip("link", "set", federation.net.host_if, "up")
    await federation.until_ok()
