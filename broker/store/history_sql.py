"""The entity history reads both backends run, as SQL with '?' placeholders (PostgreSQL
numbers them): one window of an entity's instances, one page of temporal entities."""

from __future__ import annotations

from typing import Any

from .base import TIME_COLUMNS, EntityFilter, InstanceWindow

INSTANCE_COLS = ("instance_id, entity_id, attr, dataset_id, doc, observed_at, created_at,"
                 " modified_at, deleted_at")
TEMPORAL_ENTITY_COLS = "id, type, doc, created_at, modified_at"


def window_sql(entity_id: str, window: InstanceWindow) -> tuple[str, list[Any]]:
    """The statement reading one window of an entity's instances ('?' placeholders)."""
    column = TIME_COLUMNS[window.timeproperty]
    if column == "observed_at":
        # An instance without observedAt sits at the time it was recorded (core writes of
        # unobserved values would otherwise have no place in the default evolution).
        column = "coalesce(observed_at, created_at)"
    where = ["entity_id = ?", f"{column} IS NOT NULL"]
    args: list[Any] = [entity_id]
    if window.timeproperty != "deletedAt":
        where.append("deleted_at IS NULL")
    if window.attrs:
        where.append(f"attr IN ({','.join('?' * len(window.attrs))})")
        args.extend(window.attrs)
    if window.dataset_ids is not None:
        where.append(f"dataset_id IN ({','.join('?' * len(window.dataset_ids))})")
        args.extend(window.dataset_ids)
    if window.start is not None:
        where.append(f"{column} >= ?")
        args.append(window.start)
    if window.end is not None:
        where.append(f"{column} < ?")
        args.append(window.end)
    inner = (f"SELECT {INSTANCE_COLS}, {column} AS t, seq, ROW_NUMBER() OVER (PARTITION BY attr"
             f" ORDER BY {column} DESC, seq DESC) AS rn FROM temporal_instances"
             f" WHERE {' AND '.join(where)}")
    direction = "DESC" if window.descending else "ASC"
    sql = f"SELECT {INSTANCE_COLS} FROM ({inner}) AS w"
    if window.last_n is not None:
        sql += " WHERE rn <= ?"
        args.append(window.last_n)
    sql += f" ORDER BY t {direction}, seq {direction} LIMIT ?"
    args.append(window.limit)
    return sql, args


def scan_sql(flt: EntityFilter, limit: int) -> tuple[str, list[Any]]:
    """Temporal entities after ``flt.after_id`` in id order."""
    where = ["id > ?"]
    args: list[Any] = [flt.after_id]
    if flt.types:
        where.append(f"type IN ({','.join('?' * len(flt.types))})")
        args.extend(flt.types)
    if flt.ids:
        where.append(f"id IN ({','.join('?' * len(flt.ids))})")
        args.extend(flt.ids)
    if flt.id_prefix:
        where.append("id >= ? AND id < ?")
        args.extend([flt.id_prefix, flt.id_prefix + "\U0010ffff"])
    args.append(limit)
    return (f"SELECT {TEMPORAL_ENTITY_COLS} FROM temporal_entities"
            f" WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", args)


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (no statement here holds a literal
    question mark)."""
    parts = sql.split("?")
    return "".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, 1))
