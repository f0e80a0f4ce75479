"""decide(): table-driven decisions, deny-overrides, and mask properties."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from fedkit import AGENCY, NANAO, NANAO_BBOX, T0, TAKAMATSU, make_agreement
from hypothesis import given
from hypothesis import strategies as st

from trust.agreements import Area
from trust.errors import PolicyDenied
from trust.policy import AgreementSet, Near, Operation, PolicyRequest, Within, decide

ES, SO, POI = "EvacuationSite", "ShelterOccupancy", "PointOfInterest"
MAIN = make_agreement()
STATS = make_agreement(id="agr-stats", purpose="statistics", aggregate_only=True, k_threshold=5)
NO_SUBSCRIBE = make_agreement(id="agr-mlit", consumer="jp-gov-mlit",
                              operations=frozenset({"query", "get", "catalog"}))
TOURISM = make_agreement(
    id="agr-tourism", consumer=TAKAMATSU, purpose="tourism", entity_types=frozenset({POI}),
    attributes={POI: {"name", "location", "category"}},
    area=Area({"type": "Polygon", "coordinates": [[[136.9, 37.0], [137.0, 37.0],
                                                   [137.0, 37.1], [136.9, 37.0]]]}))
AGREEMENTS = AgreementSet([MAIN, STATS, TOURISM, NO_SUBSCRIBE])


@dataclass
class Case:
    name: str
    expect: str
    request: dict[str, Any] = field(default_factory=dict)
    now: float = T0
    agreements: AgreementSet = AGREEMENTS


def req(**overrides: Any) -> PolicyRequest:
    fields: dict[str, Any] = {"caller": AGENCY, "operation": Operation.QUERY,
                              "types": frozenset({ES}), "purpose": "disaster_response",
                              "agreement_id": MAIN.id, "provider": NANAO}
    fields.update(overrides)
    return PolicyRequest(**fields)


CASES = [
    Case("named agreement, no projection", "allowed"),
    Case("explicit allowed attributes", "allowed", {"attributes": {"name", "capacity"}}),
    Case("id and type may always be asked for", "allowed", {"attributes": {"id", "type"}}),
    Case("attribute not in the mask", "field_not_allowed", {"attributes": {"name", "telephone"}}),
    Case("attribute allowed only for another type", "field_not_allowed",
         {"attributes": {"occupancy"}}),
    Case("attribute of one of several requested types", "allowed",
         {"types": {ES, SO}, "attributes": {"occupancy", "name"}}),
    Case("type not shared", "type_not_allowed", {"types": {ES, "OffStreetParking"}}),
    Case("all types (none named)", "allowed", {"types": frozenset()}),
    Case("purpose differs", "purpose_not_allowed", {"purpose": "tourism"}),
    Case("named agreement of another caller", "no_agreement", {"caller": TAKAMATSU}),
    Case("named agreement of another provider", "no_agreement", {"provider": TAKAMATSU}),
    Case("unknown agreement id", "no_agreement", {"agreement_id": "agr-nope"}),
    Case("before the validity window", "agreement_not_active", now=MAIN.not_before - 1),
    Case("after the validity window", "agreement_not_active", now=MAIN.not_after + 1),
    Case("near filter inside the area", "allowed", {"geo": Near(136.95, 37.05, 500)}),
    Case("near filter overlapping the edge", "allowed", {"geo": Near(137.101, 37.05, 1000)}),
    Case("near filter entirely outside", "outside_area", {"geo": Near(139.7, 35.7, 5000)}),
    Case("within filter partly inside", "allowed",
         {"geo": Within(Area([137.0, 37.1, 137.5, 37.5]))}),
    Case("within filter entirely outside", "outside_area",
         {"geo": Within(Area([130.0, 33.0, 131.0, 34.0]))}),
    Case("raw query under aggregate_only", "aggregate_only",
         {"agreement_id": STATS.id, "purpose": "statistics"}),
    Case("get under aggregate_only", "aggregate_only",
         {"agreement_id": STATS.id, "purpose": "statistics", "operation": Operation.GET}),
    Case("subscribe under aggregate_only", "aggregate_only",
         {"agreement_id": STATS.id, "purpose": "statistics",
          "operation": Operation.SUBSCRIBE}),
    Case("catalog under aggregate_only", "allowed",
         {"agreement_id": STATS.id, "purpose": "statistics", "operation": Operation.CATALOG}),
    Case("operation the agreement does not list", "operation_not_allowed",
         {"agreement_id": NO_SUBSCRIBE.id, "caller": "jp-gov-mlit",
          "operation": Operation.SUBSCRIBE}),
    Case("aggregate under aggregate_only", "allowed",
         {"agreement_id": STATS.id, "purpose": "statistics", "operation": Operation.AGGREGATE}),
    Case("unnamed: the one agreement for the purpose", "allowed", {"agreement_id": None}),
    Case("unnamed: no agreement at all", "no_agreement",
         {"agreement_id": None, "caller": "jp-999999"}),
    Case("unnamed: no agreement for this purpose", "purpose_not_allowed",
         {"agreement_id": None, "purpose": "research"}),
    Case("unnamed: types not covered", "type_not_allowed",
         {"agreement_id": None, "types": {POI}}),
    Case("unnamed: several agreements apply", "agreement_ambiguous", {"agreement_id": None},
         agreements=AgreementSet([MAIN, make_agreement(id="agr-nanao-cao-2")])),
    Case("unnamed: the old one expired, the renewal applies", "allowed",
         {"agreement_id": None}, now=T0 + 100 * 86400,
         agreements=AgreementSet([MAIN, make_agreement(id="agr-nanao-cao-2",
                                                       not_after=T0 + 400 * 86400)])),
    Case("polygon area: near filter outside the triangle", "outside_area",
         {"agreement_id": TOURISM.id, "caller": TAKAMATSU, "purpose": "tourism",
          "types": {POI}, "geo": Near(136.91, 37.09, 200)}),
    Case("polygon area: near filter inside the triangle", "allowed",
         {"agreement_id": TOURISM.id, "caller": TAKAMATSU, "purpose": "tourism",
          "types": {POI}, "geo": Near(136.99, 37.01, 200)}),
    Case("filter on a shared attribute", "allowed", {"filters": {"capacity", "location"}}),
    Case("filter on id and type (no attributes)", "allowed", {"filters": {"id", "type"}}),
    Case("filter on a hidden attribute", "field_not_allowed", {"filters": {"telephone"}}),
    Case("filter on what one of the requested types hides", "field_not_allowed",
         {"types": {ES, SO}, "filters": {"occupancy"}}),
    Case("filter with no type named: every shared type must show it", "field_not_allowed",
         {"types": frozenset(), "filters": {"capacity"}}),
    Case("filter on an attribute of the one requested type", "allowed",
         {"types": {SO}, "filters": {"occupancy"}}),
    Case("filter on a hidden attribute of an aggregate", "field_not_allowed",
         {"agreement_id": STATS.id, "purpose": "statistics", "operation": Operation.AGGREGATE,
          "filters": {"telephone"}}),
    Case("outside the area is reported before a hidden filter", "outside_area",
         {"geo": Near(139.7, 35.7, 5000), "filters": {"telephone"}}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision_table(case: Case) -> None:
    decision = decide(req(**case.request), case.agreements, case.now)
    assert decision.reason == case.expect, decision.message
    assert decision.allowed == (case.expect == "allowed")
    if decision.allowed:
        assert decision.field_mask is not None and decision.obligations is not None
    else:
        with pytest.raises(PolicyDenied) as err:
            decision.raise_if_denied()
        assert err.value.code == case.expect


def test_allowed_decision_carries_mask_area_and_obligations() -> None:
    decision = decide(req(), AGREEMENTS, T0)
    assert decision.agreement_id == MAIN.id
    assert decision.area == Area(NANAO_BBOX)
    assert decision.field_mask is not None
    assert decision.field_mask.attributes_for(ES) >= {"id", "type", "name", "location"}
    assert "telephone" not in decision.field_mask.attributes_for(ES)
    obligations = decision.obligations
    assert obligations is not None
    assert (obligations.aggregate_only, obligations.retention_days,
            obligations.freshness_seconds, obligations.onward_sharing) == (False, 30, 600, False)
    assert obligations.rate_limits.requests_per_minute == 60


def test_explicit_projection_narrows_the_mask() -> None:
    mask = decide(req(attributes={"name"}), AGREEMENTS, T0).field_mask
    assert mask is not None
    assert mask.attributes_for(ES) == {"id", "type", "@context", "name"}
    assert mask.types == {ES}


def test_aggregate_obligations_carry_k() -> None:
    decision = decide(req(agreement_id=STATS.id, purpose="statistics",
                          operation=Operation.AGGREGATE), AGREEMENTS, T0)
    assert decision.obligations is not None and decision.obligations.k_threshold == 5
    assert decision.obligations.aggregate_only


def test_decide_is_pure_and_accepts_a_plain_list() -> None:
    request = req(attributes={"name"})
    first = decide(request, [MAIN, STATS, TOURISM, NO_SUBSCRIBE], T0)
    again = decide(request, AGREEMENTS, T0)
    assert (first.allowed, first.reason, first.field_mask) == (again.allowed, again.reason,
                                                               again.field_mask)
    assert MAIN == make_agreement()  # nothing mutated


def test_only_active_signed_agreements_enter_the_set(fed) -> None:
    from fedkit import AGENCY as consumer
    from fedkit import NANAO as provider

    from trust.agreements import sign_agreement

    both = sign_agreement(sign_agreement(MAIN, consumer, fed.keys[consumer], now=T0), provider,
                          fed.keys[provider], now=T0)
    one = sign_agreement(STATS, consumer, fed.keys[consumer], now=T0)
    active = AgreementSet.active([both, one], fed.current(), T0)
    assert len(active) == 1 and active.get(MAIN.id) == MAIN and active.get(STATS.id) is None
    assert decide(req(), active, T0).allowed
    denied = decide(req(agreement_id=STATS.id, purpose="statistics",
                        operation=Operation.AGGREGATE), active, T0)
    assert denied.reason == "no_agreement"


def test_duplicate_agreement_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        AgreementSet([MAIN, MAIN])


def test_operation_strings_are_accepted() -> None:
    assert req(operation="aggregate").operation is Operation.AGGREGATE
    with pytest.raises(ValueError):
        req(operation="delete")


ALL_ATTRS = ["name", "location", "capacity", "suitableFor", "telephone", "address", "occupancy"]


@given(st.sets(st.sampled_from(ALL_ATTRS), min_size=1))
def test_mask_never_exceeds_the_agreement(attrs: set[str]) -> None:
    decision = decide(req(attributes=attrs), AGREEMENTS, T0)
    allowed = MAIN.allowed_attributes(ES)
    assert decision.allowed == (attrs <= allowed)
    if decision.allowed:
        assert decision.field_mask is not None
        assert decision.field_mask.attributes_for(ES) - {"@context"} <= allowed
