"""Numbered SQL migrations per backend (``NNNN_name.sql``), applied in order in a transaction."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


def migrations_for(backend: str) -> list[Migration]:
    """The migrations of ``backend`` (``sqlite`` or ``postgres``), ordered by number."""
    folder = resources.files(__package__).joinpath(backend)
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        number = int(name.split("_", 1)[0])
        out.append(Migration(number, name, entry.read_text(encoding="utf-8")))
    out.sort(key=lambda m: m.number)
    numbers = [m.number for m in out]
    if numbers != list(range(1, len(out) + 1)):
        raise RuntimeError(f"{backend} migrations are not numbered 1..n: {numbers}")
    return out
