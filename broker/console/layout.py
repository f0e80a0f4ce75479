"""The page around every console view: navigation, notices, and forms that carry the CSRF
token. Styles and scripts are files of this package (the CSP allows nothing inline)."""

from __future__ import annotations

import datetime as dt

from .markup import Markup, el, join
from .sessions import SignedIn

PAGES = (("federation", "Federation"), ("agreements", "Agreements"), ("traffic", "Traffic"),
         ("data", "Data"), ("audit", "Audit"))
CSRF_FIELD = "csrf"


def when(t: float | int | None) -> str:
    if not t:
        return "—"
    return dt.datetime.fromtimestamp(float(t), dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def csrf_input(who: SignedIn | None, token: str = "") -> Markup:
    return el("input", type="hidden", name=CSRF_FIELD, value=who.csrf if who else token)


def post_form(action: str, who: SignedIn, *fields: object, button: str,
              confirm: str = "", cls: str = "inline") -> Markup:
    """A POST form to ``action`` with the session's CSRF token; ``confirm``: the browser asks
    first (console.js reads data-confirm)."""
    return el("form", csrf_input(who), *fields, el("button", button, type="submit"),
              method="post", action=action, class_=cls, data_confirm=confirm or None)


def page(title: str, body: object, *, node_id: str, node_name: str,
         who: SignedIn | None, current: str = "", notice: tuple[str, str] | None = None,
         maps: bool = False) -> Markup:
    nav: list[Markup] = []
    if who is not None:
        nav = [el("a", label, href=f"/console/{key}",
                  class_="current" if key == current else None) for key, label in PAGES]
        nav.append(el("span", f"{who.operator} ({who.role})", class_="who"))
        nav.append(post_form("/console/logout", who, button="Sign out"))
    flash = el("p", notice[1], class_=f"notice {notice[0]}", role="status") if notice else ""
    return join(Markup("<!DOCTYPE html>"), el(
        "html",
        el("head", el("meta", charset="utf-8"),
           el("meta", name="viewport", content="width=device-width, initial-scale=1"),
           el("title", f"{title} · {node_name} · Renkei console"),
           el("link", rel="stylesheet", href="/console/static/console.css"),
           el("link", rel="stylesheet", href="/console/static/leaflet/leaflet.css")
           if maps else "",
           el("script", src="/console/static/console.js", defer=True),
           join(el("script", src="/console/static/leaflet/leaflet.js", defer=True),
                el("script", src="/console/static/console-map.js", defer=True))
           if maps else ""),
        el("body",
           el("header", el("strong", "Renkei ", el("span", node_name, class_="node"),
                           " ", el("code", node_id)), el("nav", nav)),
           el("main", el("h1", title), flash, body)),
        lang="en"))
