"""The lm-eval tasks on the bundled sample: generated YAMLs, data lookup, end-to-end runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imb_tools.evaluation import tasks as tasks_gen
from imb_tools.data.io import load_built
from imb_tools.errors import ImbError

CONST_TEXT = "Gentile utente, le consiglio di rivolgersi al suo medico curante."


def _register_const_model():
    """A model that always prefers one letter, through lm-eval's own model registry."""
    import lm_eval.models  # noqa: F401  (lm-eval loads its own models only into an empty registry)
    from lm_eval.api.model import LM
    from lm_eval.api.registry import register_model

    @register_model("imb-test-const-letter")
    class ConstLetterLM(LM):
        def __init__(self, letter: str = "B", **_ignored):
            super().__init__()
            self.letter = letter

        def loglikelihood(self, requests, disable_tqdm: bool = False):
            return [(0.0 if req.args[1].strip() == self.letter else -10.0, False) for req in requests]

        def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
            raise NotImplementedError

        def generate_until(self, requests, disable_tqdm: bool = False):
            return [CONST_TEXT for _ in requests]


_register_const_model()


@pytest.fixture(scope="module")
def task_dir(demo_dir, tmp_path_factory):
    """The task set generated for the built sample (what `imb tasks-path --data-dir` prints)."""
    old = os.environ.get("IMB_CACHE_DIR")
    os.environ["IMB_CACHE_DIR"] = str(tmp_path_factory.mktemp("imb-cache"))
    yield tasks_gen.tasks_path(demo_dir)
    if old is None:
        os.environ.pop("IMB_CACHE_DIR")
    else:
        os.environ["IMB_CACHE_DIR"] = old


def _latest_results(out: Path) -> dict:
    (path,) = sorted(out.glob("*/results_*.json"))[-1:]
    return json.loads(path.read_text())


def _category_sizes(demo_dir: Path) -> tuple[dict, dict]:
    mcqa = load_built(demo_dir / "mcqa", split="test").to_pandas()
    qa = load_built(demo_dir / "qa", split="test")
    macro = qa.features["macro_category"]
    qa = qa.to_pandas()
    qa["macro"] = macro.int2str(qa["macro_category"].tolist())
    return mcqa, qa


def test_shipped_yamls_are_up_to_date(demo_dir):
    rendered = tasks_gen.render_shipped(demo_dir)
    shipped = tasks_gen.shipped_dir()
    assert set(rendered) == {"imb_mcqa", "imb_qa", "imb_qa_rag"}
    for name, files in rendered.items():
        folder = shipped / name
        on_disk = {p.name for p in folder.glob("*.yaml")}
        assert on_disk == set(files), f"run `imb tasks generate` ({folder})"
        for name, text in files.items():
            assert (folder / name).read_text(encoding="utf-8") == text, f"stale {name}: run `imb tasks generate`"
    # The shipped QA groups cover all 10 macro-categories of the real data, with the same slugs.
    plain = sorted(n.removeprefix("imb_qa_") for n in rendered["imb_qa"] if n.startswith("imb_qa_"))
    rag = sorted(n.removeprefix("imb_qa_rag_") for n in rendered["imb_qa_rag"] if n.startswith("imb_qa_rag_"))
    assert len(plain) == 10 and rag == plain
    assert "custom_dataset: !function utils.load_qa_rag\n" in rendered["imb_qa_rag"]["_template.yaml"]


def test_tasks_path_generates_for_the_data_and_reuses_it(demo_dir, task_dir):
    assert tasks_gen.tasks_path(demo_dir) == task_dir  # cached, not rebuilt
    cats = tasks_gen.dataset_categories(demo_dir)
    mcqa_tasks = sorted(p.stem for p in (task_dir / "imb_mcqa").glob("imb_mcqa_*.yaml"))
    expected = sorted(tasks_gen._unique_slugs(cats["mcqa"], "imb_mcqa").values())
    assert mcqa_tasks == sorted(expected + ["imb_mcqa_cloze", "imb_mcqa_mp_p1", "imb_mcqa_mp_p2", "imb_mcqa_mp_p3"])
    assert (task_dir / "imb_mcqa" / "utils.py").exists() and (task_dir / "imb_qa" / "utils.py").exists()
    # imb_qa and imb_qa_rag: exactly the macro-categories of the test split, no empty subtask.
    from imb_tools.data.categories import MACRO_SLUGS

    for group in ("imb_qa", "imb_qa_rag"):
        assert (task_dir / group / "utils.py").exists()
        assert str(demo_dir.resolve()) in (task_dir / group / "_template.yaml").read_text()
        subtasks = sorted(p.stem for p in (task_dir / group).glob(f"{group}_*.yaml"))
        assert subtasks == sorted(f"{group}_{MACRO_SLUGS[m]}" for m in cats["qa"])
    assert len(cats["qa"]) < 10  # the sample lacks some: the shipped set would have empty subtasks
    out = subprocess.run([sys.executable, "-m", "imb_tools.cli", "tasks-path"], capture_output=True, text=True)
    assert out.returncode == 0 and Path(out.stdout.strip()) == tasks_gen.shipped_dir()
    bad = subprocess.run([sys.executable, "-m", "imb_tools.cli", "tasks-path", "--data-dir", str(demo_dir / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_data_lookup_order_and_errors(demo_dir, tmp_path, monkeypatch):
    from imb_tools.evaluation.task_data import load_for_tasks, resolve_source

    monkeypatch.delenv("IMB_DATA_DIR", raising=False)
    assert resolve_source("mcqa", {"data_dir": str(demo_dir)}) == str(demo_dir / "mcqa")
    assert resolve_source("qa", {"data_dir": str(demo_dir / "qa")}) == str(demo_dir / "qa")
    monkeypatch.setenv("IMB_DATA_DIR", str(demo_dir))
    assert resolve_source("qa", {"generated_data_dir": "/elsewhere"}) == str(demo_dir / "qa")
    with pytest.raises(ImbError, match="not a built IMB-MCQA folder"):
        resolve_source("mcqa", {"data_dir": str(demo_dir / "qa")})
    monkeypatch.delenv("IMB_DATA_DIR")
    assert resolve_source("mcqa", {"mcqa_repo": "someone/imb-mcqa"}) == "someone/imb-mcqa"
    with pytest.raises(ImbError, match="no IMB-MCQA data") as err:
        load_for_tasks("mcqa", {"mcqa_repo": str(tmp_path / "missing")})
    assert "\n" not in str(err.value)


def test_lm_eval_cli_end_to_end_with_tiny_llama(demo_dir, task_dir, tiny_llama, minilm_path, tmp_path):
    """`lm_eval` itself, as a user runs it: every subtask present, counts equal split sizes."""
    metadata = {"bertscore_model": str(minilm_path), "bertscore_layers": 6, "qa_max_items": 1}
    cmd = [sys.executable, "-m", "lm_eval", "--include_path", str(task_dir),
           "--tasks", "imb_mcqa,imb_qa", "--model", "hf",
           "--model_args", f"pretrained={tiny_llama}", "--device", "cpu",
           "--gen_kwargs", "max_gen_toks=2", "--metadata", json.dumps(metadata),
           "--output_path", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _latest_results(tmp_path)
    mcqa, qa = _category_sizes(demo_dir)
    cats = tasks_gen.dataset_categories(demo_dir)
    mcqa_tasks = tasks_gen._unique_slugs(cats["mcqa"], "imb_mcqa")
    assert set(res["group_subtasks"]["imb_mcqa"]) == set(mcqa_tasks.values())
    for name, task in mcqa_tasks.items():
        assert res["n-samples"][task]["effective"] == int((mcqa["category"] == name).sum())
        assert 0.0 <= res["results"][task]["acc,none"] <= 1.0
    from imb_tools.data.categories import MACRO_SLUGS

    assert len(res["group_subtasks"]["imb_qa"]) == len(cats["qa"])
    for name in cats["qa"]:
        task = f"imb_qa_{MACRO_SLUGS[name]}"
        assert res["n-samples"][task]["effective"] == 1
        scores = res["results"][task]
        for metric in ("rouge1", "rougeL", "meteor", "bleu", "bertscore_f1", "bertscore_precision"):
            assert 0.0 <= scores[f"{metric},none"] <= 1.0
    assert 0.0 <= res["results"]["imb_mcqa"]["acc,none"] <= 1.0


def test_constant_letter_model_scores_that_letters_share(demo_dir, minilm_path, tmp_path, capsys):
    """Through `imb eval` (lm-eval's Python API): a model always answering B scores exactly
    the share of B among the gold answers, per category, per prompt and overall; the
    cloze task (choices are texts, all equally unlikely) picks the first option; IMB-QA's
    BERTScore equals bert_score on the same pairs, with the model loaded once for all subtasks."""
    import bert_score

    from imb_tools.cli import main
    from imb_tools.metrics import bertscore

    loads_before = bertscore.LOADS
    rc = main(["eval", "--model", "imb-test-const-letter", "--model-args", "letter=B",
               "--tasks", "imb_mcqa,imb_mcqa_mp,imb_mcqa_cloze,imb_qa", "--data-dir", str(demo_dir),
               "--output", str(tmp_path), "--bertscore-model", str(minilm_path),
               "--bertscore-layers", "6", "--qa-max-items", "2"])
    assert rc == 0
    res = _latest_results(tmp_path)["results"]
    mcqa, qa = _category_sizes(demo_dir)
    share_b = float((mcqa["answer"] == "B").mean())
    assert res["imb_mcqa"]["acc,none"] == pytest.approx(share_b)
    for k in (1, 2, 3):
        assert res[f"imb_mcqa_mp_p{k}"]["acc,none"] == pytest.approx(share_b)
    assert res["imb_mcqa_mp"]["acc,none"] == pytest.approx(share_b)
    assert res["imb_mcqa_cloze"]["acc,none"] == pytest.approx(float((mcqa["answer_index"] == 0).mean()))
    shares = {}
    for name, rows in mcqa.groupby("category"):
        task = "imb_mcqa_" + tasks_gen._unique_slugs([name], "x")[name][2:]
        shares[task] = float((rows["answer"] == "B").mean())
        assert res[task]["acc,none"] == pytest.approx(shares[task])

    summary = json.loads((tmp_path / "imb_summary.json").read_text())
    assert summary["imb_mcqa"]["acc_micro"] == pytest.approx(share_b)
    assert summary["imb_mcqa"]["acc_macro"] == pytest.approx(sum(shares.values()) / len(shares))
    assert sorted(tmp_path.glob("*/samples_imb_mcqa_cloze_*.jsonl"))

    from imb_tools.data.categories import MACRO_SLUGS
    from imb_tools.data.splits import id_hash

    reference = bert_score.BERTScorer(model_type=str(minilm_path), num_layers=6)
    for name in tasks_gen.dataset_categories(demo_dir)["qa"]:
        rows = qa[qa["macro"] == name]
        refs = [a for _, a in sorted(zip(map(id_hash, rows["id"]), rows["answer"]))][:2]
        _, _, F = reference.score([CONST_TEXT] * len(refs), refs)
        assert res[f"imb_qa_{MACRO_SLUGS[name]}"]["bertscore_f1,none"] == pytest.approx(F.mean().item(), abs=1e-5)
    assert bertscore.LOADS - loads_before <= 1


def test_unknown_task_is_a_one_line_error(demo_dir, tmp_path):
    from imb_tools.cli import main

    assert main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_nope",
                 "--data-dir", str(demo_dir), "--output", str(tmp_path)]) == 2


def test_letter_tokens_checked_for_the_evaluated_tokenizer(tiny_llama, tmp_path, caplog):
    from imb_tools.evaluation.task_data import split_letters, warn_if_letters_split
    from imb_tools.tiny_model import make_tiny_llama

    assert split_letters(str(tiny_llama)) == ()
    # A byte-level tokenizer with no merges splits " A" into a space and a letter.
    no_merges = make_tiny_llama(tmp_path / "bytes", vocab_size=1, hidden_size=8, num_layers=1)
    assert split_letters(str(no_merges)) == tuple("ABCDE")
    with caplog.at_level("WARNING", logger="imb_tools"):
        warn_if_letters_split({"pretrained": str(no_merges)})
    assert "splits the option letter(s) A, B, C, D, E" in caplog.text
