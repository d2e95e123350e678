"""Leaderboard: tables from real lm-eval results files, idempotent merge, dry-run push, plots.

The results files are real lm-eval output: `imb eval` (lm-eval's Python API, the same files
as `lm_eval --output_path`) run once per session with the tiny Llama on the IMB tasks over
the datasets built from the bundled sample (1 item per subtask, BERTScore with MiniLM).
"""

from __future__ import annotations

import ast
import json
import shutil
import struct
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")

from imb_tools.errors import ImbError  # noqa: E402
from imb_tools.leaderboard import collect, plots, push  # noqa: E402

def make_results(base: Path, tiny_llama: Path, data_dir: Path, minilm: Path) -> Path:
    """Run `imb eval` (lm-eval's Python API, writing `results_<date>.json` under
    `<output>/<model>/` as `lm_eval --output_path` does) once on the IMB tasks over the
    datasets built from the bundled sample; later calls (any test module) reuse the folder."""
    out = base / "lm_eval_results"
    if list(out.rglob("results_*.json")):
        return out
    from imb_tools.cli import main

    code = main(["eval", "--model", "hf", "--model-args", f"pretrained={tiny_llama}",
                 "--tasks", "imb_mcqa,imb_qa", "--data-dir", str(data_dir), "--output", str(out),
                 "--device", "cpu", "--batch-size", "16", "--limit", "1",
                 "--bertscore-model", str(minilm), "--bertscore-layers", "6",
                 "--gen-kwargs", "max_gen_toks=4"])
    assert code == 0
    return out


@pytest.fixture(scope="session")
def lm_eval_results(tmp_path_factory, tiny_llama, built_mcqa, built_qa, minilm_path) -> Path:
    assert built_mcqa.parent == built_qa.parent  # `imb eval --data-dir` takes their parent
    return make_results(tmp_path_factory.getbasetemp(), tiny_llama, built_mcqa.parent,
                        minilm_path)


@pytest.fixture(scope="session")
def results_file(lm_eval_results) -> Path:
    (path,) = lm_eval_results.rglob("results_*.json")
    return path


@pytest.fixture(scope="session")
def table(lm_eval_results):
    return collect.collect([lm_eval_results])


def _test_categories(built: Path, column: str) -> set[str]:
    from imb_tools.data.io import load_built

    test = load_built(built, split="test")
    values = list(test[column])
    feature = test.features[column]
    return set(feature.int2str(values) if hasattr(feature, "int2str") else values)


def test_table_from_real_results(table, results_file, tiny_llama, built_mcqa, built_qa):
    raw = json.loads(results_file.read_text(encoding="utf-8"))
    import lm_eval

    # every task and every metric of the file is a row, nothing else
    expected = {(task, key.split(",")[0]) for task, entry in raw["results"].items()
                for key in entry if "," in key and "_stderr," not in key}
    assert set(zip(table["task"], table["metric"])) == expected
    assert len(table) == len(expected)
    assert set(table["model"]) == {str(tiny_llama)}
    assert set(table["lm_eval_version"]) == {lm_eval.__version__}
    assert set(table["parameters"]) == {raw["config"]["model_num_parameters"]}
    assert set(table["size"]) == {"<1B"} and set(table["parameters_source"]) == {"lm-eval"}
    assert set(table["n_shot"]) == {0} and set(table["limit"]) == {1}
    assert set(table["benchmark"]) == {"imb_mcqa", "imb_qa"}

    mcqa = table[table["benchmark"] == "imb_mcqa"]
    group = mcqa[(mcqa["level"] == "group") & (mcqa["metric"] == "acc")].iloc[0]
    assert group["task"] == "imb_mcqa" and pd.isna(group["category"])
    assert group["value"] == raw["results"]["imb_mcqa"]["acc,none"]
    stderr = raw["results"]["imb_mcqa"]["acc_stderr,none"]  # "N/A" with one item per task
    assert group["stderr"] == stderr if stderr != "N/A" else pd.isna(group["stderr"])
    assert group["task_version"] == str(raw["versions"]["imb_mcqa"])
    leaves = mcqa[mcqa["level"] == "task"]
    # categories by name (the tasks' alias), one subtask per category of the built test split
    assert set(leaves["category"]) == _test_categories(built_mcqa, "category")
    assert set(leaves["parent"]) == {"imb_mcqa"} and set(leaves["n_samples"]) <= {1, 2}
    assert group["n_samples"] == leaves[leaves["metric"] == "acc"]["n_samples"].sum()
    assert leaves["value"].between(0, 1).all()
    qa = table[table["benchmark"] == "imb_qa"]
    assert set(qa.loc[qa["level"] == "task", "category"]) == _test_categories(built_qa,
                                                                            "macro_category")
    assert {"bertscore_precision", "bertscore_f1", "rougeL"} <= set(qa["metric"])
    bert = qa[qa["metric"].str.startswith("bertscore")]
    assert set(bert["bertscore_model"]) == {raw["configs"]["imb_qa_neurology"]["metadata"][
        "bertscore_model"]}
    assert qa.loc[~qa["metric"].str.startswith("bertscore"), "bertscore_model"].isna().all()
    # one run key per task run, stable when read again
    assert table.groupby("task")["run_key"].nunique().eq(1).all()
    assert table["run_key"].nunique() == len(raw["results"])
    again = collect.collect([results_file])
    assert list(again["run_key"]) == list(table["run_key"])


def test_same_run_added_twice_appears_once(table, lm_eval_results, results_file, tmp_path):
    copy = tmp_path / "elsewhere" / "results_copy.json"
    copy.parent.mkdir()
    shutil.copy(results_file, copy)
    twice = collect.collect([lm_eval_results, results_file, copy])
    pd.testing.assert_frame_equal(twice, table)
    pd.testing.assert_frame_equal(collect.merge_tables(table, table, twice), table)

    # a different run (another date) is kept beside it
    other = json.loads(results_file.read_text(encoding="utf-8"))
    other["date"] += 3600
    rerun = tmp_path / "rerun" / "results_rerun.json"
    rerun.parent.mkdir()
    rerun.write_text(json.dumps(other), encoding="utf-8")
    both = collect.collect([lm_eval_results, rerun])
    assert len(both) == 2 * len(table)
    assert both["run_key"].nunique() == 2 * table["run_key"].nunique()


def test_build_command_writes_tables_and_is_idempotent(lm_eval_results, results_file, tmp_path):
    from imb_tools.cli import main

    out = tmp_path / "board"
    assert main(["leaderboard", "build", str(lm_eval_results), "--out", str(out)]) == 0
    first = collect.read_table(out)
    assert main(["leaderboard", "build", str(results_file), "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(collect.read_table(out), first)

    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(first) and list(csv.columns) == collect.COLUMNS
    summary = pd.read_parquet(out / "summary.parquet")
    assert len(summary) == 1
    # macro mean = plain mean over the category subtasks; group = lm-eval's weighted mean
    for benchmark, metric in (("imb_mcqa", "acc"), ("imb_qa", "bertscore_precision")):
        rows = first[(first["benchmark"] == benchmark) & (first["metric"] == metric)]
        leaves = rows[rows["category"].notna()]
        assert summary.loc[0, f"{benchmark}/{metric} (macro)"] == pytest.approx(
            leaves["value"].mean())
        group = rows[rows["task"] == benchmark]["value"].item()
        assert summary.loc[0, f"{benchmark}/{metric}"] == pytest.approx(group)
    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert "| model" in md and "Pediatria" in md and "imb_qa/bertscore_precision" in md
    for name in ("mcqa_accuracy", "qa_bertscore", "mcqa_categories_heatmap",
                 "qa_categories_heatmap"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_plots_written_and_non_empty(table, tmp_path):
    written, skipped = plots.plot_table(table, tmp_path)
    assert skipped == []
    assert sorted(p.name for p in written) == sorted(
        ["mcqa_accuracy.png", "qa_bertscore.png", "mcqa_categories_heatmap.png",
         "qa_categories_heatmap.png"])
    for path in written:
        width, height = _png_size(path)
        assert width > 300 and height > 100
    # a benchmark with no rows is skipped with its reason, not drawn empty
    written, skipped = plots.plot_table(table, tmp_path / "none", mcqa="imb_mcqa_mp",
                                        qa="imb_qa", qa_metric="no_such_metric")
    assert written == [] and len(skipped) == 4
    assert "imb_mcqa_mp" in skipped[0] and "no_such_metric" in skipped[1]


def test_category_distribution_plots(tmp_path):
    import datasets

    labels = datasets.ClassLabel(names=["Cardiology", "Mental health", "Urology"])
    qa = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"macro_category": [0, 0, 1, 2]},
                                            features=datasets.Features({"macro_category": labels})),
        "test": datasets.Dataset.from_dict({"macro_category": [2]},
                                           features=datasets.Features({"macro_category": labels})),
    })
    path = plots.category_distribution(qa, "macro_category", tmp_path / "qa.png", "IMB-QA")
    width, height = _png_size(path)
    assert width > 300 and height > 100
    with pytest.raises(ImbError, match="no 'category' values"):
        plots.category_distribution(datasets.DatasetDict({"dev": datasets.Dataset.from_dict(
            {"category": []}, features=datasets.Features({"category": datasets.Value("string")}))}),
            "category", tmp_path / "empty.png", "empty")


def test_category_distribution_from_built_datasets(built_qa, built_mcqa, tmp_path):
    written, skipped = plots.plot_datasets(tmp_path, qa_data=str(built_qa),
                                           mcqa_data=str(built_mcqa))
    assert skipped == []
    assert sorted(p.name for p in written) == ["mcqa_categories.png", "qa_macro_categories.png"]
    for path in written:
        assert _png_size(path)[1] > 100


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_dry_run_push_contents(lm_eval_results, tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import DatasetCard

    from imb_tools.cli import main

    secret = "hf_DoNotLeakThisTokenAnywhere123"
    monkeypatch.setenv("HF_TOKEN", secret)

    def no_network(*args, **kwargs):
        raise AssertionError("a dry run must not reach the Hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", no_network)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", no_network)

    folder = tmp_path / "dry"
    args = ["leaderboard", "push", str(lm_eval_results), "--repo-id", "my-org/imb-leaderboard",
            "--dry-run", str(folder), "--space-id", "my-org/imb-board"]
    assert main(args) == 0
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert {"README.md", "data/results.parquet", "data/summary.parquet", "leaderboard.md",
            "plots/mcqa_accuracy.png", "plots/qa_bertscore.png"} <= set(files)

    card = DatasetCard.load(folder / "README.md")
    configs = {c["config_name"]: c["data_files"][0]["path"] for c in card.data.configs}
    assert configs == {"default": "data/results.parquet", "summary": "data/summary.parquet"}
    assert "my-org/imb-leaderboard" in card.text and "imb_mcqa/acc" in card.text
    pushed = collect.read_table(folder / "data" / "results.parquet")
    pd.testing.assert_frame_equal(pushed, collect.collect([lm_eval_results]))
    assert secret.encode() not in _all_bytes(folder)

    # the folder stands for the repo: pushing the same results again adds nothing
    before = _all_bytes(folder / "data")
    assert main(args) == 0
    assert _all_bytes(folder / "data") == before

    import datasets

    # the Space: the self-contained page as app.py, reading the dataset repo
    from huggingface_hub import SpaceCard

    from imb_tools.leaderboard import space_app

    space = folder / "space"
    app = (space / "app.py").read_text(encoding="utf-8")
    assert app == Path(space_app.__file__).read_text(encoding="utf-8")
    imports = [n for n in ast.walk(ast.parse(app)) if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = {(n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
               for n in imports for a in (n.names if isinstance(n, ast.Import) else [n])}
    assert modules <= {"__future__", "os", "pathlib", "pandas", "gradio", "huggingface_hub"}
    assert "gradio" in (space / "requirements.txt").read_text(encoding="utf-8")
    space_card = SpaceCard.load(space / "README.md")
    assert space_card.data.sdk == "gradio" and space_card.data.app_file == "app.py"
    assert "my-org/imb-leaderboard" in space_card.text
    assert secret.encode() not in _all_bytes(space)

    loaded = datasets.load_dataset(str(folder), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == len(pushed)


class _FakeHub:
    """Records what push() would send, holding the repo's files in a folder."""

    def __init__(self, repo: Path):
        self.repo, self.commits = repo, []

    def download(self, repo_id, filename, repo_type=None, **kwargs):
        from huggingface_hub.errors import EntryNotFoundError

        path = self.repo / filename
        if not path.is_file():
            raise EntryNotFoundError(f"{filename} not found")
        return str(path)

    def upload_folder(self, api, repo_id, repo_type, folder_path, commit_message, **kwargs):
        shutil.copytree(folder_path, self.repo, dirs_exist_ok=True)
        self.commits.append(commit_message)
        return f"https://huggingface.co/datasets/{repo_id}/commit/{len(self.commits)}"


def test_push_merges_into_hub_table_and_skips_empty_commits(table, results_file, tmp_path,
                                                           monkeypatch, capsys):
    import huggingface_hub

    hub = _FakeHub(tmp_path / "repo")
    monkeypatch.setenv("HF_TOKEN", "hf_fake_for_test")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.download)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder",
                        lambda api, **kw: hub.upload_folder(api, **kw))
    monkeypatch.setattr(plots, "plot_table", lambda *a, **k: ([], []))  # tested elsewhere

    half = table[table["benchmark"] == "imb_mcqa"]
    first = push.push(half, "org/board")
    assert first["rows_added"] == len(half) and len(hub.commits) == 1
    second = push.push(table, "org/board")
    assert second["rows_before"] == len(half) and second["rows_after"] == len(table)
    pd.testing.assert_frame_equal(collect.read_table(hub.repo / "data" / "results.parquet"), table)
    third = push.push(table, "org/board")
    assert third["rows_added"] == 0 and len(hub.commits) == 2  # nothing new: no commit
    assert "hf_fake_for_test" not in capsys.readouterr().out


def test_push_without_token_is_one_line_error(table, monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(ImbError, match="no Hugging Face token"):
        push.push(table, "org/board")
    with pytest.raises(ImbError, match="ORG/NAME"):
        push.push(table, "not-a-repo-id", dry_run=tmp_path / "x")


@pytest.mark.parametrize("content, message", [
    ("not json {", "cannot read as JSON"),
    ('["a list"]', "top level is not an object"),
    ('{"results": {}}', "no 'config' object"),
])
def test_bad_results_file_is_one_line_error(tmp_path, capsys, content, message):
    from imb_tools.cli import main

    bad = tmp_path / "results_bad.json"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(ImbError, match=message):
        collect.read_results_file(bad)
    assert main(["leaderboard", "build", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and message in err
    assert main(["leaderboard", "build", str(tmp_path / "empty"), "--out", str(tmp_path)]) == 2


def test_page_filters(table):
    from imb_tools.leaderboard import space_app

    shown = table.assign(category=table["category"].fillna(space_app.OVERALL))
    rows = space_app.filter_rows(shown, categories=["Pediatria"])
    assert len(rows) == 2 and set(rows["task"]) == {"imb_mcqa_pediatria"}
    rows = space_app.filter_rows(shown, tasks=["imb_qa"], metrics=["bertscore_f1"])
    assert space_app.OVERALL in set(rows["category"]) and len(rows) == len(
        table[(table["benchmark"] == "imb_qa") & (table["metric"] == "bertscore_f1")])
    assert len(space_app.filter_rows(shown)) == len(table)
    assert len(space_app.filter_rows(shown, sizes=[">=40B"])) == 0
