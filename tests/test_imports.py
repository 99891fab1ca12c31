"""The import rules of the house, read from the source with ``ast`` (nothing is imported):
``agent/`` never imports ``ui/`` or Qt, and no two files import each other, directly or round a
longer loop. Imports inside functions count: a lazy import is still a dependency. Imports under
``if TYPE_CHECKING:`` do not (they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "ui")
ENTRY = "ticketbell"  # ticketbell.py: the one module that may import both


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def code_files() -> dict[str, Path]:
    files = {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}
    files[ENTRY] = ROOT / f"{ENTRY}.py"
    return files


def imported_names(path: Path, module: str) -> set[str]:
    """Every module name ``path`` imports, with ``from X import Y`` also giving ``X.Y``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """Edges between our own files only (an import of ``agent.x`` also loads ``agent``'s
    ``__init__``, which is not counted: it would make every package a loop)."""
    files = code_files()
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = {name for name in imported_names(path, module) if name in files}
        graph[module] = targets - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One loop of imports, as the list of modules round it; empty when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (loop := visit(nxt)):
                return loop
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (loop := visit(start)):
            return loop
    return []


def test_no_file_imports_itself_round_a_loop() -> None:
    graph = import_graph()
    assert len(graph) > 20  # the walk found the code
    loop = find_cycle(graph)
    assert not loop, "import cycle: " + " -> ".join(loop)


def test_agent_never_imports_ui_or_qt() -> None:
    offenders = []
    for module, path in code_files().items():
        if not module.startswith("agent"):
            continue
        for name in imported_names(path, module):
            if name.split(".")[0] in ("ui", "PySide6", "shiboken6"):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_the_cycle_finder_finds_a_loop_and_the_ui_import_check_sees_one(tmp_path: Path) -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []
    module = tmp_path / "cli.py"
    module.write_text("def f():\n    from ui.app import run_app\n    from . import sibling\n")
    assert {"ui.app", "ui.app.run_app", "agent.sibling"} <= imported_names(module, "agent.cli")
