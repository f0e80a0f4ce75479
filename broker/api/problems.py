"""The one mapping from domain errors to NGSI-LD ProblemDetails (RFC 7807 bodies).

The three error roots (``BrokerError``, ``TrustError``, ``MappingError``) and the HTTP edge's own
errors (``broker.api.errors``) are mapped by walking the exception's MRO, so a new subclass
gets its category's answer without touching this table. Anything unmapped is an
``InternalError``: logged here with its traceback, shown to the caller as a code only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from mappings.errors import ContextNotAvailable, MappingError
from trust.errors import (
    AuthenticationError,
    DirectoryError,
    GeometryError,
    PolicyDenied,
    RateLimited,
    TrustError,
)

from ..errors import (
    AlreadyExists,
    BadRequest,
    BrokerError,
    NotFound,
    NotSupported,
    PeerError,
    PeerUnavailable,
    StoreError,
    StoreFull,
    Unauthenticated,
)
from .errors import (
    BodyTimeout,
    InsufficientScope,
    InvalidRequest,
    MethodNotAllowed,
    NotAcceptable,
    PayloadTooLarge,
    RequestTimeLimit,
    TooManyResults,
    UnsupportedMediaType,
)

log = logging.getLogger("renkei.api")
NGSI = "https://uri.etsi.org/ngsi-ld/errors/"
# Statuses NGSI-LD has no error type for get Renkei's own, dereferenceable in the README.
RENKEI = "https://w3id.org/renkei/errors/"


@dataclass(frozen=True)
class Problem:
    status: int
    type: str
    title: str


INTERNAL = Problem(500, NGSI + "InternalError", "Internal error")
_TABLE: dict[type[BaseException], Problem] = {
    # HTTP edge
    InvalidRequest: Problem(400, NGSI + "InvalidRequest", "Invalid request"),
    NotAcceptable: Problem(406, RENKEI + "NotAcceptable", "Not acceptable"),
    UnsupportedMediaType: Problem(415, RENKEI + "UnsupportedMediaType",
                                  "Unsupported media type"),
    PayloadTooLarge: Problem(413, RENKEI + "PayloadTooLarge", "Payload too large"),
    BodyTimeout: Problem(408, RENKEI + "RequestTimeout", "Request body timeout"),
    RequestTimeLimit: Problem(503, RENKEI + "RequestTimeLimit", "Request time limit"),
    TooManyResults: Problem(403, NGSI + "TooManyResults", "Too many results"),
    InsufficientScope: Problem(403, RENKEI + "InsufficientScope", "Insufficient scope"),
    MethodNotAllowed: Problem(405, RENKEI + "MethodNotAllowed", "Method not allowed"),
    # broker
    Unauthenticated: Problem(401, RENKEI + "Unauthorized", "Unauthorized"),
    BadRequest: Problem(400, NGSI + "BadRequestData", "Bad request data"),
    NotFound: Problem(404, NGSI + "ResourceNotFound", "Resource not found"),
    AlreadyExists: Problem(409, NGSI + "AlreadyExists", "Already exists"),
    NotSupported: Problem(422, NGSI + "OperationNotSupported", "Operation not supported"),
    # The member that holds what was asked did not answer: try again later, not "not found".
    PeerUnavailable: Problem(503, RENKEI + "PeerUnavailable", "Federation peer unavailable"),
    PeerError: Problem(502, RENKEI + "PeerError", "A federation peer failed"),
    # A full disk is not the caller's fault nor a bug: 507, naming the full disk.
    StoreFull: Problem(507, RENKEI + "StoreFull", "Insufficient storage"),
    StoreError: INTERNAL,
    BrokerError: INTERNAL,
    # trust
    AuthenticationError: Problem(401, RENKEI + "Unauthorized", "Unauthorized"),
    RateLimited: Problem(429, RENKEI + "RateLimited", "Rate limited"),
    PolicyDenied: Problem(403, RENKEI + "PolicyDenied", "Denied by policy"),
    DirectoryError: Problem(503, RENKEI + "DirectoryUnavailable", "Directory unavailable"),
    GeometryError: Problem(400, NGSI + "BadRequestData", "Bad request data"),
    TrustError: INTERNAL,
    # mappings
    ContextNotAvailable: Problem(503, NGSI + "LdContextNotAvailable",
                                 "JSON-LD context not available"),
    MappingError: Problem(400, NGSI + "BadRequestData", "Bad request data"),
}


def problem_of(exc: BaseException) -> Problem:
    """The ProblemDetails category of an exception (first match along its MRO)."""
    for cls in type(exc).__mro__:
        problem = _TABLE.get(cls)
        if problem is not None:
            return problem
    return INTERNAL


def problem_body(exc: BaseException, instance: str | None = None) -> tuple[int, dict[str, Any]]:
    problem = problem_of(exc)
    code = getattr(exc, "code", None) or "internal_error"
    if problem is INTERNAL:
        log.error("internal error answering %s", instance or "a request", exc_info=exc)
        detail = f"internal error [{code if isinstance(exc, BrokerError) else 'internal'}]"
    else:
        detail = str(exc)
    body: dict[str, Any] = {"type": problem.type, "title": problem.title,
                            "status": problem.status, "detail": detail, "code": code}
    if instance:
        body["instance"] = instance
    return problem.status, body


def problem_response(exc: BaseException, instance: str | None = None) -> web.Response:
    status, body = problem_body(exc, instance)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="renkei"'
        if getattr(exc, "code", "") not in ("missing_token",):
            headers["WWW-Authenticate"] += ', error="invalid_token"'
    elif isinstance(exc, InsufficientScope):
        headers["WWW-Authenticate"] = 'Bearer realm="renkei", error="insufficient_scope"'
    if isinstance(exc, RateLimited) and exc.retry_after:
        headers["Retry-After"] = str(max(1, int(exc.retry_after)))
    elif isinstance(exc, StoreFull):
        headers["Retry-After"] = "30"  # no telling when an operator frees space
    return web.Response(status=status, body=orjson.dumps(body),
                        content_type="application/json", headers=headers)
