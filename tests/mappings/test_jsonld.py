"""The frozen document loader and the meaning of what the rules emit.

Contexts are bundled and served locally; every other URL is refused without touching the
network. Every term a bundled rule emits has an IRI of its own under the default context (none
falls through to the core context's catch-all default vocabulary).
"""

from __future__ import annotations

import socket
from pathlib import Path

import orjson
import pytest

import mappings.contexts
from mappings import jsonld
from mappings.contexts import (
    BUNDLED_CONTEXTS,
    DEFAULT_CONTEXT,
    NGSI_LD_CORE_URL,
    NGSI_LD_CORE_V1_8_URL,
    NGSI_LD_CORE_V1_9_URL,
    FrozenDocumentLoader,
)
from mappings.engine import Mapped, map_records
from mappings.errors import ContextNotAvailable, MappingError
from mappings.loader import bundled_sample
from mappings.sources import open_records

from .conftest import compiled

ENTITY = {"id": "urn:ngsi-ld:EvacuationSite:jp-172022:X", "type": "EvacuationSite",
          "capacity": {"type": "Property", "value": 5, "unitCode": "IE"},
          "location": {"type": "GeoProperty",
                       "value": {"type": "Point", "coordinates": [136.9, 37.0]}}}
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was touched")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_unknown_context_is_refused_and_never_fetched(no_network: None) -> None:
    loader = FrozenDocumentLoader()
    with pytest.raises(ContextNotAvailable) as err:
        jsonld.expand({**ENTITY, "@context": "https://example.org/ctx.jsonld"}, loader)
    assert err.value.code == "context_not_available"
    assert err.value.url == "https://example.org/ctx.jsonld"
    assert "never fetched" in str(err.value)
    with pytest.raises(ContextNotAvailable):
        loader("http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld", {})


@pytest.mark.parametrize("url", [NGSI_LD_CORE_URL, NGSI_LD_CORE_V1_8_URL, NGSI_LD_CORE_V1_9_URL,
                                 "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
                                 "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld"])
def test_core_context_aliases_expand_offline(no_network: None, url: str) -> None:
    # v1.9 (and the unversioned URL, which is v1.9) needs the data-integrity context; the
    # bundled stub serves it.
    [node] = jsonld.expand({**ENTITY, "@context": url}, FrozenDocumentLoader())
    assert node["https://uri.etsi.org/ngsi-ld/location"][0]["@type"] == \
        ["https://uri.etsi.org/ngsi-ld/GeoProperty"]


def test_operator_registered_local_copy_is_served(tmp_path: Path, no_network: None) -> None:
    ctx = tmp_path / "city.jsonld"
    ctx.write_text('{"@context": {"kyouyou": "https://city.example/kyouyou"}}', encoding="utf-8")
    loader = FrozenDocumentLoader(extra={"https://city.example/ctx.jsonld": ctx})
    doc = {"@context": ["https://city.example/ctx.jsonld", NGSI_LD_CORE_V1_8_URL],
           "id": "urn:x", "type": "T", "kyouyou": {"type": "Property", "value": 1}}
    [node] = jsonld.expand(doc, loader)
    assert "https://city.example/kyouyou" in node
    assert loader.knows("https://city.example/ctx.jsonld")
    assert not FrozenDocumentLoader().knows("https://city.example/ctx.jsonld")


def test_bundled_urls_cannot_be_redefined(tmp_path: Path) -> None:
    ctx = tmp_path / "fake.jsonld"
    ctx.write_text('{"@context": {}}', encoding="utf-8")
    with pytest.raises(MappingError) as err:
        FrozenDocumentLoader(extra={NGSI_LD_CORE_V1_8_URL: ctx})
    assert err.value.code == "context_invalid"


def test_byte_identical_copy_of_a_bundled_context_is_accepted(tmp_path: Path) -> None:
    # Operators list every context their clients send, the core one included: a copy equal to
    # the bundled file is served (by the bundled file), only a different meaning is refused.
    bundled = Path(mappings.contexts.__file__).parent / "ngsi-ld-core-context-v1.8.jsonld"
    copy = tmp_path / "core.jsonld"
    copy.write_bytes(bundled.read_bytes())
    loader = FrozenDocumentLoader(extra={NGSI_LD_CORE_V1_8_URL: copy})
    assert loader.document(NGSI_LD_CORE_V1_8_URL) == orjson.loads(bundled.read_bytes())
    copy.write_bytes(bundled.read_bytes() + b" ")
    with pytest.raises(MappingError, match="differs from the bundled"):
        FrozenDocumentLoader(extra={NGSI_LD_CORE_V1_8_URL: copy})


def test_broken_local_copy_fails_at_construction(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonld"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(MappingError) as err:
        FrozenDocumentLoader(extra={"https://city.example/bad.jsonld": bad})
    assert err.value.code == "context_invalid"


def test_every_bundled_context_file_is_json_ld() -> None:
    loader = FrozenDocumentLoader()
    for url in BUNDLED_CONTEXTS:
        assert "@context" in loader.document(url), url


SOURCES = [
    ("nanao_evacuation_sites", "japan/nanao/evacuation_sites.csv"),
    ("nanao_open_shelters", "japan/nanao/open_shelters/open_shelter_Nanao-shi_2024-01-09-1800.csv"),
    ("takamatsu_evacuation_space", "japan/takamatsu/evacuation_space.xlsx"),
    ("takamatsu_aed", "japan/takamatsu/aed_location.xlsx"),
    ("takamatsu_parking", "japan/takamatsu/municipal_parking.xlsx"),
    ("takamatsu_toilets", "japan/takamatsu/public_toilet.csv"),
    ("ngsiv2_shelters", None),
]


def _iris(node: object) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not key.startswith("@"):
                out.add(key)
            out |= _iris(value)
    elif isinstance(node, list):
        for item in node:
            out |= _iris(item)
    return out


@pytest.mark.parametrize("rule_set, file", SOURCES, ids=[s for s, _ in SOURCES])
def test_every_emitted_term_has_its_own_iri(realdata: Path, rule_set: str,
                                            file: str | None) -> None:
    rule = compiled(rule_set)
    path = realdata / file if file else bundled_sample(rule_set)
    loader = FrozenDocumentLoader()
    entities = [r.entity for r in map_records(rule, open_records(path, kind=rule.rule.source.kind))
                if isinstance(r, Mapped)]
    # A sample: pyld is slow, and the rules emit the same terms on every row.
    expanded = jsonld.expand([jsonld.with_default_context(e) for e in entities[:25]], loader)
    fallen = {iri for iri in _iris(expanded) if iri.startswith(DEFAULT_VOCAB)}
    assert fallen == set()


def test_compaction_round_trip_through_the_default_context() -> None:
    loader = FrozenDocumentLoader()
    expanded = jsonld.expand(jsonld.with_default_context(ENTITY), loader)
    compacted = jsonld.compact(expanded, list(DEFAULT_CONTEXT), loader)
    assert {k: v for k, v in compacted.items() if k != "@context"} == ENTITY
