"""Where a subscription may make the node send requests, and with which headers.

A subscription makes the node POST to a URL its owner chose, with headers its owner chose
(``receiverInfo``). Without limits that is a request forgery service: the node would reach
its own loopback services, the cluster's private network or a cloud metadata endpoint for
anyone holding a ``write`` token. So:

- an endpoint address must be a public one: loopback, link-local, private (RFC 1918, ULA,
  shared 100.64/10), multicast, unspecified, reserved and documentation ranges, and the cloud
  metadata addresses are refused, unless the operator allow-lists them
  (``[http] notification_allow``, CIDRs);
- a literal address is checked when the subscription is written (400), and every address is
  checked again at delivery, after DNS resolution, by the notifier's resolver, so that a name
  resolving (or later re-resolving) to a refused address is refused too;
- ``receiverInfo`` names must be HTTP tokens that neither steer the connection (hop-by-hop,
  ``Host``, framing) nor override what the notifier itself sets; values are visible ASCII.

Pure: no I/O here. URLs are parsed with yarl, the parser aiohttp itself uses, so the host
checked is the host connected to.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from yarl import URL

from ..errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud instance metadata services (AWS, GCP, Azure, OpenStack: 169.254.169.254, inside
# link-local anyway; AWS over IPv6; Alibaba), named so that a message can say what they are.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]+$")

MQTT_SCHEMES = ("mqtt", "mqtts")
MQTT_VERSIONS = ("mqtt3.1.1", "mqtt5.0")
MAX_RECEIVER_INFO = 16
MAX_HEADER_VALUE = 4096
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$")
_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
# Headers a subscriber may not set: hop-by-hop (RFC 9110 7.6.1), the ones that frame or route
# the request, and the ones the notifier sets itself.
RESERVED_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
    "upgrade", "proxy-authenticate", "proxy-authorization", "host", "content-length",
    "content-type", "content-encoding", "expect", "link", "forwarded", "via", "max-forwards",
})
RESERVED_PREFIXES = ("proxy-", "sec-", "x-forwarded-")


def refusal_reason(address: IPAddress) -> str | None:
    """Why the node must not send a notification to ``address`` (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in METADATA:
        return "a cloud metadata address"
    for reason, hit in (("an unspecified address", address.is_unspecified),
                        ("a loopback address", address.is_loopback),
                        ("a link-local address", address.is_link_local),
                        ("a multicast address", address.is_multicast),
                        ("a private address", address.is_private),
                        ("a reserved address", address.is_reserved)):
        if hit:
            return reason
    if not address.is_global:
        return "not a public address"
    return None


class EgressPolicy:
    """The operator's allow-list over the refused address ranges."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allow: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(a, strict=False) for a in allow)

    def refused(self, address: str | IPAddress) -> str | None:
        """Why ``address`` is refused (None: allowed)."""
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return "not an IP address"
        if any(ip.version == net.version and ip in net for net in self.allow):
            return None
        return refusal_reason(ip)

    def check_endpoint(self, uri: str) -> URL:
        """The endpoint URL, or BadRequest when it cannot be a notification endpoint: not
        http(s) or mqtt(s), no host, credentials in an http(s) URL, an MQTT URL without a
        topic, or a literal address that is refused."""
        try:
            url = URL(uri)
        except (ValueError, TypeError):
            raise BadRequest("notification.endpoint.uri is not a valid URL") from None
        if url.scheme not in ("http", "https", *MQTT_SCHEMES) or not url.host:
            raise BadRequest("notification.endpoint.uri must be an http(s) or mqtt(s) URL "
                             "with a host")
        if url.scheme in MQTT_SCHEMES:
            # 7.4 (MQTT binding): mqtt[s]://[user[:password]@]host[:port]/topic; the
            # credentials are the MQTT broker's, which has no other place for them.
            if not url.path.strip("/"):
                raise BadRequest("an MQTT notification endpoint needs a topic "
                                 "(mqtt://host/topic)")
            if url.raw_fragment or url.raw_query_string or "#" in uri \
                    or any(c in url.path for c in "+\x00"):
                raise BadRequest("an MQTT topic to publish on may not hold + or # wildcards "
                                 "(nor a query)")
        elif url.user is not None or url.password is not None:
            raise BadRequest("notification.endpoint.uri may not carry credentials: send them "
                             "as receiverInfo (never shown back)")
        literal = literal_address(url.host)
        if literal is not None:
            reason = self.refused(literal)
            if reason is not None:
                raise BadRequest(f"notification endpoint {url.host[:64]} is {reason}; this "
                                 "node does not send notifications there")
        return url


def literal_address(host: str) -> IPAddress | None:
    """The address a host names without DNS (an IP literal, in any form the C resolver
    reads as one); names, ``localhost`` included, are checked once resolved."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        # 2130706433, 0x7f.1, 127.1: not IP literals to ipaddress, but the C resolver reads
        # them as 127.0.0.1.
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_receiver_info(items: Any) -> list[dict[str, str]]:
    """``receiverInfo`` as key/value pairs the notifier may send, or BadRequest."""
    if not isinstance(items, list) or len(items) > MAX_RECEIVER_INFO:
        raise BadRequest(f"receiverInfo must be an array of at most {MAX_RECEIVER_INFO} "
                         "{key, value} objects")
    out = []
    for item in items:
        if not (isinstance(item, Mapping) and isinstance(item.get("key"), str)
                and isinstance(item.get("value"), str)):
            raise BadRequest("each receiverInfo entry needs a string key and a string value")
        reason = header_refusal(item["key"], item["value"])
        if reason is not None:
            raise BadRequest(f"receiverInfo {item['key'][:64]!r}: {reason}")
        out.append({"key": item["key"], "value": item["value"]})
    return out


def header_refusal(name: str, value: str) -> str | None:
    """Why a subscriber's header may not be sent (None: it may)."""
    if not _TOKEN.match(name):
        return "not a valid header name"
    lowered = name.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_PREFIXES):
        return "this header is set by the node or steers the connection"
    if len(value) > MAX_HEADER_VALUE or not _VALUE.match(value):
        return f"the value must be at most {MAX_HEADER_VALUE} visible ASCII characters"
    return None


def check_notifier_info(items: Any) -> list[dict[str, str]]:
    """``notifierInfo`` of an MQTT endpoint (5.2.22: ``MQTT-Version`` mqtt3.1.1 or mqtt5.0,
    ``MQTT-QoS`` 0, 1 or 2), or BadRequest."""
    if not isinstance(items, list):
        raise BadRequest("notifierInfo must be an array of {key, value} objects")
    out: dict[str, str] = {}
    for item in items:
        if not (isinstance(item, Mapping) and isinstance(item.get("key"), str)):
            raise BadRequest("each notifierInfo entry needs a string key and a value")
        key, value = item["key"], item.get("value")
        if key == "MQTT-Version" and value in MQTT_VERSIONS:
            out[key] = str(value)
        elif key == "MQTT-QoS" and str(value) in ("0", "1", "2") \
                and not isinstance(value, bool):
            out[key] = str(value)
        elif key in ("MQTT-Version", "MQTT-QoS"):
            raise BadRequest(f"notifierInfo {key}: {str(value)[:32]!r} is not one of "
                             f"{list(MQTT_VERSIONS) if key == 'MQTT-Version' else [0, 1, 2]}")
        else:
            raise BadRequest(f"notifierInfo {key[:64]!r} is not MQTT-Version or MQTT-QoS")
    return [{"key": k, "value": v} for k, v in out.items()]


def safe_headers(items: Any) -> dict[str, str]:
    """The headers of stored ``receiverInfo`` that may be sent (subscriptions written before
    the checks existed are filtered here rather than trusted)."""
    headers: dict[str, str] = {}
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping):
            key, value = item.get("key"), item.get("value")
            if isinstance(key, str) and isinstance(value, str) \
                    and header_refusal(key, value) is None:
                headers[key] = value
    return headers
