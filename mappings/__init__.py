"""Renkei mapping engine: local schemas to the shared JSON-LD vocabulary and back.

A library: it never imports ``broker``, ``trust``, grpc or aiohttp. The public surface
(docs/architecture.md, "mappings public API") is re-exported here.
"""

from mappings.compiler import CompiledRule, compile_rule
from mappings.contexts import (
    DEFAULT_CONTEXT,
    NGSI_LD_CORE_V1_8_URL,
    RENKEI_CONTEXT_URL,
    FrozenDocumentLoader,
)
from mappings.engine import (
    Mapped,
    Quarantined,
    RunCounts,
    RunTally,
    map_records,
    records_from_quarantine,
)
from mappings.errors import (
    ContextNotAvailable,
    MappingError,
    RecordError,
    RuleError,
    SourceError,
)
from mappings.loader import bundled_rule_names, bundled_rules, bundled_sample, load_rules
from mappings.report import MapReport, RuleCheck, check_rules, run_map
from mappings.sources import Position, SourceLimits, SourceRecord, open_records
from mappings.views import Rule

__all__ = [
    "DEFAULT_CONTEXT",
    "NGSI_LD_CORE_V1_8_URL",
    "RENKEI_CONTEXT_URL",
    "CompiledRule",
    "ContextNotAvailable",
    "FrozenDocumentLoader",
    "MapReport",
    "Mapped",
    "MappingError",
    "Position",
    "Quarantined",
    "RecordError",
    "Rule",
    "RuleCheck",
    "RuleError",
    "RunCounts",
    "RunTally",
    "SourceError",
    "SourceLimits",
    "SourceRecord",
    "bundled_rule_names",
    "bundled_rules",
    "bundled_sample",
    "check_rules",
    "compile_rule",
    "load_rules",
    "map_records",
    "open_records",
    "records_from_quarantine",
    "run_map",
]
