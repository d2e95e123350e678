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
from imb_tools.infra.errors import ImbError

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


def test_shipped_yamls_are_up_to_date():
    rendered = tasks_gen.render_shipped()
    shipped = tasks_gen.shipped_dir()
    assert set(rendered) == {"imb_mcqa", "imb_qa", "imb_qa_rag"}
    for name, files in rendered.items():
        folder = shipped / name
        on_disk = {p.name for p in folder.iterdir() if p.suffix == ".yaml" or p.name == "_default_template_yaml"}
        assert on_disk == set(files), f"run `imb tasks generate` ({folder})"
        for name, text in files.items():
            assert (folder / name).read_text(encoding="utf-8") == text, f"stale {name}: run `imb tasks generate`"
    # Complete by construction: the shipped set names no category, so no data can fall outside it.
    assert set(rendered["imb_mcqa"]) == {"_default_template_yaml", "imb_mcqa.yaml", "imb_mcqa_cloze.yaml",
                                         "_imb_mcqa_mp.yaml", "imb_mcqa_mp_p1.yaml",
                                         "imb_mcqa_mp_p2.yaml", "imb_mcqa_mp_p3.yaml"}
    assert set(rendered["imb_qa"]) == {"_default_template_yaml", "imb_qa.yaml"}
    assert not any("category" in text for files in rendered.values() for text in files.values()
                   if "dataset_kwargs" in text)
    assert "custom_dataset: !function utils.load_qa_rag\n" in rendered["imb_qa_rag"]["_default_template_yaml"]


def test_tasks_path_generates_for_the_data_and_reuses_it(demo_dir, task_dir):
    assert tasks_gen.tasks_path(demo_dir) == task_dir  # cached, not rebuilt
    cats = tasks_gen.dataset_categories(demo_dir)
    group, prefix = tasks_gen.MCQA_BY_CATEGORY
    mcqa_tasks = sorted(p.stem for p in (task_dir / "imb_mcqa").glob(f"{prefix}_*.yaml"))
    assert mcqa_tasks == sorted(tasks_gen._unique_slugs(cats["mcqa"], prefix).values())
    assert json.loads((task_dir / "imb_mcqa" / "categories.json").read_text())["categories"] == cats["mcqa"]
    assert (task_dir / "imb_mcqa" / "imb_mcqa.yaml").exists()
    assert (task_dir / "imb_mcqa" / "utils.py").exists() and (task_dir / "imb_qa" / "utils.py").exists()
    from imb_tools.data.categories import MACRO_SLUGS

    for qa_group in ("imb_qa", "imb_qa_rag"):
        by_macro, qa_prefix = tasks_gen.qa_by_macro(qa_group)
        assert (task_dir / qa_group / "utils.py").exists()
        assert str(demo_dir.resolve()) in (task_dir / qa_group / "_default_template_yaml").read_text()
        subtasks = sorted(p.stem for p in (task_dir / qa_group).glob(f"{qa_prefix}_*.yaml"))
        assert subtasks == sorted(f"{qa_prefix}_{MACRO_SLUGS[m]}" for m in cats["qa"])
        # corpus BLEU is not a mean of per-macro BLEUs: the by-macro group does not pretend so
        assert "metric: bleu" not in (task_dir / qa_group / f"_{by_macro}.yaml").read_text()
    out = subprocess.run([sys.executable, "-m", "imb_tools.cli", "tasks-path"], capture_output=True, text=True,
                         env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0 and Path(out.stdout.strip()) == tasks_gen.shipped_dir()
    bad = subprocess.run([sys.executable, "-m", "imb_tools.cli", "tasks-path", "--data", str(demo_dir / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def _renamed_mcqa(tmp: Path, demo_dir: Path) -> Path:
    """IMB-MCQA built from the sample with every category renamed: names no task set has seen."""
    from imb_tools.data.access import build
    from imb_tools.sample_data import MCQA_SAMPLE

    raw = json.loads(Path(MCQA_SAMPLE).read_text(encoding="utf-8"))
    renamed = {f"Specialita nuova {i}": items for i, items in enumerate(raw.values())}
    path = tmp / "IMB-MCQA.renamed.json"
    path.write_text(json.dumps(renamed, ensure_ascii=False), encoding="utf-8")
    build("mcqa", str(path), tmp / "mcqa", fractions={"dev": 0.25}, progress=False)
    return tmp / "mcqa"


def test_categories_the_installed_set_never_saw_are_all_scored(demo_dir, task_dir, tmp_path):
    """The installed imb_mcqa scores every test item of data with unseen categories; the
    per-category set made for other data stops with one line naming the categories."""
    from imb_tools.cli import main

    data = _renamed_mcqa(tmp_path, demo_dir)
    test = load_built(data, split="test").to_pandas()
    out = tmp_path / "eval"
    assert main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_mcqa",
                 "--data", str(data), "--out", str(out)]) == 0
    res = _latest_results(out)
    assert res["n-samples"]["imb_mcqa"]["effective"] == len(test)
    summary = json.loads((out / "imb_summary.json").read_text())
    figures = summary["tasks"]["imb_mcqa"]["imb_mcqa"]
    assert figures["items_scored"] == figures["items_in_split"] == len(test) and figures["complete"]
    assert set(figures["categories"]) == set(test["category"])
    assert sum(c["items"] for c in figures["categories"].values()) == len(test)
    for name, rows in test.groupby("category"):
        assert figures["categories"][name]["acc"] == pytest.approx(float((rows["answer"] == "B").mean()))
    # the per-category group generated for the sample, pointed at this data: one-line error
    group, _ = tasks_gen.MCQA_BY_CATEGORY
    cmd = [sys.executable, "-m", "lm_eval", "--include_path", str(task_dir), "--tasks", group,
           "--model", "dummy", "--metadata", json.dumps({"data_dir": str(data)}),
           "--output_path", str(tmp_path / "x")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert proc.returncode != 0
    assert "does not match" in proc.stderr and "Specialita nuova 0" in proc.stderr
    assert "Cardiologia" in proc.stderr


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


def test_lm_eval_cli_end_to_end_with_tiny_llama(demo_dir, tiny_llama, minilm_path, tmp_path):
    """`lm_eval` itself with the installed folder, as a user runs it: every test item scored once."""
    metadata = {"bertscore_model": str(minilm_path), "bertscore_layers": 6, "qa_max_items": 1,
                "data_dir": str(demo_dir)}
    cmd = [sys.executable, "-m", "lm_eval", "--include_path", str(tasks_gen.shipped_dir()),
           "--tasks", "imb_mcqa,imb_qa", "--model", "hf",
           "--model_args", f"pretrained={tiny_llama}", "--device", "cpu",
           "--gen_kwargs", "max_gen_toks=2", "--metadata", json.dumps(metadata),
           "--output_path", str(tmp_path), "--log_samples"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _latest_results(tmp_path)
    mcqa, qa = _category_sizes(demo_dir)
    assert "group_subtasks" not in res or not res["group_subtasks"].get("imb_mcqa")
    assert res["n-samples"]["imb_mcqa"]["effective"] == len(mcqa)
    assert 0.0 <= res["results"]["imb_mcqa"]["acc,none"] <= 1.0
    # one item per macro-category (qa_max_items=1), every macro-category of the test split
    assert res["n-samples"]["imb_qa"]["effective"] == qa["macro"].nunique()
    for metric in ("rouge1", "rougeL", "meteor", "bleu", "bertscore_f1", "bertscore_precision"):
        assert 0.0 <= res["results"]["imb_qa"][f"{metric},none"] <= 1.0
    (samples,) = tmp_path.glob("*/samples_imb_mcqa_*.jsonl")
    from imb_tools.evaluation.breakdown import category_scores, read_samples

    table = category_scores(read_samples(samples))
    assert {n: c["items"] for n, c in table["categories"].items()} == mcqa["category"].value_counts().to_dict()


def test_constant_letter_model_scores_that_letters_share(demo_dir, minilm_path, tmp_path, capsys):
    """Through `imb eval`: a model always answering B scores exactly the share of B among the
    gold answers, overall, per prompt and per category (from the samples); the cloze task
    picks the first option; IMB-QA's BERTScore equals bert_score on the same pairs, BLEU is
    corpus BLEU of all items, with the BERTScore model loaded once."""
    import bert_score

    from imb_tools.cli import main
    from imb_tools.metrics import bertscore, text

    loads_before = bertscore.LOADS
    rc = main(["eval", "--model", "imb-test-const-letter", "--model-args", "letter=B",
               "--tasks", "imb_mcqa,imb_mcqa_mp,imb_mcqa_cloze,imb_qa", "--data", str(demo_dir),
               "--out", str(tmp_path), "--bertscore-model", str(minilm_path),
               "--bertscore-layers", "6", "--qa-max-items", "2"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert f"results: {tmp_path.resolve()}" in printed and "items scored" in printed
    assert "Custom kwargs" not in printed and len(printed.splitlines()) < 80
    results = {}
    for path in tmp_path.glob("*/results_*.json"):
        results.update(json.loads(path.read_text())["results"])
    mcqa, qa = _category_sizes(demo_dir)
    share_b = float((mcqa["answer"] == "B").mean())
    assert results["imb_mcqa"]["acc,none"] == pytest.approx(share_b)
    for k in (1, 2, 3):
        assert results[f"imb_mcqa_mp_p{k}"]["acc,none"] == pytest.approx(share_b)
    assert results["imb_mcqa_mp"]["acc,none"] == pytest.approx(share_b)
    assert results["imb_mcqa_cloze"]["acc,none"] == pytest.approx(float((mcqa["answer_index"] == 0).mean()))

    summary = json.loads((tmp_path / "imb_summary.json").read_text())
    figures = summary["tasks"]["imb_mcqa"]["imb_mcqa"]
    shares = {name: float((rows["answer"] == "B").mean()) for name, rows in mcqa.groupby("category")}
    assert {n: c["acc"] for n, c in figures["categories"].items()} == pytest.approx(shares)
    assert figures["macro"]["acc"] == pytest.approx(sum(shares.values()) / len(shares))
    prov = summary["provenance"]
    assert prov["is_sample"] and prov["limit"] is None and prov["apply_chat_template"] is False
    assert prov["num_fewshot"] == 0 and len(prov["task_set_hash"]) == 16
    assert prov["data"]["mcqa"]["data_revision"].startswith("content-")
    assert sorted(tmp_path.glob("*/samples_imb_mcqa_cloze_*.jsonl"))

    from imb_tools.data.splits import id_hash

    reference = bert_score.BERTScorer(model_type=str(minilm_path), num_layers=6)
    refs = []
    for name, rows in qa.groupby("macro"):
        refs += [a for _, a in sorted(zip(map(id_hash, rows["id"]), rows["answer"]))][:2]
    _, _, F = reference.score([CONST_TEXT] * len(refs), refs)
    assert results["imb_qa"]["bertscore_f1,none"] == pytest.approx(F.mean().item(), abs=1e-5)
    assert results["imb_qa"]["bleu,none"] == pytest.approx(text.bleu([CONST_TEXT] * len(refs), refs)["bleu"])
    assert summary["tasks"]["imb_qa"]["imb_qa"]["items_scored"] == len(refs)
    assert bertscore.LOADS - loads_before <= 1

    # a rerun with the same settings redoes nothing
    assert main(["eval", "--model", "imb-test-const-letter", "--model-args", "letter=B",
                 "--tasks", "imb_mcqa,imb_mcqa_mp,imb_mcqa_cloze,imb_qa", "--data", str(demo_dir),
                 "--out", str(tmp_path), "--bertscore-model", str(minilm_path),
                 "--bertscore-layers", "6", "--qa-max-items", "2"]) == 0
    assert capsys.readouterr().out.count("already done") == 4


def test_eval_checks_bertscore_before_generating(demo_dir, tmp_path, capsys):
    from imb_tools.cli import main

    rc = main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_mcqa,imb_qa",
               "--data", str(demo_dir), "--out", str(tmp_path / "o"),
               "--bertscore-model", str(tmp_path / "no-such-model"), "--bertscore-layers", "6"])
    assert rc == 2
    assert "BERTScore" in capsys.readouterr().err
    assert not list((tmp_path / "o").rglob("results_*.json"))  # stopped before any task ran


def test_eval_passes_lm_eval_options_through(demo_dir, tmp_path, capsys):
    from imb_tools.cli import main

    rc = main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_mcqa",
               "--data", str(demo_dir), "--out", str(tmp_path), "--limit", "3",
               "--use_cache", str(tmp_path / "cache"), "--write_out"])
    assert rc == 0
    summary = json.loads((tmp_path / "imb_summary.json").read_text())
    assert summary["provenance"]["limit"] == 3 and "use_cache" in summary["provenance"]["lm_eval_options"]
    assert "--limit 3: not a full score" in capsys.readouterr().out
    assert main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_mcqa",
                 "--data", str(demo_dir), "--out", str(tmp_path), "--no_such_flag"]) == 2
    # lm-eval's spelling of an option imb eval also has is that option, not a second value
    again = tmp_path / "again"
    assert main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_mcqa", "--data", str(demo_dir),
                 "--out", str(again), "--limit", "2", "--gen_kwargs", "max_gen_toks=4", "--num_fewshot", "1"]) == 0
    provenance = json.loads((again / "imb_summary.json").read_text())["provenance"]
    assert provenance["gen_kwargs"] == {"max_gen_toks": 4} and provenance["num_fewshot"] == 1


def test_unknown_task_is_a_one_line_error(demo_dir, tmp_path):
    from imb_tools.cli import main

    assert main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_nope",
                 "--data-dir", str(demo_dir), "--output", str(tmp_path)]) == 2  # old spellings too


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
