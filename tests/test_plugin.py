"""The task folder declared under lm-eval's proposed entry-point group (PR #4015)."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path


def test_task_folder_is_declared_under_lm_eval_tasks():
    from imb_tools.evaluation.tasks import shipped_dir

    (ep,) = [e for e in entry_points(group="lm_eval.tasks") if e.name == "imb"]
    module = ep.load()
    assert Path(module.__file__).parent == shipped_dir()
    assert (shipped_dir() / "imb_mcqa" / "imb_mcqa.yaml").is_file()
