"""``/metrics`` follows the Prometheus conventions (issue 14): base units, counters for counts,
route templates as labels, gRPC server and client metrics per method, peer and code, and the
process collectors; checked with the ``prometheus_client`` parser, not by string matching."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from broker.demo.harness import LocalFederation, NodeSpec
from broker.service.entity_write import entity_write

from .conftest import CITY, RENKEI_LINK, client_token

AGENCY = "jp-gov-bousai"
PURPOSE = "disaster_response"


async def _families(session: aiohttp.ClientSession, url: str) -> dict[str, object]:
    async with session.get(f"{url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {f.name: f for f in text_string_to_metric_families(text)}


async def test_metrics_use_base_units_counters_and_grpc_labels(
        federation: LocalFederation, session: aiohttp.ClientSession) -> None:
    city = await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao"))
    agency = await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet"))
    await federation.publish()
    await city.store.upsert_entities([entity_write({
        "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{i}", "type": "EvacuationSite",
        "capacity": {"type": "Property", "value": i}}) for i in range(4)], 1.0)
    await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-m",
                           purpose=PURPOSE, types={"EvacuationSite": ["capacity"]})
    token = await client_token(agency, session)
    # Agreements and peers speak Renkei's names; so does this client.
    auth = {"Authorization": f"Bearer {token}", "Link": RENKEI_LINK}
    for path in ("/ngsi-ld/v1/entities", "/ngsi-ld/v1/entities/"):  # one route, two spellings
        async with session.get(agency.http.url + path, params={"type": "EvacuationSite"},
                               headers=auth) as resp:
            assert resp.status == 200, await resp.text()
            assert len(await resp.json()) == 4

    city_metrics = await _families(session, city.http.url)
    agency_metrics = await _families(session, agency.http.url)
    for families in (city_metrics, agency_metrics):
        for name, family in families.items():
            assert not name.endswith(("_ms", "_milliseconds")), name  # base units only
            if family.type == "counter":  # type: ignore[attr-defined]
                assert all(s.name.endswith(("_total", "_created"))
                           for s in family.samples), name  # type: ignore[attr-defined]
        assert "process_cpu_seconds" in families and "process_resident_memory_bytes" in families
        assert "python_info" in families

    def samples(families: dict[str, object], name: str) -> dict[tuple[str, ...], float]:
        family = families[name]
        return {tuple(sorted(s.labels.items())): s.value  # type: ignore[attr-defined]
                for s in family.samples if s.name == name + "_total"}  # type: ignore

    served = samples(city_metrics, "renkei_grpc_server_handled")
    assert served[(("code", "OK"), ("method", "Query"), ("peer", AGENCY))] == 2
    sent = samples(city_metrics, "renkei_grpc_server_sent_entities")
    assert sent[(("method", "Query"), ("peer", AGENCY))] == 8
    made = samples(agency_metrics, "renkei_grpc_client_handled")
    assert made[(("code", "OK"), ("method", "Query"), ("peer", CITY))] == 2
    assert agency_metrics["renkei_grpc_client_handling_seconds"].type == "histogram"  # type: ignore
    http = samples(agency_metrics, "renkei_http_requests")
    routes = {dict(k)["route"] for k in http}
    assert "/ngsi-ld/v1/entities" in routes and "/ngsi-ld/v1/entities/" not in routes
    assert http[(("method", "GET"), ("route", "/ngsi-ld/v1/entities"), ("status", "200"))] == 2
    assert agency_metrics["renkei_peer_last_call_seconds"].type == "gauge"  # type: ignore
    assert agency_metrics["renkei_ingest_records"].type == "counter"  # type: ignore
