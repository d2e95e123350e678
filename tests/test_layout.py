"""The architecture as a test: imports point down, and the subpackages of imb_tools form no cycle.

Read from the source with `ast` (function-level imports included), so a lazy
import cannot hide an upward arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL = ("imb_qa", "imb_mcqa", "lm_eval_tasks")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _area(module: str) -> str | None:
    """imb_tools.X.Y -> 'X' (the subpackage or top-level module of imb_tools)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "imb_tools" and len(parts) > 1 else None


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "imb_tools").rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        src = _area(".".join(rel.parts))
        if src is None or src == "__init__":
            continue
        for name in _imports(path):
            dst = _area(name)
            if dst and dst != src and dst != "__init__" and (ROOT / "imb_tools" / dst).exists():
                graph.setdefault(src, set()).add(dst)
    return graph


def test_imb_tools_never_imports_the_top_level_packages():
    upward = []
    for path in (ROOT / "imb_tools").rglob("*.py"):
        for name in _imports(path):
            if name.split(".")[0] in TOP_LEVEL:
                upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert upward == []


def test_subpackages_form_no_cycle():
    graph = _package_graph()
    assert "data" in graph and "evaluation" in graph  # the scan really sees the tree
    cycles = []

    def visit(node, stack):
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif len(stack) < 12:
                visit(nxt, stack + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []


def test_task_utils_import_only_public_imb_tools_modules():
    private = []
    for path in (ROOT / "lm_eval_tasks").rglob("utils.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("imb_tools"):
                private += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}" for a in node.names
                            if a.name.startswith("_")]
    assert private == []
