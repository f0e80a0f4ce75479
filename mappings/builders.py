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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mappings.errors import RecordError
from mappings.rules import AttributeSpec

if TYPE_CHECKING:
    from mappings.binding import BoundRule
    from mappings.compiler import Pipeline

__all__ = ["Access", "Builder", "make_builders"]

Getter = Callable[[Mapping[str, Any], list], Any]
Builder = Callable[[Mapping[str, Any], list, dict], None]


@dataclass(frozen=True)
class Access:
    """How a bound value spec reads its input. ``getter`` always works; the other fields let a
    builder inline the read for the common shapes (``kind``): ``column`` (one column, ``fn``),
    ``pair`` (two columns ``column``/``second``, ``fn``), ``part`` (``key`` of let value
    ``index``), ``slot`` (env value ``index``, item ``key``)."""

    getter: Getter
    kind: str = "generic"
    column: str | None = None
    fn: Callable[[Any], Any] | None = None
    second: str | None = None
    index: int = 0
    key: Any = None
    required: bool = False  # fn is the pipeline without its final `required`...
    full: Callable[[Any], Any] | None = None  # ...and this is the whole pipeline


def make_builders(bound: BoundRule) -> tuple[Builder, ...]:
    """The builders of every attribute of ``bound``'s rule, adjacent parts grouped."""
    made: list[tuple[Builder, Any]] = []
    for attr, pipes in bound.compiled.attributes:
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

def _wrap(name: str, kind: str, attr: AttributeSpec, bound: BoundRule, pipes: dict[str, Any],
          access: Access) -> tuple[Builder, Any]:
    unit, keep_empty = attr.unit, attr.keep_empty
    observed = bound.access(pipes["observed_at"]).getter if "observed_at" in pipes else None
    if observed is None and not keep_empty:
        fast = _FAST.get(access.kind)
        if fast is not None:
            return fast(name, access, kind, unit)
    get = access.getter

    def build(values: Mapping[str, Any], env: list, entity: dict) -> None:
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


def _fast_column(name: str, access: Access, kind: str, unit: str | None) -> tuple[Builder, Any]:
    column, fn, required = access.column, access.fn, access.required
    assert fn is not None and column is not None

    def build(values: Mapping[str, Any], env: list, entity: dict) -> None:
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


def _fast_pair(name: str, access: Access, kind: str, unit: str | None) -> tuple[Builder, Any]:
    first, second, fn, required = access.column, access.second, access.fn, access.required
    assert fn is not None and first is not None and second is not None
    two = getattr(fn, "two", None)
    if two is not None:
        # A transform of two values that takes them as two arguments (geo_point).
        def build_two(values: Mapping[str, Any], env: list, entity: dict) -> None:
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

    def build(values: Mapping[str, Any], env: list, entity: dict) -> None:
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


def _fast_part(name: str, access: Access, kind: str, unit: str | None) -> tuple[Builder, Any]:
    index, key = access.index, access.key

    def build(values: Mapping[str, Any], env: list, entity: dict) -> None:
        whole = env[index]
        if whole is not None:
            v = whole.get(key)
            if v is not None and not (v.__class__ is list and not v):
                entity[name] = _attribute(kind, v, unit)

    return build, (index, name, key, kind, unit)


_FAST = {"column": _fast_column, "pair": _fast_pair, "part": _fast_part, "slot": _fast_part}


def _grouped(made: list[tuple[Builder, Any]]) -> tuple[Builder, ...]:
    out: list[Builder] = []
    i = 0
    while i < len(made):
        build, info = made[i]
        j = i + 1
        while info is not None and j < len(made) and made[j][1] is not None \
                and made[j][1][0] == info[0]:
            j += 1
        if j - i < 2:
            out.append(build)
        else:
            out.append(_group(info[0], tuple(m[1][1:] for m in made[i:j])))
        i = j
    return tuple(out)


def _group(index: int, members: tuple) -> Builder:
    def build(values: Mapping[str, Any], env: list, entity: dict) -> None:
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

def _inline_parts(bound: BoundRule, pipes: Sequence[tuple[str, Pipeline]]) -> tuple:
    """(key, column, fn, getter) per part: column and fn set when the part can be read inline."""
    out = []
    for key, pipe in pipes:
        access = bound.access(pipe)
        fn = access.full if access.required else access.fn
        inline = access.kind == "column" and fn is not None
        out.append((key, access.column if inline else None, fn, access.getter))
    return tuple(out)


def _read_parts(parts: tuple, values: Mapping[str, Any], env: list) -> dict[str, Any]:
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


def _property(bound: BoundRule, attr: AttributeSpec, pipes: dict[str, Any]):
    name = attr.name
    if not attr.fields:
        return _wrap(name, attr.kind, attr, bound, pipes, bound.access(pipes["value"]))
    constants = {k: p.forward(p.spec.constant) if p.forward else p.spec.constant
                 for k, p in pipes["fields"] if p.spec.has_constant}
    parts = _inline_parts(bound, [(k, p) for k, p in pipes["fields"]
                                  if not p.spec.has_constant])

    def get_object(values: Mapping[str, Any], env: list) -> Any:
        # Constants alone do not make a value: {addressCountry: JP} with nothing else is omitted.
        out = _read_parts(parts, values, env)
        return {**constants, **out} if out else None

    if "observed_at" in pipes or attr.unit is not None:
        return _wrap(name, "Property", attr, bound, pipes, Access(get_object))

    seeded = len(constants)
    if all(column is not None for _, column, _, _ in parts):
        inline = tuple((key, column, fn) for key, column, fn, _ in parts)

        def build_inline(values: Mapping[str, Any], env: list, entity: dict) -> None:
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

    def build(values: Mapping[str, Any], env: list, entity: dict) -> None:
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


def _language(bound: BoundRule, attr: AttributeSpec, pipes: dict[str, Any]):
    name, langs = attr.name, _inline_parts(bound, pipes["languages"])
    if all(column is not None for _, column, _, _ in langs):
        inline = tuple((tag, column, fn) for tag, column, fn, _ in langs)

        def build_inline(values: Mapping[str, Any], env: list, entity: dict) -> None:
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

    def build(values: Mapping[str, Any], env: list, entity: dict) -> None:
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


def _relationship(bound: BoundRule, attr: AttributeSpec, pipes: dict[str, Any]):
    name, make = attr.name, bound.template(pipes["object"], required=False)

    def build(values: Mapping[str, Any], env: list, entity: dict) -> None:
        target = make(values, env)
        if target is not None:
            entity[name] = {"type": "Relationship", "object": target}

    return build, None


def _flags(bound: BoundRule, attr: AttributeSpec, pipes: dict[str, Any]):
    assert attr.flags is not None
    slot = bound.flag_slot(attr, pipes["flag_table"])
    which = 0 if attr.flags.select is True else 1

    def get(values: Mapping[str, Any], env: list) -> Any:
        return env[slot][which]

    return _wrap(attr.name, "Property", attr, bound, pipes,
                 Access(get, "slot", index=slot, key=which))


_BY_KIND: dict[str, Callable[..., tuple[Builder, Any]]] = {
    "Property": _property,
    "GeoProperty": _property,
    "LanguageProperty": _language,
    "Relationship": _relationship,
    "Flags": _flags,
}
