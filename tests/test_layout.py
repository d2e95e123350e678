"""The architecture as a test: imports point down; no cycle between subpackages, nor between files.

The lm-eval task folders (lm_eval_tasks/) stand alone: they never import imb_tools, while
imb_tools imports their shared code (lm_eval_tasks.imb_common) for the prompt and metrics,
so each exists once.

Read from the source with `ast` (function-level imports and `importlib.import_module("...")`
calls with a literal name included), so a lazy import cannot hide an upward arrow.
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
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value)
    return names


def _module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of imb_tools (packages as their __init__)."""
    out = {}
    for path in (ROOT / "imb_tools").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _file_graph() -> dict[str, set[str]]:
    """module -> the imb_tools modules it imports (the most specific module each import names)."""
    modules = _module_files()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        for imported in _imports(path):
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("imb_tools"):
                graph.setdefault(name, set()).add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every strongly connected group of more than one node (Tarjan), as 'a -> b -> ...'."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(" <-> ".join(sorted(group)))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


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
            if dst and dst != src and dst != "__init__" and (
                    (ROOT / "imb_tools" / dst).is_dir() or (ROOT / "imb_tools" / f"{dst}.py").is_file()):
                graph.setdefault(src, set()).add(dst)
    return graph


def test_imb_tools_never_imports_the_top_level_packages():
    """imb_qa/ and imb_mcqa/ sit above imb_tools; of lm_eval_tasks, imb_tools uses only the shared
    code (lm_eval_tasks.imb_common), never a folder's utils.py, which lm-eval loads by path."""
    upward = []
    for path in (ROOT / "imb_tools").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in TOP_LEVEL and not name.startswith("lm_eval_tasks.imb_common"):
                upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert upward == []


def test_task_folders_never_import_imb_tools():
    """So that lm_eval_tasks/ can be copied alone (and proposed upstream); the venv test in
    tests/test_task_folder_alone.py checks the same at run time."""
    seen, into_imb_tools = 0, []
    for path in (ROOT / "lm_eval_tasks").rglob("*.py"):
        seen += 1
        text = path.read_text("utf-8")
        into_imb_tools += [f"{path.relative_to(ROOT)} imports {name}" for name in _imports(path)
                           if name.split(".")[0] in ("imb_tools", "imb_qa", "imb_mcqa")]
        if "import_module(\"imb_tools" in text or "__import__(\"imb_tools" in text:
            into_imb_tools.append(f"{path.relative_to(ROOT)} imports imb_tools dynamically")
    assert seen >= 8 and into_imb_tools == []


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


def test_files_form_no_cycle():
    """No two files of imb_tools import each other, directly or through others (lazily included)."""
    graph = _file_graph()
    assert "imb_tools.data.kinds" in graph and "imb_tools.cli" in graph  # the scan really sees the files
    assert _cycles(graph) == []


def test_infrastructure_imports_nothing_above_it():
    """imb_tools/infra is the ground floor: errors, atomic writes, hashing, ownership, tables, locate, readers."""
    upward = [f"{src} imports {dst}" for src, dsts in _file_graph().items() if src.startswith("imb_tools.infra")
              for dst in dsts if not dst.startswith("imb_tools.infra") and dst != "imb_tools"]
    assert upward == []
