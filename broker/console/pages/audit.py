"""Audit: the chain's length and head, its last checkpoint and witnesses, the last entries,
and a button that verifies the whole log (reading only: viewers may press it)."""

from __future__ import annotations

from aiohttp import web

from ..context import Route, console_of, who_of
from ..layout import post_form, when
from ..markup import el, join, table
from .common import render

LAST_ENTRIES = 25


def routes() -> list[Route]:
    return [Route("GET", "/audit", show), Route("POST", "/audit/verify", verify, role="viewer")]


async def show(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    deps = console.deps
    size, head = await deps.audit.head()
    checkpoint = await deps.audit.latest_checkpoint()
    cosigned = await deps.store.cosigned()
    witnesses = sorted({w for s, w, _ in cosigned if checkpoint and s == checkpoint.head.size})
    entries = await deps.audit.entries(max(0, size - LAST_ENTRIES), LAST_ENTRIES)
    summary = table(("Chain length", "Head", "Last checkpoint", "Witnessed by"), [(
        el("span", size, id="chain-length"), el("code", head[:32] + "…"),
        f"size {checkpoint.head.size}" if checkpoint else "none yet",
        ", ".join(witnesses) or "no cosignature yet")], id="audit-summary")
    rows = [(e.seq, when(e.time), e.caller, e.agreement_id or "—", e.operation, e.decision,
             e.reason, e.result_count, el("span", ", ".join(f"{k}={v}" for k, v in
                                                         sorted(e.details.items())),
                                          class_="raw"))
            for e in reversed(entries)]
    body = join(summary,
                post_form("/console/audit/verify", who_of(request), button="Verify the log"),
                el("h2", f"Last {len(rows)} entries"),
                table(("Seq", "Time", "Caller", "Agreement", "Operation", "Decision", "Reason",
                       "Count", "Details"), rows, id="audit-entries"))
    return render(request, "Audit", "audit", body)


async def verify(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    report = await console.deps.audit.verify()
    if report.ok:
        text = (f"the log verifies: {report.size} entries, {report.checkpoints_verified} "
                f"checkpoints and {report.cosigned_verified} cosignatures checked")
    else:
        first = report.first
        text = f"the log does NOT verify: {first.problem if first else 'unknown problem'}"
    console.notify(who_of(request), "ok" if report.ok else "error", text)
    raise web.HTTPSeeOther("/console/audit")
