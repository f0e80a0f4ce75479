"""The egress policy and the notifier's resolver, on their own (DNS answers are given)."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from broker.api.notification_client import GuardedResolver, RefusedAddress
from broker.ngsi.egress import EgressPolicy, header_refusal


class Answers(AbstractResolver):
    """A DNS that answers what it is told (the system's resolver is not under test)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [{"hostname": host, "host": a, "port": port, "family": family, "proto": 0,
                 "flags": 0} for a in self.addresses]

    async def close(self) -> None:
        pass


async def test_a_mixed_answer_connects_only_to_the_public_address() -> None:
    resolver = GuardedResolver(EgressPolicy(), Answers("10.0.0.5", "93.184.215.14"))
    assert [r["host"] for r in await resolver.resolve("rebind.example", 80)] == [
        "93.184.215.14"]


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "169.254.169.254", "10.1.1.1",
                                     "fd12::1", "::ffff:10.0.0.1", "64:ff9b::a00:1"])
async def test_a_name_with_only_refused_addresses_is_refused(address: str) -> None:
    resolver = GuardedResolver(EgressPolicy(), Answers(address))
    with pytest.raises(RefusedAddress):
        await resolver.resolve("internal.example", 80)


async def test_the_allow_list_opens_exactly_its_networks() -> None:
    policy = EgressPolicy(["10.20.0.0/16"])
    assert policy.refused("10.20.3.4") is None
    assert policy.refused("10.21.0.1") == "a private address"
    assert await GuardedResolver(policy, Answers("10.20.3.4")).resolve("svc", 80)


def test_header_names() -> None:
    assert header_refusal("Authorization", "Bearer x") is None
    assert header_refusal("X-Api-Key", "k") is None
    for name in ("Host", "TE", "Keep-Alive", "Upgrade", "Sec-Fetch-Site", "Proxy-X", "Link"):
        assert header_refusal(name, "v") is not None, name
