"""The shape of the code in agent/, ui/ and the entry module, measured with ``ast``: no function
over 60 lines, no module over 600, the median function at most 10 lines. ``-s`` prints the
figures (``pytest tests/test_code_shape.py -s``).

Duplicated blocks are measured outside the suite (a listing of blocks of six or more lines of
the same shape between code modules); docs/architecture.md says how.
"""

from __future__ import annotations

import ast
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 600
MAX_MEDIAN_FUNCTION_LINES = 10


def code_files() -> list[Path]:
    return sorted([*ROOT.glob("agent/**/*.py"), *ROOT.glob("ui/**/*.py"), ROOT / "ticketbell.py"])


def functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, int]]:
    """(qualified name, lines) of every function, methods and nested functions included."""
    found: list[tuple[str, int]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            found.append((name, (node.end_lineno or node.lineno) - node.lineno + 1))
            found.extend(functions(node, f"{name}."))
        elif isinstance(node, ast.ClassDef):
            found.extend(functions(node, f"{prefix}{node.name}."))
        else:
            found.extend(functions(node, prefix))
    return found


def measure() -> tuple[dict[str, int], dict[str, int]]:
    """Lines per module and per function (``path:Qualified.name``)."""
    modules: dict[str, int] = {}
    funcs: dict[str, int] = {}
    for path in code_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        modules[rel] = len(text.splitlines())
        for name, lines in functions(ast.parse(text, rel)):
            key = f"{rel}:{name}"
            funcs[key] = max(lines, funcs.get(key, 0))  # a name defined twice: the longer
    return modules, funcs


def test_code_shape() -> None:
    modules, funcs = measure()
    lengths = sorted(funcs.values())
    median = statistics.median(lengths)
    p95 = lengths[int(len(lengths) * 0.95)]
    long_modules = {m for m, n in modules.items() if n > MAX_MODULE_LINES}
    long_functions = {f for f, n in funcs.items() if n > MAX_FUNCTION_LINES}
    print(
        f"\n{len(modules)} modules, {sum(modules.values())} lines; {len(lengths)} functions: "
        f"median {median} lines, p95 {p95}, longest {lengths[-1]}"
    )
    for name in sorted(long_modules):
        print(f"  module over {MAX_MODULE_LINES}: {name} ({modules[name]})")
    for name in sorted(long_functions):
        print(f"  function over {MAX_FUNCTION_LINES}: {name} ({funcs[name]})")

    assert median <= MAX_MEDIAN_FUNCTION_LINES
    assert not long_modules, sorted(long_modules)
    assert not long_functions, sorted(long_functions)


def test_the_measure_counts_nested_and_method_lines() -> None:
    tree = ast.parse(
        "class A:\n    def f(self):\n        def g():\n            pass\n        return 1\n"
    )
    assert functions(tree) == [("A.f", 4), ("A.f.g", 2)]
