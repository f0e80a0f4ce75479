"""What a transform is: a named factory of a forward and a reverse function, with typed arguments.

Conventions every transform follows (the compiler relies on them):

- ``None`` stands for "no value" (an empty cell). A forward function returns ``None`` for
  ``None`` unless its job is to decide about blanks (``default``, ``required``, ``flag``).
- A forward function raises :class:`~mappings.errors.RecordError` with a stable code for a value
  it cannot take; it never sees the column name (the compiled rule adds it).
- ``reverse`` goes from the shared vocabulary back towards the local text. Each transform
  declares what a round trip ``reverse(forward(x))`` gives back: ``lossless`` (``x`` itself),
  ``normalizes`` (``normal_form(x)``, stated in ``normal_form``) or ``lossy``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Args", "BuildContext", "Built", "Fn", "Param", "RoundTrip", "Step", "TransformSpec",
           "identity"]

RoundTrip = Literal["lossless", "normalizes", "lossy"]
Fn = Callable[[Any], Any]
Args = dict[str, Any]
"""A transform's checked arguments: a fresh dict per bind, which the build may annotate
(``_round_trip``)."""
Built = tuple[Fn, Fn]
"""What building a transform gives: its forward and reverse functions."""


def identity(value: Any) -> Any:
    """Return ``value`` unchanged (the reverse of every transform that only normalizes)."""
    return value


@dataclass(frozen=True)
class Param:
    """One argument of a transform. ``check`` validates and converts the YAML value, raising
    ``ValueError`` with a message that the loader shows next to the rule's line number."""

    name: str
    check: Callable[[Any], Any]
    required: bool = False
    default: Any = None
    doc: str = ""


@dataclass(frozen=True)
class BuildContext:
    """What a transform may see of its rule while being built: the rule's lookup tables, and
    ``notices``, where a transform counts what it did that a run summary should show without
    quarantining anything (a placeholder telephone ``－`` dropped: ``telephone_placeholder``).
    One counter per compiled rule; :func:`mappings.engine.map_records` reports a run's share."""

    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notices: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Step:
    """A transform bound to its arguments: the two plain callables the compiler chains."""

    name: str
    forward: Fn
    reverse: Fn
    round_trip: RoundTrip
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TransformSpec:
    """A named transform of the fixed library."""

    name: str
    summary: str
    round_trip: RoundTrip
    normal_form: str
    build: Callable[[Args, BuildContext], Built]
    params: tuple[Param, ...] = ()
    example: str = ""

    def bind(self, raw_args: Any, ctx: BuildContext | None = None) -> Step:
        """Validate ``raw_args`` (as written in YAML) and build the step. Raises ``ValueError``."""
        args = self._arguments(raw_args)
        forward, reverse = self.build(args, ctx or BuildContext())
        return Step(self.name, forward, reverse, self._round_trip(args), args)

    def _round_trip(self, args: Mapping[str, Any]) -> RoundTrip:
        # A lookup with a non-injective table, for example, becomes lossy: the build can say so.
        round_trip: RoundTrip = args.get("_round_trip", self.round_trip)
        return round_trip

    def _arguments(self, raw: Any) -> dict[str, Any]:
        names = {p.name for p in self.params}
        if raw is None:
            given: dict[str, Any] = {}
        elif isinstance(raw, Mapping) and raw and set(raw) <= names:
            given = dict(raw)
        elif isinstance(raw, Mapping) and not raw:
            given = {}
        elif isinstance(raw, Mapping) and not (self.params and self.params[0].check is a_any):
            given = dict(raw)  # reported below as unknown arguments
        elif self.params:
            # One bare value is the first parameter: `- default: 0`, `- prefix: "jp-"`.
            given = {self.params[0].name: raw}
        else:
            raise ValueError(f"transform {self.name!r} takes no arguments")
        unknown = set(given) - names
        if unknown:
            raise ValueError(
                f"transform {self.name!r} has no argument {sorted(unknown)[0]!r}"
                f" (arguments: {', '.join(sorted(names)) or 'none'})")
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in given:
                try:
                    out[p.name] = p.check(given[p.name])
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"transform {self.name!r}, argument {p.name!r}: {exc}") \
                        from None
            elif p.required:
                raise ValueError(f"transform {self.name!r} needs argument {p.name!r}")
            else:
                out[p.name] = p.default
        return out


# Argument checkers -------------------------------------------------------------------------

def a_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def a_str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise ValueError("expected a list of texts")
    return tuple(str(v) for v in value)


def a_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return value


def a_any(value: Any) -> Any:
    return value


def one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)
    return check
