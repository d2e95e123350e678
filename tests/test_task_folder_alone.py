"""The task folder copied alone into a fresh virtualenv without the IMB toolkit runs IMB-MCQA,
IMB-QA and IMB-QA with RAG through `python -m lm_eval`, and scores every item exactly as
`imb eval` does on the same build with the same tiny model (per item: documents, prompts
with their few-shot examples, model outputs, metric values).

The virtualenv sees this environment's packages (lm-eval, torch, bert_score, faiss,
sentence-transformers...) through a .pth line, and a finder installed at start-up makes
`import imb_tools` (and imb_qa, imb_mcqa, the installed lm_eval_tasks) fail: if anything in
the folder imported the toolkit, the run would stop with ModuleNotFoundError.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("faiss")

BLOCKED = ("imb_tools", "imb_qa", "imb_mcqa", "lm_eval_tasks")
BLOCKER = f'''"""Stands for a machine without the IMB toolkit: its packages cannot be imported."""
import sys

BLOCKED = {BLOCKED!r}


class _NoToolkit:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: no IMB toolkit here)", name=name)
        return None


sys.meta_path.insert(0, _NoToolkit())
'''
TASKS = "imb_mcqa,imb_qa,imb_qa_rag"
COMPARED = ("doc", "target", "arguments", "resps", "filtered_resps")
LIMIT = 10  # documents per task: enough to compare item by item, few enough for seconds


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory) -> Path:
    """A virtualenv that sees this environment's site-packages, but not the toolkit."""
    root = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    (own,) = (root / "lib").glob("python3*/site-packages")
    (own / "_no_imb_toolkit.py").write_text(BLOCKER)
    (own / "00_no_imb_toolkit.pth").write_text("import _no_imb_toolkit\n")
    (own / "zz_shared_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return root / "bin" / "python"


def _bare(python: Path, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "IMB_"))}
    # One thread, as the in-process run below: a random tiny model's logits are near ties, and
    # a float sum in another order (another thread count) can break a tie the other way.
    return subprocess.run([str(python), *args], capture_output=True, text=True, cwd=cwd, timeout=600,
                          env=clean | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                                       "MKL_NUM_THREADS": "1", **(env or {})})


def _samples(folder: Path) -> dict:
    """(task, doc_id) -> logged sample, from lm-eval's samples_<task>_<date>.jsonl files."""
    out = {}
    for path in folder.rglob("samples_*.jsonl"):
        task = re.match(r"samples_(.+)_\d{4}-\d\d-\d\dT", path.name).group(1)
        for line in path.read_text(encoding="utf-8").splitlines():
            sample = json.loads(line)
            out[(task, sample["doc_id"])] = sample
    return out


def _results(folder: Path) -> dict:
    merged = {}
    for path in folder.rglob("results_*.json"):
        merged.update(json.loads(path.read_text())["results"])
    return {t: {k: v for k, v in m.items() if k != "alias"} for t, m in merged.items()}


@pytest.fixture(scope="module")
def rag_index(tmp_path_factory, demo_dir, minilm_path) -> Path:
    """An index of the sample build by `imb rag index`, with its build recorded (see test_rag_task)."""
    from test_rag_task import _make_index

    base = tmp_path_factory.mktemp("alone-index")
    return _make_index(demo_dir / "qa", base / "index", minilm_path, base / "cache")


def test_task_folder_alone_scores_every_item_as_imb_eval(bare_venv, demo_dir, tiny_llama, minilm_path,
                                                         rag_index, tmp_path):
    import torch

    from imb_tools.cli import main
    from imb_tools.evaluation.tasks import shipped_dir

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the bare run (see _bare)
    try:
        _compare_both_ways(bare_venv, demo_dir, tiny_llama, minilm_path, rag_index, tmp_path, main, shipped_dir)
    finally:
        torch.set_num_threads(threads)


def _compare_both_ways(bare_venv, demo_dir, tiny_llama, minilm_path, rag_index, tmp_path, main, shipped_dir):
    probe = _bare(bare_venv, "-c", "import lm_eval, torch, bert_score, faiss; import imb_tools", cwd=tmp_path)
    assert probe.returncode != 0 and "No module named 'imb_tools' (blocked" in probe.stderr, probe.stderr
    copy = tmp_path / "copied" / "imb"  # any name: upstream it would be lm_eval/tasks/imb
    shutil.copytree(shipped_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    metadata = {"bertscore_model": str(minilm_path), "bertscore_layers": 6, "qa_max_items": 2,
                "mcqa_data_dir": str(demo_dir), "rag_index": str(rag_index), "rag_k": 2}
    alone = tmp_path / "alone"
    proc = _bare(bare_venv, "-m", "lm_eval", "--include_path", str(copy), "--tasks", TASKS,
                 "--model", "hf", "--model_args", f"pretrained={tiny_llama}", "--device", "cpu",
                 "--num_fewshot", "1", "--gen_kwargs", "max_gen_toks=4", "--limit", str(LIMIT),
                 "--metadata", json.dumps(metadata),
                 "--output_path", str(alone), "--log_samples", cwd=tmp_path,
                 env={"IMB_DATA_DIR": str(demo_dir)})  # IMB-QA's data through the environment
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "imb_tools" not in proc.stderr

    through_imb = tmp_path / "imb"
    assert main(["eval", "--model", "hf", "--model-args", f"pretrained={tiny_llama}", "--device", "cpu",
                 "--tasks", TASKS, "--data", str(demo_dir), "--out", str(through_imb), "--num-fewshot", "1",
                 "--limit", str(LIMIT),
                 "--gen-kwargs", "max_gen_toks=4", "--bertscore-model", str(minilm_path),
                 "--bertscore-layers", "6", "--qa-max-items", "2",
                 "--metadata", json.dumps({"rag_index": str(rag_index), "rag_k": 2})]) == 0

    a, b = _samples(alone), _samples(through_imb)
    assert set(a) == set(b) and {t for t, _ in a} == set(TASKS.split(","))
    differing = [key for key in a if any(a[key].get(f) != b[key].get(f) for f in COMPARED)
                 or any(a[key].get(m) != b[key].get(m) for m in a[key]["metrics"])]
    identical = len(a) - len(differing)
    print(f"per-item agreement, task folder alone vs imb eval: {identical} of {len(a)} identical")
    assert differing == [] and len(a) == 3 * LIMIT
    assert all("Contesto:\n[1] " in a[key]["arguments"]["gen_args_0"]["arg_0"]
               for key in a if key[0] == "imb_qa_rag")
    assert all(a[key]["arguments"]["gen_args_0"]["arg_0"].count("Domanda:") == 2  # one few-shot example
               for key in a if key[0] == "imb_qa")
    ra, rb = _results(alone), _results(through_imb)
    # Set-level scores agree to float precision: BERTScore sums the same pair scores, maybe in
    # another batch order (the toolkit's process may hold pairs scored by an earlier task).
    assert ra.keys() == rb.keys() and all(ra[t].keys() == rb[t].keys() for t in ra)
    for task in ra:
        for metric, value in ra[task].items():
            other = rb[task][metric]
            if isinstance(value, float) and isinstance(other, float):
                assert other == pytest.approx(value, rel=1e-6, abs=1e-9), (task, metric)
            else:
                assert other == value, (task, metric)
    assert ra["imb_qa"]["bertscore_f1,none"] > 0


def test_category_stubs_are_made_without_the_toolkit(bare_venv, demo_dir, tmp_path):
    """make_category_tasks.py, the mmlu-style stub writer beside the YAMLs, runs in the bare
    virtualenv: per-category stubs (yaml.dump) that include the copied templates by path."""
    import yaml

    from imb_tools.evaluation.tasks import shipped_dir

    copy = tmp_path / "imb"
    shutil.copytree(shipped_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    proc = _bare(bare_venv, str(copy / "make_category_tasks.py"), "--data", str(demo_dir),
                 "--out", str(tmp_path / "set"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stubs = sorted((tmp_path / "set" / "imb_mcqa").glob("imb_mcqa_cat_*.yaml"))
    assert stubs and all(yaml.safe_load(p.read_text())["include"] ==
                         str((copy / "imb_mcqa" / "_default_template_yaml").resolve()) for p in stubs)
    assert (tmp_path / "set" / "imb_qa_rag" / "_imb_qa_rag_by_macro.yaml").is_file()
    bad = _bare(bare_venv, str(copy / "make_category_tasks.py"), "--data", str(tmp_path), "--out",
                str(tmp_path / "x"), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "not a built" in bad.stderr
