"""Safe YAML loading that remembers line numbers, so rule errors can point at the line."""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["LDict", "LList", "YamlProblem", "line_of", "load_yaml"]


class LDict(dict[Any, Any]):
    """A mapping from YAML with ``line`` (of the mapping) and per-key ``key_lines``/``lines``."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[Any, int] = {}
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        """Line of the value under ``key`` (the mapping's own line if absent)."""
        return self.lines.get(key, self.line)


class LList(list[Any]):
    """A sequence from YAML with ``line`` and per-item ``lines``."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if index < len(self.lines) else self.line


class YamlProblem(Exception):
    """YAML that cannot be read, or a key given twice; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    pass


# YAML 1.2 booleans: only true/false. YAML 1.1 (PyYAML's default) also reads yes/no/on/off/y/n
# as booleans, so a header named `NO` (the older Digital Agency layouts' number column)
# became `False`. Rule files are read as YAML 1.2 for this one difference.
_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    own = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)  # resolves `<<: *anchor` merges (merged keys come first)
    out = LDict()
    out.line = node.start_mark.line + 1
    merged: set[Any] = set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            raise YamlProblem(key_node.start_mark.line + 1, "a mapping key must be text")
        if id(key_node) not in own:
            merged.add(key)
        elif key in out and key in merged:
            merged.discard(key)  # a key of its own overrides a merged one, as YAML says
        elif key in out:
            raise YamlProblem(key_node.start_mark.line + 1, f"key {key!r} is given twice")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
        out.lines[key] = value_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList()
    out.line = node.start_mark.line + 1
    for item in node.value:
        out.append(loader.construct_object(item, deep=True))
        out.lines.append(item.start_mark.line + 1)
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _sequence)


def load_yaml(text: str) -> Any:
    """Parse one YAML document safely (no Python tags), keeping lines; raise ``YamlProblem``."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise YamlProblem(line, f"YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(0, f"YAML: {exc}") from None


def line_of(container: Any, key: Any, default: int = 0) -> int:
    """Line of ``container[key]`` for an LDict/LList, else ``default``."""
    if isinstance(container, LDict | LList):
        return container.line_of(key)
    return default
