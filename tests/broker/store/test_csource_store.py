"""Context source registrations on both store backends (migration 0009): per-owner ids,
replace keeps created_at, delete, listing by id."""

from __future__ import annotations

from typing import Any

import pytest

from broker.errors import AlreadyExists
from broker.store.base import CSourceRow


async def test_registrations_round_trip(store_on_each_backend: Any) -> None:
    store = store_on_each_backend
    row = CSourceRow("app", "urn:x:2", b'{"endpoint": "http://a.example"}', 10.0, 10.0, None)
    await store.add_csource(row)
    await store.add_csource(CSourceRow("app", "urn:x:1", b"{}", 11.0, 11.0, 500.0))
    with pytest.raises(AlreadyExists):
        await store.add_csource(row)
    # Another owner's registration may have the same id: ids are per owner.
    await store.add_csource(CSourceRow("other", "urn:x:2", b"{}", 12.0, 12.0, None))

    got = await store.get_csource("app", "urn:x:2")
    assert got is not None and got.created_at == 10.0 and got.expires_at is None
    assert got.doc.replace(b" ", b"") == b'{"endpoint":"http://a.example"}'
    assert [r.id for r in await store.list_csources("app")] == ["urn:x:1", "urn:x:2"]
    assert await store.get_csource("nobody", "urn:x:2") is None

    assert await store.replace_csource(CSourceRow("app", "urn:x:2", b'{"a": 1}', 99.0, 20.0,
                                                  300.0))
    got = await store.get_csource("app", "urn:x:2")
    assert got is not None and (got.created_at, got.modified_at, got.expires_at) == (
        10.0, 20.0, 300.0)
    assert not await store.replace_csource(CSourceRow("app", "urn:x:9", b"{}", 0, 0, None))

    assert await store.delete_csource("app", "urn:x:2")
    assert not await store.delete_csource("app", "urn:x:2")
    assert (await store.get_csource("other", "urn:x:2")) is not None
