"""The in-process change signal: writers notify it, change streams wait on it.

Shared by the NGSI-LD write path (which notifies after a write), ingest, and the provider's
change streams (which wait on it), so it lives below both. Other replicas of the node learn
of changes by polling the store's change feed.
"""

from __future__ import annotations

import asyncio


class ChangeSignal:
    """Wakes waiting streams when this process wrote changes (other replicas: polling)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
