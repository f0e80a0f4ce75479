"""Wire form of requests: what a provider decodes is what the consumer meant."""

from __future__ import annotations

import pytest

from broker.errors import BadRequest
from broker.federation import codec
from broker.federation._pb import federation_pb2 as pb
from broker.federation.feed_client import split_q
from broker.service.filters import Comparison, Near, Range, Within
from broker.service.model import FederatedQuery, Routing, SubscribeRequest, TemporalQuery

TRIANGLE = {"type": "Polygon", "coordinates": [[[136.9, 37.0], [137.0, 37.0], [136.95, 37.1],
                                                [136.9, 37.0]]]}


def test_a_query_round_trips_with_its_filters_and_routing() -> None:
    query = FederatedQuery(
        types=("EvacuationSite",), ids=("urn:a",), id_pattern="urn:.*", attrs=("name",),
        q=(Comparison("capacity", ">=", 100), Comparison("name", "==", "七尾"),
           Comparison("open", "!=", True)),
        geo=Near(136.96, 37.04, 2000.0), limit=50, page_token="abc",
        purpose="disaster_response", agreement_id="agr-1", routing=Routing(("jp-gov-a",), 2))
    wire = pb.QueryRequest.FromString(codec.query_to_pb(query).SerializeToString())
    assert codec.query_from_pb(wire, default_hops=3) == query
    within = FederatedQuery(geo=Within(TRIANGLE))
    back = codec.query_from_pb(codec.query_to_pb(within), 3)
    assert isinstance(back.geo, Within) and back.geo.geometry == TRIANGLE


def test_a_request_without_routing_gets_the_local_hop_limit() -> None:
    assert codec.query_from_pb(pb.QueryRequest(), default_hops=5).routing == Routing((), 5)


@pytest.mark.parametrize("condition", [
    pb.Condition(attribute="capacity", op=pb.Condition.GT, value_json="[1]"),
    pb.Condition(attribute="capacity", op=pb.Condition.GT, value_json="nope"),
    pb.Condition(attribute="capacity", value_json="1"),
    pb.Condition(op=pb.Condition.EQ, value_json="1"),
])
def test_malformed_conditions_are_bad_requests(condition: pb.Condition) -> None:
    with pytest.raises(BadRequest):
        codec.query_from_pb(pb.QueryRequest(q=[condition]), 3)


def test_geo_filters_out_of_range_are_bad_requests() -> None:
    far = pb.GeoFilter(near=pb.Near(longitude=200.0, latitude=0.0, max_distance_m=1.0))
    with pytest.raises(BadRequest):
        codec.query_from_pb(pb.QueryRequest(geo=far), 3)


def test_a_subscription_request_round_trips() -> None:
    request = SubscribeRequest(types=("ShelterOccupancy",), after_cursor=1 << 52 | 42,
                               purpose="disaster_response", heartbeat_seconds=5, from_now=True)
    assert codec.subscribe_from_pb(codec.subscribe_to_pb(request)) == request


def test_only_comparisons_the_wire_carries_are_sent_to_the_provider() -> None:
    wire, local = split_q((Comparison("occupancy", ">=", 50), Comparison("id", "~=", "x$"),
                           Comparison("capacity", "==", Range(1, 9)),
                           Comparison("address", "==", "七尾市", keys=("addressLocality",))))
    assert [c.attribute for c in wire] == ["occupancy"]
    assert [c.attribute for c in local] == ["id", "capacity", "address"]


def test_a_temporal_query_round_trips_with_its_window() -> None:
    query = TemporalQuery(types=("ShelterOccupancy",), attrs=("occupancy",), limit=10,
                          purpose="disaster_response", routing=Routing(("jp-gov-a",), 2),
                          timerel="between", time_at=1.7e9, end_time_at=1.7e9 + 86400,
                          timeproperty="modifiedAt", last_n=5)
    wire = pb.TemporalQueryRequest.FromString(codec.temporal_to_pb(query).SerializeToString())
    assert codec.temporal_from_pb(wire, default_hops=3) == query
    plain = codec.temporal_from_pb(codec.temporal_to_pb(TemporalQuery(types=("T",))), 3)
    assert (plain.timerel, plain.time_at, plain.timeproperty, plain.last_n) == (
        "", None, "observedAt", None)


@pytest.mark.parametrize(("window", "message"), [
    ({"timerel": "during"}, "timerel"),
    ({"timeproperty": "seenAt"}, "timeproperty"),
    ({"timerel": "between", "time_at": 10.0, "end_time_at": 5.0}, "end_time_at"),
    ({"timerel": "after", "time_at": float("nan")}, "finite"),
    ({"last_n": 10_001}, "last_n"),
])
def test_a_temporal_window_the_api_would_refuse_is_refused_on_the_wire(
        window: dict[str, object], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        codec.temporal_from_pb(pb.TemporalQueryRequest(**window), 3)  # type: ignore[arg-type]
