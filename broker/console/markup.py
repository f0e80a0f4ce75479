"""HTML built from escaped parts: a page cannot carry unescaped text by accident.

``el`` escapes every string child and every attribute value; only ``Markup`` (what ``el``
returns, or a constant written here) passes through as is. There is no way to mark caller
text as safe, so entity names and quarantined raw values (attacker-controlled) always reach
the browser as text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable


class Markup(str):
    """HTML that is already escaped (or a constant of this package)."""


def esc(value: object) -> Markup:
    """The text of ``value``, escaped for an element body or a quoted attribute."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def _render(child: object) -> str:
    if child is None or child is False:
        return ""
    if isinstance(child, Markup):
        return child
    if isinstance(child, str | int | float):
        return esc(child)
    if isinstance(child, Iterable):
        return "".join(_render(c) for c in child)
    return esc(child)


VOID = frozenset({"input", "br", "meta", "link", "img", "hr"})


def el(tag: str, *children: object, **attrs: object) -> Markup:
    """``<tag attrs>children</tag>``; ``class_`` is ``class``, ``data_x`` is ``data-x``; an
    attribute that is ``True`` is written bare, ``None``/``False`` is left out."""
    parts = [tag]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        parts.append(name if value is True else f'{name}="{esc(value)}"')
    opening = f"<{' '.join(parts)}>"
    if tag in VOID:
        return Markup(opening)
    return Markup(f"{opening}{_render(children)}</{tag}>")


def join(*children: object) -> Markup:
    return Markup(_render(children))


def table(headers: Iterable[str], rows: Iterable[Iterable[object]], **attrs: object) -> Markup:
    return el("table", el("thead", el("tr", [el("th", h) for h in headers])),
              el("tbody", [el("tr", [el("td", c) for c in row]) for row in rows]), **attrs)
