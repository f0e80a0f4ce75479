"""NGSI-LD subscriptions: validation, storage (small named state) and change matching.

A subscription is stored with its names already translated to stored names, the caller's
@context (so notifications speak the subscriber's terms), the owning client and the change
cursor at creation (nothing older is ever notified). Matching is pure: given a change (the
entity after it, the attribute names that changed, and the kind), does the subscription fire?
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from yarl import URL

from trust.clock import Clock

from ..errors import AlreadyExists, BadRequest, NotFound
from ..service.query import id_pattern
from ..service.scopes import parse_scope_query
from ..store.base import Store
from .egress import MQTT_SCHEMES, EgressPolicy, check_notifier_info, check_receiver_info
from .model import is_uri, iso, parse_datetime
from .notification import check_params
from .projection import CORE_NAMES
from .q import parse_geo, rename_q
from .triggers import DEFAULT_TRIGGERS

NAMESPACE = "ngsi_subscriptions"
TRIGGERS = ("entityCreated", "entityUpdated", "entityDeleted", "attributeCreated",
            "attributeUpdated", "attributeDeleted")
FORMATS = ("normalized", "keyValues", "concise", "simplified")
_ALLOWED = frozenset({"id", "type", "subscriptionName", "name", "description", "entities",
                      "watchedAttributes", "notificationTrigger", "q", "geoQ", "csf",
                      "isActive", "notification", "expiresAt", "throttling", "lang",
                      "localOnly", "scopeQ", "jsonKeys", "timeInterval", "temporalQ",
                      "showChanges", "sysAttrs", "status", "datasetId", "jsonldContext",
                      "@context"})


@dataclass(frozen=True)
class Names:
    """How to turn the caller's names into stored names."""

    attr: Callable[[str], str]
    type: Callable[[str], str]


def validate(raw: Any, names: Names, egress: EgressPolicy, *, partial: bool = False,
             now: float | None = None) -> dict[str, Any]:
    """A subscription (or, ``partial``, a fragment) in stored names; BadRequest if invalid
    (an endpoint ``egress`` refuses included)."""
    if not isinstance(raw, Mapping):
        raise BadRequest("a subscription must be a JSON object")
    unknown = set(raw) - _ALLOWED
    if unknown:
        raise BadRequest(f"unknown subscription member {sorted(unknown)[0]!r}")
    sub: dict[str, Any] = {k: v for k, v in raw.items() if k != "@context"}
    if not partial:
        if sub.get("type") != "Subscription":
            raise BadRequest('a subscription needs "type": "Subscription"')
        if "id" in sub and not is_uri(sub["id"]):
            raise BadRequest("subscription id must be a URI")
        if not sub.get("entities") and not sub.get("watchedAttributes"):
            raise BadRequest("a subscription needs entities or watchedAttributes")
        if "notification" not in sub:
            raise BadRequest("a subscription needs a notification member")
    if "timeInterval" in sub:
        interval = sub["timeInterval"]
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 1:
            raise BadRequest("timeInterval must be a number of seconds >= 1")
        # 5.8.1: a periodic subscription is not triggered by changes.
        for other in ("watchedAttributes", "throttling"):
            if other in sub:
                raise BadRequest(f"timeInterval and {other} cannot be used together")
    if "entities" in sub:
        sub["entities"] = [_selector(e, names) for e in _list(sub["entities"], "entities")]
    if "watchedAttributes" in sub:
        watched = _list(sub["watchedAttributes"], "watchedAttributes")
        if not watched or not all(isinstance(a, str) and a for a in watched):
            raise BadRequest("watchedAttributes must be a non-empty list of names")
        sub["watchedAttributes"] = [names.attr(a) for a in watched]
    if "notificationTrigger" in sub:
        triggers = _list(sub["notificationTrigger"], "notificationTrigger")
        if not triggers or any(t not in TRIGGERS for t in triggers):
            raise BadRequest(f"notificationTrigger values are {list(TRIGGERS)}")
    if "q" in sub:
        if not isinstance(sub["q"], str):
            raise BadRequest("q must be a string")
        sub["q"] = rename_q(sub["q"], names.attr)  # validates, and stores stored names
    if "scopeQ" in sub:
        parse_scope_query(sub["scopeQ"])  # validates (4.19); matched on each change
    if "geoQ" in sub:
        g = sub["geoQ"]
        if not isinstance(g, Mapping):
            raise BadRequest("geoQ must be an object")
        parse_geo(str(g.get("georel", "")), str(g.get("geometry", "")), g.get("coordinates"))
        sub["geoQ"] = {**g, "geoproperty": names.attr(str(g.get("geoproperty", "location")))}
    if "notification" in sub:
        sub["notification"] = _notification(sub["notification"], names, egress)
    if "expiresAt" in sub:
        expires = parse_datetime(sub["expiresAt"])
        if expires is None:
            raise BadRequest("expiresAt must be an ISO 8601 date-time")
        if now is not None and expires.timestamp() <= now:
            raise BadRequest("expiresAt must be in the future")  # 5.2.12
    if "throttling" in sub and (not isinstance(sub["throttling"], int | float)
                                or sub["throttling"] < 0):
        raise BadRequest("throttling must be a non-negative number of seconds")
    if "isActive" in sub and not isinstance(sub["isActive"], bool):
        raise BadRequest("isActive must be true or false")
    if "localOnly" in sub and not isinstance(sub["localOnly"], bool):
        raise BadRequest("localOnly must be true or false")
    if "jsonldContext" in sub and not is_uri(sub["jsonldContext"]):
        raise BadRequest("jsonldContext must be the URL of a JSON-LD context")
    return sub


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest(f"{what} must be an array")
    return value


def _selector(e: Any, names: Names) -> dict[str, Any]:
    if not isinstance(e, Mapping) or not isinstance(e.get("type"), str):
        raise BadRequest("each entities entry needs a type")
    out = dict(e)
    out["type"] = names.type(e["type"])
    if "id" in out and not is_uri(out["id"]):
        raise BadRequest("entities[].id must be a URI")
    if "idPattern" in out:
        if not isinstance(out["idPattern"], str):
            raise BadRequest("entities[].idPattern must be a string")
        id_pattern(out["idPattern"], "entities[].idPattern")  # BadRequest: too long, not RE2
    return out


def _notification(n: Any, names: Names, egress: EgressPolicy) -> dict[str, Any]:
    if not isinstance(n, Mapping):
        raise BadRequest("notification must be an object")
    out = dict(n)
    endpoint = out.get("endpoint")
    if not isinstance(endpoint, Mapping) or not isinstance(endpoint.get("uri"), str):
        raise BadRequest("notification.endpoint.uri is required")
    egress.check_endpoint(endpoint["uri"])
    if "receiverInfo" in endpoint:
        out["endpoint"] = {**endpoint,
                           "receiverInfo": check_receiver_info(endpoint["receiverInfo"])}
    if "notifierInfo" in endpoint:
        if URL(endpoint["uri"]).scheme not in MQTT_SCHEMES:
            raise BadRequest("notification.endpoint.notifierInfo is for mqtt(s) endpoints")
        out["endpoint"] = {**out["endpoint"],
                           "notifierInfo": check_notifier_info(endpoint["notifierInfo"])}
    accept = endpoint.get("accept", "application/json")
    if accept not in ("application/json", "application/ld+json"):
        raise BadRequest("notification.endpoint.accept must be application/json or "
                         "application/ld+json")
    fmt = out.get("format", "normalized")
    if fmt not in FORMATS:
        raise BadRequest(f"notification.format must be one of {list(FORMATS)}")
    check_params(out)
    if "attributes" in out:
        attrs = _list(out["attributes"], "notification.attributes")
        out["attributes"] = [names.attr(a) for a in attrs if isinstance(a, str)]
    for key in ("pick", "omit"):
        if key in out:
            out[key] = [n if n in CORE_NAMES else names.attr(n) for n in out[key]]
    for status_member in ("timesSent", "lastNotification", "lastSuccess", "lastFailure",
                          "status"):
        out.pop(status_member, None)  # read-only, kept by the broker
    return out


# -- storage ----------------------------------------------------------------------------------

class SubscriptionStore:
    """Subscriptions of this node; an in-memory copy answers the notifier's hot loop."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._cache: dict[str, dict[str, Any]] | None = None

    async def all(self) -> dict[str, dict[str, Any]]:
        if self._cache is None:
            self._cache = await self._store.list_state(NAMESPACE)
        return self._cache

    async def create(self, sub: dict[str, Any], *, context: Any, owner: str,
                     purpose: str | None, cursor: int) -> dict[str, Any]:
        sub = dict(sub)
        sub.setdefault("id", f"urn:ngsi-ld:Subscription:{uuid.uuid4()}")
        records = await self.all()
        if sub["id"] in records:
            raise AlreadyExists(f"subscription {sub['id']} already exists")
        record = {"subscription": sub, "context": context, "owner": owner, "purpose": purpose,
                  "cursor": cursor, "createdAt": self._clock.now(),
                  "modifiedAt": self._clock.now(),
                  "delivery": {"timesSent": 0}}
        await self._save(record)
        return record

    async def owned_by(self, owner: str) -> list[dict[str, Any]]:
        """The subscriptions of one API client, in id order."""
        return [r for _, r in sorted((await self.all()).items()) if r.get("owner") == owner]

    async def get(self, sub_id: str, *, owner: str) -> dict[str, Any]:
        """``owner``'s subscription ``sub_id``; another client's is NotFound, exactly as a
        missing one, so that ids cannot be probed."""
        record = (await self.all()).get(sub_id)
        if record is None or record.get("owner") != owner:
            raise NotFound(f"subscription {sub_id[:256]} not found")
        return record

    async def update(self, sub_id: str, fragment: Mapping[str, Any], *, owner: str
                     ) -> dict[str, Any]:
        record = await self.get(sub_id, owner=owner)
        sub = {**record["subscription"]}
        for key, value in fragment.items():
            if key in ("id", "type"):
                continue
            if key == "notification":
                sub["notification"] = {**sub.get("notification", {}), **value}
            else:
                sub[key] = value
        record = {**record, "subscription": sub, "modifiedAt": self._clock.now()}
        await self._save(record)
        return record

    async def delete(self, sub_id: str, *, owner: str) -> None:
        await self.get(sub_id, owner=owner)
        await self._store.delete_state(NAMESPACE, sub_id)
        (await self.all()).pop(sub_id, None)

    async def record_delivery(self, sub_id: str, ok: bool, at: float) -> None:
        records = await self.all()
        record = records.get(sub_id)
        if record is None:
            return
        delivery = dict(record.get("delivery", {}))
        delivery["timesSent"] = int(delivery.get("timesSent", 0)) + 1
        delivery["lastNotification"] = at
        delivery["lastSuccess" if ok else "lastFailure"] = at
        delivery["status"] = "ok" if ok else "failed"
        record = {**record, "delivery": delivery}
        await self._save(record)

    async def _save(self, record: dict[str, Any]) -> None:
        await self._store.put_state(NAMESPACE, record["subscription"]["id"], record)
        (await self.all())[record["subscription"]["id"]] = record


MASK = "***"


def representation(record: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The subscription as GET shows it (stored names: the route translates them).

    ``receiverInfo`` header values and the password of an MQTT endpoint's URI are masked:
    they are the subscriber's credentials for its own endpoint (``Authorization: Bearer
    ...``), which no reader of the subscription, the owner included, needs to see again.
    """
    sub = dict(record["subscription"])
    delivery = record.get("delivery", {})
    notification = dict(sub.get("notification", {}))
    endpoint = notification.get("endpoint")
    if isinstance(endpoint, Mapping):
        notification["endpoint"] = _masked(endpoint)
    if delivery.get("timesSent"):
        notification["timesSent"] = delivery["timesSent"]
    for key in ("lastNotification", "lastSuccess", "lastFailure"):
        if key in delivery:
            notification[key] = iso(delivery[key])
    if "status" in delivery:
        notification["status"] = delivery["status"]
    sub["notification"] = notification
    sub["status"] = state(record, now)
    sub.setdefault("notificationTrigger", list(DEFAULT_TRIGGERS))
    return sub


def _masked(endpoint: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(endpoint)
    uri = URL(str(out.get("uri", "")))
    if uri.password is not None:  # an MQTT broker's password (mqtt://user:password@host)
        out["uri"] = str(uri.with_password(MASK))
    for member in ("receiverInfo",):
        if isinstance(out.get(member), list):
            out[member] = [{**h, "value": MASK} if isinstance(h, Mapping) and "value" in h
                           else h for h in out[member]]
    return out


def state(record: Mapping[str, Any], now: float) -> str:
    sub = record["subscription"]
    expires = parse_datetime(sub.get("expiresAt"))
    if expires is not None and expires.timestamp() <= now:
        return "expired"
    if sub.get("isActive", True) is False:
        return "paused"
    return "active"
