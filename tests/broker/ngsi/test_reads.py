"""What a federated read asks peers: only what the wire form carries exactly (the rest is
checked by the consumer on arrival, so nothing a peer would refuse is sent)."""

from __future__ import annotations

from broker.ngsi.projection import Projection
from broker.ngsi.q import parse_geo, parse_q
from broker.ngsi.query import NgsiQuery
from broker.ngsi.reads import wire_query
from broker.ngsi.render import OutputOptions
from broker.service.filters import Comparison, Near
from broker.service.query import parse_types


def test_peers_get_the_types_ids_pattern_and_the_comparisons_the_wire_carries() -> None:
    query = NgsiQuery(types=parse_types("EvacuationSite;Building|School"), ids=("urn:a",),
                      id_pattern="jp-172022", q=parse_q('capacity>100;name~=".*x";kind=="a"'))
    sent = wire_query(query, OutputOptions(projection=Projection(attrs=("capacity",))), 21)
    assert sent.types == ("EvacuationSite", "Building", "School")
    assert (sent.ids, sent.id_pattern, sent.limit) == (("urn:a",), "jp-172022", 21)
    assert sent.q == (Comparison("capacity", ">", 100), Comparison("kind", "==", "a"))
    # The q names attributes beyond attrs=capacity: they are asked for too, so that the
    # consumer's check of the full q sees them (project after filtering), and the peer's
    # policy decides on every attribute filtered on, those the wire cannot carry included.
    assert sent.attrs == ("capacity", "kind", "name")
    assert sent.filter_attrs == ("capacity", "kind", "name")
    plain = wire_query(NgsiQuery(types=parse_types("EvacuationSite")),
                       OutputOptions(projection=Projection(attrs=("capacity",))), 21)
    assert plain.attrs == ("capacity",)


def test_a_disjunction_or_a_range_is_checked_here_only() -> None:
    for text in ("capacity>100|kind==\"a\"", "capacity==1..5"):
        assert wire_query(NgsiQuery(q=parse_q(text)), OutputOptions(), 1).q == ()


def test_geo_goes_to_peers_only_on_location_and_only_near_or_within() -> None:
    near = parse_geo("near;maxDistance==500", "Point", "[136.9,37.0]")
    assert wire_query(NgsiQuery(geo=near), OutputOptions(), 1).geo == Near(136.9, 37.0, 500.0)
    assert wire_query(NgsiQuery(geo=near, geoproperty="entrance"), OutputOptions(), 1).geo is None
    far = parse_geo("near;minDistance==500", "Point", "[136.9,37.0]")
    assert wire_query(NgsiQuery(geo=far), OutputOptions(), 1).geo is None
