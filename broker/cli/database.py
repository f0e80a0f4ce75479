"""``renkei db``: the node's store (``db migrate``).

A node also migrates when it starts; ``db migrate`` exists so that an operator, or a
Kubernetes init container, can apply migrations once before rolling out new replicas, and
see what was applied. Replicas that start together are safe either way: PostgreSQL
migrations run under an advisory lock.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from ..config import NodeConfig, load_config
from ..store import open_store
from ..store.migrations import migrations_for

DEFAULT_CONFIG = "renkei.toml"


def register(subparsers: Any) -> None:
    """Add the ``db`` command group to the ``renkei`` parser."""
    db = subparsers.add_parser("db", help="the node's store: migrations",
                               description="Manage the node's store (SQLite or PostgreSQL).")
    sub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)
    migrate = sub.add_parser(
        "migrate", help="apply pending store migrations",
        description="Apply the store migrations that are not applied yet, each numbered SQL "
                    "file in one transaction (a node also does this when it starts).")
    migrate.add_argument("--config", "-c", default=DEFAULT_CONFIG, metavar="FILE",
                         help=f"node config file (default: ./{DEFAULT_CONFIG})")
    migrate.set_defaults(handler=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    config = load_config(Path(args.config))
    print(asyncio.run(migrate(config)))
    return 0


async def migrate(config: NodeConfig) -> str:
    """Open the configured store (which migrates it) and describe what was applied."""
    postgres = config.store.backend == "postgresql"
    where = f"postgresql schema {config.store.schema}" if postgres \
        else f"sqlite {config.sqlite_path}"
    store = await open_store(config)
    try:
        applied = [m.name for m in getattr(store, "applied_migrations", [])]
    finally:
        await store.close()
    latest = migrations_for("postgres" if postgres else "sqlite")
    version = latest[-1].number if latest else 0
    if not applied:
        return f"{where}: up to date (migration {version:04d})"
    return f"{where}: applied {', '.join(applied)} (now at migration {version:04d})"
