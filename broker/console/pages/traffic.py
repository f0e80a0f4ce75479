"""Traffic: what this node served per peer and agreement over the last hour and day (read
from its audit chain, where every answered or refused call is an entry) and the calls it
made, from the Prometheus metrics the node keeps (``/metrics``)."""

from __future__ import annotations

from aiohttp import web

from ..context import Route, console_of
from ..markup import el, join, table
from .common import render, samples

AUDIT_WINDOW_ENTRIES = 20_000
HOUR, DAY = 3600, 86400


def routes() -> list[Route]:
    return [Route("GET", "/traffic", show)]


def _bar(value: float, top: float) -> object:
    return el("meter", value=value, min=0, max=max(top, 1.0), title=str(int(value)))


async def show(request: web.Request) -> web.StreamResponse:
    deps = console_of(request).deps
    now = deps.clock.now()
    size, _ = await deps.audit.head()
    entries = await deps.audit.entries(max(0, size - AUDIT_WINDOW_ENTRIES),
                                       AUDIT_WINDOW_ENTRIES)
    served: dict[tuple[str, str], list[int]] = {}
    denials: dict[tuple[str, str], int] = {}
    for e in entries:
        if e.operation.startswith("console.") or e.operation == "receipt":
            continue
        key = (e.caller, e.agreement_id or "—")
        cell = served.setdefault(key, [0, 0, 0, 0])  # hour, day, denied (day), entities (day)
        age = now - e.time
        if age > DAY:
            continue
        cell[1] += 1
        if age <= HOUR:
            cell[0] += 1
        if e.decision == "deny":
            cell[2] += 1
            denials[(e.caller, e.reason)] = denials.get((e.caller, e.reason), 0) + 1
        else:
            cell[3] += e.result_count
    top = max((c[1] for c in served.values()), default=0)
    served_table = table(
        ("Caller (peer)", "Agreement", "Calls last hour", "Calls last day", "", "Denied (day)",
         "Entities sent (day)"),
        [(el("code", caller), agreement, c[0], c[1], _bar(c[1], top), c[2], c[3])
         for (caller, agreement), c in sorted(served.items()) if c[1]], id="served")
    denial_table = table(("Caller", "Reason", "Denials (day)"),
                         [(c, r, n) for (c, r), n in sorted(denials.items())], id="denials")
    made = samples(deps.metrics, "renkei_peer_calls")
    top_made = max((v for _, v in made), default=0.0)
    made_table = table(("Peer", "Outcome", "Calls since start", ""),
                       [(el("code", labels.get("peer", "")), labels.get("status", ""), int(v),
                         _bar(v, top_made))
                        for labels, v in sorted(made, key=lambda s: sorted(s[0].items()))],
                       id="made")
    latency = table(("Peer", "Last call (ms)"),
                    [(labels.get("peer", ""), f"{v:.0f}") for labels, v in
                     sorted(samples(deps.metrics, "renkei_peer_last_call_ms"),
                            key=lambda s: s[0].get("peer", ""))], id="latency")
    body = join(el("h2", "Served by this node (from the audit chain)"), served_table,
                el("h2", "Refusals by reason"), denial_table,
                el("h2", "Federated calls this node made (NGSI-LD API reads)"), made_table,
                latency)
    return render(request, "Traffic", "traffic", body)
