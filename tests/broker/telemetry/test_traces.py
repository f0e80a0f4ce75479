"""Traces across nodes: one federated NGSI-LD query at an agency is one trace, received by a
real OTLP/HTTP receiver, with a span per city across the gRPC hop, and nothing secret in it."""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "federation"))

from fedtools import AGENCY, NANAO, SITE_ATTRS, WAJIMA, seed, site, spec  # noqa: E402

from broker.api.auth import ClientRegistry  # noqa: E402
from broker.demo.harness import LocalFederation  # noqa: E402
from broker.node import Node  # noqa: E402
from broker.telemetry import logs as trace_logs  # noqa: E402
from mappings.contexts import RENKEI_CONTEXT_URL  # noqa: E402

from .conftest import OtlpReceiver, ReceivedSpan  # noqa: E402

PURPOSE = "disaster_response"
CITIES = (NANAO, WAJIMA)
TELEPHONE = "0767-53-1111"  # every site has it; the agreements do not share it
Q_VALUE = "987654"  # in the request's q: must not reach any span
QUERY = "/ngsi-ld/v1/entities"
# The client speaks the Renkei context, as the agreements and the cities do.
LINK = (f'<{RENKEI_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; '
        'type="application/ld+json"')


def telemetry_toml(endpoint: str, *, enabled: bool = True, ratio: float = 1.0) -> str:
    return (f"\n[telemetry]\nenabled = {'true' if enabled else 'false'}\n"
            f'endpoint = "{endpoint}"\nsampling_ratio = {ratio}\n')


async def start_federation(root: Path, telemetry: dict[str, str]) -> LocalFederation:
    """An authority, two cities (TLS) with sites, an agency with the NGSI-LD API, and an
    agreement from each city sharing sites without their telephone numbers."""
    fed = LocalFederation(root)
    try:
        await fed.start_authority()
        for member in (*CITIES, AGENCY):
            node_spec = spec(member, telemetry[member])
            node_spec.http = member == AGENCY
            await fed.add_node(node_spec)
        await fed.publish()
        for city in CITIES:
            await seed(fed.nodes[city], [site(city, n, capacity=10 + n) for n in range(5)])
            await fed.agree(provider=city, consumer=AGENCY, agreement_id=f"agr-{city}",
                            purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS})
    except BaseException:
        await fed.stop()
        raise
    return fed


async def federated_query(agency: Node) -> tuple[str, str]:
    """GET /entities with a q at the agency, as a City OS app would: (token, secret)."""
    client_id, secret = await ClientRegistry(agency.store, agency.clock).add(
        "app", PURPOSE, ("read",))
    assert agency.http is not None
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    async with aiohttp.ClientSession() as session:
        async with session.post(agency.http.url + "/oauth2/token",
                                data={"grant_type": "client_credentials"},
                                headers={"Authorization": f"Basic {basic}"}) as resp:
            assert resp.status == 200, await resp.text()
            token = str((await resp.json())["access_token"])
        async with session.get(agency.http.url + QUERY,
                               params={"type": "EvacuationSite", "q": f"capacity<{Q_VALUE}"},
                               headers={"Authorization": f"Bearer {token}",
                                        "Link": LINK}) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == 200, body
            assert "NGSILD-Warning" not in resp.headers
            assert len(body) == 10  # five sites from each city
    return token, secret


async def flush(fed: LocalFederation) -> None:
    # The exporter posts from its own thread to the receiver served by this loop.
    for node in fed.nodes.values():
        assert await asyncio.to_thread(node.telemetry.flush)


@pytest.fixture
async def traced(tmp_path: Path, otlp: OtlpReceiver) -> AsyncIterator[LocalFederation]:
    fed = await start_federation(tmp_path, dict.fromkeys((*CITIES, AGENCY),
                                                         telemetry_toml(otlp.url)))
    try:
        yield fed
    finally:
        await fed.stop()


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return [s for s in spans if s.parent_id == parent.span_id and s.trace_id == parent.trace_id]


def descendants(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    out, todo = [], [parent]
    while todo:
        below = children(spans, todo.pop())
        out += below
        todo += below
    return out


async def test_a_federated_query_is_one_trace_with_a_span_per_city_across_the_grpc_hop(
        traced: LocalFederation, otlp: OtlpReceiver, caplog: pytest.LogCaptureFixture) -> None:
    trace_logs.install([caplog.handler])  # as the CLI does on its handlers
    caplog.set_level(logging.INFO, logger="renkei.access")
    token, secret = await federated_query(traced.nodes[AGENCY])
    await flush(traced)
    await otlp.until(lambda: any(s.name == f"GET {QUERY}" for s in otlp.spans))

    (root,) = [s for s in otlp.spans if s.name == f"GET {QUERY}"]
    assert root.service == AGENCY and root.kind == "SPAN_KIND_SERVER" and root.parent_id == ""
    assert root.attributes == {"http.request.method": "GET", "http.route": QUERY,
                               "http.response.status_code": 200, "renkei.member": AGENCY}
    trace = [s for s in otlp.spans if s.trace_id == root.trace_id]
    # Everything of this query is in this one trace: no Query span anywhere else.
    query_spans = [s for s in otlp.spans if s.name.endswith("Federation/Query")
                   or s.name.startswith(("fanout.", "store.query", "policy.decide"))]
    assert {s.trace_id for s in query_spans} == {root.trace_id}

    below_root = descendants(trace, root)
    clients = [s for s in below_root if s.kind == "SPAN_KIND_CLIENT"]
    assert sorted(s.attributes["renkei.peer"] for s in clients) == sorted(CITIES)
    for client in clients:
        city = client.attributes["renkei.peer"]
        assert client.service == AGENCY
        assert client.name == "renkei.federation.v1.Federation/Query"
        assert client.attributes["rpc.grpc.status_code"] == 0
        # Its parent is the fan-out's span for that city, with the city's outcome on it.
        (fanout_peer,) = [s for s in trace if s.span_id == client.parent_id]
        assert fanout_peer.name == "fanout.peer" and fanout_peer.attributes == {
            "renkei.peer": city, "renkei.status": "ok", "renkei.count": 5}
        # Across the hop: the city's server span is the client span's child, same trace.
        (server,) = children(trace, client)
        assert server.service == city and server.kind == "SPAN_KIND_SERVER"
        assert server.name == "renkei.federation.v1.Federation/Query"
        assert server.attributes["rpc.grpc.status_code"] == 0
        below = descendants(trace, server)
        assert {s.service for s in below} == {city}
        (decision,) = [s for s in below if s.name == "policy.decide"]
        assert decision.attributes == {
            "renkei.operation": "query", "renkei.caller": AGENCY, "renkei.purpose": PURPOSE,
            "renkei.types": ["EvacuationSite"], "renkei.decision": "allow",
            "renkei.reason": "allowed", "renkei.agreement": f"agr-{city}"}
        (store_query,) = [s for s in below if s.name == "store.query"]
        assert store_query.attributes["renkei.count"] == 5

    # The access lines of the query, at the agency and at each city, lead to this trace.
    access = [r for r in caplog.records if r.name == "renkei.access"
              and (" Query " in r.getMessage() or f" {QUERY} " in r.getMessage())]
    assert len(access) == 5 and {getattr(r, "trace_id", "") for r in access} == {
        root.trace_id}

    # No span, of this trace or any other, carries a token, a secret, a masked value or a
    # query value: neither decoded nor anywhere in the bytes received.
    assert otlp.spans and not any(s.error for s in trace)
    values = [str(v) for s in otlp.spans for v in (s.name, *s.attributes.values())]
    for forbidden in (token, secret, TELEPHONE, Q_VALUE, "Bearer", "capacity<"):
        assert not any(forbidden in v for v in values), forbidden
        assert not any(forbidden.encode() in body for body in otlp.raw), forbidden


async def test_a_provider_records_by_its_own_ratio_whatever_the_callers_flag(
        tmp_path: Path, otlp: OtlpReceiver) -> None:
    # The agency records everything and says so in its traceparent (sampled); Wajima's
    # operator chose 0: it records nothing of the agency's sampled call.
    fed = await start_federation(tmp_path, {NANAO: telemetry_toml(otlp.url),
                                            WAJIMA: telemetry_toml(otlp.url, ratio=0.0),
                                            AGENCY: telemetry_toml(otlp.url)})
    try:
        await federated_query(fed.nodes[AGENCY])
        await flush(fed)
        await otlp.until(lambda: any(s.name == f"GET {QUERY}" for s in otlp.spans))
        clients = [s for s in otlp.spans if s.kind == "SPAN_KIND_CLIENT"
                   and s.name.endswith("Federation/Query")]
        assert sorted(s.attributes["renkei.peer"] for s in clients) == sorted(CITIES)
        services = {s.service for s in otlp.spans}
        assert NANAO in services and WAJIMA not in services
    finally:
        await fed.stop()


async def test_telemetry_off_sends_nothing(tmp_path: Path, otlp: OtlpReceiver) -> None:
    # A receiver is listening at the configured endpoint, but nothing is enabled.
    fed = await start_federation(tmp_path, dict.fromkeys(
        (*CITIES, AGENCY), telemetry_toml(otlp.url, enabled=False)))
    try:
        assert not any(node.telemetry.enabled for node in fed.nodes.values())
        await federated_query(fed.nodes[AGENCY])
    finally:
        await fed.stop()  # a node's stop exports whatever it buffered
    await asyncio.sleep(0.2)
    assert otlp.requests == 0 and otlp.spans == []
