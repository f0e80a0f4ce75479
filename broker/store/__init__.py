"""Node persistence: the ``Store`` interface and its SQLite and PostgreSQL backends."""

from __future__ import annotations

from .base import Store

__all__ = ["Store", "open_store"]


async def open_store(config: object) -> Store:
    """Open (and migrate) the store a node config asks for."""
    from ..config import NodeConfig

    assert isinstance(config, NodeConfig)
    if config.store.backend == "postgresql":
        from .postgres import PostgresStore

        store: Store = PostgresStore(config.store.dsn, schema=config.store.schema,
                                     history=config.temporal.record)
    else:
        from .sqlite import SqliteStore

        store = SqliteStore(config.sqlite_path, history=config.temporal.record)
    await store.open()
    return store
