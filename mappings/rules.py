"""The typed model of a mapping rule, as the loader builds it from YAML.

Every element keeps the line of the rule file it came from, so the compiler can report a
problem found late (a transform argument, a template name) where the author wrote it.
Strings may still hold ``${param}`` placeholders: parameters are substituted when the rule is
compiled, so one loaded rule can serve several cities (see :func:`mappings.compiler.compile_rule`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AttributeKind",
    "AttributeSpec",
    "ColumnSpec",
    "FlagSetSpec",
    "MappingRule",
    "Signature",
    "SourceSpec",
    "TransformCall",
    "ValueSpec",
]

AttributeKind = Literal["Property", "GeoProperty", "LanguageProperty", "Relationship", "Flags"]


@dataclass(frozen=True)
class TransformCall:
    """One step of a pipeline as written: ``- nfkc`` or ``- {to_int: {min: 0}}``."""

    name: str
    args: Any
    line: int


@dataclass(frozen=True)
class ValueSpec:
    """Where a value comes from and how it is transformed.

    ``sources`` are logical names (columns or ``let`` values); several sources give the pipeline
    a tuple (``geo_point`` takes latitude and longitude). A constant has no sources.
    """

    sources: tuple[str, ...]
    pipe: tuple[TransformCall, ...]
    line: int
    constant: Any = None
    has_constant: bool = False


@dataclass(frozen=True)
class ColumnSpec:
    """A logical column and the headers it goes by in the files a rule reads.

    ``patterns`` are regular expressions a header may match instead; their named groups become
    file-level values of the columns of those names (Nanao's early snapshots put the time into
    the header: ``人数_令和6年1月9日午後6時時点``).
    """

    name: str
    headers: tuple[str, ...]
    patterns: tuple[str, ...] = ()
    optional: bool = False
    line: int = 0


@dataclass(frozen=True)
class FlagSetSpec:
    """A list attribute built from one yes/no/conditional column per code.

    Either ``columns`` (code → logical columns; with several, the least favourable answer
    counts) or ``prefix`` + ``code_list`` (every header starting with the prefix names its code
    after it, as the Digital Agency layout's ``災害種別_洪水`` does).
    """

    select: bool | str
    columns: tuple[tuple[str, tuple[str, ...]], ...] = ()
    prefix: str | None = None
    code_list: str | None = None
    flag_args: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute of the target entity."""

    name: str
    kind: AttributeKind
    line: int
    value: ValueSpec | None = None
    languages: tuple[tuple[str, ValueSpec], ...] = ()
    fields: tuple[tuple[str, ValueSpec], ...] = ()
    object_template: str | None = None
    flags: FlagSetSpec | None = None
    unit: str | None = None
    observed_at: ValueSpec | None = None
    keep_empty: bool = False


@dataclass(frozen=True)
class Signature:
    """The columns that tell a file of this rule's dataset from any other (``identify:``).

    ``all`` lists groups of alternative headers (every group must be in the header); ``any``
    headers of which at least one must be; ``prefix`` a header start some header must have
    (the Digital Agency layout's ``災害種別_``); ``none`` headers that would make the file
    another dataset (a shelter list's ``指定緊急避難場所との住所同一``). Headers compare loosely
    (:func:`mappings.headers.header_key`).
    """

    dataset: str
    all: tuple[tuple[str, ...], ...] = ()
    any: tuple[str, ...] = ()
    prefix: str | None = None
    none: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class SourceSpec:
    """What the rule expects to read (all optional: the kind defaults from the file name)."""

    kind: str | None = None
    sheet: str | None = None
    line: int = 0


@dataclass(frozen=True)
class MappingRule:
    """A validated rule file: one local source schema → one target entity type."""

    name: str
    path: str
    target_type: str
    id_template: str
    id_line: int
    mode: Literal["map", "passthrough"] = "map"
    description: str = ""
    source: SourceSpec = field(default_factory=SourceSpec)
    params: Mapping[str, Any] = field(default_factory=dict)
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    columns: tuple[ColumnSpec, ...] = ()
    lets: tuple[tuple[str, ValueSpec], ...] = ()
    attributes: tuple[AttributeSpec, ...] = ()
    accept_types: tuple[str, ...] = ()
    identify: Signature | None = None
    #: The file the rule was loaded from; differs from ``path`` (where line numbers point) for
    #: an overlay that ``extends`` a base rule.
    origin: str = ""
