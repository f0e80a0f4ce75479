"""Strict readers for signed JSON documents (private).

Each reader raises ``ValueError`` with a peer-safe message naming the field; the public
``from_document`` functions translate it into their own category's error with ``from``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

MAX_STR = 512


def obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object")
    return value


def keys(d: Mapping[str, Any], where: str, *, required: Collection[str],
         optional: Collection[str] = ()) -> None:
    missing = [k for k in required if k not in d]
    if missing:
        raise ValueError(f"{where} lacks {missing[0]!r}")
    unknown = set(d).difference(required, optional)
    if unknown:
        raise ValueError(f"{where} has unknown field {sorted(unknown)[0]!r}")


def string(d: Mapping[str, Any], key: str, where: str, *, max_len: int = MAX_STR,
           allow_empty: bool = False) -> str:
    value = d.get(key)
    if not isinstance(value, str) or (not value and not allow_empty) or len(value) > max_len:
        raise ValueError(f"{where}.{key} must be a non-empty string of at most {max_len} chars")
    return value


def integer(d: Mapping[str, Any], key: str, where: str, *, minimum: int = 0,
            maximum: int = 2**53) -> int:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"{where}.{key} must be an integer in [{minimum}, {maximum}]")
    return value


def boolean(d: Mapping[str, Any], key: str, where: str) -> bool:
    value = d.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{where}.{key} must be true or false")
    return value


def strings(d: Mapping[str, Any], key: str, where: str, *, max_items: int = 256,
            max_len: int = MAX_STR, unique: bool = True) -> tuple[str, ...]:
    value = d.get(key)
    if not isinstance(value, list) or len(value) > max_items:
        raise ValueError(f"{where}.{key} must be a list of at most {max_items} strings")
    for item in value:
        if not isinstance(item, str) or not item or len(item) > max_len:
            raise ValueError(f"{where}.{key} must hold non-empty strings")
    if unique and len(set(value)) != len(value):
        raise ValueError(f"{where}.{key} has duplicates")
    return tuple(value)
