"""The console's aiohttp application, mounted at ``/console`` on the node's HTTP port.

One middleware guards every request: security headers (a strict Content-Security-Policy
that allows only this package's own script and stylesheet), the session cookie, the CSRF
token of every POST and the role a change needs. Handlers only render and act.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from trust.errors import TrustError

from ..errors import BrokerError, NotFound
from . import signin
from .accounts import OperatorAccounts
from .context import CONSOLE, WHO, Console, Handler, Route, html_response
from .deps import ConsoleDeps
from .layout import CSRF_FIELD, page
from .markup import el
from .pages import agreements, audit, data, federation, traffic
from .sessions import SessionBook, cookie_names, same_token

log = logging.getLogger("renkei.console")
PREFIX = "/console"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "same-origin"}
OPEN = frozenset({"/login"})
MAX_FORM_BYTES = 64 * 1024


def _static_dir() -> Path:
    return Path(str(resources.files(__package__).joinpath("static")))


class Refused(Exception):
    """A request the guard turns away (status and a reason safe to show)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _guard(roles: dict[tuple[str, str], str]) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        console = request.app[CONSOLE]
        try:
            response = await _guarded(request, handler, console, roles)
        except Refused as exc:
            response = _refusal(console, exc)
        except web.HTTPException as exc:
            if exc.status < 400:  # a redirect: raised on, as aiohttp wants
                exc.headers.update(HEADERS)
                raise
            response = _refusal(console, Refused(exc.status, "no such page"
                                                 if exc.status == 404 else exc.reason))
        response.headers.update(HEADERS)
        return response

    return guard


async def _guarded(request: web.Request, handler: Handler, console: Console,
                   roles: dict[tuple[str, str], str]) -> web.StreamResponse:
    sub = request.path[len(PREFIX):] or "/"
    if sub.startswith("/static/"):
        return await handler(request)
    if request.method == "POST" and (request.content_length or 0) > MAX_FORM_BYTES:
        raise Refused(413, "form too large")
    if sub in OPEN:
        return await handler(request)
    who = await console.sessions.find(request.cookies.get(console.cookie, ""))
    if who is None:
        if request.method == "GET":
            raise web.HTTPSeeOther(f"{PREFIX}/login")
        raise Refused(401, "sign in first: this session is unknown or has expired")
    request[WHO] = who
    if request.method == "POST":
        form = await request.post()
        if not same_token(str(form.get(CSRF_FIELD, "")), who.csrf):
            log.warning("console: POST %s by %s refused: CSRF token missing or wrong",
                        sub, who.operator)
            raise Refused(403, "the form's CSRF token is missing or wrong: reload the page "
                               "and submit it again")
        resource = request.match_info.route.resource
        needed = roles.get(("POST", resource.canonical if resource else ""), "admin")
        if needed == "admin" and who.role != "admin":
            raise Refused(403, f"this change needs the admin role; {who.operator} is a "
                               f"{who.role}")
    try:
        return await handler(request)
    except (BrokerError, TrustError) as exc:
        if request.method != "POST":
            raise Refused(404 if isinstance(exc, NotFound) else 400, str(exc)) from None
        # A refused change: back to the page it came from, with the reason.
        console.notify(who, "error", str(exc))
        raise web.HTTPSeeOther(_back(request)) from None


def _back(request: web.Request) -> str:
    parts = request.path.split("/")
    return "/".join(parts[:3]) if len(parts) > 2 else f"{PREFIX}/federation"


def _refusal(console: Console, exc: Refused) -> web.Response:
    deps = console.deps
    body = page("Refused", el("p", exc.reason, class_="notice error"),
                node_id=deps.node_id, node_name=deps.node_name, who=None)
    return html_response(body, exc.status)


def create_console(deps: ConsoleDeps) -> web.Application:
    """The console application (mount it at ``/console``)."""
    console = Console(deps, OperatorAccounts(deps.store, deps.clock),
                      SessionBook(deps.store, deps.clock, deps.config.session_seconds),
                      *cookie_names(deps.node_id))
    routes: list[Route] = [*signin.routes(), *federation.routes(), *agreements.routes(),
                           *data.routes(), *audit.routes(), *traffic.routes()]
    roles = {(r.method, PREFIX + r.path): r.role for r in routes}
    app = web.Application(middlewares=[_guard(roles)], client_max_size=MAX_FORM_BYTES)
    app[CONSOLE] = console
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
    app.router.add_static("/static/", _static_dir(), append_version=False)
    log.info("node %s: operator console at %s", deps.node_id, PREFIX)
    return app
