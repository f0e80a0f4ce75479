"""scopeQ (NGSI-LD 4.19): the paths, wildcards and combinations a scope query matches."""

from __future__ import annotations

import pytest

from broker.errors import BadRequest
from broker.service.scopes import parse_scope_query

PARK = {"id": "urn:a", "type": "T", "scope": "/Madrid/Gardens/ParqueNorte"}
BOTH = {"id": "urn:b", "type": "T",
        "scope": ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"]}
TOP = {"id": "urn:c", "type": "T", "scope": ["/CompanyA"]}
NONE = {"id": "urn:d", "type": "T"}
ALL = (PARK, BOTH, TOP, NONE)


@pytest.mark.parametrize(("text", "expected"), [
    ("/Madrid/Gardens/ParqueNorte", ["urn:a", "urn:b"]),
    ("/Madrid/Gardens", []),  # a path is not its own prefix
    ("/Madrid/+/ParqueNorte", ["urn:a", "urn:b"]),
    ("/+", ["urn:c"]),  # exactly one level
    ("/CompanyA/#", ["urn:b", "urn:c"]),  # the level and everything below it
    ("/#", ["urn:a", "urn:b", "urn:c"]),  # any scope; none is not one
    ("/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC", ["urn:b"]),
    ("/Madrid/Gardens/ParqueNorte,/CompanyA", ["urn:a", "urn:b", "urn:c"]),
    ("/CompanyA|(/Madrid/#;/CompanyA/+/UnitC)", ["urn:b", "urn:c"]),
])
def test_scope_queries_match_by_path(text: str, expected: list[str]) -> None:
    query = parse_scope_query(text)
    assert [e["id"] for e in ALL if query.matches(e)] == expected


@pytest.mark.parametrize("text", ["", "Madrid", "/", "/A/#/B", "/A/x+", "/A;", "(/A",
                                  "/A)", "/A B", "/" + "(" * 40, "/a" * 2000])
def test_malformed_scope_queries_are_refused(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_scope_query(text)
