"""The objects the console's handlers share, built once from ``ConsoleDeps``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from ..service.audit_log import AuditLog
from .accounts import OperatorAccounts
from .deps import ConsoleDeps
from .markup import Markup
from .sessions import SessionBook, SignedIn

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Notices shown on the next page of a session (post, redirect, get), by session hash.
NOTICES_KEPT = 1000


@dataclass
class Console:
    deps: ConsoleDeps
    accounts: OperatorAccounts
    sessions: SessionBook
    cookie: str  # the session cookie's name (sessions.cookie_names)
    login_cookie: str
    notices: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def audit(self) -> AuditLog:
        return self.deps.audit

    def notify(self, who: SignedIn, kind: str, text: str) -> None:
        if len(self.notices) >= NOTICES_KEPT:
            self.notices.pop(next(iter(self.notices)))
        self.notices[who.token_hash] = (kind, text)

    async def record_change(self, who: SignedIn, operation: str, agreement_id: str,
                            details: dict[str, str | int], ok: bool = True,
                            reason: str = "operator") -> None:
        """Every change made in the console, in the audit log with the operator's name."""
        audit = self.deps.audit
        await audit.record(f"operator:{who.operator}", agreement_id, f"console.{operation}",
                           audit.digest_request(operation, details), ok, reason, 0, details)


CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)
WHO: web.RequestKey[SignedIn] = web.RequestKey("console_who", SignedIn)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below /console
    handler: Handler
    role: str = "viewer"  # the role a POST needs (GETs need a signed-in operator)


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def who_of(request: web.Request) -> SignedIn:
    return request[WHO]


def html_response(body: Markup, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
