"""The fixed library of named transforms a rule's pipelines are made of.

A rule names transforms; it never contains code. The library is a read-only mapping built from
the modules below (text, numbers, dates, flags, codes, geography, opening hours, control), so a
test can list it and the README's table can be checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mappings.transforms import codes, control, dates, flags, geo, hours, numbers, phone, text
from mappings.transforms.base import BuildContext, Param, RoundTrip, Step, TransformSpec

__all__ = ["TRANSFORMS", "BuildContext", "Param", "RoundTrip", "Step", "TransformSpec",
           "get_transform"]


def _registry() -> Mapping[str, TransformSpec]:
    specs: dict[str, TransformSpec] = {}
    for module in (text, numbers, dates, flags, codes, geo, hours, phone, control):
        for spec in module.SPECS:
            if spec.name in specs:
                raise RuntimeError(f"transform {spec.name!r} is defined twice")
            specs[spec.name] = spec
    return MappingProxyType(specs)


#: name → spec, for every transform a rule may use.
TRANSFORMS: Mapping[str, TransformSpec] = _registry()


def get_transform(name: str) -> TransformSpec:
    """The spec of transform ``name``; ``KeyError`` with the known names if there is none."""
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise KeyError(f"unknown transform {name!r} (known: {', '.join(sorted(TRANSFORMS))})") \
            from None
