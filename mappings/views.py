"""The read-only views the compile, bind and build stages see of each other, and :class:`Rule`.

The stages depend on these small protocols rather than on each other's classes, so that
imports inside ``mappings`` go one way: ``compiler → binding → builders | flagsets`` and
``compiler → reverse``, all of them on :mod:`mappings.pipeline`. A :class:`CompiledView` is what
binding and reverse mapping read of a compiled rule; a :class:`BoundView` is what the attribute
builders read of a rule bound to one header. :class:`Rule` is what every caller (the engine,
the broker's ingest, the CLI) uses of a compiled rule, whether it maps records through its
pipelines or passes NGSI-LD entities through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from mappings.pipeline import Access, Env, Pipeline
from mappings.rules import AttributeSpec, MappingRule
from mappings.sources.records import SourceRecord

__all__ = ["AttributePipes", "BoundView", "CompiledView", "Rule"]

AttributePipes = Mapping[str, Any]
"""One attribute's bound parts: ``value``/``observed_at`` (a :class:`Pipeline`),
``languages``/``fields`` ((tag or key, :class:`Pipeline`) pairs), ``object`` (a template),
``flag_table`` and ``flag_step`` (for flag sets)."""


class Rule(Protocol):
    """A compiled rule as its callers use it: records to entities and back."""

    @property
    def rule(self) -> MappingRule:
        """The loaded rule this was compiled from."""

    @property
    def target_type(self) -> str:
        """The entity type the rule produces."""

    def forward(self, record: SourceRecord | Mapping[str, Any]) -> dict[str, Any]:
        """Map one record (or a plain header → value mapping) to a normalized entity, or raise
        :class:`~mappings.errors.RecordError`."""

    def reverse(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        """The local row (or entity) ``entity`` corresponds to."""

    def unused_headers(self) -> tuple[str, ...]:
        """Headers of the files seen so far that the rule does not read."""


class CompiledView(Protocol):
    """What binding and reverse mapping read of a compiled rule."""

    @property
    def rule(self) -> MappingRule: ...

    @property
    def target_type(self) -> str: ...

    @property
    def id_template(self) -> str: ...

    @property
    def lets(self) -> tuple[tuple[str, Pipeline], ...]: ...

    @property
    def let_index(self) -> Mapping[str, int]: ...

    @property
    def attributes(self) -> tuple[tuple[AttributeSpec, AttributePipes], ...]: ...

    def canonical_header(self, name: str) -> str: ...


class BoundView(Protocol):
    """What the attribute builders read of a rule bound to one file's header."""

    @property
    def attributes(self) -> tuple[tuple[AttributeSpec, AttributePipes], ...]: ...

    def access(self, pipeline: Pipeline) -> Access:
        """How ``pipeline`` reads its input from a record of this header."""

    def template(self, template: str, required: bool) -> Callable[[Mapping[str, Any], Env], Any]:
        """A function making ``template``'s text from a record (``None`` when a part is blank
        and not ``required``)."""

    def flag_slot(self, attr: AttributeSpec, table: Mapping[Any, Any]) -> int:
        """The env slot holding a record's (true codes, conditional codes) for ``attr``."""
