"""The layers of antigrad point one way: formula -> transforms -> engine -> faces and tools.

The import graph is read from the source (``ast``), so an import hidden inside a function
counts too; imports under ``if TYPE_CHECKING:`` do not run and are left out.
"""

import ast
import importlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import antigrad

SRC = Path(antigrad.__file__).parent

# What each low layer may import from the rest of antigrad.
ALLOWED = {
    "errors": set(),
    # The one validation layer sits at the bottom: transforms declare their hyperparameters'
    # constraints in its vocabulary.
    "validation": {"errors"},
    "formula": set(),
    "transforms": {"formula", "validation"},
}
# Nothing in the engine may reach up to a face or a tool.
ABOVE_ENGINE = {"optim", "large_batch", "textbook", "train", "lab", "cli", "demo",
                "integrations", "problems", "schedules", "stop", "second_order"}
# Modules the formula language must never load: the C compiler and the foreign-function layer.
FORBIDDEN_IN_FORMULAS = {"ctypes", "subprocess", "antigrad.engine"}


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                hidden.update(id(n) for n in ast.walk(stmt))
    return hidden


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(path: Path) -> set[str]:
    """Every module (and ``module.name``) that ``path`` imports at run time."""
    name, is_package = _module_name(path)
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _component(module: str) -> str | None:
    """The top-level package or module of antigrad that ``module`` belongs to."""
    parts = module.split(".")
    if parts[0] != "antigrad" or len(parts) < 2:
        return None
    if (SRC / parts[1]).is_dir() or (SRC / f"{parts[1]}.py").exists():
        return parts[1]
    return None  # `from antigrad import <name>`: a lazily exported name, not a module


def component_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        source = _component(_module_name(path)[0])
        if source is None:
            continue
        for module in imported_modules(path):
            target = _component(module)
            if target is not None and target != source:
                graph[source].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_package_graph_has_no_cycle():
    assert find_cycle(component_graph()) is None


def test_the_graph_is_read():
    # Guards the test above against an empty graph: the known edges are there.
    graph = component_graph()
    assert {"formula"} <= graph["transforms"]
    assert {"formula"} <= graph["engine"]
    assert {"engine", "transforms"} <= graph["optim"]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_low_layers_import_only_what_is_below_them(layer):
    assert component_graph().get(layer, set()) <= ALLOWED[layer]


def test_the_engine_imports_no_face_or_tool():
    assert not component_graph()["engine"] & ABOVE_ENGINE


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_formulas_name_no_compiler(layer):
    for path in (SRC / layer).rglob("*.py"):
        modules = imported_modules(path)
        bad = {m for m in modules if any(m == f or m.startswith(f + ".")
                                         for f in FORBIDDEN_IN_FORMULAS)}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_importing_the_formulas_loads_no_engine():
    code = ("import sys, antigrad.transforms, antigrad.formula\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('antigrad.engine'))\n"
            "assert not loaded, loaded\n"
            "T = antigrad.transforms\n"
            "T.chain(T.scale_by_adam(), T.descend()).graph\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('antigrad.engine'))\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_old_import_paths_still_work():
    from antigrad import formula

    old_expr = importlib.import_module("antigrad.engine.expr")
    old_base = importlib.import_module("antigrad.transforms.base")
    assert old_expr.Expr is formula.Expr and old_expr.sqrt is formula.sqrt
    assert old_base.ScalarState is formula.ScalarState and old_base.Chain is formula.Chain
