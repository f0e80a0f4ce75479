"""Parsers for the NGSI-LD query languages ``q`` and geo-queries.

They produce the shared filter tree of ``broker.service.filters`` (``Comparison``/``And``/
``Or``/``Range``, ``Near``/``Within``/``ShapeRelation``/``FarFrom``) so that the same
evaluation runs for HTTP and gRPC callers (type expressions and id patterns live with the
rest of the query stack in ``broker.service.query``). Names are passed through a ``rename``
callable so that the caller's @context terms become stored names before anything is compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from shapely.geometry import shape

from ..errors import BadRequest
from ..service.boolexpr import MAX_NESTING
from ..service.filters import And, Comparison, FarFrom, Near, Or, Range, ShapeRelation, Within
from ..service.patterns import compile_pattern
from .model import GEOJSON_TYPES, valid_geometry

Rename = Callable[[str], str]
MAX_Q_LENGTH = 4096
_OPS = ("!~=", "~=", "==", "!=", ">=", "<=", ">", "<")


def _same(name: str) -> str:
    return name


@dataclass(frozen=True)
class Absent:
    """``!attribute``: the entity does not have it."""

    attribute: str

    def matches(self, entity: Mapping[str, Any]) -> bool:
        return self.attribute not in entity


# -- q ----------------------------------------------------------------------------------------

def parse_q(text: str, rename: Rename = _same) -> Any:
    """Parse a ``q`` string into a filter expression (``BadRequest`` when malformed)."""
    if len(text) > MAX_Q_LENGTH:
        raise BadRequest(f"q longer than {MAX_Q_LENGTH} characters")
    parser = _QParser(text, rename)
    expr = parser.expression()
    parser.skip_space()
    if parser.pos != len(text):
        raise BadRequest(f"q: unexpected {text[parser.pos:parser.pos + 16]!r}")
    return expr


def rename_q(text: str, rename: Rename) -> str:
    """The same q text with each attribute name renamed (sub-attributes, keys and values
    untouched), e.g. a subscription's q between the caller's names and stored names."""
    parser = _QParser(text, _same)
    parser.expression()
    out, last = [], 0
    for start, end in parser.names:
        out.append(text[last:start])
        out.append(rename(text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)


class _QParser:
    def __init__(self, text: str, rename: Rename) -> None:
        self.text = text
        self.pos = 0
        self.rename = rename
        self.depth = 0
        self.names: list[tuple[int, int]] = []  # where each attribute name is in the text

    def peek(self) -> str:
        """The next character that is not white space (clients write ``P1 > 5; P2 < 3``)."""
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def expression(self) -> Any:
        # ';' binds tighter than '|', as in the specification's examples.
        items = [self.conjunction()]
        while self.peek() == "|":
            self.pos += 1
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Any:
        items = [self.term()]
        while self.peek() == ";":
            self.pos += 1
            items.append(self.term())
        return items[0] if len(items) == 1 else And(tuple(items))

    def term(self) -> Any:
        if self.peek() == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise BadRequest(f"q nests deeper than {MAX_NESTING} levels")
            self.pos += 1
            inner = self.expression()
            if self.peek() != ")":
                raise BadRequest("q: missing ')'")
            self.pos += 1
            self.depth -= 1
            return inner
        if self.peek() == "!":
            self.pos += 1
            path = self.attribute()
            return Absent(self.rename(path[0]))
        path = self.attribute()
        self.skip_space()
        op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
        name, sub, keys = path[0], path[1], path[2]
        if op is None:
            return Comparison(self.rename(name), "exists", sub_attribute=sub, keys=keys)
        self.pos += len(op)
        self.skip_space()
        raw = self.value_text()
        if op in ("~=", "!~=", ):
            value: Any = _unquote(raw)
            # Checked here (RE2 syntax, length) so that a bad pattern is a 400 at once, not
            # an error per entity while matching.
            compile_pattern(value, "q pattern")
        else:
            value = _value(raw)
            if isinstance(value, Range) and op not in ("==", "!="):
                raise BadRequest("q: a range only goes with == or !=")
            if isinstance(value, tuple) and op not in ("==", "!="):
                raise BadRequest("q: a list only goes with == or !=")
        return Comparison(self.rename(name), op, value, keys=keys, sub_attribute=sub)

    def attribute(self) -> tuple[str, str, tuple[str, ...]]:
        self.skip_space()
        start = self.pos
        stops = "=!<>~;|()[. \t"
        if "://" in self.text[start:start + 12]:
            # A full IRI: its dots are not sub-attribute paths until after its last / or #.
            end = start
            while end < len(self.text) and self.text[end] not in "=!<>~;|()[":
                end += 1
            cut = max(self.text.rfind("/", start, end), self.text.rfind("#", start, end))
            self.pos = cut + 1
        while self.pos < len(self.text) and self.text[self.pos] not in stops:
            self.pos += 1
        name = self.text[start:self.pos]
        if not name:
            raise BadRequest(f"q: expected an attribute name at position {start}")
        self.names.append((start, self.pos))
        sub = ""
        if self.peek() == ".":
            self.pos += 1
            s = self.pos
            while self.pos < len(self.text) and self.text[self.pos] not in "=!<>~;|()[. \t":
                self.pos += 1
            sub = self.text[s:self.pos]
            if not sub:
                raise BadRequest(f"q: expected a sub-attribute name at position {s}")
        keys = []
        while self.peek() == "[":
            end = self.text.find("]", self.pos)
            if end < 0:
                raise BadRequest("q: missing ']'")
            keys.append(self.text[self.pos + 1:end])
            self.pos = end + 1
        return name, sub, tuple(keys)

    def value_text(self) -> str:
        start = self.pos
        quoted = False
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == '"':
                quoted = not quoted
            elif ch == "\\" and quoted:
                self.pos += 1
            elif not quoted and ch in ";|)":
                break
            self.pos += 1
        if quoted:
            raise BadRequest("q: unterminated string")
        raw = self.text[start:self.pos].rstrip(" \t")
        if not raw:
            raise BadRequest("q: expected a value")
        return raw


def _split_outside_quotes(raw: str, sep: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    quoted, i = False, 0
    while i < len(raw):
        if raw[i] == '"':
            quoted = not quoted
        if not quoted and raw.startswith(sep, i):
            parts.append("".join(buf))
            buf = []
            i += len(sep)
            continue
        buf.append(raw[i])
        i += 1
    parts.append("".join(buf))
    return parts


def _value(raw: str) -> Any:
    items = _split_outside_quotes(raw, ",")
    if len(items) > 1:
        return tuple(_scalar(i) for i in items)
    bounds = _split_outside_quotes(raw, "..")
    if len(bounds) == 2:
        return Range(_scalar(bounds[0]), _scalar(bounds[1]))
    return _scalar(raw)


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1].replace('\\"', '"')
    return raw


# Characters an unquoted value cannot hold: they are operators (``a>>>4``) or need quotes.
_NOT_IN_UNQUOTED = frozenset('<>=!~"\' \t')


def _scalar(raw: str) -> Any:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise BadRequest(f"q: malformed string {raw[:32]!r}")
        return _unquote(raw)
    if not raw or _NOT_IN_UNQUOTED.intersection(raw):
        raise BadRequest(f"q: malformed value {raw[:32]!r} (quote strings)")
    if raw in ("true", "false"):
        return raw == "true"
    try:
        number = float(raw)
    except ValueError:
        return raw  # a date-time, a URI: compared as text
    if not math.isfinite(number):
        raise BadRequest("q: numbers must be finite")
    return int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() \
        else number


def q_is_conjunction(expr: Any) -> tuple[Comparison, ...] | None:
    """The comparisons of an AND-only q (what the federation's wire form carries), else None."""
    if isinstance(expr, Comparison):
        return (expr,)
    if isinstance(expr, And) and all(isinstance(i, Comparison) for i in expr.items):
        return tuple(i for i in expr.items if isinstance(i, Comparison))
    return None


# -- geo-queries ------------------------------------------------------------------------------

GEORELS = ("near", "within", "contains", "intersects", "equals", "disjoint", "overlaps")


def parse_geo(georel: str, geometry: str, coordinates: Any) -> Any:
    """Build the geo filter of ``georel``/``geometry``/``coordinates`` (BadRequestData if not)."""
    if not georel or not geometry or coordinates in (None, ""):
        raise BadRequest("a geo-query needs georel, geometry and coordinates together")
    if geometry not in GEOJSON_TYPES - {"GeometryCollection"}:
        raise BadRequest(f"unsupported geometry {geometry[:32]!r}")
    if isinstance(coordinates, str):
        try:
            coordinates = orjson.loads(coordinates)
        except orjson.JSONDecodeError:
            raise BadRequest("coordinates must be a JSON array") from None
    if not isinstance(coordinates, list):
        raise BadRequest("coordinates must be a JSON array")
    geo = {"type": geometry, "coordinates": coordinates}
    if not valid_geometry(geo):
        raise BadRequest(f"coordinates do not form a valid {geometry} (positions are "
                         "[longitude, latitude] numbers)")
    try:
        shp = shape(geo)
    except Exception:
        raise BadRequest("coordinates do not form a valid geometry") from None
    if shp.is_empty:
        raise BadRequest("coordinates do not form a valid geometry")
    rel, *modifiers = georel.split(";")
    if rel == "near":
        if geometry != "Point":
            raise BadRequest("near needs a Point")
        dmax, dmin = math.inf, 0.0
        for m in modifiers:
            key, _, number = m.partition("==")
            try:
                value = float(number)
            except ValueError:
                raise BadRequest(f"georel: bad distance {m[:32]!r}") from None
            if key == "maxDistance":
                dmax = value
            elif key == "minDistance":
                dmin = value
            else:
                raise BadRequest(f"georel: unknown modifier {key[:32]!r}")
        if not modifiers:
            raise BadRequest("near needs maxDistance or minDistance")
        if dmax == math.inf:
            return FarFrom(coordinates[0], coordinates[1], dmin)
        return Near(float(coordinates[0]), float(coordinates[1]), dmax, dmin)
    if rel not in GEORELS or modifiers:
        raise BadRequest(f"unsupported georel {georel[:32]!r}")
    if rel == "within" and geometry in ("Polygon", "MultiPolygon"):
        return Within(geo)
    return ShapeRelation(rel, geo)
