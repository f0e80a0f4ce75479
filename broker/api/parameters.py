"""Which URI parameters each NGSI-LD operation takes; anything else is refused.

ETSI GS CIM 009 v1.8.1 clause 6.3.20: a request carrying a URI parameter the operation does not
define is answered 400 InvalidRequest. Silently ignoring one would widen an answer the caller
meant to narrow (a misspelt ``tpye=`` returning everything). The table is keyed by method and
route template; a route not listed here (the node's own ``/health``, the token endpoint) is
not checked.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from .errors import InvalidRequest

V1 = "/ngsi-ld/v1"
# Renkei's own: answer from this node only (no federation).
_LOCAL = frozenset({"local"})
_FORMAT = frozenset({"options", "format", "lang"})
_ENTITY_READ = _LOCAL | _FORMAT | frozenset({
    "attrs", "pick", "omit", "geometryProperty", "geoproperty", "datasetId", "join",
    "joinLevel", "containedBy", "entityMap", "type", "via", "collect"})
_QUERY = _ENTITY_READ | frozenset({
    "id", "idPattern", "q", "csf", "georel", "geometry", "coordinates", "scopeQ", "limit",
    "offset", "count", "orderBy", "expandValues", "doNotCompact"})
_WRITE = _LOCAL | frozenset({"options", "format"})
# The temporal API (5.7.3, 5.7.4): what broker.api.temporal_params reads.
_TEMPORAL_READ = _LOCAL | _FORMAT | frozenset({
    "attrs", "pick", "omit", "datasetId", "timerel", "timeAt", "endTimeAt", "timeproperty",
    "lastN", "aggrMethods", "aggrPeriodDuration"})
_TEMPORAL_QUERY = _TEMPORAL_READ | frozenset({
    "id", "idPattern", "type", "q", "georel", "geometry", "coordinates", "geoproperty",
    "limit", "offset", "orderBy"})
TEMPORAL = f"{V1}/temporal/entities"
CSR = f"{V1}/csourceRegistrations"
# 6.8.3.2; broker.api.routes.registrations answers those it does not implement with 422.
CSR_QUERY = _LOCAL | frozenset({
    "id", "type", "idPattern", "attrs", "limit", "offset", "count", "options", "q", "csf",
    "georel", "geometry", "coordinates", "geoproperty", "timeproperty", "timerel", "timeAt",
    "endTimeAt"})

ALLOWED: Mapping[tuple[str, str], frozenset[str]] = {
    ("POST", f"{V1}/entities"): _LOCAL,
    ("GET", f"{V1}/entities"): _QUERY,
    ("DELETE", f"{V1}/entities"): _LOCAL | frozenset({
        "id", "type", "idPattern", "q", "scopeQ", "dropSubs"}),
    ("GET", f"{V1}/entities/{{entity_id}}"): _ENTITY_READ,
    ("DELETE", f"{V1}/entities/{{entity_id}}"): _LOCAL | frozenset({"type"}),
    ("PATCH", f"{V1}/entities/{{entity_id}}"): _WRITE | frozenset({"observedAt", "lang"}),
    ("PUT", f"{V1}/entities/{{entity_id}}"): _WRITE | frozenset({"lang"}),
    ("POST", f"{V1}/entities/{{entity_id}}/attrs"): _WRITE,
    ("PATCH", f"{V1}/entities/{{entity_id}}/attrs"): _WRITE,
    ("PATCH", f"{V1}/entities/{{entity_id}}/attrs/{{attr}}"): _WRITE | frozenset({
        "datasetId"}),
    ("PUT", f"{V1}/entities/{{entity_id}}/attrs/{{attr}}"): _WRITE,
    ("DELETE", f"{V1}/entities/{{entity_id}}/attrs/{{attr}}"): _LOCAL | frozenset({
        "datasetId", "deleteAll", "lang"}),
    ("POST", f"{V1}/entityOperations/create"): _WRITE,
    ("POST", f"{V1}/entityOperations/upsert"): _WRITE,
    ("POST", f"{V1}/entityOperations/update"): _WRITE,
    ("POST", f"{V1}/entityOperations/merge"): _WRITE,
    ("POST", f"{V1}/entityOperations/delete"): _LOCAL,
    ("POST", f"{V1}/entityOperations/query"): _LOCAL | _FORMAT | frozenset({
        "limit", "offset", "count", "geometryProperty", "join", "joinLevel", "orderBy"}),
    ("POST", f"{V1}/subscriptions"): frozenset(),
    ("GET", f"{V1}/subscriptions"): frozenset({"limit", "offset", "count", "local"}),
    ("GET", f"{V1}/subscriptions/{{subscription_id}}"): frozenset(),
    ("PATCH", f"{V1}/subscriptions/{{subscription_id}}"): frozenset(),
    ("DELETE", f"{V1}/subscriptions/{{subscription_id}}"): frozenset(),
    ("POST", CSR): frozenset(),
    ("GET", CSR): CSR_QUERY,
    ("GET", f"{CSR}/{{reg_id}}"): frozenset({"options"}),
    ("PATCH", f"{CSR}/{{reg_id}}"): frozenset(),
    ("DELETE", f"{CSR}/{{reg_id}}"): frozenset(),
    ("GET", f"{V1}/types"): _LOCAL | frozenset({"details", "limit", "offset"}),
    ("GET", f"{V1}/types/{{type}}"): _LOCAL,
    ("GET", f"{V1}/attributes"): _LOCAL | frozenset({"details", "limit", "offset"}),
    ("GET", f"{V1}/attributes/{{attr}}"): _LOCAL,
    ("POST", TEMPORAL): _LOCAL,
    ("GET", TEMPORAL): _TEMPORAL_QUERY,
    ("POST", f"{V1}/temporal/entityOperations/query"): _LOCAL | frozenset({
        "limit", "offset"}),
    ("GET", f"{TEMPORAL}/{{entity_id}}"): _TEMPORAL_READ,
    ("DELETE", f"{TEMPORAL}/{{entity_id}}"): _LOCAL,
    ("POST", f"{TEMPORAL}/{{entity_id}}/attrs"): _LOCAL,
    ("DELETE", f"{TEMPORAL}/{{entity_id}}/attrs/{{attr}}"): _LOCAL | frozenset({
        "datasetId", "deleteAll"}),
    ("DELETE", f"{TEMPORAL}/{{entity_id}}/attrs/{{attr}}/{{instance_id}}"): _LOCAL,
    ("PATCH", f"{TEMPORAL}/{{entity_id}}/attrs/{{attr}}/{{instance_id}}"): _LOCAL,
}


def check_parameters(request: web.Request) -> None:
    """Raise ``InvalidRequest`` naming the first URI parameter the operation does not define."""
    if not request.query:
        return
    resource = request.match_info.route.resource
    if resource is None:
        return
    template = resource.canonical.rstrip("/") or "/"
    allowed = ALLOWED.get((request.method, template))
    if allowed is None:
        return
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown URI parameter {unknown[0][:64]!r} for {request.method} "
                             f"{template}; this operation takes {', '.join(sorted(allowed))}"
                             if allowed else f"unknown URI parameter {unknown[0][:64]!r}: "
                             f"{request.method} {template} takes none")
