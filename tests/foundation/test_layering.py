"""The house's layering, read from the source: every import of every module under libs/ and services/.

Rules (README, "Style"): shared code lives in ``libs/`` and never imports a service; no service imports
another; and no two modules import each other, directly or round a longer loop — including through
imports inside functions, which only hide a cycle until the function first runs, and imports under
``if TYPE_CHECKING:``, which never run but tie the two modules' designs together just the same (the
cure is a narrow Protocol next to the user, as ``tradebus.client.link`` and ``ctp_sim.queries`` do).

The graph is built with ``ast`` (nothing is imported), so a module that cannot be imported on this
machine (a venue SDK missing) is still checked.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBS = ROOT / "libs"
SERVICES = ROOT / "services"

# Cycles that are known and tracked, each as the sorted tuple of its modules. Keep this empty; an entry
# needs an open issue.
KNOWN_CYCLES: frozenset[tuple[str, ...]] = frozenset()


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover() -> dict[str, Path]:
    """Every module of the tree, by its import name (``tradebus.bus.core``, ``td_exec.engine``…)."""
    modules: dict[str, Path] = {}
    for root in (LIBS, SERVICES):
        for path in root.rglob("*.py"):
            if "__pycache__" not in path.parts:
                modules[_module_name(path, root)] = path
    return modules


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement at any depth (functions, methods, try blocks, TYPE_CHECKING blocks)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _import_nodes(child)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The most specific module of the tree that ``name`` is or lies in; None outside the tree."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, modules: dict[str, Path]) -> set[str]:
    path = modules[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = _absolute(module, path.name == "__init__.py", node)
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        found.update(target for name in names if (target := _resolve(name, modules)) and target != module)
    return found


def graph() -> dict[str, set[str]]:
    modules = discover()
    return {module: imports_of(module, modules) for module in modules}


def cycles(edges: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _service_of(module: str) -> str | None:
    top = module.split(".")[0]
    return top if (SERVICES / top).is_dir() else None


def test_no_import_cycle() -> None:
    found = set(cycles(graph()))
    assert sorted(found - KNOWN_CYCLES) == []
    assert sorted(KNOWN_CYCLES - found) == [], "a known cycle is gone: remove it from KNOWN_CYCLES"


def test_libs_import_no_service() -> None:
    arrows = sorted((module, target) for module, targets in graph().items() if _service_of(module) is None
                    for target in targets if _service_of(target) is not None)
    assert arrows == []


# A dotted module path written as text (``"supervisor.up"``, ``"pkg.mod:func"``): what importlib, an entry point
# or a dispatch table would import at run time, where no import statement shows it.
_MODULE_TEXT = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+(:[a-z_][a-z0-9_]*)?$")


def named_modules(module: str, modules: dict[str, Path]) -> set[str]:
    """The modules of the tree that ``module`` names in a string constant (dynamic imports)."""
    tree = ast.parse(modules[module].read_text(encoding="utf-8"))
    texts = (node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str))
    return {target for text in texts if _MODULE_TEXT.match(text)
            and (target := _resolve(text.partition(":")[0], modules))}


def test_libs_name_no_service_module_even_as_text() -> None:
    """The library knows no service, not even by a module path it would import dynamically (the supervisor's
    ``up`` is dispatched from ``services/supervisor``, never from ``tradebus.cli``)."""
    modules = discover()
    arrows = sorted((module, target) for module in modules if _service_of(module) is None
                    for target in named_modules(module, modules) if _service_of(target) is not None)
    assert arrows == []
    assert _service_of("supervisor.up") == "supervisor"


def test_no_service_imports_another() -> None:
    arrows = sorted((module, target) for module, targets in graph().items() if (own := _service_of(module))
                    for target in targets if (other := _service_of(target)) and other != own)
    assert arrows == []


def test_the_walker_sees_function_local_type_only_and_relative_imports(tmp_path: Path) -> None:
    source = ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from pkg import hidden\n"
              "def f():\n    from . import b\n    import pkg.c\n")
    tree = ast.parse(source)
    names = [node.module if isinstance(node, ast.ImportFrom) else node.names[0].name for node in _import_nodes(tree)]
    assert names == ["__future__", "typing", "pkg", None, "pkg.c"]
    modules = {name: tmp_path for name in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.hidden")}
    relative = next(node for node in _import_nodes(tree) if isinstance(node, ast.ImportFrom) and node.level == 1)
    assert _resolve(f"{_absolute('pkg.a', False, relative)}.b", modules) == "pkg.b"
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]
    dynamic = tmp_path / "dynamic.py"
    dynamic.write_text('TABLE = {"up": ("pkg.b", "main"), "x": "pkg.c:run"}\nTEXT = "not.a.module here"\n')
    assert named_modules("dynamic", {**modules, "dynamic": dynamic}) == {"pkg.b", "pkg.c"}
