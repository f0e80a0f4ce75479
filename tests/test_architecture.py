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


# Inside the broker, layers read from the folders and depend one way only:
#   api | console → ngsi → federation | provider → service → store → config/errors
# The composition roots (node, cli, demo) and the entry programs above them may use any layer;
# no layer may use them. ``federation`` and ``provider`` are siblings: the provider answers
# peers' calls without knowing the transport, the federation calls peers without knowing how
# they answer.
BROKER_LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "logs": set(),
    "config": {"errors"},
    "identity": {"config", "errors"},
    "store": {"config", "errors"},
    # Traces (issue 17): below everything that opens spans, above config only.
    "telemetry": {"config", "errors", "logs"},
    "service": {"store", "errors", "logs"},
    "provider": {"service", "store", "telemetry", "errors", "logs"},
    "federation": {"service", "store", "config", "telemetry", "errors", "logs"},
    "ngsi": {"federation", "service", "store", "errors", "logs"},
    "api": {"ngsi", "service", "store", "config", "telemetry", "errors", "logs"},
    # The operator console sits beside the API (mounted on its port, importing nothing of it).
    "console": {"federation", "service", "store", "config", "errors", "logs"},
    "ingest": {"service", "store", "telemetry", "errors", "logs"},
    "sources": {"ingest", "service", "store", "config", "errors", "logs"},
    "authority_server": {"federation", "config", "errors", "identity", "logs"},
}
COMPOSITION_ROOTS = {"node", "cli", "demo"}


def _broker_imports(path: Path, root: Path = ROOT) -> set[str]:
    """The broker layers ``path`` imports, relative and absolute, function-local included."""
    module = list(path.relative_to(root).with_suffix("").parts)
    package = module[:-1]
    layers: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                targets.append(base + (node.module.split(".") if node.module else []))
            elif node.module:
                targets.append(node.module.split("."))
        elif isinstance(node, ast.Import):
            targets.extend(alias.name.split(".") for alias in node.names)
        for target in targets:
            if target[0] == "broker" and len(target) > 1:
                layers.add(target[1])
    return layers


def _layer_of(path: Path) -> str:
    parts = path.relative_to(ROOT / "broker").with_suffix("").parts
    return parts[0]


def test_broker_layers_depend_one_way() -> None:
    offenders = []
    for path in (ROOT / "broker").rglob("*.py"):
        if "_pb" in path.parts or path.name == "__init__.py" and path.parent.name == "broker":
            continue
        layer = _layer_of(path)
        if layer in COMPOSITION_ROOTS:
            continue
        assert layer in BROKER_LAYERS, f"{path.relative_to(ROOT)}: place the new layer {layer!r}"
        bad = _broker_imports(path) - BROKER_LAYERS[layer] - {layer}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def test_the_layering_check_sees_relative_and_function_local_imports(tmp_path: Path) -> None:
    # The check above is only as good as its import reader: prove it on a known upward import.
    module = tmp_path / "broker" / "service" / "sample.py"
    module.parent.mkdir(parents=True)
    module.write_text("from ..store.base import Store\n"
                      "def late():\n    from ..api import app\n"
                      "import broker.ngsi.model\n", encoding="utf-8")
    assert _broker_imports(module, tmp_path) == {"store", "api", "ngsi"}


def _module_graph(package: Path, root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports: relative and absolute,
    function-local and ``TYPE_CHECKING`` ones included (each is a dependency a reader follows,
    and a cycle held apart by them is still a cycle)."""
    def name_of(path: Path) -> str:
        parts = path.relative_to(root).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    paths = {name_of(p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        own_package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        wanted: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                wanted.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = own_package.split(".")
                    up = up[:len(up) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                for alias in node.names:
                    # `from mappings import builders` imports the module mappings.builders.
                    wanted.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths
                               else base)
        targets = set()
        for name in wanted:
            while name and name not in paths:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_modules_inside_mappings_import_each_other_one_way() -> None:
    assert _cycles(_module_graph(ROOT / "mappings")) == []


def test_the_cycle_check_sees_function_local_and_type_checking_imports(tmp_path: Path) -> None:
    # Prove the reader on the shapes that used to hide the cycle in mappings.
    package = tmp_path / "lib"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from lib.a import A\n", encoding="utf-8")
    (package / "a.py").write_text("from lib import b\nA = 1\n", encoding="utf-8")
    (package / "b.py").write_text("def late():\n    from .sub.c import C\n", encoding="utf-8")
    (package / "sub" / "__init__.py").write_text("", encoding="utf-8")
    (package / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lib.a import A\n",
        encoding="utf-8")
    (package / "d.py").write_text("import lib.sub.c\nfrom . import a\n", encoding="utf-8")
    graph = _module_graph(package, tmp_path)
    assert graph["lib.b"] == {"lib.sub.c"} and graph["lib.d"] == {"lib.sub.c", "lib.a"}
    assert _cycles(graph) == [["lib.a", "lib.b", "lib.sub.c"]]


# No service locator: the layers get the collaborators they use as typed parameters (the API an
# ``ApiDeps``), never the node. A parameter, attribute or field called ``node`` in a layer is
# the node handed down again.
LOCATOR_NAMES = {"node", "_node"}


def _takes_the_node(path: Path) -> list[str]:
    found = []
    for item in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(item, ast.arg) and item.arg in LOCATOR_NAMES:
            found.append(f"parameter {item.arg!r} (line {item.lineno})")
        elif (isinstance(item, ast.Attribute) and item.attr in LOCATOR_NAMES
              and isinstance(item.value, ast.Name) and item.value.id in ("self", "api", "cls")):
            found.append(f"attribute {item.value.id}.{item.attr} (line {item.lineno})")
        elif (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
              and item.target.id in LOCATOR_NAMES):
            found.append(f"field {item.target.id!r} (line {item.lineno})")
    return found


def test_no_layer_is_handed_the_node() -> None:
    offenders = []
    for path in (ROOT / "broker").rglob("*.py"):
        if "_pb" in path.parts or path.parent == ROOT / "broker":
            continue
        if _layer_of(path) in COMPOSITION_ROOTS:
            continue
        offenders += [f"{path.relative_to(ROOT)}: {f}" for f in _takes_the_node(path)]
    assert offenders == []


def test_the_locator_check_sees_parameters_attributes_and_fields(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text("class A:\n    node: object\n"
                      "    def __init__(self, node):\n        self._node = node\n"
                      "def route(api):\n    return api.node.clock\n"
                      "def fine(jsonld):\n    for node in jsonld:\n        node['@id']\n",
                      encoding="utf-8")
    assert _takes_the_node(module) == [
        "field 'node' (line 2)", "parameter 'node' (line 3)", "attribute self._node (line 4)",
        "attribute api.node (line 6)"]


# One construction path: peers' channels and the held directory are built in one module each,
# which the node and the CLI's offline context both call; a policy request is built only by
# the provider's one admission step, which every call on this node's data passes.
BUILT_IN_ONE_PLACE = {"PeerChannel": "broker/federation/peers.py",
                      "DirectoryHolder": "broker/federation/directory_sync.py",
                      "PolicyRequest": "broker/provider/admission.py"}


def test_peer_channels_the_directory_and_policy_requests_are_built_in_one_place() -> None:
    offenders = []
    for path in (ROOT / "broker").rglob("*.py"):
        where = str(path.relative_to(ROOT))
        for item in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(item, ast.Call) and isinstance(item.func, ast.Name)
                    and BUILT_IN_ONE_PLACE.get(item.func.id, where) != where):
                offenders.append(f"{where}:{item.lineno} builds a {item.func.id}")
    assert offenders == []


def test_grpc_servicers_translate_errors_at_one_boundary() -> None:
    # Every servicer method is wrapped by ``unary`` or ``streaming``; none catches on its own.
    tree = ast.parse((ROOT / "broker/federation/grpc_server.py").read_text(encoding="utf-8"))
    unwrapped, catching = [], []
    for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)
                and n.name.endswith("Servicer")]:
        for method in [n for n in cls.body if isinstance(n, ast.AsyncFunctionDef)
                       and n.name[:1].isupper()]:
            names = {d.id for d in method.decorator_list if isinstance(d, ast.Name)}
            if not names & {"unary", "streaming"}:
                unwrapped.append(f"{cls.name}.{method.name}")
            if any(isinstance(n, ast.Try) for n in ast.walk(method)):
                catching.append(f"{cls.name}.{method.name}")
    assert unwrapped == [] and catching == []
