"""Control transforms: defaults, required values, picking a part of a structured value."""

from __future__ import annotations

from typing import Any

from mappings.errors import RecordError
from mappings.transforms.base import (
    Args,
    BuildContext,
    Built,
    Param,
    TransformSpec,
    a_any,
    a_str,
    identity,
)


def _build_default(args: Args, ctx: BuildContext) -> Built:
    fallback = args["value"]
    if fallback is None:
        return identity, identity

    def forward(value: Any) -> Any:
        return fallback if value is None else value

    forward.fallback = fallback  # type: ignore[attr-defined]  # lets the compiler fold it
    return forward, identity


def require_value(value: Any) -> Any:
    """The forward of ``required`` (the compiler folds it into the step before)."""
    if value is None:
        raise RecordError("missing_required", "a value is required here")
    return value


def _build_required(args: Args, ctx: BuildContext) -> Built:
    return require_value, identity


def _build_get(args: Args, ctx: BuildContext) -> Built:
    key = args["key"]

    def forward(value: Any) -> Any:
        return None if value is None else value.get(key)

    # The compiler reverses `get` itself: it gathers every attribute's part into one mapping.
    return forward, identity


SPECS = (
    TransformSpec(
        "default", "Use `value` when there is no value (`default: null`, e.g. from a parameter "
        "left null, changes nothing).", "lossy",
        "x, except that a blank x comes back as the default", _build_default,
        (Param("value", a_any),), example="default: 0"),
    TransformSpec(
        "required", "Quarantine the record (`missing_required`) when there is no value.",
        "lossless", "x", _build_required, example="required"),
    TransformSpec(
        "get", "Pick one part of a structured value (e.g. `indoor` of a parsed capacity).",
        "lossless", "x (the parts are put back together)", _build_get,
        (Param("key", a_str, required=True),), example="get: indoor"),
)
