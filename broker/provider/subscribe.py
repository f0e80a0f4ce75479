"""Change streams for subscribers: every change after a cursor, under the agreement.

The stream reads the store's change feed after the subscriber's cursor, applies the same area,
filters and field mask as a query, and sends each change with its cursor; the subscriber
persists the cursor after applying a change, so a restart of either side resumes without a
gap. Delivery is at least once: (entity id, content hash) makes applying a change idempotent.
Heartbeats carry the newest cursor scanned, so that a subscriber whose filter matched nothing
still advances. The stream ends when the caller's token expires (UNAUTHENTICATED,
``token_expired``): the subscriber reconnects with a fresh token and resumes from its cursor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from trust.clock import Clock
from trust.enforce import FieldMask, entity_in_area
from trust.errors import AuthenticationError
from trust.geo import Area

from ..service.changes import ChangeSignal
from ..service.filters import And
from ..service.model import ChangeEvent, SubscribeRequest
from ..service.query import any_of
from ..store.base import Store
from .query import EntityQuery

SCAN_LIMIT = 500


async def change_stream(store: Store, signal: ChangeSignal, clock: Clock,
                        request: SubscribeRequest, mask: FieldMask, area: Area | None,
                        expires_at: float, poll_seconds: float = 1.0
                        ) -> AsyncIterator[ChangeEvent]:
    """Changes after ``request.after_cursor`` forever (until the token expires)."""
    query = EntityQuery(types=any_of(sorted(mask.types)),
                        q=And(request.q) if request.q else None, geo=request.geo)
    cursor = request.after_cursor
    heartbeat = max(1, request.heartbeat_seconds)
    last_sent = clock.now()
    if request.from_now and cursor == 0:
        # A new subscriber that wants changes from now on: tell it where "now" is.
        cursor = await store.last_change_cursor()
        yield ChangeEvent("heartbeat", cursor)
    while True:
        if clock.now() >= expires_at:
            raise AuthenticationError("token_expired",
                                      "token expired: resubscribe from your last cursor")
        changes = await store.changes_after(cursor, tuple(sorted(mask.types)), SCAN_LIMIT)
        for change in changes:
            cursor = change.cursor
            if change.doc is None:
                continue  # deleted since: its own deletion event follows
            # For a deletion, ``doc`` is the last state: a subscriber hears only of deletions
            # of entities it was allowed to see (in the area, matching its filter).
            entity = orjson.loads(change.doc)
            if area is not None and not entity_in_area(entity, area):
                continue
            if not query.accepts_content(entity):
                continue
            if change.kind == "deleted":
                yield ChangeEvent("deleted", cursor, change.entity_id, b"", change.content_hash)
                last_sent = clock.now()
                continue
            masked = mask.apply(entity)
            if masked is None:
                continue
            yield ChangeEvent(change.kind, cursor, change.entity_id, orjson.dumps(masked),
                              change.content_hash)
            last_sent = clock.now()
        if len(changes) == SCAN_LIMIT:
            continue
        if clock.now() - last_sent >= heartbeat:
            yield ChangeEvent("heartbeat", cursor)
            last_sent = clock.now()
        await signal.wait(min(poll_seconds, heartbeat))
