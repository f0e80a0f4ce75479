"""The promises the layout makes: one-way dependencies and modules of readable size."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"trust": {"broker", "grpc", "aiohttp", "mappings"},
             "mappings": {"broker", "grpc", "aiohttp", "trust"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_libraries_never_import_the_broker_or_a_transport() -> None:
    offenders = []
    for package, banned in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            bad = _imports(path) & banned
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def test_generated_protobuf_is_imported_only_by_the_wire_adapters() -> None:
    allowed = {"codec.py", "grpc_server.py", "grpc_client.py", "authority_service.py",
               "health.py", "status.py", "interceptors.py", "protogen.py"}
    offenders = []
    for path in (ROOT / "broker").rglob("*.py"):
        if "_pb" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if "_pb" in text and "federation_pb2" in text and path.name not in allowed:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
