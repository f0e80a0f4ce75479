"""Attribute builders: one closure per attribute, run once per record.

A builder is ``build(values, env, entity)``: it reads its input (a column of ``values``, a
``let`` value in ``env``), runs the attribute's pipeline and, when there is a value, writes the
normalized NGSI-LD attribute into ``entity``. The common shapes (one column, two columns, a
part of a structured let value, a flag list) get closures that read their input inline, so an
attribute costs one Python call plus its transforms. Adjacent attributes taking parts of one
value (a parsed capacity's total, indoor, outdoor and note) share one builder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mappings.errors import RecordError
from mappings.pipeline import Access, Builder, Env, Getter, Pipeline
from mappings.rules import AttributeSpec
from mappings.views import AttributePipes, BoundView

__all__ = ["Builder", "make_builders"]

Values = Mapping[str, Any]
Entity = dict[str, Any]
# What a builder factory gives: the builder, and (slot, name, key, kind, unit) when it only
# copies a part of a let value (adjacent such builders of one slot are grouped into one).
PartInfo = tuple[int, str, Any, str, str | None]
Made = tuple[Builder, PartInfo | None]
# (key, column, fn, getter) of one part; column and fn set when it can be read inline.
Part = tuple[Any, str | None, Any, Getter]


def make_builders(bound: BoundView) -> tuple[Builder, ...]:
    """The builders of every attribute of ``bound``'s rule, adjacent parts grouped."""
    made: list[Made] = []
    for attr, pipes in bound.attributes:
        made.append(_BY_KIND[attr.kind](bound, attr, pipes))
    return _grouped(made)


def _missing(column: str | None, raw: Any) -> RecordError:
    return RecordError("missing_required", "a value is required here", column=column,
                       raw_value=raw)


def _attribute(kind: str, v: Any, unit: str | None) -> dict[str, Any]:
    if unit is None:
        return {"type": kind, "value": v}
    return {"type": kind, "value": v, "unitCode": unit}


# -- Property and GeoProperty -------------------------------------------------------------------

def _wrap(name: str, kind: str, attr: AttributeSpec, bound: BoundView, pipes: AttributePipes,
          access: Access) -> Made:
    unit, keep_empty = attr.unit, attr.keep_empty
    observed = bound.access(pipes["observed_at"]).getter if "observed_at" in pipes else None
    if observed is None and not keep_empty:
        fast = _FAST.get(access.kind)
        if fast is not None:
            return fast(name, access, kind, unit)
    get = access.getter

    def build(values: Values, env: Env, entity: Entity) -> None:
        v = get(values, env)
        if v is None or (v.__class__ is list and not v and not keep_empty):
            return
        out = {"type": kind, "value": v}
        if unit is not None:
            out["unitCode"] = unit
        if observed is not None:
            when = observed(values, env)
            if when is not None:
                out["observedAt"] = when
        entity[name] = out

    return build, None


def _fast_column(name: str, access: Access, kind: str, unit: str | None) -> Made:
    column, fn, required = access.column, access.fn, access.required
    assert fn is not None and column is not None

    def build(values: Values, env: Env, entity: Entity) -> None:
        v = values[column]
        if v == "":
            v = None
        try:
            v = fn(v)
        except RecordError as exc:
            raise exc.located(column, values.get(column)) from None
        if v is None or (v.__class__ is list and not v):
            if required and v is None:
                raw = values.get(column)
                raise _missing(column, None if raw == "" else raw)
            return
        entity[name] = {"type": kind, "value": v} if unit is None else \
            {"type": kind, "value": v, "unitCode": unit}

    return build, None


def _fast_pair(name: str, access: Access, kind: str, unit: str | None) -> Made:
    first, second, fn, required = access.column, access.second, access.fn, access.required
    assert fn is not None and first is not None and second is not None
    two = getattr(fn, "two", None)
    if two is not None:
        # A transform of two values that takes them as two arguments (geo_point).
        def build_two(values: Values, env: Env, entity: Entity) -> None:
            a, b = values[first], values[second]
            try:
                v = two(None if a == "" else a, None if b == "" else b)
            except RecordError as exc:
                part = exc.part
                where = (first, second)[part] if part is not None else f"{first},{second}"
                raw = (None if a == "" else a, None if b == "" else b)
                raise exc.located(where, raw[part] if part is not None else list(raw)) from None
            if v is None:
                if required:
                    raise _missing(f"{first},{second}", [a or None, b or None])
                return
            entity[name] = {"type": kind, "value": v} if unit is None else \
                {"type": kind, "value": v, "unitCode": unit}

        return build_two, None

    def build(values: Values, env: Env, entity: Entity) -> None:
        a, b = values[first], values[second]
        raw = (None if a == "" else a, None if b == "" else b)
        try:
            v = fn(raw)
        except RecordError as exc:
            part = exc.part
            where = (first, second)[part] if part is not None else f"{first},{second}"
            raise exc.located(where, raw[part] if part is not None else list(raw)) from None
        if v is None:
            if required:
                raise _missing(f"{first},{second}", list(raw))
            return
        entity[name] = _attribute(kind, v, unit)

    return build, None


def _fast_part(name: str, access: Access, kind: str, unit: str | None) -> Made:
    index, key = access.index, access.key

    def build(values: Values, env: Env, entity: Entity) -> None:
        whole = env[index]
        if whole is not None:
            v = whole.get(key)
            if v is not None and not (v.__class__ is list and not v):
                entity[name] = _attribute(kind, v, unit)

    return build, (index, name, key, kind, unit)


_FAST: dict[str, Callable[[str, Access, str, str | None], Made]] = {
    "column": _fast_column, "pair": _fast_pair, "part": _fast_part, "slot": _fast_part}


def _grouped(made: list[Made]) -> tuple[Builder, ...]:
    out: list[Builder] = []
    i = 0
    while i < len(made):
        build, info = made[i]
        if info is None:
            out.append(build)
            i += 1
            continue
        members = [info]
        for _, other in made[i + 1:]:
            if other is None or other[0] != info[0]:
                break
            members.append(other)
        if len(members) < 2:
            out.append(build)
        else:
            out.append(_group(info[0], tuple(m[1:] for m in members)))
        i += len(members)
    return tuple(out)


def _group(index: int, members: tuple[tuple[str, Any, str, str | None], ...]) -> Builder:
    def build(values: Values, env: Env, entity: Entity) -> None:
        whole = env[index]
        if whole is None:
            return
        for name, key, kind, unit in members:
            v = whole.get(key)
            if v is None or (v.__class__ is list and not v):
                continue
            entity[name] = {"type": kind, "value": v} if unit is None else \
                {"type": kind, "value": v, "unitCode": unit}

    return build


# -- the other kinds ----------------------------------------------------------------------------

def _inline_parts(bound: BoundView, pipes: Sequence[tuple[str, Pipeline]]) \
        -> tuple[Part, ...]:
    """(key, column, fn, getter) per part: column and fn set when the part can be read inline."""
    out = []
    for key, pipe in pipes:
        access = bound.access(pipe)
        fn = access.full if access.required else access.fn
        inline = access.kind == "column" and fn is not None
        out.append((key, access.column if inline else None, fn, access.getter))
    return tuple(out)


def _read_parts(parts: tuple[Part, ...], values: Values, env: Env) -> dict[str, Any]:
    out = {}
    for key, column, fn, get in parts:
        if column is None:
            v = get(values, env)
        else:
            v = values[column]
            if v == "":
                v = None
            try:
                v = fn(v)
            except RecordError as exc:
                raise exc.located(column, values.get(column)) from None
        if v is not None:
            out[key] = v
    return out


def _property(bound: BoundView, attr: AttributeSpec, pipes: AttributePipes) -> Made:
    name = attr.name
    if not attr.fields:
        return _wrap(name, attr.kind, attr, bound, pipes, bound.access(pipes["value"]))
    constants = {k: p.forward(p.spec.constant) if p.forward else p.spec.constant
                 for k, p in pipes["fields"] if p.spec.has_constant}
    parts = _inline_parts(bound, [(k, p) for k, p in pipes["fields"]
                                  if not p.spec.has_constant])

    def get_object(values: Values, env: Env) -> Any:
        # Constants alone do not make a value: {addressCountry: JP} with nothing else is omitted.
        out = _read_parts(parts, values, env)
        return {**constants, **out} if out else None

    if "observed_at" in pipes or attr.unit is not None:
        return _wrap(name, "Property", attr, bound, pipes, Access(get_object))

    seeded = len(constants)
    inline = tuple((key, column, fn) for key, column, fn, _ in parts if column is not None)
    if len(inline) == len(parts):

        def build_inline(values: Values, env: Env, entity: Entity) -> None:
            # Every field from one column of its own (the usual case).
            out = constants.copy()
            for key, column, fn in inline:
                v = values[column]
                if v == "":
                    v = None
                try:
                    v = fn(v)
                except RecordError as exc:
                    raise exc.located(column, values.get(column)) from None
                if v is not None:
                    out[key] = v
            if len(out) > seeded:
                entity[name] = {"type": "Property", "value": out}

        return build_inline, None

    def build(values: Values, env: Env, entity: Entity) -> None:
        # _read_parts written out: this runs for every record.
        out = constants.copy()
        for key, column, fn, get in parts:
            if column is None:
                v = get(values, env)
            else:
                v = values[column]
                if v == "":
                    v = None
                try:
                    v = fn(v)
                except RecordError as exc:
                    raise exc.located(column, values.get(column)) from None
            if v is not None:
                out[key] = v
        if len(out) > seeded:
            entity[name] = {"type": "Property", "value": out}

    return build, None


def _language(bound: BoundView, attr: AttributeSpec, pipes: AttributePipes) -> Made:
    name, langs = attr.name, _inline_parts(bound, pipes["languages"])
    inline = tuple((tag, column, fn) for tag, column, fn, _ in langs if column is not None)
    if len(inline) == len(langs):

        def build_inline(values: Values, env: Env, entity: Entity) -> None:
            # Every language from one column of its own (the usual case).
            out = {}
            for tag, column, fn in inline:
                v = values[column]
                if v == "":
                    v = None
                try:
                    v = fn(v)
                except RecordError as exc:
                    raise exc.located(column, values.get(column)) from None
                if v is not None:
                    out[tag] = v
            if out:
                entity[name] = {"type": "LanguageProperty", "languageMap": out}

        return build_inline, None

    def build(values: Values, env: Env, entity: Entity) -> None:
        # _read_parts written out: this runs for every record.
        out = {}
        for key, column, fn, get in langs:
            if column is None:
                v = get(values, env)
            else:
                v = values[column]
                if v == "":
                    v = None
                try:
                    v = fn(v)
                except RecordError as exc:
                    raise exc.located(column, values.get(column)) from None
            if v is not None:
                out[key] = v
        if out:
            entity[name] = {"type": "LanguageProperty", "languageMap": out}

    return build, None


def _relationship(bound: BoundView, attr: AttributeSpec, pipes: AttributePipes) -> Made:
    name, make = attr.name, bound.template(pipes["object"], required=False)

    def build(values: Values, env: Env, entity: Entity) -> None:
        target = make(values, env)
        if target is not None:
            entity[name] = {"type": "Relationship", "object": target}

    return build, None


def _flags(bound: BoundView, attr: AttributeSpec, pipes: AttributePipes) -> Made:
    assert attr.flags is not None
    slot = bound.flag_slot(attr, pipes["flag_table"])
    which = 0 if attr.flags.select is True else 1

    def get(values: Values, env: Env) -> Any:
        return env[slot][which]

    return _wrap(attr.name, "Property", attr, bound, pipes,
                 Access(get, "slot", index=slot, key=which))


_BY_KIND: dict[str, Callable[[BoundView, AttributeSpec, AttributePipes], Made]] = {
    "Property": _property,
    "GeoProperty": _property,
    "LanguageProperty": _language,
    "Relationship": _relationship,
    "Flags": _flags,
}
