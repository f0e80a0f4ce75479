"""Console sessions: a random cookie per sign-in, its SHA-256 and CSRF token in the store.

The cookie is ``Secure; HttpOnly; SameSite=Strict`` and scoped to ``/console``; the server
keeps the session, so signing out (or removing the operator) ends it everywhere at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web

from trust.clock import Clock

from ..store.base import ConsoleSession, OperatorRow, Store

# Cookies are not kept apart by port: two nodes on one host (a demo) each name theirs after
# the node, so that signing in to one does not sign the operator out of the other.
COOKIE = "renkei_console"
# Before sign-in there is no session yet: the sign-in form's CSRF token is a double-submit
# value in a cookie of its own.
LOGIN_COOKIE = "renkei_console_login"
PATH = "/console"


def cookie_names(node_id: str) -> tuple[str, str]:
    """(session cookie, sign-in cookie) of a node (member ids are cookie-name safe)."""
    return f"{COOKIE}_{node_id}", f"{LOGIN_COOKIE}_{node_id}"


@dataclass(frozen=True)
class SignedIn:
    """The operator behind a request, with its session's CSRF token."""

    operator: str
    role: str
    csrf: str
    token_hash: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison of two CSRF tokens (empty never matches)."""
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(),
                                                                 expected.encode())


def set_cookie(response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    """A console cookie: Secure, HttpOnly, SameSite=Strict, only sent to ``/console``."""
    response.set_cookie(name, value, path=PATH, secure=True, httponly=True, samesite="Strict",
                        max_age=max_age)


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path=PATH, secure=True, httponly=True, samesite="Strict")


class SessionBook:
    """Opening, finding and closing sessions."""

    def __init__(self, store: Store, clock: Clock, lifetime_seconds: int) -> None:
        self._store = store
        self._clock = clock
        self.lifetime = lifetime_seconds

    async def open(self, operator: OperatorRow) -> str:
        """A new session for ``operator``; returns the cookie value (shown to nobody else)."""
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        await self._store.add_session(ConsoleSession(token_hash(token), operator.name,
                                                     secrets.token_urlsafe(32), now,
                                                     now + self.lifetime))
        return token

    async def find(self, token: str) -> SignedIn | None:
        """The signed-in operator of a cookie value, if the session and operator still exist."""
        if not token or len(token) > 200:
            return None
        hashed = token_hash(token)
        session = await self._store.get_session(hashed, self._clock.now())
        if session is None:
            return None
        operator = await self._store.get_operator(session.operator)
        if operator is None:
            return None
        return SignedIn(operator.name, operator.role, session.csrf, hashed)

    async def close(self, signed_in: SignedIn) -> None:
        await self._store.delete_session(signed_in.token_hash)
