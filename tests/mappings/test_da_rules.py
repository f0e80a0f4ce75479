"""The Digital Agency rules' entities are valid instances of their types' JSON Schemas, and each
rule maps its own entities back to a row that maps to the same entity (reverse mapping)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from mappings.engine import Mapped, map_records
from mappings.sources import Position, SourceRecord
from mappings.vocab import schema_for, schema_resources, to_key_values

from .conftest import FIXTURES, compiled

REGISTRY = Registry().with_resources(
    (uri, Resource.from_contents(doc)) for uri, doc in schema_resources().items())
CASES = [p for p in sorted(FIXTURES.glob("da_*/*.yaml"))
         if "record" in (case := yaml.safe_load(p.read_text("utf-8")))
         and "entity" in case["expected"]]


def _entity(path: Path) -> tuple[Any, dict[str, Any]]:
    case = yaml.safe_load(path.read_text("utf-8"))
    rule = compiled(case["rules"], **case.get("params", {}))
    values = case["record"]
    [result] = map_records(rule, [SourceRecord("<fixture>", 1, values, Position(0, 1),
                                               tuple(values))])
    assert isinstance(result, Mapped), result
    return rule, result.entity


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_entities_validate_against_their_schema(path: Path) -> None:
    _, entity = _entity(path)
    check = Draft202012Validator(schema_for(entity["type"]), registry=REGISTRY)
    assert [e.message for e in check.iter_errors(to_key_values(entity))] == []


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_reversed_row_maps_to_the_same_entity(path: Path) -> None:
    rule, entity = _entity(path)
    assert rule.forward(rule.reverse(entity)) == entity


def test_every_da_rule_is_covered() -> None:
    from mappings.loader import bundled_rule_names
    assert {n for n in bundled_rule_names() if n.startswith("da_")} <= \
        {p.parent.name for p in CASES}
