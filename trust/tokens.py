"""Node-to-node tokens: short-lived JWTs signed by the calling node, verified in one call.

Verification (:meth:`TokenVerifier.verify`) runs every check or none; there is no way to get a
``VerifiedCaller`` without all of them:

1. size limit, strict compact-JWS parsing, header allow-list (``alg``, ``kid``, ``typ``; so
   ``jku``, ``x5u``, ``jwk``, ``x5c`` and ``crit`` are refused), algorithm allow-list from
   :class:`TokenPolicy`;
2. the key is looked up by ``kid`` only under the claimed ``iss`` in the signed directory:
   unknown or revoked members and keys are refused before any cryptography;
3. the signature (PyJWT's algorithm implementation, with the key's own algorithm);
4. claims: ``aud`` is this node, ``exp``/``nbf``/``iat`` against the injected clock with
   leeway, lifetime at most ``max_lifetime_seconds``, ``sub`` is the issuer (the directory
   names no member acting for another), optional TLS pinning of the issuer;
5. replay: the ``jti`` is remembered in the (persistent) replay cache together with the channel
   binding it was first presented on.

Token replay rule: a verified token is cached until it expires. The replay cache binds each
``jti`` to the channel it was first presented on. Re-presenting the same token on the same
channel is a cache hit (no signature check); on another channel, or with no binding at all, it
is ``replayed``. The verified-token cache is dropped for members and keys that a newer
directory version revokes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from trust.canonical import canonical_bytes, loads_strict
from trust.clock import Clock
from trust.directory import Directory
from trust.errors import AuthenticationError, DocumentError, InvalidArgument
from trust.jwk import SUPPORTED_ALGORITHMS
from trust.jws import parse_compact, verify_parsed
from trust.keys import NodeKey

__all__ = [
    "MemoryReplayCache",
    "ReplayCache",
    "TokenIssuer",
    "TokenPolicy",
    "TokenVerifier",
    "VerifiedCaller",
]

TOKEN_TYP = "JWT"
_ALLOWED_HEADERS = frozenset({"alg", "kid", "typ"})
_MAX_JTI = 128


class TokenIssuer:
    """Issues this node's outgoing tokens: one fresh ``jti`` per call."""

    def __init__(self, member_id: str, key: NodeKey, clock: Clock,
                 lifetime_seconds: int = 60) -> None:
        if not 0 < lifetime_seconds <= 300:
            raise InvalidArgument("invalid_setting", "token lifetime must be in (0, 300] seconds")
        self._member_id = member_id
        self._key = key
        self._clock = clock
        self._lifetime = lifetime_seconds

    def issue(self, audience: str, agreement_id: str | None = None) -> str:
        """A token for ``audience`` (its ``sub`` is this node: it acts for no one else)."""
        now = int(self._clock.now())
        claims: dict[str, Any] = {
            "iss": self._member_id,
            "sub": self._member_id,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + self._lifetime,
            "jti": secrets.token_urlsafe(18),
        }
        if agreement_id is not None:
            claims["agr"] = agreement_id
        return self._key.sign_compact(canonical_bytes(claims), TOKEN_TYP)


@dataclass(frozen=True)
class TokenPolicy:
    """Verification settings, from node config. Defaults are the federation's."""

    algorithms: tuple[str, ...] = ("ES256", "EdDSA")
    leeway_seconds: float = 30.0
    max_token_bytes: int = 4096
    max_lifetime_seconds: int = 300
    max_cached_tokens: int = 100_000

    def __post_init__(self) -> None:
        unknown = set(self.algorithms) - SUPPORTED_ALGORITHMS
        if not self.algorithms or unknown:
            raise InvalidArgument("invalid_setting", f"algorithms must be a non-empty subset of "
                             f"{sorted(SUPPORTED_ALGORITHMS)}, not {sorted(unknown)}")
        if self.leeway_seconds < 0 or self.leeway_seconds > 300:
            raise InvalidArgument("invalid_setting", "leeway_seconds must be in [0, 300]")
        if self.max_lifetime_seconds <= 0 or self.max_token_bytes <= 0:
            raise InvalidArgument("invalid_setting", "limits must be positive")
        object.__setattr__(self, "algorithms", tuple(self.algorithms))


@dataclass(frozen=True, slots=True)
class VerifiedCaller:
    """Who called, as established by a verified token."""

    member_id: str
    subject: str
    agreement_id: str | None
    jti: str
    kid: str
    issued_at: float
    expires_at: float


class ReplayCache(Protocol):
    """Remembers token ids until they expire; the broker persists it (SQLite/PostgreSQL)."""

    async def remember(self, jti: str, issuer: str, binding: str | None,
                       expires_at: float) -> bool:
        """Record ``(issuer, jti)``; return True if it may be accepted.

        True when the pair is new, or when it was first seen with the same non-None
        ``binding``. False when it was seen before with another binding, or when ``binding`` is
        None and the pair was seen before at all. Entries may be dropped after ``expires_at``.
        """
        ...


class MemoryReplayCache:
    """An in-process :class:`ReplayCache` (tests, single-process dev nodes)."""

    def __init__(self, clock: Clock, max_entries: int = 1_000_000) -> None:
        self._clock = clock
        self._max = max_entries
        self._seen: dict[tuple[str, str], tuple[str | None, float]] = {}

    async def remember(self, jti: str, issuer: str, binding: str | None,
                       expires_at: float) -> bool:
        key = (issuer, jti)
        seen = self._seen.get(key)
        if seen is not None and seen[1] >= self._clock.now():
            return binding is not None and seen[0] == binding
        if len(self._seen) >= self._max:
            self._purge()
        self._seen[key] = (binding, expires_at)
        return True

    def _purge(self) -> None:
        now = self._clock.now()
        self._seen = {k: v for k, v in self._seen.items() if v[1] >= now}
        if len(self._seen) >= self._max:
            # Still full of live entries: refusing new tokens is safer than forgetting old
            # ones (forgetting would re-open replay), so fail closed.
            raise AuthenticationError("replayed", "replay cache is full; retry later")

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(frozen=True, slots=True)
class _Cached:
    caller: VerifiedCaller
    binding: str
    valid_until: float


def _claim_str(claims: Mapping[str, Any], name: str, max_len: int = 256) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise AuthenticationError("malformed_token", f"claim {name!r} must be a short string")
    return value


def _claim_time(claims: Mapping[str, Any], name: str, required: bool = True) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthenticationError("malformed_token", f"claim {name!r} must be a number")
    return float(value)


class TokenVerifier:
    """Verifies incoming tokens for node ``self_id`` (see the module docstring)."""

    def __init__(self, self_id: str, directory: Callable[[], Directory], policy: TokenPolicy,
                 clock: Clock, replay_cache: ReplayCache) -> None:
        self._self_id = self_id
        self._directory = directory
        self._policy = policy
        self._clock = clock
        self._replay = replay_cache
        self._cache: dict[str, _Cached] = {}
        self._directory_version: int | None = None

    async def verify(self, token: str, *, binding: str | None = None,
                     peer_fingerprint: str | None = None) -> VerifiedCaller:
        """Verify ``token`` presented on channel ``binding``; raise ``AuthenticationError``.

        ``binding`` identifies the channel (the caller's TLS certificate fingerprint, or the
        peer address in insecure dev mode). ``peer_fingerprint``, when given, is the caller's
        TLS certificate fingerprint and must be one the directory pins for the issuer.
        """
        directory = self._directory()
        if directory.version != self._directory_version:
            self._on_new_directory(directory)
        now = self._clock.now()
        if not isinstance(token, str):
            raise AuthenticationError("malformed_token")
        cached = self._cache.get(token)
        if cached is not None:
            if binding is None or binding != cached.binding:
                raise AuthenticationError("replayed")
            if now > cached.valid_until:
                del self._cache[token]
                raise AuthenticationError("token_expired")
            if peer_fingerprint is not None:
                self._check_pinned(directory, cached.caller.member_id, peer_fingerprint)
            return cached.caller
        caller = self._verify_cold(token, directory, now, peer_fingerprint)
        valid_until = caller.expires_at + self._policy.leeway_seconds
        if not await self._replay.remember(caller.jti, caller.member_id, binding, valid_until):
            raise AuthenticationError("replayed")
        if binding is not None:
            self._remember(token, _Cached(caller, binding, valid_until), now)
        return caller

    def _verify_cold(self, token: str, directory: Directory, now: float,
                     peer_fingerprint: str | None) -> VerifiedCaller:
        policy = self._policy
        leeway = policy.leeway_seconds
        if len(token) > policy.max_token_bytes:
            # A token no node issues is malformed, whatever part of it is oversized (a 10 kB
            # kid, a 100 kB payload): one stable reason for peers (issue 12).
            raise AuthenticationError(
                "malformed_token", f"token exceeds {policy.max_token_bytes} bytes")
        parsed = parse_compact(token, max_bytes=policy.max_token_bytes,
                               algorithms=policy.algorithms, allowed_headers=_ALLOWED_HEADERS)
        if parsed.header.get("typ", TOKEN_TYP) != TOKEN_TYP:
            raise AuthenticationError("malformed_token", "typ must be JWT")
        try:
            claims = loads_strict(parsed.payload, max_bytes=policy.max_token_bytes)
        except DocumentError:
            raise AuthenticationError("malformed_token", "claims are not JSON") from None
        if not isinstance(claims, dict):
            raise AuthenticationError("malformed_token", "claims are not a JSON object")
        issuer = _claim_str(claims, "iss", 64)
        # Key lookup only under the claimed issuer, only in the signed directory; validity is
        # judged at verification time, with leeway for clock skew between nodes.
        key = directory.signing_key(issuer, parsed.kid, now, leeway=leeway)
        verify_parsed(parsed, key.public_key, key.algorithm)

        audience = claims.get("aud")
        if audience != self._self_id:
            raise AuthenticationError("audience_mismatch")
        exp = _claim_time(claims, "exp")
        iat = _claim_time(claims, "iat")
        nbf = _claim_time(claims, "nbf", required=False)
        assert exp is not None and iat is not None
        if now > exp + leeway:
            raise AuthenticationError("token_expired")
        if iat > now + leeway or (nbf is not None and nbf > now + leeway):
            raise AuthenticationError("token_not_yet_valid")
        if exp <= iat:
            raise AuthenticationError("malformed_token", "exp must follow iat")
        if exp - iat > policy.max_lifetime_seconds:
            raise AuthenticationError(
                "lifetime_too_long", f"token lifetime exceeds {policy.max_lifetime_seconds} s")
        jti = _claim_str(claims, "jti", _MAX_JTI)
        subject = _claim_str(claims, "sub", 64)
        if subject != issuer:
            # The signed directory states no member acting for another, so a token that
            # names another member is refused rather than accepted with its sub ignored.
            raise AuthenticationError("issuer_mismatch", "sub must be the issuer")
        agreement = claims.get("agr")
        if agreement is not None and (not isinstance(agreement, str) or len(agreement) > 128):
            raise AuthenticationError("malformed_token", "claim 'agr' must be a short string")
        if peer_fingerprint is not None:
            self._check_pinned(directory, issuer, peer_fingerprint)
        return VerifiedCaller(issuer, subject, agreement, jti, key.kid, iat, exp)

    @staticmethod
    def _check_pinned(directory: Directory, issuer: str, fingerprint: str) -> None:
        member = directory.member(issuer)
        if member is None or fingerprint not in member.tls_fingerprints:
            raise AuthenticationError(
                "issuer_mismatch", "TLS certificate is not pinned for the token issuer")

    def _remember(self, token: str, entry: _Cached, now: float) -> None:
        if len(self._cache) >= self._policy.max_cached_tokens:
            self._cache = {t: c for t, c in self._cache.items() if c.valid_until >= now}
            while len(self._cache) >= self._policy.max_cached_tokens:
                # Oldest first (dicts keep insertion order). Evicting only costs a signature
                # check later: the replay cache still holds the binding.
                del self._cache[next(iter(self._cache))]
        self._cache[token] = entry

    def _on_new_directory(self, directory: Directory) -> None:
        """Drop cached tokens whose member or key the new directory no longer accepts."""
        now = self._clock.now()
        keep: dict[str, _Cached] = {}
        for token, entry in self._cache.items():
            caller = entry.caller
            try:
                directory.signing_key(caller.member_id, caller.kid, now,
                                      leeway=self._policy.leeway_seconds)
            except AuthenticationError:
                continue
            keep[token] = entry
        self._cache = keep
        self._directory_version = directory.version

    def cached_tokens(self) -> int:
        """Number of verified tokens held in the cache (for metrics)."""
        return len(self._cache)

