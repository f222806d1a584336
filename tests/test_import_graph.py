"""The repository's import graph, read from the sources: no cycles (imports inside functions
included), and core's layers depend downward only: data below I/O below composition and the
registry, below the tools built on them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "shared" / "src", *sorted((ROOT / "packages").glob("*/src"))]

# Core's layers, lowest first; a module may import its own layer (without cycles) and those below.
CORE_LAYERS = [
    {
        "errors",
        "settings",
        "torch_internals",
        "features",
        "layers",
        "attention",
        "heads",
        "packing",
        "lazy",
        "_providers",
        "_version",
    },  # data, contracts, layers
    {"files", "pickles", "transfer", "store", "cache", "checkpoints", "weights", "hub", "loading"},  # I/O
    {
        "preflight",
        "parts",
        "builders",
        "family",
        "compose",
        "registry",
        "generation",
        "towers",
        "distributed",
    },  # composition, generation, the registry
    {"testing", "conformance", "fuzz", "cli", "__main__", ""},  # tools, and the package itself
]


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for src in SOURCES:
        for path in src.rglob("*.py"):
            parts = list(path.relative_to(src).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = (path, path.name == "__init__.py")
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Ids of import nodes under ``if TYPE_CHECKING:`` (never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    return skipped


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_only(tree)
        edges: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped or not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = name if is_package else name.rpartition(".")[0]
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
                targets = [target, *(f"{target}.{alias.name}" for alias in node.names)]
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_repository_has_no_import_cycles():
    graph = import_graph()
    assert {"torchgraft.core.weights", "torchgraft.vision.models.resnet", "torchgraft.text.models.bert"} <= set(graph)
    assert cycles(graph) == []


def test_core_layers_depend_downward_only():
    layer_of = {name: i for i, names in enumerate(CORE_LAYERS) for name in names}
    graph = import_graph()
    core = {m: e for m, e in graph.items() if m == "torchgraft.core" or m.startswith("torchgraft.core.")}
    short = {m: m.removeprefix("torchgraft.core").lstrip(".") for m in core}
    assert set(short.values()) <= set(layer_of), (
        f"put new core modules in a layer: {set(short.values()) - set(layer_of)}"
    )
    upward = [
        f"{short[m]} -> {short[t]}"
        for m, targets in core.items()
        for t in targets
        if t in short and layer_of[short[t]] > layer_of[short[m]]
    ]
    assert upward == []


# A distribution that joins domains (its published weights span them) may import those domains.
JOINS = {"multimodal": {"vision", "text"}}


def test_no_domain_imports_another_domain():
    graph = import_graph()
    for module, targets in graph.items():
        domain = module.split(".")[1]
        for target in targets:
            allowed = {domain, "core", *JOINS.get(domain, ())}
            assert target.split(".")[1] in allowed, f"{module} imports {target}"


def private_imports() -> list[str]:
    """``module -> target.name`` for every private name (one leading underscore, not a dunder) a
    module imports from another module of the repository: a name private to a module is its own."""
    modules = _modules()
    found = []
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = name if is_package else name.rpartition(".")[0]
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            if target not in modules or target == name:
                continue
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and f"{target}.{alias.name}" not in modules:  # a private module is fine to import
                    found.append(f"{name} -> {target}.{alias.name}")
    return sorted(found)


def test_no_module_imports_another_modules_private_name():
    assert private_imports() == []
