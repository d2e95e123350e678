"""Every package the task folder imports is one that lm-eval installs or that a task README's
`pip install` line names: read from the code (every import, lazy ones too) and from the
installed packages' own requirements, so a new dependency that nobody listed fails here even
though this environment happens to have it (the standalone-folder test runs in a virtualenv
that sees this environment's packages, so it cannot tell)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

TASKS = Path(__file__).resolve().parents[1] / "lm_eval_tasks"


def _readme_packages() -> set[str]:
    names = set()
    for readme in TASKS.rglob("README.md"):
        for line in readme.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s*pip install (.*?)(#|$)", line)
            if match:
                names.update(Requirement(token.strip("\"'")).name for token in match.group(1).split())
    return names


def _closure(roots: dict[str, set[str]]) -> set[str]:
    """The distributions installed with `roots` (name -> extras), following requirements."""
    seen, todo = set(), [(name, extras) for name, extras in roots.items()]
    while todo:
        name, extras = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            requirements = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for text in requirements:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras or {""}):
                todo.append((req.name, set(req.extras)))
    return seen


def _optional(node: ast.AST, parents: dict) -> bool:
    """An import inside `try: ... except ImportError` (an optional extra with a fallback)."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers):
            return True
    return False


def test_every_import_of_the_task_folder_is_installed_by_lm_eval_or_listed():
    listed = _readme_packages()
    assert {"lm-eval", "bert_score", "nltk", "faiss-cpu"} <= listed, listed
    allowed = _closure({name: ({"hf"} if name == "lm-eval" else set()) for name in listed})
    distributions = md.packages_distributions()
    local = {p.stem for p in TASKS.rglob("*.py")} | {p.name for p in TASKS.iterdir() if p.is_dir()}
    unlisted = []
    for path in TASKS.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in local or top == "__future__" or _optional(node, parents):
                    continue
                owners = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(top, [top])}
                if not owners & allowed:
                    unlisted.append(f"{path.relative_to(TASKS)}:{node.lineno} imports {top}")
    assert not unlisted, unlisted
