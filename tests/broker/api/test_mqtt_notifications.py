"""MQTT notification endpoints against the real Mosquitto broker on 127.0.0.1:1883 (started
here when nothing listens there). No Mosquitto on this machine is a failure, not a skip: the
feature is tested against a real broker or not at all."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiomqtt
import orjson
import pytest

from .conftest import ApiClient, site

S = "/ngsi-ld/v1/subscriptions"
E = "/ngsi-ld/v1/entities"
HOST, PORT = "127.0.0.1", 1883


def _listening() -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, PORT)) == 0


@pytest.fixture(scope="module")
def mosquitto() -> Iterator[None]:
    if _listening():
        yield
        return
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not shutil.which(binary):
        pytest.fail("mosquitto is not installed (apt-get install mosquitto): the MQTT "
                    "notification tests need the real broker on 127.0.0.1:1883")
    proc = subprocess.Popen([binary, "-p", str(PORT)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if _listening():
                break
            if proc.poll() is not None:
                pytest.fail(f"mosquitto exited with {proc.returncode}")
            subprocess.run(["sleep", "0.05"], check=True)
        else:
            pytest.fail("mosquitto did not listen on 127.0.0.1:1883")
        yield
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def topic(mosquitto: None) -> AsyncIterator[tuple[str, aiomqtt.Client]]:
    name = f"renkei-test/{uuid.uuid4()}"
    async with aiomqtt.Client(HOST, PORT) as client:
        await client.subscribe(name, qos=1)
        yield name, client


async def _next(client: aiomqtt.Client) -> Any:
    async with asyncio.timeout(15):
        async for msg in client.messages:
            assert isinstance(msg.payload, bytes)
            return orjson.loads(msg.payload)
    raise AssertionError("no message")


@pytest.mark.parametrize("version,qos", [(None, None), ("mqtt3.1.1", "1"), ("mqtt5.0", "2")])
async def test_notification_is_published_to_the_topic(
        api: ApiClient, topic: tuple[str, aiomqtt.Client], version: str | None,
        qos: str | None) -> None:
    name, client = topic
    endpoint: dict[str, Any] = {"uri": f"mqtt://{HOST}:{PORT}/{name}",
                                "receiverInfo": [{"key": "test-key", "value": "v1"}]}
    info = [{"key": k, "value": v} for k, v in (("MQTT-Version", version), ("MQTT-QoS", qos))
            if v is not None]
    if info:
        endpoint["notifierInfo"] = info
    r = await api.post(S, {"type": "Subscription", "entities": [{"type": "EvacuationSite"}],
                           "notification": {"endpoint": endpoint}})
    assert r.status == 201, r.body
    await api.post(E, site(1, 120))
    message = await _next(client)
    assert message["metadata"]["Content-Type"] == "application/json"
    assert message["metadata"]["test-key"] == "v1"
    assert "Link" in message["metadata"]
    body = message["body"]
    assert body["type"] == "Notification" and body["data"][0]["id"] == site(1)["id"]
    shown = (await api.get(r.headers["Location"])).json()["notification"]
    assert not info or shown["endpoint"]["notifierInfo"] == info  # not a secret: shown


async def test_mqtt_credentials_are_masked_and_bad_endpoints_refused(api: ApiClient) -> None:
    good = {"type": "Subscription", "entities": [{"type": "EvacuationSite"}],
            "notification": {"endpoint": {"uri": "mqtt://user:secret@127.0.0.1/t"}}}
    r = await api.post(S, good)
    assert r.status == 201, r.body
    shown = (await api.get(r.headers["Location"])).json()
    assert shown["notification"]["endpoint"]["uri"] == "mqtt://user:***@127.0.0.1/t"
    for uri, info in [("mqtt://127.0.0.1", None), ("mqtt://127.0.0.1/a/#", None),
                      ("mqtt://127.0.0.1/t", [{"key": "MQTT-QoS", "value": "3"}]),
                      ("mqtt://127.0.0.1/t", [{"key": "MQTT-Version", "value": "mqtt4"}]),
                      ("mqtt://127.0.0.1/t", [{"key": "Other", "value": "x"}]),
                      ("http://127.0.0.1/t", [{"key": "MQTT-QoS", "value": "1"}])]:
        endpoint: dict[str, Any] = {"uri": uri}
        if info is not None:
            endpoint["notifierInfo"] = info
        bad = await api.post(S, {**good, "notification": {"endpoint": endpoint}})
        assert bad.status == 400, (uri, info, bad.body)
