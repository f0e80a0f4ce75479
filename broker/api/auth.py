"""Who is calling the NGSI-LD API: client credentials, bearer tokens and scopes.

City OS applications and service providers are registered by the operator
(``renkei client add``), each with one purpose (the purpose its federated reads are made
under) and scopes (``read``, ``write``). Only a salted hash of the secret is stored. The token
endpoint implements the OAuth2 client-credentials grant with authlib and issues short-lived
HS256 JWTs signed with a key this node keeps in its store (so that replicas sharing the store
accept each other's tokens). Verification is one call, cached until the token expires; the
client's record is read on every request besides, so disabling a client ends its live tokens
at once on every replica.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload

from trust.agreements import PURPOSES
from trust.clock import Clock

from ..errors import BadRequest
from ..ngsi.scope import Audience
from ..store.base import Store
from .errors import InvalidToken

log = logging.getLogger("renkei.api.auth")
CLIENTS = "http_clients"
API_STATE = "http_api"
SCOPES = ("read", "write")
ISSUER_PREFIX = "renkei-http:"
# The caller of the loopback dev modes ([http] dev_open*_on_loopback): no registered client.
DEV_CLIENT = "dev-loopback"


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request. ``agreements`` and ``third_party`` come from
    the client's record, read on every request (see ``ClientRegistry.active``)."""

    client_id: str
    purpose: str | None
    scopes: frozenset[str]
    expires_at: float = 0.0
    dev_open: bool = False
    agreements: frozenset[str] | None = None  # None: any agreement for its purpose
    third_party: bool = False

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def audience(self) -> Audience:
        """Who the rows of this caller's federated reads go to."""
        return Audience(self.purpose, self.agreements, self.third_party)


def _hash(secret: str, salt: str) -> str:
    # The secret is 32 random bytes we generated, never a human password: a salted SHA-256 is
    # enough (nothing to brute-force) and keeps the token endpoint cheap.
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


class ClientRegistry:
    """API clients of this node, kept as small named state in the store."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def add(self, name: str, purpose: str, scopes: tuple[str, ...] = ("read",), *,
                  agreements: tuple[str, ...] = (), third_party: bool = False
                  ) -> tuple[str, str]:
        """Register a client; returns ``(client_id, secret)``. The secret is not kept.

        ``agreements``: the only agreements its federated reads may use (empty: any for its
        purpose). ``third_party``: not this member's own application; rows fetched under an
        agreement that forbids onward sharing never go to it."""
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
            raise BadRequest("a client name is 1-64 letters, digits, '-', '_' or '.'")
        if purpose not in PURPOSES:
            raise BadRequest(f"unknown purpose {purpose!r}; one of {sorted(PURPOSES)}")
        if any(not a or len(a) > 128 for a in agreements):
            raise BadRequest("an agreement id is 1-128 characters")
        bad = [s for s in scopes if s not in SCOPES]
        if bad:
            raise BadRequest(f"unknown scope {bad[0]!r}; one of {list(SCOPES)}")
        client_id = f"{name}-{secrets.token_hex(4)}"
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(8)
        await self._store.put_state(CLIENTS, client_id, {
            "name": name, "purpose": purpose, "scopes": list(scopes), "salt": salt,
            "secret_sha256": _hash(secret, salt), "created_at": self._clock.now(),
            "disabled": False, "agreements": list(agreements), "third_party": third_party})
        return client_id, secret

    async def get(self, client_id: str) -> dict[str, Any] | None:
        if not client_id or len(client_id) > 128:
            return None
        record = await self._store.get_state(CLIENTS, client_id)
        return record if isinstance(record, dict) else None

    async def active(self, caller: Caller) -> Caller | None:
        """``caller`` with its client's current bindings, or None when the client is disabled
        or removed (its tokens are refused)."""
        record = await self.get(caller.client_id)
        if record is None or record.get("disabled"):
            return None
        bound = record.get("agreements") or ()
        return dataclasses.replace(caller, agreements=frozenset(bound) if bound else None,
                                   third_party=bool(record.get("third_party")))

    async def audience(self, client_id: str, purpose: str | None) -> Audience:
        """Who rows fetched for ``client_id``'s subscriptions go to, as registered now (a
        disabled or removed client: no agreement at all; the loopback dev caller: any)."""
        if client_id == DEV_CLIENT:
            return Audience(purpose)
        caller = await self.active(Caller(client_id, purpose, frozenset()))
        return caller.audience if caller is not None else Audience(purpose, frozenset())

    async def list(self) -> dict[str, Any]:
        return await self._store.list_state(CLIENTS)

    async def disable(self, client_id: str) -> bool:
        record = await self.get(client_id)
        if record is None:
            return False
        await self._store.put_state(CLIENTS, client_id, {**record, "disabled": True})
        return True


class _Client(ClientMixin):  # type: ignore[misc]
    """authlib's view of a registered client."""

    def __init__(self, client_id: str, record: Mapping[str, Any]) -> None:
        self.client_id = client_id
        self.record = record

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        expected = self.record.get("secret_sha256", "")
        return hmac.compare_digest(_hash(client_secret, self.record.get("salt", "")), expected)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials" and not self.record.get("disabled")

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.record.get("scopes", ()))
        if not scope:
            return " ".join(s for s in SCOPES if s in allowed)
        return " ".join(s for s in scope.split() if s in allowed)


class _Grant(ClientCredentialsGrant):  # type: ignore[misc]
    """Client credentials with the secret in Basic auth or in the form (curl-friendly)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class _FormRequest(OAuth2Request):  # type: ignore[misc]
    """A token request whose form fields are already parsed."""

    def __init__(self, form: Mapping[str, str], headers: Mapping[str, str]) -> None:
        # TLS is terminated in front of the node (or the node is on loopback): authlib's
        # transport check looks at this URI only, so it is given as https.
        super().__init__("POST", "https://renkei.invalid/token", headers=headers)
        self._form = dict(form)
        self.payload = BasicOAuth2Payload(self._form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class _Server(AuthorizationServer):  # type: ignore[misc]
    """authlib's token endpoint for one request, with the client already loaded."""

    def __init__(self, tokens: TokenService, client: _Client | None) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self._client = client
        self._tokens = tokens
        self.register_grant(_Grant)
        self.register_token_generator("default", self._generate)

    def query_client(self, client_id: str) -> _Client | None:
        return self._client if self._client and self._client.client_id == client_id else None

    def save_token(self, token: Any, request: Any) -> None:
        """Tokens are self-contained JWTs: nothing to save."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system here."""

    def _generate(self, grant_type: str, client: _Client, user: Any = None,
                  scope: str | None = None, expires_in: int | None = None,
                  include_refresh_token: bool = False) -> dict[str, Any]:
        # No scope asked for means every scope the client holds (RFC 6749 3.3 default).
        scopes = client.get_allowed_scope(scope or "").split()
        token, lifetime = self._tokens.issue(client.client_id, client.record.get("purpose"),
                                             scopes)
        return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime,
                "scope": " ".join(scopes)}

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Any
                        ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)


class TokenService:
    """Issues and verifies this node's API bearer tokens."""

    def __init__(self, node_id: str, key: bytes, clock: Clock, lifetime: int) -> None:
        self.issuer = ISSUER_PREFIX + node_id
        self._key = key
        self._clock = clock
        self.lifetime = lifetime
        self._cache: dict[str, Caller] = {}

    @classmethod
    async def open(cls, node_id: str, store: Store, clock: Clock, lifetime: int) -> TokenService:
        """Load (or create once) the signing key kept in the store."""
        record = await store.get_state(API_STATE, "token_key")
        if not isinstance(record, dict) or "key" not in record:
            # Replicas starting together on a new store must end up with one key.
            record = await store.claim_state(
                API_STATE, "token_key", {"key": secrets.token_hex(32), "created_at": clock.now()})
        return cls(node_id, bytes.fromhex(record["key"]), clock, lifetime)

    def issue(self, client_id: str, purpose: str | None, scopes: list[str]) -> tuple[str, int]:
        now = int(self._clock.now())
        claims = {"iss": self.issuer, "aud": self.issuer, "sub": client_id, "iat": now,
                  "exp": now + self.lifetime, "jti": secrets.token_hex(8),
                  "scope": " ".join(scopes), "purpose": purpose or ""}
        return jwt.encode(claims, self._key, algorithm="HS256"), self.lifetime

    def verify(self, token: str) -> Caller:
        """The caller a bearer token stands for, or ``InvalidToken``."""
        now = self._clock.now()
        hit = self._cache.get(token)
        if hit is not None:
            if hit.expires_at > now:
                return hit
            del self._cache[token]
            raise InvalidToken("token has expired")
        if len(token) > 4096:
            raise InvalidToken("token is too large")
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], audience=self.issuer,
                                issuer=self.issuer, leeway=5,
                                options={"require": ["exp", "iat", "sub", "iss", "aud"],
                                         "verify_exp": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"token is invalid ({type(exc).__name__})") from None
        if claims["exp"] <= now:  # checked against the injected clock, not time.time()
            raise InvalidToken("token has expired")
        caller = Caller(claims["sub"], claims.get("purpose") or None,
                        frozenset(str(claims.get("scope", "")).split()), float(claims["exp"]))
        if len(self._cache) > 50_000:
            self._cache = {k: v for k, v in self._cache.items() if v.expires_at > now}
        self._cache[token] = caller
        return caller

    async def token_response(self, registry: ClientRegistry, form: Mapping[str, str],
                             headers: Mapping[str, str]) -> tuple[int, Any, list[tuple[str, str]]]:
        """Run the client-credentials grant for one token request."""
        client_id = form.get("client_id", "")
        auth = headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            import base64
            from urllib.parse import unquote

            try:
                decoded = base64.b64decode(auth[6:].strip()).decode()
                client_id = unquote(decoded.partition(":")[0])
            except (ValueError, UnicodeDecodeError):
                client_id = ""
        record = await registry.get(client_id)
        server = _Server(self, _Client(client_id, record) if record else None)
        request = _FormRequest(form, headers)
        started = time.monotonic()
        result: tuple[int, Any, list[tuple[str, str]]] = server.create_token_response(request)
        log.debug("token request for %s took %.1f ms", client_id,
                  (time.monotonic() - started) * 1000)
        return result
