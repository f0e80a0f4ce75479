"""Agreements: every agreement by state, and the forms to propose, countersign and revoke,
which call ``AgreementExchange`` with terms built by ``service.agreement_terms`` (the code
``renkei agreement`` runs)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from trust.agreement_model import PURPOSES, Agreement

from ...errors import BadRequest
from ...service.agreement_book import AgreementView
from ...service.agreement_terms import (
    Terms,
    check_party,
    draft_agreement,
    parse_bbox,
    parse_type_attributes,
)
from ..context import Route, console_of, who_of
from ..geo import area_feature, map_div
from ..layout import post_form, when
from ..markup import Markup, el, join
from .common import render

EXPIRING_SOON_DAYS = 30
ORDER = ("proposed", "active", "expiring soon", "revoked", "expired", "damaged")


def routes() -> list[Route]:
    return [Route("GET", "/agreements", show),
            Route("POST", "/agreements/propose", propose, role="admin"),
            Route("POST", "/agreements/countersign", countersign, role="admin"),
            Route("POST", "/agreements/revoke", revoke, role="admin")]


def _state(view: AgreementView, now: float) -> str:
    if view.state == "active" and view.signed.agreement.not_after - now < \
            EXPIRING_SOON_DAYS * 86400:
        return "expiring soon"
    return view.state


def _fields(a: Agreement) -> Markup:
    return join([el("div", el("strong", t), ": ",
                    ", ".join(sorted(a.allowed_attributes(t) - {"id", "type"})) or "(id only)")
                 for t in sorted(a.entity_types)])


def _row(view: AgreementView, state: str, node_id: str, request: web.Request) -> Markup:
    who = who_of(request)
    a = view.signed.agreement
    area = "anywhere" if a.area is None else "bbox " + ", ".join(f"{v:.4f}" for v in a.area.bounds)
    mode = f"aggregate-only, k = {a.k_threshold}" if a.aggregate_only else "raw rows"
    actions: list[Markup] = []
    if who.role == "admin":
        if state == "proposed" and node_id not in view.signed.signatures:
            actions.append(post_form("/console/agreements/countersign", who,
                                     el("input", type="hidden", name="id", value=a.id),
                                     button="Countersign"))
        if state in ("proposed", "active", "expiring soon"):
            actions.append(post_form(
                "/console/agreements/revoke", who,
                el("input", type="hidden", name="id", value=a.id),
                el("input", name="reason", placeholder="reason", required=True, maxlength=200,
                   aria_label=f"reason to revoke {a.id}"),
                el("label", el("input", type="checkbox", name="confirm", value="yes",
                               required=True), " confirm"),
                button="Revoke", confirm=f"Revoke agreement {a.id}? The other party is told."))
    return el("tr",
              el("td", el("code", a.id)), el("td", state, el("div", view.damage) if view.damage
                                             else ""),
              el("td", a.provider, " → ", a.consumer), el("td", a.purpose), el("td", _fields(a)),
              el("td", area), el("td", mode),
              el("td", f"{a.rate_limits.requests_per_minute}/min, "
                       f"{a.rate_limits.entities_per_day} entities/day"),
              el("td", f"{when(a.not_before)} – {when(a.not_after)}"),
              el("td", ", ".join(sorted(view.signed.signatures))), el("td", actions),
              id=f"agreement-{a.id}", data_state=state)


HEAD = ("Id", "State", "Provider → consumer", "Purpose", "Types and fields", "Area", "Release",
        "Rate limits", "Valid", "Signed by", "")


def _propose_form(request: web.Request) -> Markup:
    deps = console_of(request).deps
    who = who_of(request)
    providers = sorted(m for m in deps.directory().members if m != deps.node_id)
    return post_form(
        "/console/agreements/propose", who,
        el("label", "Provider", for_="provider"),
        el("select", [el("option", p, value=p) for p in providers], id="provider",
           name="provider", required=True),
        el("label", "Purpose", for_="purpose"),
        el("select", [el("option", p, value=p) for p in sorted(PURPOSES)], id="purpose",
           name="purpose", required=True),
        el("label", "Types (one per line: TYPE:attr,attr)", for_="types"),
        el("textarea", id="types", name="types", rows=3, required=True,
           placeholder="EvacuationSite:name,capacity,location"),
        el("label", "Area (west,south,east,north; empty: anywhere)", for_="bbox"),
        el("input", id="bbox", name="bbox", placeholder="136.9,37.0,137.1,37.1"),
        el("label", "Agreement id (empty: a new one)", for_="agreement_id"),
        el("input", id="agreement_id", name="agreement_id", maxlength=128),
        el("label", "Valid for (days)", for_="days"),
        el("input", id="days", name="days", type="number", min=1, value=365),
        el("label", "Requests per minute", for_="rpm"),
        el("input", id="rpm", name="requests_per_minute", type="number", min=1, value=60),
        el("label", "Entities per day", for_="epd"),
        el("input", id="epd", name="entities_per_day", type="number", min=1, value=100000),
        el("label", "Aggregate only", for_="aggregate_only"),
        el("input", id="aggregate_only", name="aggregate_only", type="checkbox", value="yes"),
        el("label", "k (aggregate-only)", for_="k"),
        el("input", id="k", name="k", type="number", min=1, value=1),
        button="Sign and send proposal", cls="block")


async def show(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    deps = console.deps
    now = deps.clock.now()
    by_state: dict[str, list[Markup]] = {s: [] for s in ORDER}
    for view in sorted(deps.agreements.views(), key=lambda v: v.id):
        state = _state(view, now)
        by_state.setdefault(state, []).append(_row(view, state, deps.node_id, request))
    sections = []
    for state, rows in by_state.items():
        sections.append(el("h2", f"{state.capitalize()} ({len(rows)})"))
        if rows:
            sections.append(el("table", el("thead", el("tr", [el("th", h) for h in HEAD])),
                               el("tbody", rows), id=f"state-{state.replace(' ', '-')}"))
    for row in deps.agreements.unreadable():
        sections.append(el("p", f"{row.id}: {row.provider} → {row.consumer}: unreadable "
                                f"({row.damage})", class_="notice error"))
    areas = [f for f in (area_feature(v.signed.agreement) for v in deps.agreements.views()
                         if v.state != "revoked") if f is not None]
    body = join(el("h2", f"Agreed areas ({len(areas)}; agreements without one cover anywhere)"),
                map_div(areas, "area-map"), sections,
                el("h2", "Propose an agreement (this node as consumer)"),
                _propose_form(request) if who_of(request).role == "admin"
                else el("p", "Proposing needs the admin role."))
    return render(request, "Agreements", "agreements", body, maps=True)


def _integer(form: Mapping[str, object], name: str, default: int) -> int:
    value = str(form.get(name, "") or default)
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name}: expected a whole number, got {value[:20]!r}") from None


async def propose(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    deps = console.deps
    who = who_of(request)
    form = await request.post()
    lines = [line for line in str(form.get("types", "")).splitlines() if line.strip()]
    if not lines:
        raise BadRequest("name at least one entity type")
    bbox = str(form.get("bbox", "")).strip()
    terms = Terms(
        provider=str(form.get("provider", "")), purpose=str(form.get("purpose", "")),
        types=parse_type_attributes(lines, "types"),
        area=parse_bbox(bbox, "area") if bbox else None,
        agreement_id=str(form.get("agreement_id", "")).strip(),
        days=_integer(form, "days", 365),
        requests_per_minute=_integer(form, "requests_per_minute", 60),
        entities_per_day=_integer(form, "entities_per_day", 100_000),
        aggregate_only=form.get("aggregate_only") == "yes", k=_integer(form, "k", 1))
    directory = deps.directory()
    check_party(directory, deps.node_id, terms.provider)
    agreement = draft_agreement(terms, deps.node_id, directory.version, deps.clock.now())
    details: dict[str, str | int] = {"provider": agreement.provider,
                                     "purpose": agreement.purpose,
                                     "types": ",".join(sorted(agreement.entity_types))}
    try:
        view = await deps.exchange.propose(agreement)
    except Exception:
        await console.record_change(who, "propose", agreement.id, details, ok=False,
                                    reason="not delivered")
        raise
    await console.record_change(who, "propose", agreement.id, details)
    console.notify(who, "ok", f"proposed {view.id} to {agreement.provider} ({view.state})")
    raise web.HTTPSeeOther("/console/agreements")


async def countersign(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    who = who_of(request)
    agreement_id = str((await request.post()).get("id", ""))
    view = await console.deps.exchange.countersign(agreement_id)
    await console.record_change(who, "countersign", agreement_id, {"state": view.state})
    console.notify(who, "ok", f"countersigned {agreement_id}: {view.state}")
    raise web.HTTPSeeOther("/console/agreements")


async def revoke(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    who = who_of(request)
    form = await request.post()
    agreement_id = str(form.get("id", ""))
    reason = str(form.get("reason", "")).strip()[:200]
    if form.get("confirm") != "yes":
        raise BadRequest("tick 'confirm' to revoke an agreement")
    if not reason:
        raise BadRequest("give a reason for the revocation (the other party sees it)")
    view = await console.deps.exchange.revoke(agreement_id, reason)
    await console.record_change(who, "revoke", agreement_id, {"reason": reason})
    console.notify(who, "ok", f"revoked {view.id}")
    raise web.HTTPSeeOther("/console/agreements")
