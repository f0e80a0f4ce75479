"""The one exception tree of the mapping engine, with stable codes.

::

    MappingError                      code="mapping_error"
    ├── RuleError                     code="rule_invalid"        (file, line, problems)
    ├── SourceError                   code=file_too_large | row_too_large | unreadable |
    │                                      encoding_error | xlsx_bomb | malformed_json |
    │                                      missing_column | unsupported_kind | bad_position |
    │                                      wrong_dataset | unrecognized_dataset |
    │                                      ambiguous_dataset | kind_mismatch |
    │                                      encoding_unrecognized | encoding_unsupported |
    │                                      encoding_mismatch
    ├── ContextNotAvailable           code="context_not_available"  (url)
    └── RecordError                   code=one of RECORD_CODES   (per record; quarantined)
                                           (column, raw_value)

Every error carries ``.code`` (stable, snake_case; the broker maps it by walking the MRO) and a
message that is safe to show a peer: it names files, rows, columns and rule lines, never a
traceback or a secret. ``RecordError`` never escapes :func:`mappings.engine.map_records`: the
engine turns it into a :class:`mappings.engine.Quarantined` entry and goes on with the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RECORD_CODES",
    "ContextNotAvailable",
    "MappingError",
    "RecordError",
    "RuleError",
    "RuleProblem",
    "SourceError",
]

#: Stable reason codes a quarantined record can carry (documented in README.md).
RECORD_CODES: frozenset[str] = frozenset({
    "missing_required",
    "capacity_unparseable",
    "latitude_out_of_range",
    "longitude_out_of_range",
    "coordinate_unparseable",
    "geometry_invalid",
    "integer_unparseable",
    "number_unparseable",
    "number_out_of_range",
    "date_unparseable",
    "date_invalid",
    "flag_unrecognized",
    "code_unknown",
    "lookup_missing",
    "municipality_code_invalid",
    "encoding_error",
    "cell_too_large",
    "row_malformed",
    "opening_hours_unparseable",
    "entity_invalid",
    "context_not_available",
    "context_mismatch",
    "value_invalid",
    "duplicate_id",
    "telephone_invalid",
})


class MappingError(Exception):
    """Root of every error raised by :mod:`mappings`."""

    code = "mapping_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong with a rule file, located by its 1-based line (0 when unknown)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class RuleError(MappingError):
    """A rule file is invalid: YAML syntax, structure, an unknown transform or a bad argument.

    ``problems`` lists every problem found (the loader reports them all at once, so
    ``renkei rules check`` can print them together); ``line`` is the first one's line.
    """

    code = "rule_invalid"

    def __init__(self, file: str, problems: Sequence[RuleProblem]) -> None:
        self.file = file
        self.problems = tuple(problems)
        first = self.problems[0] if self.problems else RuleProblem(0, "invalid rule")
        self.line = first.line
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        where = f"{file}:{first.line}" if first.line else file
        super().__init__(f"{where}: {first.message}{more}")


class SourceError(MappingError):
    """A source file cannot be read at all (or not past some point): the run stops here.

    ``file`` and, when known, ``row`` say where. Problems confined to one record are not
    ``SourceError`` but quarantined records.
    """

    code = "source_error"

    def __init__(self, message: str, *, code: str, file: str, row: int | None = None) -> None:
        self.file = file
        self.row = row
        where = f"{file}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {message}", code=code)


class ContextNotAvailable(MappingError):
    """A JSON-LD context URL is neither bundled nor registered by the operator.

    Renkei never fetches a context from the network, so this is the answer to every unknown URL,
    including a remote ``@context`` arriving in input.
    """

    code = "context_not_available"

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"JSON-LD context {url!r} is not bundled with Renkei and not registered as a local "
            "copy; remote contexts are never fetched (register a local copy with "
            "FrozenDocumentLoader(extra={url: path}))"
        )


class RecordError(MappingError):
    """One record cannot be mapped; the engine quarantines it and the file goes on.

    Transforms raise it without a column; the compiled rule fills ``column`` and ``raw_value`` in
    (see :meth:`located`) because only it knows where the value came from.
    """

    code = "value_invalid"

    def __init__(
        self,
        code: str,
        message: str,
        *,
        column: str | None = None,
        raw_value: Any = None,
        part: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.message = message
        self.column = column
        self.raw_value = raw_value
        # For a transform reading several columns (geo_point): which input was at fault.
        self.part = part

    def located(self, column: str | None, raw_value: Any) -> RecordError:
        """Return this error with the source column and raw value filled in when still unset."""
        if self.column is None:
            self.column = column
            self.raw_value = raw_value
        return self
