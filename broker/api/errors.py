"""Errors that only the HTTP edge raises (media types, sizes, scopes), under ``BrokerError``.

    BrokerError
    ├── BadRequest
    │   ├── InvalidRequest        invalid_request         (a body that is not JSON)
    │   ├── NotAcceptable         not_acceptable          (406)
    │   ├── UnsupportedMediaType  unsupported_media_type  (415)
    │   ├── BodyTimeout           body_timeout            (408)
    │   └── LimitExceeded
    │       ├── PayloadTooLarge   payload_too_large       (413)
    │       └── TooManyResults    too_many_results        (403, as NGSI-LD 1.8 says)
    ├── Unauthenticated           missing_token / invalid_token  (401)
    ├── InsufficientScope         insufficient_scope      (403)
    ├── MethodNotAllowed          method_not_allowed      (405)
    └── RequestTimeLimit          request_time_limit      (503)
"""

from __future__ import annotations

from ..errors import BadRequest, BrokerError, LimitExceeded, Unauthenticated


class InvalidRequest(BadRequest):
    """The request body is not well formed (not JSON, empty, nested too deeply)."""

    code = "invalid_request"


class NotAcceptable(BadRequest):
    """None of the media types in Accept can be produced."""

    code = "not_acceptable"


class UnsupportedMediaType(BadRequest):
    """The request body's media type is not one the operation accepts."""

    code = "unsupported_media_type"


class BodyTimeout(BadRequest):
    """The request body did not arrive within the configured time."""

    code = "body_timeout"


class RequestTimeLimit(BrokerError):
    """The request took longer than [http] request_timeout_seconds."""

    code = "request_time_limit"


class PayloadTooLarge(LimitExceeded):
    """The request body is larger than the configured maximum."""

    code = "payload_too_large"


class TooManyResults(LimitExceeded):
    """The requested page is larger than the configured maximum."""

    code = "too_many_results"


class InvalidToken(Unauthenticated):
    """The bearer token is invalid or expired."""

    code = "invalid_token"


class InsufficientScope(BrokerError):
    """The token does not carry the scope the operation needs."""

    code = "insufficient_scope"


class MethodNotAllowed(BrokerError):
    """The resource does not support this method."""

    code = "method_not_allowed"
