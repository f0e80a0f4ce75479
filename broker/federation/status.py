"""The one mapping between domain errors and gRPC status, in both directions.

Server side: an exception is mapped by walking its MRO to the first class listed here; the
stable reason code travels in the trailing metadata entry ``renkei-reason`` and the safe
message as the status details. Anything unmapped becomes INTERNAL, logged in full, shown as a
code only. Client side: ``peer_error`` turns a ``grpc.RpcError`` back into a ``PeerError``.
"""

from __future__ import annotations

import contextvars
import logging
from typing import NoReturn

import grpc

from mappings.errors import ContextNotAvailable, MappingError
from trust.errors import (
    AgreementError,
    AuthenticationError,
    DirectoryError,
    GeometryError,
    PolicyDenied,
    RateLimited,
    TrustError,
    WitnessError,
)

from ..errors import (
    AlreadyExists,
    BadRequest,
    BrokerError,
    LimitExceeded,
    NotFound,
    NotSupported,
    PeerDeadlineExceeded,
    PeerError,
    PeerRejected,
    PeerUnavailable,
    StoreFull,
    Unauthenticated,
)

log = logging.getLogger("renkei.federation")
REASON_KEY = "renkei-reason"
# A witness's size_conflict names the size it last cosigned (C2SP tlog-witness answers 409
# with it in the body); the log rebuilds its consistency proof from there.
KNOWN_SIZE_KEY = "renkei-known-size"
SC = grpc.StatusCode
# What ``abort`` answered the current call (status name, reason code): the access log reads it.
ABORTED: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "renkei_aborted", default=None)
# Witness refusals by reason, as tlog-witness distinguishes them (404, 403, 400, 409, 422).
_WITNESS: dict[str, grpc.StatusCode] = {
    "unknown_log": SC.NOT_FOUND,
    "untrusted_checkpoint": SC.PERMISSION_DENIED,
    "invalid_request": SC.INVALID_ARGUMENT,
    "size_conflict": SC.FAILED_PRECONDITION,
    "root_conflict": SC.FAILED_PRECONDITION,
    "inconsistent_tree": SC.FAILED_PRECONDITION,
}

_STATUS: dict[type[BaseException], grpc.StatusCode] = {
    RateLimited: SC.RESOURCE_EXHAUSTED,
    AuthenticationError: SC.UNAUTHENTICATED,
    PolicyDenied: SC.PERMISSION_DENIED,
    DirectoryError: SC.UNAVAILABLE,
    AgreementError: SC.INVALID_ARGUMENT,
    GeometryError: SC.INVALID_ARGUMENT,
    TrustError: SC.PERMISSION_DENIED,
    Unauthenticated: SC.UNAUTHENTICATED,
    LimitExceeded: SC.RESOURCE_EXHAUSTED,
    BadRequest: SC.INVALID_ARGUMENT,
    NotFound: SC.NOT_FOUND,
    AlreadyExists: SC.ALREADY_EXISTS,
    NotSupported: SC.UNIMPLEMENTED,
    PeerUnavailable: SC.UNAVAILABLE,
    PeerDeadlineExceeded: SC.DEADLINE_EXCEEDED,
    ContextNotAvailable: SC.FAILED_PRECONDITION,
    MappingError: SC.INVALID_ARGUMENT,
    # The provider's disk is full: it cannot audit the call, so it refuses it for now.
    StoreFull: SC.UNAVAILABLE,
    BrokerError: SC.INTERNAL,
}


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str, str]:
    """(status, reason code, safe message) for an exception."""
    if isinstance(exc, WitnessError):
        return _WITNESS.get(exc.code, SC.PERMISSION_DENIED), exc.code, str(exc)
    for cls in type(exc).__mro__:
        status = _STATUS.get(cls)
        if status is not None:
            code = getattr(exc, "code", "error")
            if status is SC.INTERNAL:
                log.error("internal error answered as INTERNAL: %r", exc, exc_info=exc)
                return status, code, f"internal error ({code})"
            return status, code, str(exc)
    log.error("unmapped error answered as INTERNAL: %r", exc, exc_info=exc)
    return SC.INTERNAL, "internal", "internal error"


async def abort(context: grpc.aio.ServicerContext, exc: BaseException) -> NoReturn:
    """End the call with the mapped status and the reason code in trailing metadata."""
    status, code, message = status_for(exc)
    trailing = [(REASON_KEY, code)]
    if isinstance(exc, WitnessError) and exc.code == "size_conflict":
        trailing.append((KNOWN_SIZE_KEY, str(exc.known_size)))
    context.set_trailing_metadata(tuple(trailing))
    ABORTED.set((status.name, code))
    await context.abort(status, message)
    raise AssertionError("unreachable")  # context.abort always raises


def reason_of(error: grpc.RpcError, key: str = REASON_KEY) -> str:
    """The peer's stable reason code (or another ``key``) from trailing metadata."""
    trailing = getattr(error, "trailing_metadata", None)
    metadata = trailing() if callable(trailing) else None
    for name, value in metadata or ():
        if name == key:
            return str(value)
    return ""


def peer_error(peer: str, error: grpc.RpcError) -> PeerError:
    """Translate a failed call into the broker's peer errors (chain with ``from``)."""
    code = error.code() if hasattr(error, "code") else SC.UNKNOWN
    details = (error.details() if hasattr(error, "details") else "") or str(code)
    if code is SC.UNAVAILABLE:
        return PeerUnavailable(peer, details)
    if code is SC.DEADLINE_EXCEEDED:
        return PeerDeadlineExceeded(peer, "no answer before the deadline")
    if code is SC.CANCELLED:
        return PeerUnavailable(peer, "call cancelled", code="cancelled")
    reason = reason_of(error)
    return PeerRejected(peer, details, reason=reason or code.name.lower(), status=code.name)
