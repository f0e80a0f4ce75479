"""Operator accounts and console sessions on both store backends (migration 0007)."""

from __future__ import annotations

from typing import Any

import pytest

from broker.console.accounts import hash_password, verify_password
from broker.errors import AlreadyExists
from broker.store.base import ConsoleSession, OperatorRow


async def test_operators_and_sessions_round_trip(store_on_each_backend: Any) -> None:
    store = store_on_each_backend
    await store.add_operator(OperatorRow("alice", "admin", "scrypt$x", 10.0))
    with pytest.raises(AlreadyExists):
        await store.add_operator(OperatorRow("alice", "viewer", "scrypt$y", 11.0))
    assert await store.get_operator("alice") == OperatorRow("alice", "admin", "scrypt$x", 10.0)
    assert await store.get_operator("bob") is None

    await store.add_session(ConsoleSession("h1", "alice", "c1", 100.0, 200.0))
    assert (await store.get_session("h1", 150.0)).csrf == "c1"
    assert await store.get_session("h1", 200.0) is None  # expired
    # A new session forgets the expired ones.
    await store.add_session(ConsoleSession("h2", "alice", "c2", 250.0, 300.0))
    assert await store.get_session("h1", 0.0) is None
    await store.delete_session("h2")
    assert await store.get_session("h2", 260.0) is None

    await store.add_session(ConsoleSession("h3", "alice", "c3", 400.0, 900.0))
    assert await store.delete_operator("alice")
    assert await store.get_session("h3", 500.0) is None  # removing the operator ends it
    assert not await store.delete_operator("alice")
    assert await store.list_operators() == []


def test_scrypt_hashes_verify_only_the_right_password() -> None:
    stored = hash_password("correct horse battery", n=2 ** 10)
    assert stored.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterx", stored)
    assert not verify_password("correct horse battery", "scrypt$broken")
    assert hash_password("same", n=2 ** 10) != hash_password("same", n=2 ** 10)  # salted
