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

from imb_tools.infra.errors import ImbError  # noqa: E402
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
                 "--tasks", "imb_mcqa,imb_qa", "--data", str(data_dir), "--out", str(out),
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
    """The imb_mcqa run's results file (imb eval writes one per task)."""
    for path in sorted(lm_eval_results.rglob("results_*.json")):
        if "imb_mcqa" in json.loads(path.read_text(encoding="utf-8"))["results"]:
            return path
    raise AssertionError("no imb_mcqa results file")


@pytest.fixture(scope="session")
def table(lm_eval_results):
    return collect.collect([lm_eval_results])


def _test_categories(built: Path, column: str) -> set[str]:
    from imb_tools.data.io import load_built

    test = load_built(built, split="test")
    values = list(test[column])
    feature = test.features[column]
    return set(feature.int2str(values) if hasattr(feature, "int2str") else values)


def test_table_from_real_results(table, lm_eval_results, tiny_llama, built_mcqa, built_qa):
    import lm_eval

    files = sorted(lm_eval_results.rglob("results_*.json"))
    raws = [json.loads(p.read_text(encoding="utf-8")) for p in files]
    assert len(files) == 2  # imb eval writes each task's results as soon as it is done
    # every task and metric of the files is a row, plus one row per category and metric
    expected = {(task, key.split(",")[0]) for raw in raws for task, entry in raw["results"].items()
                for key in entry if "," in key and "_stderr," not in key}
    top = table[table["level"] != "category"]
    assert set(zip(top["task"], top["metric"])) == expected and len(top) == len(expected)
    assert set(table["model"]) == {str(tiny_llama)}
    assert set(table["lm_eval_version"]) == {lm_eval.__version__}
    assert set(table["size"]) == {"<1B"} and set(table["parameters_source"]) == {"lm-eval"}
    assert set(table["n_shot"]) == {0} and set(table["limit"]) == {1}
    assert set(table["benchmark"]) == {"imb_mcqa", "imb_qa"}
    # provenance on every row
    assert table["is_sample"].all() and table["chat_template"].eq(False).all()
    assert table["task_set_hash"].str.len().eq(16).all() and table["data_revision"].notna().all()
    assert table["setting"].notna().all()

    mcqa = table[table["benchmark"] == "imb_mcqa"]
    raw = next(r for r in raws if "imb_mcqa" in r["results"])
    overall = mcqa[(mcqa["level"] == "task") & (mcqa["metric"] == "acc")].iloc[0]
    assert overall["task"] == "imb_mcqa" and pd.isna(overall["category"])
    assert overall["value"] == raw["results"]["imb_mcqa"]["acc,none"]
    assert overall["items_in_split"] == len(_load_test(built_mcqa))
    cats = mcqa[mcqa["level"] == "category"]
    # per-category rows from the summary imb eval wrote beside the results: by name
    assert set(cats["category"]) <= _test_categories(built_mcqa, "category")
    assert set(cats["parent"]) == {"imb_mcqa"} and cats["value"].between(0, 1).all()
    assert cats[cats["metric"] == "acc"]["n_samples"].sum() == overall["n_samples"]
    qa = table[table["benchmark"] == "imb_qa"]
    assert set(qa.loc[qa["level"] == "category", "category"]) <= _test_categories(built_qa,
                                                                                  "macro_category")
    assert {"bertscore_precision", "bertscore_f1", "rougeL", "bleu"} <= set(
        qa.loc[qa["level"] == "category", "metric"])
    bert = qa[qa["metric"].str.startswith("bertscore")]
    assert bert["bertscore_model"].nunique() == 1 and bert["bertscore_model"].notna().all()
    assert qa.loc[~qa["metric"].str.startswith("bertscore"), "bertscore_model"].isna().all()
    # one run key per task run, stable when read again
    assert table.groupby("task")["run_key"].nunique().eq(1).all()
    again = collect.collect([lm_eval_results])
    pd.testing.assert_frame_equal(again, table)


def _load_test(built: Path):
    from imb_tools.data.io import load_built

    return load_built(built, split="test")


def test_same_run_added_twice_appears_once(table, lm_eval_results, results_file, tmp_path):
    copy = tmp_path / "elsewhere" / results_file.name
    copy.parent.mkdir()
    shutil.copy(results_file, copy)
    summary_file = results_file.with_name(results_file.name.replace("results_", "imb_summary_"))
    shutil.copy(summary_file, copy.parent / summary_file.name)
    twice = collect.collect([lm_eval_results, results_file, copy])
    pd.testing.assert_frame_equal(twice, table)
    pd.testing.assert_frame_equal(collect.merge_tables(table, table, twice), table)

    # a different run (another date) is kept beside it
    other = json.loads(results_file.read_text(encoding="utf-8"))
    other["date"] += 3600
    rerun = tmp_path / "rerun" / "results_rerun.json"
    rerun.parent.mkdir()
    rerun.write_text(json.dumps(other), encoding="utf-8")
    shutil.copy(summary_file, rerun.with_name("imb_summary_rerun.json"))
    mcqa = table[table["benchmark"] == "imb_mcqa"]
    both = collect.collect([lm_eval_results, rerun])
    assert len(both) == len(table) + len(mcqa)
    assert both["run_key"].nunique() == table["run_key"].nunique() + 1


def test_build_command_writes_tables_and_is_idempotent(lm_eval_results, results_file, tmp_path):
    from imb_tools.cli import main

    out = tmp_path / "board"
    # the sample, --limit runs: kept in results.parquet, out of the default summary and plots
    assert main(["leaderboard", "build", str(lm_eval_results), "--out", str(out)]) == 0
    first = collect.read_table(out)
    assert len(first) and len(pd.read_parquet(out / "summary.parquet")) == 0
    assert "not shown" in (out / "leaderboard.md").read_text(encoding="utf-8")
    assert main(["leaderboard", "build", str(results_file), "--out", str(out), "--all"]) == 0
    pd.testing.assert_frame_equal(collect.read_table(out), first)

    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(first) and list(csv.columns) == collect.COLUMNS
    summary = pd.read_parquet(out / "summary.parquet")
    assert len(summary) == 1
    # macro mean = plain mean over the categories; the task's score = all items at once
    for benchmark, metric in (("imb_mcqa", "acc"), ("imb_qa", "bertscore_precision")):
        rows = first[(first["benchmark"] == benchmark) & (first["metric"] == metric)]
        leaves = rows[rows["category"].notna()]
        assert summary.loc[0, f"{benchmark}/{metric} (macro)"] == pytest.approx(
            leaves["value"].mean())
        overall = rows[(rows["task"] == benchmark) & rows["category"].isna()]["value"].item()
        assert summary.loc[0, f"{benchmark}/{metric}"] == pytest.approx(overall)
    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert "| model" in md and "imb_qa/bertscore_precision" in md and "LIMIT 1" in md
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
    assert main(args + ["--allow-sample"]) == 0
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert {"README.md", "data/results.parquet", "data/summary.parquet", "leaderboard.md",
            "plots/mcqa_accuracy.png", "plots/qa_bertscore.png"} <= set(files)

    card = DatasetCard.load(folder / "README.md")
    configs = {c["config_name"]: c["data_files"][0]["path"] for c in card.data.configs}
    assert configs == {"default": "data/results.parquet", "summary": "data/summary.parquet"}
    assert "my-org/imb-leaderboard" in card.text and "imb_mcqa/acc" in card.text
    pushed = collect.read_table(folder / "data" / "results.parquet")
    pd.testing.assert_frame_equal(pushed, push.path_free(collect.collect([lm_eval_results])))
    assert secret.encode() not in _all_bytes(folder)

    # the folder stands for the repo: pushing the same results again adds nothing
    before = _all_bytes(folder / "data")
    assert main(args + ["--allow-sample"]) == 0
    assert _all_bytes(folder / "data") == before
    # a dry run makes the push's checks: sample results refused without --allow-sample
    assert main(args) == 2
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
    assert modules <= {"__future__", "os", "pathlib", "html", "math", "re", "pandas", "gradio",
                       "huggingface_hub"}
    assert "gradio" in (space / "requirements.txt").read_text(encoding="utf-8")
    space_card = SpaceCard.load(space / "README.md")
    assert space_card.data.sdk == "gradio" and space_card.data.app_file == "app.py"
    assert "my-org/imb-leaderboard" in space_card.text
    assert secret.encode() not in _all_bytes(space)

    loaded = datasets.load_dataset(str(folder), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == len(pushed)


class _FakeHub:
    """The Hub as push() sees it: a repo folder with a head commit; an upload whose
    parent_commit is not the head is refused (HTTP 412), as the Hub does."""

    def __init__(self, repo: Path, delay: float = 0.0):
        import threading

        self.repo, self.commits, self.delay = repo, [], delay
        self.lock = threading.Lock()
        self.head = "0" * 40
        self.snapshots: dict[str, Path] = {}
        self.conflicts = 0

    def download(self, repo_id, filename, repo_type=None, revision=None, **kwargs):
        import time

        from huggingface_hub.errors import EntryNotFoundError

        time.sleep(self.delay)  # widen the read-merge-write window
        root = self.snapshots.get(revision or self.head, self.repo)
        path = root / filename
        if not path.is_file():
            raise EntryNotFoundError(f"{filename} not found")
        return str(path)

    def repo_info(self, api, repo_id, repo_type=None, **kwargs):
        from types import SimpleNamespace

        return SimpleNamespace(sha=self.head)

    def upload_folder(self, api, repo_id, repo_type, folder_path, commit_message,
                      parent_commit=None, **kwargs):
        import hashlib

        import httpx
        from huggingface_hub.errors import HfHubHTTPError

        with self.lock:
            if parent_commit is not None and parent_commit != self.head:
                self.conflicts += 1
                response = httpx.Response(412, request=httpx.Request("POST", "https://hub/x"))
                raise HfHubHTTPError("412 Precondition Failed: parent commit is not the head",
                                     response=response)
            shutil.copytree(folder_path, self.repo, dirs_exist_ok=True)
            self.commits.append(commit_message)
            self.head = hashlib.sha1(f"{len(self.commits)}".encode()).hexdigest()
            snapshot = self.repo.parent / f"snap-{self.head}"
            shutil.copytree(self.repo, snapshot)
            self.snapshots[self.head] = snapshot
        return f"https://huggingface.co/datasets/{repo_id}/commit/{len(self.commits)}"

    def install(self, monkeypatch):
        import huggingface_hub

        monkeypatch.setenv("HF_TOKEN", "hf_fake_for_test")
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", self.download)
        monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda *a, **k: None)
        monkeypatch.setattr(huggingface_hub.HfApi, "repo_info",
                            lambda api, *a, **kw: self.repo_info(api, *a, **kw))
        monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder",
                            lambda api, **kw: self.upload_folder(api, **kw))
        monkeypatch.setattr(plots, "plot_table", lambda *a, **k: ([], []))  # tested elsewhere


def test_push_merges_into_hub_table_and_skips_empty_commits(table, results_file, tmp_path,
                                                           monkeypatch, capsys):
    hub = _FakeHub(tmp_path / "repo")
    hub.install(monkeypatch)

    half = table[table["benchmark"] == "imb_mcqa"]
    with pytest.raises(ImbError, match="bundled sample.*--allow-sample"):
        push.push(half, "org/board")
    assert hub.commits == []
    first = push.push(half, "org/board", allow_sample=True)
    assert first["rows_added"] == len(half) and len(hub.commits) == 1
    second = push.push(table, "org/board", allow_sample=True)
    assert second["rows_before"] == len(half) and second["rows_after"] == len(table)
    pd.testing.assert_frame_equal(collect.read_table(hub.repo / "data" / "results.parquet"), push.path_free(table))
    third = push.push(table, "org/board", allow_sample=True)
    assert third["rows_added"] == 0 and len(hub.commits) == 2  # nothing new: no commit
    assert "hf_fake_for_test" not in capsys.readouterr().out


def test_two_concurrent_pushes_keep_every_row(table, tmp_path, monkeypatch):
    """Both read the same head; the second upload is refused (parent_commit) and redone."""
    from concurrent.futures import ThreadPoolExecutor

    hub = _FakeHub(tmp_path / "repo", delay=0.3)
    hub.install(monkeypatch)
    mcqa = table[table["benchmark"] == "imb_mcqa"]
    qa = table[table["benchmark"] == "imb_qa"]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda t: push.push(t, "org/board", allow_sample=True), [mcqa, qa]))
    assert hub.conflicts >= 1 and max(r["attempts"] for r in results) >= 2
    final = collect.read_table(hub.repo / "data" / "results.parquet")
    assert len(final) == len(table)
    pd.testing.assert_frame_equal(final, push.path_free(collect.merge_tables(table)))


def test_push_without_token_is_one_line_error(table, monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(ImbError, match="no Hugging Face token"):
        push.push(table, "org/board", allow_sample=True)
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
    some = table.loc[(table["benchmark"] == "imb_mcqa") & table["category"].notna(), "category"].iloc[0]
    rows = space_app.filter_rows(shown, categories=[some])
    assert len(rows) == 2 and set(rows["metric"]) == {"acc", "acc_norm"}
    rows = space_app.filter_rows(shown, tasks=["imb_qa"], metrics=["bertscore_f1"])
    assert space_app.OVERALL in set(rows["category"]) and len(rows) == len(
        table[(table["benchmark"] == "imb_qa") & (table["metric"] == "bertscore_f1")])
    assert len(space_app.filter_rows(shown)) == len(table)
    assert len(space_app.filter_rows(shown, sizes=[">=40B"])) == 0


def _variant(results_file: Path, folder: Path, **changes) -> Path:
    """A copy of the imb_mcqa results (and its imb_summary) with fields changed."""
    raw = json.loads(results_file.read_text(encoding="utf-8"))
    summary_file = results_file.with_name(results_file.name.replace("results_", "imb_summary_"))
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if key == "chat":
            raw["chat_template"] = "{{ messages }}" if value else None
            summary["provenance"]["apply_chat_template"] = value
        elif key == "acc":
            raw["results"]["imb_mcqa"]["acc,none"] = value
            for cat in summary["tasks"]["imb_mcqa"]["imb_mcqa"]["categories"].values():
                cat["acc"] = value
        elif key in ("gen_kwargs", "scoring", "system_instruction"):
            summary["provenance"][key] = value
            if isinstance(raw.get("imb_provenance"), dict):
                raw["imb_provenance"][key] = value
        elif key == "pretrained":
            raw["config"]["model_args"] = f"pretrained={value}"
            raw["model_name"] = value
        else:
            raw[key] = value
    raw["date"] = raw["date"] + len(list(folder.parent.glob("*"))) + 1
    folder.mkdir(parents=True)
    (folder / results_file.name).write_text(json.dumps(raw), encoding="utf-8")
    (folder / summary_file.name).write_text(json.dumps(summary), encoding="utf-8")
    return folder / results_file.name


def test_runs_with_different_settings_are_never_averaged(results_file, tmp_path):
    plain = _variant(results_file, tmp_path / "a" / "plain", chat=False, acc=0.25)
    chat = _variant(results_file, tmp_path / "a" / "chat", chat=True, acc=0.125)
    table = collect.collect([plain, chat])
    cats = table[(table["level"] == "category") & (table["metric"] == "acc")]
    assert set(cats["value"]) == {0.25, 0.125} and cats["setting"].nunique() == 2
    wide = collect.summary(table)
    assert sorted(wide["imb_mcqa/acc"]) == [0.125, 0.25]
    assert sorted(wide["imb_mcqa/acc (macro)"]) == [0.125, 0.25]  # never 0.1875
    md = collect.markdown(table)
    assert "0.1875" not in md and "chat" in md
    out = tmp_path / "heat.png"
    plots.category_heatmap(table, "imb_mcqa", "acc", out)
    assert out.stat().st_size > 1000


def test_generation_and_scoring_settings_are_part_of_the_setting(results_file, tmp_path):
    """Found by a hostile trial: runs with other max_gen_toks or BERTScore layers shared one setting."""
    base = _variant(results_file, tmp_path / "g" / "base", acc=0.25)
    longer = _variant(results_file, tmp_path / "g" / "longer", acc=0.5, gen_kwargs={"max_gen_toks": 32})
    layer = _variant(results_file, tmp_path / "g" / "layer", acc=0.75, scoring={"bertscore_layers": 3})
    table = collect.collect([base, longer, layer])
    acc = table[(table["task"] == "imb_mcqa") & (table["metric"] == "acc") & (table["level"] != "category")]
    assert acc.groupby("setting")["value"].nunique().max() == 1 and acc["setting"].nunique() == 3


def test_models_named_by_full_id_and_escaped(results_file, tmp_path):
    weird = "/models/a|b/<script>x</script>/model"
    path = _variant(results_file, tmp_path / "w" / "x", pretrained=weird)
    table = collect.collect([path])
    assert set(table["model"]) == {weird}  # the full path, never its last part "model"
    md = collect.markdown(table)
    assert "<script>" not in md and "a\\|b" in md and "&lt;script&gt;" in md
    for line in md.splitlines():
        if line.startswith("| /models"):
            assert line.count(" | ") + 2 == md.splitlines()[[i for i, l in enumerate(
                md.splitlines()) if l.startswith("| model")][0]].count("|")


def test_unusable_parts_are_skipped_with_a_reason(results_file, tmp_path, capsys):
    from imb_tools.cli import main

    raw = json.loads(results_file.read_text(encoding="utf-8"))
    raw["results"]["hellaswag"] = {"acc,none": 0.5, "alias": "hellaswag"}
    raw["results"]["imb_mcqa"]["acc_norm,none"] = "0.5"
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "results_x.json").write_text(json.dumps(raw), encoding="utf-8")
    skipped: list[str] = []
    table = collect.collect([folder], skipped)
    assert "hellaswag" not in set(table["task"])
    assert not ((table["metric"] == "acc_norm") & table["category"].isna()).any()
    assert any("'hellaswag' is not an IMB task" in r for r in skipped)
    assert any("acc_norm = '0.5' is not a number" in r for r in skipped)
    assert main(["leaderboard", "build", str(folder), "--out", str(tmp_path / "o")]) == 0
    assert "skipped: results_x.json: task 'hellaswag'" in capsys.readouterr().out


@pytest.mark.parametrize("field, value", [
    ("n-shot", ["not", "a", "dict"]), ("configs", "text"),
    ("group_subtasks", 5), ("versions", [1]),
])
def test_malformed_fields_are_one_line_errors(results_file, tmp_path, capsys, field, value):
    from imb_tools.cli import main

    raw = json.loads(results_file.read_text(encoding="utf-8"))
    raw[field] = value
    bad = tmp_path / "results_bad.json"
    bad.write_text(json.dumps(raw), encoding="utf-8")
    assert main(["leaderboard", "build", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err


def test_serve_rejects_a_port_out_of_range(tmp_path, capsys):
    from imb_tools.cli import main

    assert main(["leaderboard", "serve", "--table", str(tmp_path), "--port", "99999"]) == 2
    assert "a port is 1-65535, got 99999" in capsys.readouterr().err


def test_a_run_that_names_no_data_is_hidden_and_never_pushed(tmp_path, capsys):
    """A plain lm_eval run whose tasks recorded no data source could be the bundled sample: unknown
    counts as unproven (space_app.unproven), kept out of the default view and refused by the pushes."""
    import pandas as pd
    from leaderboard_fixtures import write_run

    from imb_tools.cli import main

    template = {"config": {"model": "hf"}, "lm_eval_version": "0.4.13", "configs": {}, "versions": {}}
    folder = write_run(tmp_path / "runs", template, "org/model-7B", 7e9, "2026-03-01T00-00-00", 0.8, 0.7,
                       n_mcqa=20, n_qa=20)
    for summary in folder.glob("imb_summary_*.json"):
        summary.unlink()  # what lm_eval alone writes: no provenance
    for results in folder.glob("results_*.json"):
        raw = json.loads(results.read_text(encoding="utf-8"))
        raw.pop("imb_provenance")
        results.write_text(json.dumps(raw), encoding="utf-8")
    board = tmp_path / "board"
    assert main(["leaderboard", "build", str(folder), "--out", str(board), "--no-plots"]) == 0
    table = pd.read_parquet(board / "results.parquet")
    assert len(table) and table["is_sample"].isna().all()
    assert pd.read_parquet(board / "summary.parquet").empty
    capsys.readouterr()
    assert main(["leaderboard", "push", "--table", str(board), "--repo-id", "me/res",
                 "--dry-run", str(tmp_path / "staged")]) == 2
    assert "name no data" in capsys.readouterr().err
    assert main(["leaderboard", "push", "--table", str(board), "--model-repo", "org/model-7B", "--mcqa-repo",
                 "me/imb-mcqa", "--dry-run", str(tmp_path / "staged2")]) == 2
    assert "name no data" in capsys.readouterr().err


def test_a_push_publishes_no_local_path(tmp_path, capsys):
    """Model folders, builds and BERTScore models in site-packages are local paths; what a push
    stages names them by their last part only (no user name, no folder layout)."""
    from leaderboard_fixtures import write_run

    from imb_tools.cli import main

    template = {"config": {"model": "hf"}, "lm_eval_version": "0.4.13", "configs": {}, "versions": {}}
    folder = write_run(tmp_path / "runs", template, "/home/alice/models/mymodel-1B", 1e9, "2026-03-01T00-00-00",
                       0.8, 0.7, n_mcqa=20, n_qa=20)
    board = tmp_path / "board"
    assert main(["leaderboard", "build", str(folder), "--out", str(board), "--no-plots"]) == 0
    staged = tmp_path / "staged"
    assert main(["leaderboard", "push", "--table", str(board), "--repo-id", "me/res", "--dry-run", str(staged)]) == 0
    import pandas as pd

    def text_of(path):
        if path.suffix == ".parquet":
            return pd.read_parquet(path).astype(str).to_csv()
        return path.read_bytes().decode("utf-8", "replace")

    leaked = [p.name for p in staged.rglob("*") if p.is_file() and p.suffix != ".png"
              and ("/home/alice" in text_of(p) or "/data/imb-" in text_of(p))]
    assert leaked == []
    assert b"local:mymodel-1B" in (staged / "leaderboard.md").read_bytes()
