"""The lm-eval task folders for `imb eval` and `imb tasks path`: the shipped one, or a set for a build.

The shipped folder (`lm_eval_tasks`, hand-written YAMLs) holds the complete tasks, each
over the whole test split whatever categories it holds, so it needs no data and no
network. For lm-eval's own per-subtask output, `imb tasks path --data DIR` prints a task
set made for that build by the task folder's stub writer (lm_eval_tasks/imb_common/
tasksets.py, also run as `lm_eval_tasks/make_category_tasks.py`): per-category groups
(`imb_mcqa_by_category`, `imb_qa_by_macro`, `imb_qa_rag_by_macro`) and the complete tasks,
all defaulting to DIR. The set is cached under IMB_CACHE_DIR and reused while the build
and the shipped folder are unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import imb_tools
from imb_tools.infra.errors import ImbError

DATA_KINDS = ("mcqa", "qa")


def shipped_dir() -> Path:
    """The task folder installed with the package (found as data, without importing its code)."""
    import importlib.util

    return Path(importlib.util.find_spec("lm_eval_tasks").origin).parent


def builds_in(data_dir: str | Path) -> dict:
    """kind -> the Build at data_dir (or data_dir/<kind>), for each kind found; a one-line
    error when there is none (imb_tools.data.built: a build with an empty split is a build)."""
    from imb_tools.data.built import MARKER, find_build

    found = {k: b for k in DATA_KINDS if (b := find_build(data_dir, k)) is not None}
    if not found:
        raise ImbError(f"--data {data_dir}: not a built IMB-QA or IMB-MCQA folder, nor a parent of "
                       f"qa/ or mcqa/ (no {MARKER} written by 'imb build')")
    return found


def write_task_set(data_dir: str | Path, out: str | Path, staging: str | Path | None = None) -> int:
    """The task set for the build(s) in data_dir, for the folder `out` (its stubs name their
    categories.json there), written into `staging` (then renamed to `out`) or `out`; the
    number of files."""
    from lm_eval_tasks.imb_common import tasksets

    from imb_tools.metrics import task_errors

    builds_in(data_dir)
    with task_errors():
        rendered = tasksets.render(shipped_dir(), data_dir, out)
        tasksets.write(rendered, staging or out)
    return sum(len(files) for files in rendered.values())


def task_set_hash(folder: str | Path) -> str:
    """A short hash of a task set's YAMLs, Python and categories.json, and of the shipped folder
    its stubs include: which task set produced a result (imb eval's summary, the leaderboard).

    Only what the tasks ask counts, not where the files lie: the stubs name the shipped folder,
    their own cache folder (whose name follows file times) and the build by absolute path, and
    those paths are hashed as placeholders. Otherwise a reinstall (`make demo` reinstalls every
    time), a rebuilt or moved build of the same content, or another cache folder would give
    another hash, and the leaderboard would split one model run into two. The data's identity
    is recorded beside it (its fingerprint or Hub revision)."""
    folder, shipped = Path(folder).resolve(), shipped_dir().resolve()
    places = {str(folder): b"<task-set>", str(shipped): b"<shipped>"}
    complete = folder / ".complete"  # the data folder a cached set was made for (tasks_path)
    data = complete.read_text(encoding="utf-8").strip() if complete.is_file() else ""
    if data:
        places.setdefault(data, b"<data>")
    digest = hashlib.sha256()
    for root in dict.fromkeys([folder, shipped]):
        for f in sorted(root.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and (
                    f.suffix in (".yaml", ".py", ".json") or f.name.endswith("_yaml")):
                content = f.read_bytes()
                for place in sorted(places, key=len, reverse=True):  # the longest first
                    content = content.replace(place.encode(), places[place])
                digest.update(str(f.relative_to(root)).encode())
                digest.update(content)
    return digest.hexdigest()[:16]


def tasks_path(data_dir: str | Path | None = None) -> Path:
    """The shipped task folder, or (with data_dir) the task set made for that build, cached."""
    shipped = shipped_dir()
    if data_dir is None:
        return shipped
    data = Path(data_dir).resolve()
    builds = builds_in(data)
    key = hashlib.sha256(str(data).encode())
    for kind, build in sorted(builds.items()):
        key.update(repr((kind, str(build.path), build.fingerprint)).encode())
        for files in build.split_files().values():
            for f in files:
                st = os.stat(f)
                key.update(repr((f, st.st_size, st.st_mtime_ns)).encode())
    for f in sorted(shipped.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            st = f.stat()
            key.update(repr((str(f.relative_to(shipped)), st.st_size, st.st_mtime_ns)).encode())
    target = imb_tools.cache_root() / "lm_eval_tasks" / key.hexdigest()[:16]
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:
        write_task_set(data, target, staging / "tasks")
        (staging / "tasks" / ".complete").write_text(str(data) + "\n")
        try:
            os.replace(staging / "tasks", target)
        except OSError:  # another process made it first
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
