"""Every error root maps to a ProblemDetails type by its MRO; unknown errors stay opaque."""

from __future__ import annotations

from broker.api.problems import problem_body
from broker.errors import (
    AlreadyExists,
    LimitExceeded,
    NotFound,
    NotSupported,
    PeerRejected,
    PeerUnavailable,
)
from mappings.errors import ContextNotAvailable, RecordError
from trust.errors import AuthenticationError, PolicyDenied, RateLimited

NGSI = "https://uri.etsi.org/ngsi-ld/errors/"


def test_domain_errors_map_to_specification_types() -> None:
    cases = [
        (NotFound("x"), 404, NGSI + "ResourceNotFound"),
        (AlreadyExists("x"), 409, NGSI + "AlreadyExists"),
        (NotSupported("x"), 422, NGSI + "OperationNotSupported"),
        (LimitExceeded("x"), 400, NGSI + "BadRequestData"),  # a subclass inherits its category
        (ContextNotAvailable("https://example.org/c.jsonld"), 503,
         NGSI + "LdContextNotAvailable"),
        (RecordError("value_invalid", "bad"), 400, NGSI + "BadRequestData"),
        (AuthenticationError("token_expired"), 401, "https://w3id.org/renkei/errors/Unauthorized"),
        (RateLimited("rate_limited"), 429, "https://w3id.org/renkei/errors/RateLimited"),
        (PolicyDenied("no_agreement"), 403, "https://w3id.org/renkei/errors/PolicyDenied"),
        # A member that did not answer: try again later (503); one that answered wrongly: 502.
        (PeerUnavailable("jp-1", "down"), 503, "https://w3id.org/renkei/errors/PeerUnavailable"),
        (PeerRejected("jp-1", "no", reason="bad", status="INVALID_ARGUMENT"), 502,
         "https://w3id.org/renkei/errors/PeerError"),
    ]
    for exc, status, kind in cases:
        got_status, body = problem_body(exc)
        assert (got_status, body["type"]) == (status, kind), exc
        assert body["code"] == exc.code


def test_unknown_errors_are_internal_and_say_nothing() -> None:
    status, body = problem_body(RuntimeError("secret path /etc/key"))
    assert status == 500 and body["type"] == NGSI + "InternalError"
    assert "secret" not in body["detail"]
