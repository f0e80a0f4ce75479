"""MQTT notification endpoints (ETSI GS CIM 009 v1.8.1 7.4.7, 5.2.22): publish one notification
to ``mqtt://[user[:password]@]host[:port]/topic`` (``mqtts://`` over TLS, the broker's
certificate verified against the system's trust store), through aiomqtt (the asyncio client
over Eclipse paho-mqtt).

The message is what 7.4.7 describes for both protocol versions: a JSON object whose
``metadata`` holds what HTTP would send as headers (``Content-Type``, ``Link``, the
subscription's ``receiverInfo``) and whose ``body`` is the notification. ``notifierInfo``
chooses ``MQTT-Version`` (``mqtt3.1.1``, default ``mqtt5.0``) and ``MQTT-QoS`` (default 0).

The broker's address obeys the same egress policy as HTTP endpoints: the name is resolved
here and only an allowed address is connected to (plain MQTT connects to that very address,
so a second DNS answer cannot move it; over TLS the name is kept for certificate checks and
connects after the same check, which leaves a re-resolution window the TLS check narrows to
hosts holding a certificate for the name).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

import aiomqtt
import orjson
from yarl import URL

from ..ngsi.egress import EgressPolicy, literal_address

log = logging.getLogger(__name__)
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class MqttRefused(Exception):
    """The endpoint must not be published to (refused address, bad URL): never retried."""


def message(notification: bytes, headers: Mapping[str, str]) -> bytes:
    """The MQTT payload of one notification: ``{"metadata": headers, "body": notification}``."""
    return b'{"metadata":' + orjson.dumps(dict(headers)) + b',"body":' + notification + b"}"


def options(notifier_info: Any) -> tuple[aiomqtt.ProtocolVersion, int]:
    """(protocol version, QoS) from a stored ``notifierInfo``."""
    info = {i.get("key"): i.get("value") for i in notifier_info or ()
            if isinstance(i, Mapping)}
    version = (aiomqtt.ProtocolVersion.V311 if info.get("MQTT-Version") == "mqtt3.1.1"
               else aiomqtt.ProtocolVersion.V5)
    qos_text = str(info.get("MQTT-QoS"))
    qos = int(qos_text) if qos_text in ("0", "1", "2") else 0
    return version, qos


async def allowed_address(policy: EgressPolicy, host: str, port: int) -> str:
    """An address of ``host`` the policy allows (MqttRefused when it has none)."""
    literal = literal_address(host)
    if literal is not None:
        reason = policy.refused(literal)
        if reason is not None:
            raise MqttRefused(f"{host[:64]} is {reason}")
        return str(literal)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OSError(f"{host[:64]} does not resolve: {exc}") from None
    addresses = [str(i[4][0]) for i in infos]
    for address in addresses:
        if policy.refused(address) is None:
            return address
    if not addresses:
        raise MqttRefused(f"{host[:64]} resolves to no address")
    raise MqttRefused(f"{host[:64]} resolves to {addresses[0]}, "
                      f"{policy.refused(addresses[0])}")


async def publish(policy: EgressPolicy, uri: str, payload: bytes,
                  notifier_info: Sequence[Mapping[str, Any]] | None, timeout: float) -> None:
    """Publish ``payload`` once; MqttRefused (not worth retrying) or OSError/MqttError."""
    try:
        url = URL(uri)
    except (ValueError, TypeError):
        raise MqttRefused("not a URL") from None
    if url.scheme not in DEFAULT_PORTS or not url.host or not url.path.strip("/"):
        raise MqttRefused("not an mqtt(s)://host/topic URL")
    port = url.explicit_port or DEFAULT_PORTS[url.scheme]
    address = await allowed_address(policy, url.host, port)
    version, qos = options(notifier_info)
    tls = ssl.create_default_context() if url.scheme == "mqtts" else None
    async with aiomqtt.Client(
            url.host if tls is not None else address, port=port, username=url.user,
            password=url.password, protocol=version, tls_context=tls, timeout=timeout,
            identifier=None) as client:
        await client.publish(url.path.lstrip("/"), payload, qos=qos, timeout=timeout)


__all__ = ["MqttRefused", "allowed_address", "message", "options", "publish"]
