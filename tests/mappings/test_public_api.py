"""The surface docs/architecture.md promises the broker."""

from __future__ import annotations

import inspect

import mappings
from mappings import compiler, contexts, engine, errors, jsonld, loader, sources


def test_architecture_surface_exists() -> None:
    assert issubclass(errors.RuleError, errors.MappingError)
    assert issubclass(errors.SourceError, errors.MappingError)
    assert errors.ContextNotAvailable("u").code == "context_not_available"
    assert issubclass(errors.RecordError, errors.MappingError)
    assert "kind" in inspect.signature(sources.open_records).parameters
    assert "limits" in inspect.signature(sources.open_records).parameters
    assert "start_after" in inspect.signature(sources.open_records).parameters
    assert {f for f in sources.SourceRecord.__dataclass_fields__} >= \
        {"file", "row", "values", "position"}
    assert callable(loader.load_rules) and callable(loader.bundled_rules)
    assert callable(compiler.compile_rule)
    for name in ("forward", "reverse"):
        assert callable(getattr(compiler.CompiledRule, name))
    assert {f for f in engine.Mapped.__dataclass_fields__} >= \
        {"entity", "file", "row", "content_hash"}
    assert {f for f in engine.Quarantined.__dataclass_fields__} >= \
        {"file", "row", "column", "raw_value", "code", "message"}
    assert {f for f in engine.RunCounts.__dataclass_fields__} >= {"read", "mapped", "quarantined"}
    assert contexts.DEFAULT_CONTEXT == (contexts.RENKEI_CONTEXT_URL, contexts.NGSI_LD_CORE_V1_8_URL)
    assert contexts.RENKEI_CONTEXT_URL == "https://w3id.org/renkei/v1/context.jsonld"
    assert callable(jsonld.expand) and callable(jsonld.compact)


def test_package_all_is_importable() -> None:
    for name in mappings.__all__:
        assert hasattr(mappings, name), name


def test_error_tree_is_drawn_in_the_docstring() -> None:
    doc = errors.__doc__ or ""
    for cls in (errors.RuleError, errors.SourceError, errors.ContextNotAvailable,
                errors.RecordError):
        assert cls.__name__ in doc


def test_pyld_is_used_only_by_the_jsonld_module() -> None:
    import ast
    from pathlib import Path
    root = Path(mappings.__file__).parent
    users = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "pyld" for n in names):
                users.append(str(path.relative_to(root)))
    assert users == ["jsonld.py"]
