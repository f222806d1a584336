"""The repository's import graph, read from the sources: no cycles (imports inside functions
included), core's folders are its layers (contracts, I/O, generation, building, the test kit) and
depend downward only, no module imports another's private name, and core names no domain."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "shared" / "src", *sorted((ROOT / "packages").glob("*/src"))]

#: Core's modules at the top of the package, above every layer: the package itself and its command.
CORE_TOP = {"", "__main__", "cli", "_version", "_paths"}


def _core_paths() -> tuple[tuple[str, ...], dict[str, str]]:
    """Core's layers (its folders, lowest first) and the old flat paths, read from core/_paths.py."""
    tree = ast.parse((ROOT / "shared" / "src" / "torchgraft" / "core" / "_paths.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("LAYERS", "MOVED"):
                found[target.id] = node.value
    layers = ast.literal_eval(found["LAYERS"])
    moved = eval(compile(ast.Expression(found["MOVED"]), "_paths.py", "eval"), {})
    return layers, moved


LAYERS, MOVED = _core_paths()


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
            targets = [_current(t) for t in targets]
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def _current(target: str) -> str:
    """A module named by its old flat path (``torchgraft.core.store``), named where it lives now."""
    old = target.removeprefix("torchgraft.core.")
    first, dot, rest = old.partition(".")
    if target.startswith("torchgraft.core.") and first in MOVED:
        return f"torchgraft.core.{MOVED[first]}{dot}{rest}"
    return target


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
    assert {"torchgraft.core.io.weights", "torchgraft.vision.models.resnet", "torchgraft.text.models.bert"} <= set(
        graph
    )
    assert cycles(graph) == []


def _rank(short: str) -> int:
    """A core module's layer: the index of its folder in LAYERS, or above them all at the top."""
    if short in CORE_TOP:
        return len(LAYERS)
    folder = short.split(".")[0]
    assert folder in LAYERS, f"core module {short} is in no layer folder: put it in one of {LAYERS}"
    return LAYERS.index(folder)


def test_cores_folders_are_its_layers_and_depend_downward_only():
    graph = import_graph()
    core = {m: e for m, e in graph.items() if m == "torchgraft.core" or m.startswith("torchgraft.core.")}
    short = {m: m.removeprefix("torchgraft.core").lstrip(".") for m in core}
    folders = {s.split(".")[0] for s in short.values() if s not in CORE_TOP}
    assert folders == set(LAYERS), f"core's folders {sorted(folders)} are not its declared layers {LAYERS}"
    upward = [
        f"{short[m]} -> {short[t]}" for m, targets in core.items() for t in targets if _rank(short[t]) > _rank(short[m])
    ]
    assert upward == []


def test_every_old_flat_path_names_a_module_that_exists():
    modules = _modules()
    assert all(f"torchgraft.core.{new}" in modules for new in MOVED.values()), MOVED
    assert not set(MOVED) & {name.removeprefix("torchgraft.core.") for name in modules}, "an old path shadows a module"


def test_old_flat_paths_import_the_module_itself():
    import torchgraft.core as tg
    import torchgraft.core.io.store
    import torchgraft.core.store

    assert torchgraft.core.store is torchgraft.core.io.store
    assert torchgraft.core.store.__spec__.name == "torchgraft.core.io.store"
    from torchgraft.core.compose import compose

    assert tg.compose is compose  # importing the module's old path leaves the package's function alone


def test_no_domain_name_appears_in_core():
    """Core's code (docstrings aside) names no domain package and no domain's model: core's
    providers table, generated from the domains' manifests, is the one place that does."""
    from torchgraft.core.building._providers import PROVIDERS

    models = {n for names in PROVIDERS.values() for n in names}
    domains = re.compile(r"torchgraft[.-](vision|text|audio|multimodal)\b")
    found = []
    for path in (ROOT / "shared" / "src" / "torchgraft" / "core").rglob("*.py"):
        if path.name == "_providers.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                words = set(re.findall(r"\w+", node.value))
                if domains.search(node.value) or words & models:
                    found.append(f"{path.name}: {node.value!r}")
    assert found == []


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
