"""IRI compaction toward a caller's context (JSON-LD 1.1 API, IRI Compaction): a term, else a
vocabulary-relative name that no term shadows, else a compact IRI on the longest prefix."""

from __future__ import annotations

from broker.ngsi.terms import TermMap

VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def caller_map() -> TermMap:
    # The ETSI suite's context: its own almostFull, the core context's ngsi-ld: prefix.
    return TermMap("k", None, terms={"almostFull": "https://ngsi-ld-test-suite/context#almostFull",
                                     "ngsi-ld": "https://uri.etsi.org/ngsi-ld/",
                                     "schema": "https://schema.org/"},
                   vocab=VOCAB).finish()


def test_a_shadowed_vocabulary_name_becomes_a_compact_iri() -> None:
    m = caller_map()
    assert m.compact("https://ngsi-ld-test-suite/context#almostFull") == "almostFull"
    assert m.compact(VOCAB + "speed") == "speed"
    # almostFull is the suite's term: the default-context IRI may not read back as it.
    assert m.compact(VOCAB + "almostFull") == "ngsi-ld:default-context/almostFull"
    assert m.expand("ngsi-ld:default-context/almostFull") == VOCAB + "almostFull"
    assert m.compact("https://schema.org/name") == "schema:name"
    assert m.compact("https://example.org/x") == "https://example.org/x"
