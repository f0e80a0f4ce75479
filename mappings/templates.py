"""Entity id templates: ``urn:ngsi-ld:EvacuationSite:{member}:{local_id}`` in both directions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

__all__ = ["id_part", "parse_template", "template_names", "template_parser"]

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_SAFE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=@-]+")
_QUOTE_SAFE = "._~!$&'()*+,;=@-"


_CACHE: dict[Any, str] = {}
_CACHE_MAX = 1024


def id_part(value: Any) -> str:
    """A value as it goes into an id: text, stripped, percent-encoded where a URI needs it.

    ``:`` and ``/`` are encoded too, so a local id can never add a segment to the id.
    """
    if value.__class__ is not str:
        return _id_part(value)
    cached = _CACHE.get(value)
    if cached is not None:
        return cached
    out = _id_part(value)
    if len(_CACHE) < _CACHE_MAX:
        # Member ids and other repeated parts hit this; unique local ids fill it once and stop.
        _CACHE[value] = out
    return out


def _id_part(value: Any) -> str:
    text = value if isinstance(value, str) else (
        str(int(value)) if isinstance(value, float) and value.is_integer() else str(value))
    text = text.strip()
    if (text.isascii() and text.isalnum()) or _SAFE.fullmatch(text):
        return text
    return quote(text, safe=_QUOTE_SAFE)


def template_names(template: str) -> tuple[str, ...]:
    """The placeholder names of a template, in order."""
    return tuple(m.group(1) for m in _PLACEHOLDER.finditer(template))


def parse_template(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a template into its literal pieces (one more than names) and placeholder names."""
    literals = tuple(_PLACEHOLDER.split(template)[0::2])
    return literals, template_names(template)


def template_parser(template: str) -> Callable[[str], dict[str, str] | None]:
    """A function reading the placeholder values back out of an id made from ``template``."""
    literals, names = parse_template(template)
    pattern = re.escape(literals[0])
    for i in range(len(names)):
        # Ids encode ':' inside values, so each value stops at the next literal.
        pattern += "(.+)" if i == len(names) - 1 else "(.+?)"
        pattern += re.escape(literals[i + 1])
    regex = re.compile(pattern)

    def parse(text: str) -> dict[str, str] | None:
        m = regex.fullmatch(text)
        if m is None:
            return None
        return {name: unquote(m.group(i + 1)) for i, name in enumerate(names)}

    return parse
