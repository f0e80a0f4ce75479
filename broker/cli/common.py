"""Helpers shared by the command modules: config loading, running coroutines, output."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ..config import NodeConfig, load_config

T = TypeVar("T")
DEFAULT_CONFIG = "renkei.toml"


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default=DEFAULT_CONFIG, metavar="FILE",
                        help=f"node config file (default: ./{DEFAULT_CONFIG})")


def config_of(args: argparse.Namespace) -> NodeConfig:
    return load_config(Path(args.config))


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def read_text_arg(value: str) -> str:
    """A value given inline, as @FILE, or as '-' for standard input."""
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        return Path(value[1:]).read_text(encoding="utf-8")
    path = Path(value)
    try:
        if len(value) < 4096 and path.is_file():
            return path.read_text(encoding="utf-8")
    except OSError:  # ENAMETOOLONG: a join request given inline is longer than a file name
        pass
    return value
