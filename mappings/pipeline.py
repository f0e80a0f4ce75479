"""A value spec with its transforms bound (:class:`Pipeline`), and how a bound rule reads it.

This is the leaf the compile and bind stages share: :mod:`mappings.compiler` makes pipelines,
:mod:`mappings.binding` decides how each one reads a record (:class:`Access`),
:mod:`mappings.builders` turns them into per-record closures and :mod:`mappings.reverse` runs
them backwards. It imports none of those, so they need not import each other.

A pipeline's forward function is its steps chained into as few Python calls as possible: the
identity steps dropped, runs of commuting text transforms fused into one call, a final
``default`` or ``required`` folded into the call before it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mappings.errors import RecordError
from mappings.rules import ValueSpec
from mappings.transforms import Step, text
from mappings.transforms.base import identity
from mappings.transforms.control import require_value

__all__ = ["Access", "Builder", "Env", "Getter", "Pipeline", "make_pipeline"]

Env = list[Any]
"""A record's computed values: its ``let`` values in rule order, then flag-set slots."""
Getter = Callable[[Mapping[str, Any], Env], Any]
"""Reads one value spec's input from a record's values and env."""
Builder = Callable[[Mapping[str, Any], Env, dict[str, Any]], None]
"""Writes one attribute (when it has a value) into the entity being built."""
Forward = Callable[[Any], Any]


@dataclass(frozen=True)
class Pipeline:
    """A value spec with its transforms bound: sources, chained forward, steps for reverse."""

    spec: ValueSpec
    steps: tuple[Step, ...]
    forward: Forward | None  # None when every step is the identity
    # The same without a final `required`, for builders that check for no value themselves
    # (one call less per record on the hot path).
    core: Forward | None = None
    required: bool = False

    @property
    def round_trip(self) -> str:
        """What a round trip through every step gives back: lossless, normalizes or lossy."""
        classes = {s.round_trip for s in self.steps}
        return "lossy" if "lossy" in classes else "normalizes" if "normalizes" in classes \
            else "lossless"


def make_pipeline(spec: ValueSpec, steps: Sequence[Step]) -> Pipeline:
    """The pipeline of ``spec`` running the bound ``steps`` in order."""
    required = bool(steps) and steps[-1].name == "required"
    core = _chain(_fused_forwards(steps[:-1])) if required else None
    return Pipeline(spec, tuple(steps), _chain(_fused_forwards(steps)), core, required)


@dataclass(frozen=True)
class Access:
    """How a bound value spec reads its input. ``getter`` always works; the other fields let a
    builder inline the read for the common shapes (``kind``): ``column`` (one column, ``fn``),
    ``pair`` (two columns ``column``/``second``, ``fn``), ``part`` (``key`` of let value
    ``index``), ``slot`` (env value ``index``, item ``key``)."""

    getter: Getter
    kind: str = "generic"
    column: str | None = None
    fn: Forward | None = None
    second: str | None = None
    index: int = 0
    key: Any = None
    required: bool = False  # fn is the pipeline without its final `required`...
    full: Forward | None = None  # ...and this is the whole pipeline


_NO_DEFAULT = object()


def _chain(fns: Sequence[Forward]) -> Forward | None:
    fns = [f for f in fns if f is not identity]
    if not fns:
        return None
    fallback = getattr(fns[-1], "fallback", _NO_DEFAULT)
    if len(fns) >= 2 and fallback is not _NO_DEFAULT:
        # `default` last: one wrapper instead of a chain of two calls.
        before = _chain(fns[:-1])
        assert before is not None

        def then_default(v: Any) -> Any:
            v = before(v)
            return fallback if v is None else v

        return then_default
    if len(fns) >= 2 and fns[-1] is require_value:
        inner = _chain(fns[:-1])
        assert inner is not None

        def then_required(v: Any) -> Any:
            v = inner(v)
            if v is None:
                raise RecordError("missing_required", "a value is required here")
            return v

        return then_required
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        f, g = fns
        return lambda v: g(f(v))
    if len(fns) == 3:
        f, g, h = fns
        return lambda v: h(g(f(v)))

    def run(v: Any) -> Any:
        for fn in fns:
            v = fn(v)
        return v

    return run


def _fused_forwards(steps: Sequence[Step]) -> list[Forward]:
    """The forward functions of ``steps``, runs of commuting text transforms fused into one."""
    out: list[Forward] = []
    i = 0
    while i < len(steps):
        j = i
        while j < len(steps) and steps[j].name in text.FUSABLE:
            j += 1
        if j - i >= 1 and (j - i >= 2 or (j < len(steps) and steps[j].name == "required")):
            required = j < len(steps) and steps[j].name == "required"
            out.append(text.fuse([s.name for s in steps[i:j]], required))
            i = j + (1 if required else 0)
        else:
            out.append(steps[i].forward)
            i += 1
    return out
