"""Federation: the members of the signed directory and each peer's live state."""

from __future__ import annotations

from aiohttp import web

from ..context import Route, console_of, who_of
from ..layout import post_form, when
from ..markup import el, join
from .common import render, samples


def routes() -> list[Route]:
    return [Route("GET", "/federation", show), Route("POST", "/federation/retry", retry,
                                                     role="admin")]


async def show(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    deps = console.deps
    who = who_of(request)
    directory = deps.directory()
    now = deps.clock.now()
    latency = {labels.get("peer", ""): value
               for labels, value in samples(deps.metrics, "renkei_peer_last_call_ms")}
    rows = []
    for member in sorted(directory.members.values(), key=lambda m: m.id):
        keys = [el("div", el("code", k.kid), f" valid {when(k.not_before)} – {when(k.not_after)}",
                   " REVOKED" if k.revoked else "",
                   "" if k.valid_at(now) or k.revoked else " (not valid now)")
                for k in member.keys]
        if member.id == deps.node_id:
            state: object = el("span", "this node", class_="state-ok")
            action: object = ""
        else:
            backoff = await deps.peer_state(member.id)
            if backoff.failures and backoff.next_attempt_at > now:
                state = el("span", f"backing off until {when(backoff.next_attempt_at)}",
                           class_="state-backoff", data_peer_state="backoff")
            elif backoff.failures:
                state = el("span", "retry due", class_="state-backoff",
                           data_peer_state="due")
            else:
                state = el("span", "ok", class_="state-ok", data_peer_state="ok")
            details = []
            if backoff.last_error:
                details.append(el("div", "last error: ", el("span", backoff.last_error,
                                                            class_="raw")))
            if member.id in latency:
                details.append(el("div", f"last call {latency[member.id]:.0f} ms"))
            state = join(state, details)
            action = post_form("/console/federation/retry", who,
                               el("input", type="hidden", name="peer", value=member.id),
                               button="Retry now") if who.role == "admin" else ""
        rows.append(el("tr", el("td", el("code", member.id)),
                       el("td", member.name_ja, el("br"), member.name_en),
                       el("td", member.role), el("td", [el("div", e) for e in member.endpoints]),
                       el("td", keys), el("td", state, " REVOKED" if member.revoked else ""),
                       el("td", action), id=f"member-{member.id}"))
    head = el("tr", [el("th", h) for h in ("Member", "Name", "Role", "Endpoints", "Keys",
                                           "State", "")])
    stale = " (past its next update)" if directory.is_stale(now) else ""
    body = join(
        el("p", "Signed member directory ",
           el("strong", f"version {directory.version}", id="directory-version"),
           f", issued {when(directory.issued_at)}, next update {when(directory.next_update)}"
           f"{stale}."),
        el("table", el("thead", head), el("tbody", rows), id="members"))
    return render(request, "Federation", "federation", body)


async def retry(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    who = who_of(request)
    peer = str((await request.post()).get("peer", ""))
    if console.deps.directory().member(peer) is None or peer == console.deps.node_id:
        console.notify(who, "error", f"{peer!r} is not a peer in the member directory")
        raise web.HTTPSeeOther("/console/federation")
    ok = await console.deps.retry_peer(peer)
    await console.record_change(who, "retry_peer", "", {"peer": peer,
                                                         "answered": "yes" if ok else "no"})
    console.notify(who, "ok" if ok else "error",
                   f"{peer} answers: its backoff is cleared" if ok
                   else f"{peer} does not answer: it stays backed off")
    raise web.HTTPSeeOther("/console/federation")
