"""Change streams for subscribers: every change after a cursor, under the agreement.

The stream reads the store's change feed after the subscriber's cursor, applies the same area,
filters and field mask as a query, and sends each change with its cursor; the subscriber
persists the cursor after applying a change, so a restart of either side resumes without a
gap. Delivery is at least once: (entity id, content hash) makes applying a change idempotent.

Nothing the subscriber receives depends on what it may not see:

- ``content_hash`` is SHA-256 over the masked, area-filtered bytes sent (for a deletion, over
  the masked last state it was allowed to see), never over the stored entity;
- an update that leaves the subscriber's view unchanged (a hidden attribute alone, or an
  entity outside its area or filter before and after) is no event;
- no cursor is a feed position: every change sent carries a fresh opaque token of its
  position (``cursor_tokens``), so the distance between two of them counts nothing; heartbeats
  repeat the token of the last change sent (or the one resumed from), not a position of the
  last change scanned; a "from now" stream starts at the feed head under a token too.

The stream ends when the caller's token expires (UNAUTHENTICATED, ``token_expired``), and,
checked at every poll, as soon as the node holds a directory revoking the caller or its key, or
the agreement is revoked (``still_allowed``): the subscriber reconnects with a fresh token and
resumes from its cursor, or is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson

from trust.clock import Clock
from trust.enforce import FieldMask, entity_in_area
from trust.errors import AuthenticationError
from trust.geo import Area

from ..errors import BadRequest
from ..service.changes import ChangeSignal
from ..service.filters import And
from ..service.model import ChangeEvent, SubscribeRequest
from ..service.query import any_of
from ..store.base import Change, Store
from .cursor_tokens import CursorTokens
from .query import EntityQuery

SCAN_LIMIT = 500


class OpaqueCursorsRequired(BadRequest):
    """The subscriber does not say it treats cursors as opaque tokens."""

    code = "opaque_cursors_required"


async def change_stream(store: Store, signal: ChangeSignal, clock: Clock,
                        request: SubscribeRequest, mask: FieldMask, area: Area | None,
                        expires_at: float, tokens: CursorTokens, poll_seconds: float = 1.0,
                        still_allowed: Callable[[], Awaitable[None]] | None = None
                        ) -> AsyncIterator[ChangeEvent]:
    """Changes after ``request.after_cursor`` (a token) forever (until the token expires or
    ``still_allowed`` raises)."""
    if not request.opaque_cursors:
        # A subscriber from before tokens compares cursors as numbers and would drop changes
        # whose token happens to be smaller than the one it holds: refused, not served wrong.
        raise OpaqueCursorsRequired("this node sends opaque cursors: the subscriber must be "
                                    "upgraded (SubscribeRequest.opaque_cursors)")
    cursor = await tokens.open(request.after_cursor)
    query = EntityQuery(types=any_of(sorted(mask.types)),
                        q=And(request.q) if request.q else None, geo=request.geo)

    def view(doc: bytes | None) -> bytes | None:
        """What this subscriber may see of a stored state, as the bytes it would get."""
        if doc is None:
            return None
        entity = orjson.loads(doc)
        if area is not None and not entity_in_area(entity, area):
            return None
        if not query.accepts_content(entity):
            return None
        masked = mask.apply(entity)
        return orjson.dumps(masked) if masked is not None else None

    heartbeat = max(1, request.heartbeat_seconds)
    last_sent = clock.now()
    if request.from_now and request.after_cursor == 0:
        # A new subscriber that wants changes from now on: this stream starts at the head.
        cursor = await store.last_change_cursor()
        visible_cursor = await tokens.seal(cursor)
        yield ChangeEvent("heartbeat", visible_cursor)
    else:
        visible_cursor = request.after_cursor  # what it holds: it learns nothing new
    while True:
        if clock.now() >= expires_at:
            raise AuthenticationError("token_expired",
                                      "token expired: resubscribe from your last cursor")
        if still_allowed is not None:
            await still_allowed()
        changes = await store.changes_after(cursor, tuple(sorted(mask.types)), SCAN_LIMIT)
        # Within one scan, only an entity's last row is sent (its doc is the current state
        # anyway), compared with the state before its first row: a hidden change followed by
        # a visible one is one event, not two that would show the hidden one happened.
        first: dict[str, Change] = {}
        last: dict[str, Change] = {}
        for change in changes:
            first.setdefault(change.entity_id, change)
            last[change.entity_id] = change
        for change in changes:
            cursor = change.cursor
            if last[change.entity_id] is not change or change.doc is None:
                continue  # a later row of this entity follows (its deletion, if deleted)
            # For a deletion, ``doc`` is the last state: a subscriber hears only of deletions
            # of entities it was allowed to see (in the area, matching its filter).
            seen = view(change.doc)
            if seen is None:
                continue
            kind, before = change.kind, first[change.entity_id]
            if kind != "deleted" and before.kind == "created":
                kind = "created"
            elif kind == "updated" and before.kind == "updated" \
                    and before.prev_doc is not None and view(before.prev_doc) == seen:
                continue  # nothing this subscriber may see changed
            entity = b"" if kind == "deleted" else seen
            visible_cursor = await tokens.seal(cursor)
            yield ChangeEvent(kind, visible_cursor, change.entity_id, entity,
                              hashlib.sha256(seen).hexdigest())
            last_sent = clock.now()
        if len(changes) == SCAN_LIMIT:
            continue
        if clock.now() - last_sent >= heartbeat:
            yield ChangeEvent("heartbeat", visible_cursor)
            last_sent = clock.now()
        await signal.wait(min(poll_seconds, heartbeat))
