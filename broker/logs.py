"""Log lines an operator can work with: text, JSON lines or logfmt, one event per line.

Modules log through the standard ``logging`` module and attach structured fields with
``extra=fields(...)``; the formatter chosen at start (``renkei --log-format``, or the
``RENKEI_LOG_FORMAT`` environment variable) writes them:

* ``text``: ``2026-12-03T09:00:00.123Z INFO renkei.access: message key=value ...``
* ``json``: ``{"ts": ..., "level": ..., "logger": ..., "msg": ..., "key": value, ...}``
* ``logfmt``: ``ts=... level=info logger=renkei.access msg="..." key=value ...``

Fields never hold credentials: callers pass ids, statuses and counts, never tokens or values.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

FORMATS = ("text", "json", "logfmt")
LEVELS = ("debug", "info", "warning", "error")
_FIELDS = "renkei_fields"


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: structured fields written by every format."""
    return {_FIELDS: values}


def fields_of(record: logging.LogRecord) -> Mapping[str, Any]:
    """The structured fields attached to ``record`` (empty when none)."""
    values = getattr(record, _FIELDS, None)
    return values if isinstance(values, Mapping) else {}


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _logfmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str)
    if text == "" or any(c in text for c in ' ="\\\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class _Base(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()

    def _exception(self, record: logging.LogRecord) -> str:
        if record.exc_info:
            return self.formatException(record.exc_info)
        return record.exc_text or ""

    def _document(self, record: logging.LogRecord) -> dict[str, Any]:
        """The machine-readable forms' content: ``ts``, ``level``, ``logger``, ``msg``, the
        record's fields (never overriding those four), ``exc`` when there is one."""
        doc: dict[str, Any] = {"ts": _timestamp(record), "level": record.levelname.lower(),
                               "logger": record.name, "msg": record.getMessage()}
        for key, value in fields_of(record).items():
            doc.setdefault(key, value)
        exc = self._exception(record)
        if exc:
            doc["exc"] = exc
        return doc


class TextFormatter(_Base):
    """Human-readable: time, level, logger, message, then the fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        extra = " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields_of(record).items())
        if extra:
            line += f" [{extra}]"
        exc = self._exception(record)
        return f"{line}\n{exc}" if exc else line


class JsonFormatter(_Base):
    """One JSON object per line (``ts``, ``level``, ``logger``, ``msg``, then the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self._document(record), ensure_ascii=False, default=str)


class LogfmtFormatter(_Base):
    """``key=value`` pairs on one line, values quoted when they need it."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in self._document(record).items())


_FORMATTERS: dict[str, type[logging.Formatter]] = {
    "text": TextFormatter, "json": JsonFormatter, "logfmt": LogfmtFormatter}


def configure(log_format: str = "text", level: str = "warning") -> None:
    """Send every log record to standard error in ``log_format`` at ``level`` and above."""
    if log_format not in _FORMATTERS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_FORMATTERS[log_format]())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
