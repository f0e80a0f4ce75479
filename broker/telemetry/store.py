"""The provider's store reads as spans: one per query, with how many entities it matched."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sized
from typing import TypeVar

from .spans import Value, active_tracer, failed, set_attributes, start

C = TypeVar("C", bound=Sized)  # a chunk of entities


def traced_query(chunks: AsyncGenerator[C, None], attributes: Mapping[str, Value | None]
                 ) -> AsyncGenerator[C, None]:
    """``chunks`` inside a ``store.query`` span that ends with the stream (untouched when no
    tracer is active, so a node with telemetry off pays nothing per chunk)."""
    if active_tracer() is None:
        return chunks
    return _traced(chunks, attributes)


async def _traced(chunks: AsyncGenerator[C, None],
                  attributes: Mapping[str, Value | None]) -> AsyncGenerator[C, None]:
    # Not made current: the consumer runs between the chunks, and its spans are not ours.
    opened = start("store.query", attributes)
    matched = 0
    try:
        async for chunk in chunks:
            matched += len(chunk)
            yield chunk
    except BaseException as exc:
        failed(opened, type(exc).__name__)
        raise
    finally:
        await chunks.aclose()
        if opened is not None:
            set_attributes(opened, {"renkei.count": matched})
            opened.end()
