"""Signing in and out. The sign-in form's CSRF token is a double-submit cookie (there is no
session yet); failed sign-ins per operator name are limited per 5-minute window."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web

from .context import Route, console_of, html_response, who_of
from .layout import CSRF_FIELD, csrf_input, page
from .markup import el
from .sessions import clear_cookie, same_token, set_cookie

log = logging.getLogger("renkei.console")
WINDOW_SECONDS = 300
HOME = "/console/federation"


def routes() -> list[Route]:
    return [Route("GET", "/", home), Route("GET", "/login", login_form),
            Route("POST", "/login", login), Route("POST", "/logout", logout, role="viewer")]


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(HOME)


def _form(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    console = console_of(request)
    deps = console.deps
    token = secrets.token_urlsafe(24)
    body = el("form",
              csrf_input(None, token),
              el("label", "Operator", for_="name"),
              el("input", id="name", name="name", autocomplete="username", required=True,
                 maxlength=64, autofocus=True),
              el("label", "Password", for_="password"),
              el("input", id="password", name="password", type="password",
                 autocomplete="current-password", required=True, maxlength=1024),
              el("button", "Sign in", type="submit"),
              method="post", action="/console/login", class_="block")
    notice = ("error", error) if error else None
    response = html_response(page("Sign in", body, node_id=deps.node_id,
                                  node_name=deps.node_name, who=None, notice=notice), status)
    set_cookie(response, console.login_cookie, token, 600)
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    return _form(request)


async def login(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    if not same_token(str(form.get(CSRF_FIELD, "")), request.cookies.get(console.login_cookie, "")):
        return _form(request, "The sign-in form expired or did not come from this console: "
                              "sign in again.", 403)
    name = str(form.get("name", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    deps = console.deps
    window = int(deps.clock.now()) // WINDOW_SECONDS
    failures = await deps.store.increment_counter(f"console-login:{name}", window, 0)
    if failures >= deps.config.max_failed_logins:
        return _form(request, "Too many failed sign-ins for this name: wait five minutes.",
                     429)
    operator = await console.accounts.authenticate(name, password)
    if operator is None:
        await deps.store.increment_counter(f"console-login:{name}", window, 1)
        log.warning("console: failed sign-in for %r from %s", name, request.remote)
        return _form(request, "Wrong operator name or password.", 401)
    token = await console.sessions.open(operator)
    log.info("console: %s signed in from %s", operator.name, request.remote)
    response = web.HTTPSeeOther(HOME)
    set_cookie(response, console.cookie, token, deps.config.session_seconds)
    clear_cookie(response, console.login_cookie)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    await console.sessions.close(who_of(request))
    response = web.HTTPSeeOther("/console/login")
    clear_cookie(response, console.cookie)
    raise response
