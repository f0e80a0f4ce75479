"""A full disk under the store: told apart from other store failures, logged with its place.

Writers get ``StoreFull`` (HTTP 507, gRPC UNAVAILABLE ``store_full``, a paused ingest), whose
message names the full disk but not its path (callers need not know the node's layout); the
node's log names the path, at most every 30 s while writes keep failing.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from pathlib import Path

log = logging.getLogger("renkei.store")
MESSAGE = ("the disk holding the node's store is full: writes are refused until space is "
           "freed; reads are served")
LOG_EVERY = 30.0


def sqlite_disk_full(exc: sqlite3.Error, path: Path) -> bool:
    """SQLITE_FULL, or an I/O error while the file system has no room left (ENOSPC on a
    write SQLite reports as SQLITE_IOERR_WRITE)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return True
    if code == sqlite3.SQLITE_IOERR:
        try:
            return shutil.disk_usage(path.parent).free < 64 * 1024
        except OSError:
            return False
    return False


class FullDiskLog:
    """Logs which disk is full, at most every ``LOG_EVERY`` seconds."""

    def __init__(self, where: str, path: Path | None = None) -> None:
        self._where = where
        self._path = path
        self._logged = -LOG_EVERY

    def seen(self, detail: object) -> None:
        now = time.monotonic()
        if now - self._logged < LOG_EVERY:
            return
        self._logged = now
        free = ""
        if self._path is not None:
            try:
                free = f", {shutil.disk_usage(self._path.parent).free} bytes free"
            except OSError:
                pass
        log.error("store %s: the disk is full (%s%s): writes are refused, reads are served; "
                  "free space there and writing resumes by itself", self._where, detail, free)
