"""What several end-to-end tests set up the same way."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from broker.demo.harness import LocalFederation, NodeSpec
from trust.clock import Clock

# Nanao city provides, the Cabinet Office's disaster agency consumes (gRPC only, no HTTP).
CITY, AGENCY, PURPOSE = "jp-172022", "jp-gov-bousai", "disaster_response"


@contextlib.asynccontextmanager
async def city_and_agency(tmp_path: Path, agreement_id: str, types: dict[str, list[str]],
                          city_toml: str = "", *, clock: Clock | None = None,
                          **terms: Any) -> AsyncIterator[LocalFederation]:
    """An authority, ``CITY`` and ``AGENCY`` on loopback, with one agreement from the city to
    the agency for ``PURPOSE`` (``terms``: aggregate_only, k, ... as ``LocalFederation.agree``
    takes them; ``city_toml``: more of the city's configuration; ``clock``: every node's);
    stopped on exit."""
    federation = LocalFederation(tmp_path, clock=clock)
    try:
        await federation.start_authority()
        await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", http=False,
                                           extra_toml=city_toml))
        await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet", http=False))
        await federation.publish()
        await federation.agree(provider=CITY, consumer=AGENCY, agreement_id=agreement_id,
                               purpose=PURPOSE, types=types, **terms)
        yield federation
    finally:
        await federation.stop()
