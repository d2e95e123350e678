"""The data `imb eval` hands the lm-eval tasks: the tasks' own lookup, plus the toolkit's cache.

The task folder finds its data by itself (lm_eval_tasks/imb_common/data.py: a local build
from `--metadata data_dir` / `IMB_DATA_DIR`, a repo from `qa_repo` / `mcqa_repo`, else the
published built dataset of the YAML's `dataset_path`). `imb eval` asks the same lookup
first; where it names nothing, the toolkit builds the gated raw repo praiselab-picuslab/IMB
once into the user's cache (imb_tools.data.sources.cached_build) and names that folder
explicitly (`<kind>_data_dir`), so the tasks and the run's provenance read the same data.
"""

from __future__ import annotations

from pathlib import Path

from lm_eval_tasks.imb_common import data as _task_data
from lm_eval_tasks.imb_common.mcqa import split_letters, warn_if_letters_split  # noqa: F401  (the letter check)

from imb_tools.metrics import task_errors


def built_folder(path: str | Path, kind: str) -> Path | None:
    """`path` or `path/<kind>` when `imb build` marked it as a `kind` build (imb_tools.data.built)."""
    from imb_tools.data.built import find_build

    build = find_build(path, kind)
    return None if build is None else build.path


def resolve_source(kind: str, metadata: dict) -> str:
    """The build folder or repo id the `kind` ("qa" or "mcqa") tasks read: the tasks' lookup,
    else the gated raw repo built once into the cache."""
    with task_errors():
        source = _task_data.resolve_source(kind, metadata)
    if source is not None:
        return source
    from imb_tools.data.sources import cached_build

    return str(cached_build(kind))


def pin_sources(kinds, metadata: dict) -> dict:
    """`metadata` naming, for each kind, the data resolve_source finds (a cached build as
    `<kind>_data_dir`), so the tasks read exactly what the run's provenance records."""
    pinned = dict(metadata)
    for kind in kinds:
        with task_errors():
            named = _task_data.resolve_source(kind, pinned)
        if named is None:
            pinned[f"{kind}_data_dir"] = resolve_source(kind, pinned)
    return pinned


def load_for_tasks(kind: str, metadata: dict):
    """The DatasetDict the tasks of `kind` evaluate (the tasks' own load, cached per process)."""
    pinned = pin_sources([kind], metadata)
    with task_errors():
        return _task_data.load(kind, pinned)
