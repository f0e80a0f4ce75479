"""Strict readers for signed JSON documents (private).

A :class:`Reader` is bound to the error its document kind raises (``AgreementError`` with
``invalid_agreement``, ``DirectoryError`` with ``invalid_directory``, ...), so a field that does
not fit raises that category at once, with a peer-safe message naming the field, and no caller
has to catch and re-wrap a generic error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NoReturn

from trust.errors import TrustError

MAX_STR = 512


class Reader:
    """Field readers that raise ``error(code, message)`` for anything out of shape."""

    __slots__ = ("code", "error")

    def __init__(self, error: type[TrustError], code: str) -> None:
        if code not in error.codes:
            raise TypeError(f"{error.__name__} has no code {code!r}")
        self.error = error
        self.code = code

    def fail(self, message: str) -> NoReturn:
        """Raise this reader's error with ``message``."""
        raise self.error(self.code, message)

    def obj(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(f"{where} must be an object")
        return value

    def keys(self, d: Mapping[str, Any], where: str, *, required: Collection[str],
             optional: Collection[str] = ()) -> None:
        missing = [k for k in required if k not in d]
        if missing:
            self.fail(f"{where} lacks {missing[0]!r}")
        unknown = set(d).difference(required, optional)
        if unknown:
            self.fail(f"{where} has unknown field {str(sorted(unknown)[0])[:64]!r}")

    def string(self, d: Mapping[str, Any], key: str, where: str, *, max_len: int = MAX_STR,
               allow_empty: bool = False) -> str:
        value = d.get(key)
        if not isinstance(value, str) or (not value and not allow_empty) or len(value) > max_len:
            self.fail(f"{where}.{key} must be a non-empty string of at most {max_len} chars")
        return value

    def optional_string(self, d: Mapping[str, Any], key: str, where: str, *,
                        max_len: int = MAX_STR) -> str | None:
        if d.get(key) is None:
            return None
        return self.string(d, key, where, max_len=max_len)

    def integer(self, d: Mapping[str, Any], key: str, where: str, *, minimum: int = 0,
                maximum: int = 2**53) -> int:
        value = d.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.fail(f"{where}.{key} must be an integer in [{minimum}, {maximum}]")
        return value

    def number(self, d: Mapping[str, Any], key: str, where: str) -> float:
        value = d.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            self.fail(f"{where}.{key} must be a number")
        return float(value)

    def boolean(self, d: Mapping[str, Any], key: str, where: str) -> bool:
        value = d.get(key)
        if not isinstance(value, bool):
            self.fail(f"{where}.{key} must be true or false")
        return value

    def strings(self, d: Mapping[str, Any], key: str, where: str, *, max_items: int = 256,
                max_len: int = MAX_STR, unique: bool = True) -> tuple[str, ...]:
        value = d.get(key)
        if not isinstance(value, list) or len(value) > max_items:
            self.fail(f"{where}.{key} must be a list of at most {max_items} strings")
        for item in value:
            if not isinstance(item, str) or not item or len(item) > max_len:
                self.fail(f"{where}.{key} must hold non-empty strings")
        if unique and len(set(value)) != len(value):
            self.fail(f"{where}.{key} has duplicates")
        return tuple(value)
