"""Conformance of the bundled rule sets, driven by the fixture files in fixtures/<rule set>/.

Each case names a real record (or gives one), and the entity or quarantine entry a reader of the
source file expects from it; see fixtures/README.md for the format.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from mappings import jsonld
from mappings.contexts import FrozenDocumentLoader
from mappings.engine import Mapped, Quarantined, map_records
from mappings.loader import bundled_sample
from mappings.sources import Position, SourceRecord, open_records
from mappings.sources.json_source import flatten_ngsiv2

from .conftest import FIXTURES, REALDATA, compiled

CASES = sorted(FIXTURES.glob("*/*.yaml"))
LOADER = FrozenDocumentLoader(extra={
    "https://renkei.test/iris.jsonld": FIXTURES / "iris.jsonld",
    "https://renkei.test/extension-iris.jsonld": FIXTURES / "extension-iris.jsonld",
})


def _record(case: dict[str, Any], rule_kind: str | None) -> SourceRecord:
    if "record" in case:
        kind = case.get("kind")
        values = flatten_ngsiv2(case["record"]) if kind == "ngsiv2" else case["record"]
        header = () if kind in ("json", "jsonl", "ngsiv2", "ngsild") else tuple(values)
        return SourceRecord("<fixture>", 1, values, Position(0, 1), header)
    if case.get("sample"):
        path = bundled_sample(case["rules"])
    else:
        if not REALDATA.is_dir():
            pytest.skip("../shared/realdata is not beside the repository")
        path = REALDATA / case["source"]
    record = next(r for r in open_records(path, kind=rule_kind) if r.row == case["row"])
    if case.get("replace"):
        record = dataclasses.replace(record, values={**record.values, **case["replace"]})
    return record


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture(path: Path) -> None:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert case["rules"] == path.parent.name, "a fixture lives in its rule set's folder"
    rule = compiled(case["rules"], **case.get("params", {}))
    [result] = map_records(rule, [_record(case, rule.rule.source.kind)])
    expected = case["expected"]
    if "quarantine" in expected:
        assert isinstance(result, Quarantined), f"expected a quarantine entry, got {result}"
        want = expected["quarantine"]
        got = {"row": result.row, "column": result.column, "code": result.code,
               "raw_value": result.raw_value}
        assert got == want
        assert result.message and result.record, "the entry says why and keeps the record"
        return
    assert isinstance(result, Mapped), f"quarantined: {result}"
    assert result.entity == expected["entity"]
    if "jsonld_context" in case:
        # Semantics, not just shape: our output under Renkei's default context means the same
        # as the expected entity under the context the fixture names.
        ours = jsonld.expand(jsonld.with_default_context(result.entity), LOADER)
        theirs = jsonld.expand({**expected["entity"], "@context": case["jsonld_context"]},
                               LOADER)
        assert ours == theirs
    if "reverse" in case:
        back = rule.reverse(result.entity)
        assert {k: back[k] for k in case["reverse"]} == case["reverse"]


def test_every_bundled_rule_set_has_fixtures() -> None:
    from mappings.loader import bundled_rule_names
    covered = {p.parent.name for p in CASES}
    assert set(bundled_rule_names()) <= covered
