"""Fuzzing the parsers of caller input with a fixed budget: whatever the text or bytes, each
parser returns or raises the broker's ``BadRequest`` (400 / INVALID_ARGUMENT), never another
exception (a RecursionError, an IndexError, a protobuf DecodeError answered as UNKNOWN)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.errors import BadRequest
from broker.federation import codec
from broker.federation._pb import federation_pb2 as pb
from broker.federation.interceptors import _Decoder
from broker.ngsi.q import parse_geo, parse_q
from broker.service.query import id_pattern, parse_types

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def text_of(alphabet: str, max_size: int = 3000) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, max_size=max_size)


def nesting(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Expressions with parentheses up to a few hundred deep around fuzzed text."""
    return st.builds(lambda d, t, e: "(" * d + t + ")" * e,
                     st.integers(0, 700), inner, st.integers(0, 700))


def only_bad_request(parse: Any, *args: Any) -> None:
    try:
        parse(*args)
    except BadRequest:
        pass


TYPE_CHARS = "AB(),|; "
Q_CHARS = 'ab.[]()=!<>~;|"0123456789,.-: \\'


@FUZZ
@given(st.one_of(text_of(TYPE_CHARS), nesting(text_of(TYPE_CHARS, 40))))
def test_type_expressions(text: str) -> None:
    only_bad_request(parse_types, text)


@FUZZ
@given(st.one_of(text_of(Q_CHARS, 4200), nesting(text_of(Q_CHARS, 60))))
def test_q(text: str) -> None:
    only_bad_request(parse_q, text)


@FUZZ
@given(st.one_of(text_of("()[]{}.*+?|^$\\abc", 300), nesting(st.just("a"))))
def test_id_patterns(text: str) -> None:
    only_bad_request(id_pattern, text)


GEOMETRIES = st.sampled_from(["Point", "Polygon", "LineString", "MultiPolygon", "Box", ""])
GEORELS = st.sampled_from(["near;maxDistance==10", "near;minDistance==5", "within",
                           "intersects", "near", "near;maxDistance==x", "disjoint;a"])
JSONISH = st.one_of(
    text_of("[]0123456789.,-e ", 400),
    st.builds(lambda d: "[" * d + "136.9,37.0" + "]" * d, st.integers(0, 2000)))


@FUZZ
@given(GEORELS, GEOMETRIES, JSONISH)
def test_geo_queries(georel: str, geometry: str, coordinates: str) -> None:
    only_bad_request(parse_geo, georel, geometry, coordinates)


MESSAGES = {"Query": (pb.QueryRequest, lambda m: codec.query_from_pb(m, 3)),
            "GetEntity": (pb.GetEntityRequest, lambda m: codec.get_from_pb(m, 3)),
            "Aggregate": (pb.AggregateRequest, lambda m: codec.aggregate_from_pb(m, 3)),
            "Subscribe": (pb.SubscribeRequest, codec.subscribe_from_pb)}


def valid_then_mangled() -> st.SearchStrategy[bytes]:
    """A real QueryRequest with bytes flipped, cut or appended: mostly near-valid input."""
    base = pb.QueryRequest(types=["EvacuationSite"], ids=["urn:x:1"], q=[
        pb.Condition(attribute="capacity", op=pb.Condition.GT, value_json="5")],
        geo=pb.GeoFilter(within_geojson=b'{"type":"Polygon","coordinates":[[[0,0],[1,0],'
                                        b'[1,1],[0,0]]]}')).SerializeToString()
    return st.builds(lambda cut, flips, tail: bytes(
        b ^ 0xFF if i in flips else b for i, b in enumerate(base[:cut])) + tail,
        st.integers(0, len(base)), st.sets(st.integers(0, len(base)), max_size=4),
        st.binary(max_size=16))


@FUZZ
@given(st.sampled_from(sorted(MESSAGES)), st.one_of(st.binary(max_size=512),
                                                     valid_then_mangled()))
def test_federation_messages(method: str, raw: bytes) -> None:
    cls, convert = MESSAGES[method]
    decode = _Decoder(method, cls.FromString)
    try:
        message = decode(raw, "jp-000000")
        convert(message)
    except BadRequest:
        pass
