"""Compatibility: the ngsildclient library (PyPI 0.5.2) drives a running node unchanged."""

from __future__ import annotations

import asyncio

import requests
from ngsildclient import Client, Entity

from .conftest import ApiClient


class Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def drive(port: int, token: str) -> dict:
    # On construction the client probes GET /entities?type=None&limit=0&count=true.
    client = Client(hostname="127.0.0.1", port=port, custom_auth=Bearer(token), verbose=False)
    try:
        out: dict = {}
        for i in range(3):
            e = Entity("AirQualityObserved", f"Nanao:Obs{i}")
            e.prop("NO2", 20 + i, unitcode="GP")
            e.gprop("location", (37.04, 136.96 + i / 100))
            e.rel("refPointOfInterest", "urn:ngsi-ld:PointOfInterest:Nanao:1")
            client.entities.create(e)  # POST /entities/ (trailing slash)
        got = client.get("urn:ngsi-ld:AirQualityObserved:Nanao:Obs1")
        out["got_no2"] = got["NO2"]["value"]
        out["got_location"] = got["location"]["value"]["coordinates"]
        out["exists"] = client.exists("urn:ngsi-ld:AirQualityObserved:Nanao:Obs2")
        out["count"] = client.count(type="AirQualityObserved")
        out["query"] = sorted(e.id for e in client.query(type="AirQualityObserved",
                                                         q="NO2>=21"))
        out["queried_all"] = len(client.query(type="AirQualityObserved", limit=2))
        client.entities.delete("urn:ngsi-ld:AirQualityObserved:Nanao:Obs0")  # DELETE /{id}
        out["after_delete"] = client.count(type="AirQualityObserved")
        return out
    finally:
        client.close()


async def test_ngsildclient_creates_gets_and_queries(api: ApiClient) -> None:
    result = await asyncio.to_thread(drive, api.node.http.port, api.token)
    assert result["got_no2"] == 21
    assert result["got_location"] == [136.97, 37.04]
    assert result["exists"] is True
    assert result["count"] == 3
    assert result["query"] == ["urn:ngsi-ld:AirQualityObserved:Nanao:Obs1",
                               "urn:ngsi-ld:AirQualityObserved:Nanao:Obs2"]
    assert result["queried_all"] == 3  # pagination over limit=2 pages
    assert result["after_delete"] == 2
