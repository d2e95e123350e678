"""The lm-eval tasks on the bundled sample: the shipped YAMLs, per-build task sets, data lookup,
end-to-end runs (lm_eval itself and `imb eval`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lm_eval_tasks.imb_common import tasksets

from imb_tools.data.io import load_built
from imb_tools.evaluation import tasks as tasks_gen
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
    """The task set made for the built sample (what `imb tasks path --data` prints)."""
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


def _task_configs(folder: Path, names: list[str]) -> dict:
    """lm-eval's own reading of task YAMLs (includes merged, !function resolved): name -> dict."""
    from lm_eval.tasks._yaml_loader import load_yaml

    configs = {}
    for path in folder.rglob("*.yaml"):
        cfg = load_yaml(path, resolve_func=True)
        if cfg.get("task") in names:
            configs[cfg["task"]] = cfg
    assert set(configs) == set(names)
    return configs


def test_shipped_yamls_are_hand_written_and_complete():
    """The shipped folder: hand-written YAMLs (mmlu style, shared settings in each folder's
    template), the complete tasks only, data through dataset_path (the published constant,
    which the loader receives as published_dataset); imb_qa_rag is imb_qa's template with
    another loader and prompt."""
    shipped = tasks_gen.shipped_dir()
    yamls = {p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.suffix == ".yaml"
             or p.name == "_default_template_yaml"}
    assert yamls == {
        "imb_mcqa/_default_template_yaml", "imb_mcqa/imb_mcqa.yaml", "imb_mcqa/imb_mcqa_cloze.yaml",
        "imb_mcqa/_imb_mcqa_mp.yaml", "imb_mcqa/imb_mcqa_mp_p1.yaml", "imb_mcqa/imb_mcqa_mp_p2.yaml",
        "imb_mcqa/imb_mcqa_mp_p3.yaml", "imb_qa/_default_template_yaml", "imb_qa/imb_qa.yaml",
        "imb_qa_rag/_default_template_yaml", "imb_qa_rag/imb_qa_rag.yaml"}
    # Complete by construction: no shipped task names a category, so no data can fall outside it.
    assert not any("dataset_kwargs" in (shipped / y).read_text() for y in yamls)
    assert not any(text.startswith(tasksets.HEADER) for text in ((shipped / y).read_text() for y in yamls))
    cfg = _task_configs(shipped, ["imb_mcqa", "imb_mcqa_cloze", "imb_mcqa_mp_p2", "imb_qa", "imb_qa_rag"])
    assert cfg["imb_mcqa"]["dataset_path"] == "imb-placeholder-org/imb-mcqa"
    assert cfg["imb_qa"]["dataset_path"] == cfg["imb_qa_rag"]["dataset_path"] == "imb-placeholder-org/imb-qa"
    for name, c in cfg.items():
        assert c["metadata"]["published_dataset"] == c["dataset_path"], name
    for key in ("generation_kwargs", "metric_list", "process_results", "doc_to_target", "test_split",
                "fewshot_split"):
        assert str(cfg["imb_qa_rag"][key]) == str(cfg["imb_qa"][key]), key
    assert cfg["imb_qa_rag"]["custom_dataset"].__name__ == "load_qa_rag"
    assert cfg["imb_qa"]["generation_kwargs"]["max_gen_toks"] == 384
    assert cfg["imb_mcqa_mp_p2"]["doc_to_text"].__name__ == "doc_to_text_p2"
    # one lookup of imb_common (imb_common/load.py), which every utils.py and the stub script run
    for path in [*shipped.glob("*/utils.py"), shipped / "make_category_tasks.py"]:
        text = path.read_text(encoding="utf-8")
        assert '"imb_common" / "load.py"))["load"]' in text and "spec_from_file_location" not in text, path


def test_prompts_are_today_s_wording():
    """The exact prompts (the paper's IMB-QA instruction, the three MCQA wordings, cloze)."""
    from lm_eval_tasks.imb_common import mcqa, qa

    doc = {"question": " Quale farmaco? ", "options": ["uno", "due", "tre", "quattro"]}
    assert mcqa.doc_to_text(doc) == "Domanda: Quale farmaco?\nA. uno\nB. due\nC. tre\nD. quattro\nRisposta:"
    assert mcqa.doc_to_text_p2(doc) == (
        "Rispondi alla seguente domanda di medicina indicando la lettera dell'opzione corretta.\n"
        "Domanda: Quale farmaco?\nOpzioni:\nA) uno\nB) due\nC) tre\nD) quattro\nRisposta:")
    assert mcqa.doc_to_text_p3(doc).endswith("D: quattro\nLa lettera della risposta corretta è:")
    assert mcqa.doc_to_text_cloze(doc) == "Domanda: Quale farmaco?\nRisposta:"
    assert mcqa.doc_to_choice(doc) == ["A", "B", "C", "D"]
    assert qa.format_prompt(" Ho mal di testa. ", "[1] passaggio") == (
        "Sei un medico esperto. Rispondi in italiano alla domanda del paziente in modo chiaro, "
        "accurato e conciso.\n\nContesto:\n[1] passaggio\n\nDomanda: Ho mal di testa.\nRisposta:")
    from imb_tools.evaluation.prompts import format_prompt

    assert format_prompt is qa.format_prompt  # the toolkit asks models the task's prompt, not a twin


def test_hash_order_and_text_key_are_the_toolkit_s(tmp_path):
    """The task folder orders items (capped IMB-QA sample, few-shot) and folds text as the build
    does; a change on either side shows here."""
    from lm_eval_tasks.imb_common import data as task_data

    from imb_tools.data.categories import fold_text, slugify
    from imb_tools.data.sampling import hash_order

    ids = [f"{i}" for i in range(200)] + ["cardiologia-17", "è-strano", "x" * 40]
    assert task_data.hash_order(ids) == hash_order(ids)
    for text in ("Chirurgia dell'apparato digerente", "  Perché è COSÌ?  ", "Otorinolaringoiatria"):
        assert task_data.fold_text(text) == fold_text(text)
        assert tasksets.task_slug(text) == slugify(text)
    from imb_tools.data.categories import MACRO_NAMES, MACRO_SLUGS

    assert tasksets.MACRO_TASK_NAMES == {m: MACRO_SLUGS[m] for m in MACRO_NAMES}


def test_tasks_path_makes_a_set_for_the_build_and_reuses_it(demo_dir, task_dir):
    assert tasks_gen.tasks_path(demo_dir) == task_dir  # cached, not rebuilt
    shipped = tasks_gen.shipped_dir()
    mcqa_test = load_built(demo_dir / "mcqa", split="test").to_pandas()
    group, prefix = tasksets.MCQA_BY_CATEGORY
    cats = sorted(mcqa_test["category"].unique())
    mcqa_tasks = sorted(p.stem for p in (task_dir / "imb_mcqa").glob(f"{prefix}_*.yaml"))
    assert mcqa_tasks == sorted(f"{prefix}_{tasksets.task_slug(c)}" for c in cats)
    assert json.loads((task_dir / "imb_mcqa" / "categories.json").read_text())["categories"] == cats
    assert not list(task_dir.rglob("*.py"))  # stubs only: the code is the shipped folder's
    import yaml

    stub = yaml.safe_load((task_dir / "imb_mcqa" / f"{mcqa_tasks[0]}.yaml").read_text())
    assert stub["include"] == str((shipped / "imb_mcqa" / "_default_template_yaml").resolve())
    assert stub["dataset_kwargs"]["generated_data_dir"] == str((demo_dir / "mcqa").resolve())
    assert yaml.safe_load((task_dir / "imb_mcqa" / "imb_mcqa.yaml").read_text())["include"] == \
        str((shipped / "imb_mcqa" / "imb_mcqa.yaml").resolve())
    qa_test = load_built(demo_dir / "qa", split="test")
    macros = set(qa_test.features["macro_category"].int2str(qa_test["macro_category"]))
    for qa_group in tasksets.QA_FOLDERS:
        by_macro, qa_prefix = tasksets.by_macro(qa_group)
        subtasks = sorted(p.stem for p in (task_dir / qa_group).glob(f"{qa_prefix}_*.yaml"))
        assert subtasks == sorted(f"{qa_prefix}_{tasksets.MACRO_TASK_NAMES[m]}" for m in macros)
        # corpus BLEU is not a mean of per-macro BLEUs: the by-macro group does not pretend so
        group_cfg = yaml.safe_load((task_dir / qa_group / f"_{by_macro}.yaml").read_text())
        assert "bleu" not in {m["metric"] for m in group_cfg["aggregate_metric_list"]}
    out = subprocess.run([sys.executable, "-m", "imb_tools.cli", "tasks", "path"], capture_output=True, text=True,
                         env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0 and Path(out.stdout.strip()) == shipped
    old = subprocess.run([sys.executable, "-m", "imb_tools.cli", "tasks-path", "--data", str(demo_dir)],
                         capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert old.returncode == 0 and Path(old.stdout.strip()) == task_dir  # the old spelling, with a warning
    assert "deprecated" in old.stderr and "imb tasks path" in old.stderr
    bad = subprocess.run([sys.executable, "-m", "imb_tools.cli", "tasks", "path", "--data", str(demo_dir / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_a_build_with_an_empty_split_is_a_build(demo_dir, tmp_path, capsys):
    """The marker makes a build (issue 19): an IMB-MCQA build whose dev split is empty (no shard)
    gets a task set and is evaluated; asking it for few-shot examples is one line."""
    import shutil

    from imb_tools.cli import main

    build = tmp_path / "mcqa"
    shutil.copytree(demo_dir / "mcqa", build)
    (build / "data" / "dev-00000-of-00001.parquet").unlink()
    marker = json.loads((build / ".imb-build.json").read_text())
    marker["splits"]["dev"] = 0
    (build / ".imb-build.json").write_text(json.dumps(marker))
    folder = tasks_gen.tasks_path(build)
    assert (folder / "imb_mcqa" / "_imb_mcqa_by_category.yaml").is_file()
    out = tmp_path / "eval"
    assert main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_mcqa", "--data", str(build),
                 "--out", str(out), "--limit", "4"]) == 0
    assert _latest_results(out)["n-samples"]["imb_mcqa"]["effective"] == 4
    capsys.readouterr()
    assert main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_mcqa", "--data", str(build),
                 "--out", str(tmp_path / "eval2"), "--num-fewshot", "2"]) == 2
    err = capsys.readouterr().err
    assert "--num-fewshot 2: the IMB-MCQA data has 0 dev item(s)" in err and len(err.strip().splitlines()) == 1


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
    group, _ = tasksets.MCQA_BY_CATEGORY
    cmd = [sys.executable, "-m", "lm_eval", "--include_path", str(task_dir), "--tasks", group,
           "--model", "dummy", "--metadata", json.dumps({"data_dir": str(data)}),
           "--output_path", str(tmp_path / "x")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert proc.returncode != 0
    assert "does not match" in proc.stderr and "Specialita nuova 0" in proc.stderr
    assert "Cardiologia" in proc.stderr


def test_data_lookup_order_and_errors(demo_dir, tmp_path, monkeypatch):
    from lm_eval_tasks.imb_common import data as task_data

    from imb_tools.evaluation.task_data import load_for_tasks, resolve_source

    monkeypatch.delenv("IMB_DATA_DIR", raising=False)
    monkeypatch.delenv("IMB_MCQA_REPO", raising=False)
    assert resolve_source("mcqa", {"data_dir": str(demo_dir)}) == str(demo_dir / "mcqa")
    assert resolve_source("qa", {"data_dir": str(demo_dir / "qa")}) == str(demo_dir / "qa")
    assert resolve_source("qa", {"data_dir": str(demo_dir / "mcqa"), "qa_data_dir": str(demo_dir)}) \
        == str(demo_dir / "qa")  # the kind's own key first
    monkeypatch.setenv("IMB_DATA_DIR", str(demo_dir))
    assert resolve_source("qa", {"generated_data_dir": "/elsewhere"}) == str(demo_dir / "qa")
    with pytest.raises(ImbError, match=r"not a built IMB-MCQA folder \(it holds IMB-QA\)"):
        resolve_source("mcqa", {"data_dir": str(demo_dir / "qa")})
    monkeypatch.delenv("IMB_DATA_DIR")
    assert resolve_source("mcqa", {"mcqa_repo": "someone/imb-mcqa"}) == "someone/imb-mcqa"
    # The task folder alone: the published dataset last; nothing named at all is one line.
    assert task_data.resolve_source("mcqa", {"published_dataset": "org/x"}) == "org/x"
    assert task_data.resolve_source("mcqa", {}) is None
    with pytest.raises(ValueError, match="no IMB-MCQA data named") as err:
        task_data.load("mcqa", {})
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="a placeholder until the built dataset is published") as err:
        task_data.load("mcqa", {"published_dataset": "imb-placeholder-org/imb-mcqa"})
    assert "\n" not in str(err.value) and "data_dir" in str(err.value)
    with pytest.raises(ImbError, match="not a built IMB-MCQA folder") as err:
        load_for_tasks("mcqa", {"mcqa_repo": str(tmp_path)})
    assert "\n" not in str(err.value)
    import shutil

    cut = tmp_path / "cut"
    shutil.copytree(demo_dir / "mcqa", cut)
    (cut / "data" / "test-00000-of-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(ImbError, match="cannot read the build's Parquet shards") as err:
        load_for_tasks("mcqa", {"data_dir": str(cut)})
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
    assert "--bertscore-model" in capsys.readouterr().err  # a missing local path: refused at the door
    assert not list((tmp_path / "o").rglob("results_*.json"))  # stopped before any task ran


def test_eval_passes_lm_eval_options_through(demo_dir, tmp_path, capsys):
    from imb_tools.cli import main

    first = tmp_path / "first"  # each run in its own folder: no run inside another's
    rc = main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_mcqa",
               "--data", str(demo_dir), "--out", str(first), "--limit", "3",
               "--use_cache", str(tmp_path / "cache"), "--write_out"])
    assert rc == 0
    summary = json.loads((first / "imb_summary.json").read_text())
    assert summary["provenance"]["limit"] == 3 and "use_cache" in summary["provenance"]["lm_eval_options"]
    assert "--limit 3: not a full score" in capsys.readouterr().out
    assert main(["eval", "--model", "imb-test-const-letter", "--tasks", "imb_mcqa",
                 "--data", str(demo_dir), "--out", str(first), "--no_such_flag"]) == 2
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
    with caplog.at_level("WARNING", logger="lm_eval_tasks.imb_common.mcqa"):
        warn_if_letters_split({"pretrained": str(no_merges)})
    assert "splits the option letter(s) A, B, C, D, E" in caplog.text


def test_task_set_hash_follows_what_the_tasks_ask_not_where_they_lie(demo_dir, tmp_path, monkeypatch):
    """The same build copied elsewhere, its task set made in another cache (as after a reinstall,
    whose new file times name another cache folder): the same hash, so the leaderboard keeps one
    model run; a set for a build with other categories gets another."""
    import shutil

    hashes = []
    for name in ("one", "two"):
        data = tmp_path / name / "demo"
        shutil.copytree(demo_dir / "mcqa", data / "mcqa")
        shutil.copytree(demo_dir / "qa", data / "qa")
        monkeypatch.setenv("IMB_CACHE_DIR", str(tmp_path / name / "cache"))
        folder = tasks_gen.tasks_path(data)
        assert str((tmp_path / name).resolve()) in (folder / "imb_mcqa" / "imb_mcqa.yaml").read_text()  # paths differ
        hashes.append(tasks_gen.task_set_hash(folder))
    assert hashes[0] == hashes[1]
    assert tasks_gen.task_set_hash(tasks_gen.shipped_dir()) not in hashes
    fewer = tmp_path / "fewer"
    shutil.copytree(demo_dir / "mcqa", fewer / "mcqa")  # IMB-MCQA only: another set of tasks
    monkeypatch.setenv("IMB_CACHE_DIR", str(tmp_path / "fewer-cache"))
    assert tasks_gen.task_set_hash(tasks_gen.tasks_path(fewer)) not in hashes
