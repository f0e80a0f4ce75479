"""Bundled JSON-LD contexts and the frozen document loader that serves them.

Renkei never fetches a context. Every URL a JSON-LD processor asks for is answered from files
bundled here (see ``README.md`` beside this module for sources and licences) or from local copies
the operator registers explicitly; anything else raises :class:`ContextNotAvailable`. The loader
is passed on every :mod:`mappings.jsonld` call; nothing is installed globally.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from mappings.errors import ContextNotAvailable, MappingError

__all__ = [
    "BUNDLED_CONTEXTS",
    "DEFAULT_CONTEXT",
    "NGSI_LD_CORE_URL",
    "NGSI_LD_CORE_V1_8_URL",
    "NGSI_LD_CORE_V1_9_URL",
    "RENKEI_CONTEXT_URL",
    "SDM_PARKING_CONTEXT_URL",
    "SDM_POI_CONTEXT_URL",
    "FrozenDocumentLoader",
]

_HERE = Path(__file__).resolve().parent

RENKEI_CONTEXT_URL = "https://w3id.org/renkei/v1/context.jsonld"
NGSI_LD_CORE_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
NGSI_LD_CORE_V1_8_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
NGSI_LD_CORE_V1_9_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"
DATA_INTEGRITY_V2_URL = "https://w3id.org/security/data-integrity/v2"
SDM_PARKING_CONTEXT_URL = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld"
)
SDM_POI_CONTEXT_URL = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.PointOfInterest/master/"
    "context.jsonld"
)

#: The federation's default context: Renkei terms first, the core context last (as NGSI-LD asks).
DEFAULT_CONTEXT: tuple[str, ...] = (RENKEI_CONTEXT_URL, NGSI_LD_CORE_V1_8_URL)

#: URL -> bundled file name. Aliases point at the same file on purpose (see README.md).
BUNDLED_CONTEXTS: Mapping[str, str] = {
    RENKEI_CONTEXT_URL: "renkei-context-v1.jsonld",
    NGSI_LD_CORE_V1_8_URL: "ngsi-ld-core-context-v1.8.jsonld",
    # Older versioned aliases: v1.8 only adds terms to them, so it expands their data the same.
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld":
        "ngsi-ld-core-context-v1.8.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld":
        "ngsi-ld-core-context-v1.8.jsonld",
    NGSI_LD_CORE_V1_9_URL: "ngsi-ld-core-context-v1.9.jsonld",
    # The unversioned URL is what ETSI serves as "latest" (v1.9); ngsildclient sends it.
    NGSI_LD_CORE_URL: "ngsi-ld-core-context-v1.9.jsonld",
    DATA_INTEGRITY_V2_URL: "data-integrity-v2-stub.jsonld",
    SDM_PARKING_CONTEXT_URL: "sdm-parking-context.jsonld",
    "https://smart-data-models.github.io/dataModel.Parking/context.jsonld":
        "sdm-parking-context.jsonld",
    SDM_POI_CONTEXT_URL: "sdm-pointofinterest-context.jsonld",
    "https://smart-data-models.github.io/dataModel.PointOfInterest/context.jsonld":
        "sdm-pointofinterest-context.jsonld",
}


@cache
def _bundled_bytes(file_name: str) -> bytes:
    return (_HERE / file_name).read_bytes()


def _read_json(path: Path, url: str) -> bytes:
    try:
        data = path.read_bytes()
        orjson.loads(data)
        return data
    except OSError as exc:
        raise MappingError(f"local copy of {url!r} cannot be read: {path}: {exc.strerror}",
                           code="context_invalid") from exc
    except orjson.JSONDecodeError as exc:
        raise MappingError(f"local copy of {url!r} is not JSON: {path}: {exc}",
                           code="context_invalid") from exc


class FrozenDocumentLoader:
    """A JSON-LD document loader that serves bundled contexts and nothing else.

    ``extra`` maps further URLs to operator-provided local files (read once, here, so a bad file
    fails at start-up rather than in the middle of a request). Any other URL raises
    :class:`~mappings.errors.ContextNotAvailable`; the network is never touched.

    Instances are callables with pyld's loader signature ``(url, options) -> RemoteDocument``.
    """

    def __init__(self, extra: Mapping[str, str | Path] | None = None) -> None:
        extra = dict(extra or {})
        copies = {url: _read_json(Path(path), url) for url, path in extra.items()}
        # pyld caches bundled contexts by URL across calls; a second meaning for the same URL
        # would be served inconsistently, so a copy differing from the bundled file is refused.
        # A byte-identical copy (an operator listing every context their clients use) is fine:
        # the bundled file serves it.
        shadowed = sorted(url for url, data in copies.items() if url in BUNDLED_CONTEXTS
                          and data != _bundled_bytes(BUNDLED_CONTEXTS[url]))
        if shadowed:
            raise MappingError(f"a local copy differs from the bundled context(s) {shadowed}: "
                               "remove the [contexts] entry (the bundled copy is used) or "
                               "register the file under another URL", code="context_invalid")
        self._extra: dict[str, bytes] = {
            url: data for url, data in copies.items() if url not in BUNDLED_CONTEXTS
        }

    def knows(self, url: str) -> bool:
        """Whether ``url`` would be served."""
        return url in self._extra or url in BUNDLED_CONTEXTS

    def urls(self) -> tuple[str, ...]:
        """Every URL this loader serves, bundled first."""
        return tuple(BUNDLED_CONTEXTS) + tuple(u for u in self._extra if u not in BUNDLED_CONTEXTS)

    def document(self, url: str) -> Any:
        """A fresh parsed copy of the document for ``url``, or ``ContextNotAvailable``.

        Fresh on every call because JSON-LD processors rewrite contexts in place.
        """
        data = self._extra.get(url)
        if data is None:
            file_name = BUNDLED_CONTEXTS.get(url)
            if file_name is None:
                raise ContextNotAvailable(url)
            data = _bundled_bytes(file_name)
        return orjson.loads(data)

    def __call__(self, url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        document = self.document(url)
        remote: dict[str, Any] = {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": document,
        }
        if url in BUNDLED_CONTEXTS:
            # Bundled documents never change, so pyld may keep its resolved form across calls;
            # operator copies stay per-call so two loaders cannot see each other's files.
            remote["tag"] = "static"
        return remote
