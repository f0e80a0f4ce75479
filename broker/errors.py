"""Errors raised by the broker, each with a stable code and a message safe to show a caller.

    BrokerError                      code: broker_error
    ├── ConfigError                  bad_config         (names the file and the key)
    ├── UnknownRuleSet               unknown_rule_set   (bundled:NAME that is not bundled)
    ├── Unauthenticated              missing_token      (no credentials at all)
    ├── BadRequest                   bad_request        (a request the caller can fix)
    │   ├── LimitExceeded            limit_exceeded     (body, nesting, page size)
    │   └── LoopDetected             loop_detected      (a forwarding cycle)
    ├── NotFound                     not_found
    ├── AlreadyExists                already_exists
    ├── NotSupported                 not_supported
    ├── PeerError                    peer_error         (a call to another node failed)
    │   ├── PeerUnavailable          peer_unavailable
    │   ├── PeerDeadlineExceeded     deadline_exceeded
    │   ├── DeliveryPending          delivery_pending   (stored here, not yet at the peer)
    │   └── PeerRejected             peer_rejected      (carries the peer's reason code)
    └── StoreError                   store_error
        └── StoreFull                store_full         (no space left: writes refused)

``trust.errors.TrustError`` and ``mappings.errors.MappingError`` are the other two roots; the
transports map all three in one module each (``federation/status.py``, ``api/problems.py``).
"""

from __future__ import annotations


class BrokerError(Exception):
    """Root of broker errors. ``code`` is stable; ``str(err)`` is safe to show a caller."""

    code = "broker_error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code


class ConfigError(BrokerError):
    """The node configuration is invalid."""

    code = "bad_config"

    def __init__(self, file: str, key: str, expected: str) -> None:
        super().__init__(f"{file}: key '{key}': {expected}")
        self.file = file
        self.key = key
        self.expected = expected


class UnknownRuleSet(BrokerError):
    """``bundled:NAME`` names no rule set shipped with Renkei; the message lists those that are."""

    code = "unknown_rule_set"

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        import difflib  # only on this error path

        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r} (bundled:{close[0]})? " if close else ""
        super().__init__(f"no bundled rule set {name!r}; {hint}bundled rule sets: "
                         f"{', '.join(known)}")
        self.name = name
        self.known = known


class Unauthenticated(BrokerError):
    """The request carries no credentials."""

    code = "missing_token"


class BadRequest(BrokerError):
    """The request is malformed."""

    code = "bad_request"


class LimitExceeded(BadRequest):
    """The request exceeds a configured size limit."""

    code = "limit_exceeded"


class LoopDetected(BadRequest):
    """The request already passed through this node."""

    code = "loop_detected"


class NotFound(BrokerError):
    """No such resource."""

    code = "not_found"


class AlreadyExists(BrokerError):
    """The resource already exists."""

    code = "already_exists"


class NotSupported(BrokerError):
    """The operation is not supported."""

    code = "not_supported"


class PeerError(BrokerError):
    """A call to another node failed."""

    code = "peer_error"

    def __init__(self, peer: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{peer}: {message}", code=code)
        self.peer = peer


class PeerUnavailable(PeerError):
    """The peer could not be reached."""

    code = "peer_unavailable"


class PeerDeadlineExceeded(PeerError):
    """The peer did not answer before the deadline."""

    code = "deadline_exceeded"


class DeliveryPending(PeerError):
    """An agreement message is stored and signed here but did not reach the peer yet; the
    running node resends it with backoff (``renkei agreement send ID`` resends it now)."""

    code = "delivery_pending"


class PeerRejected(PeerError):
    """The peer refused the request; ``reason`` is the peer's stable reason code."""

    code = "peer_rejected"

    def __init__(self, peer: str, message: str, *, reason: str, status: str) -> None:
        super().__init__(peer, message, code=reason or self.code)
        self.reason = reason
        self.status = status


class StoreError(BrokerError):
    """The store failed."""

    code = "store_error"


class StoreFull(StoreError):
    """The disk holding the store is full: writes are refused until space is freed, while
    reads go on being served."""

    code = "store_full"
