"""The leaderboard refuses impossible values (issue 19.1), through the real CLI: each case is a
results file with one field changed; the row is skipped with its reason (a file's rows, where the
field is the file's, such as its date), never a traceback, and nothing non-finite reaches results.parquet."""

from __future__ import annotations

import json
import re
import math
from pathlib import Path

import pytest

from cli_faults import Fault, run_fault

pd = pytest.importorskip("pandas")

TEMPLATE = {"config": {"model": "hf"}, "lm_eval_version": "0.4.13", "configs": {}, "versions": {}}


def _set_result(metric):
    def change(raw, value):
        raw["results"][next(iter(raw["results"]))][f"{metric},none"] = value
    return change


def _set_stderr(metric):
    def change(raw, value):
        raw["results"][next(iter(raw["results"]))][f"{metric}_stderr,none"] = value
    return change


def _set(*keys):
    def change(raw, value):
        target = raw
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


def _set_n_samples(raw, value):
    task = next(iter(raw["results"]))
    raw["n-samples"][task]["effective"] = value


# (case, task, change, value, exit code, reason printed, metric gone from the table)
CASES = [
    ("acc above 1", "imb_mcqa", _set_result("acc"), 7.5, 0, "acc = 7.5 is outside [0, 1]", "acc"),
    ("acc negative", "imb_mcqa", _set_result("acc"), -0.1, 0, "acc = -0.1 is outside [0, 1]", "acc"),
    ("acc true", "imb_mcqa", _set_result("acc"), True, 0, "acc = True is not a number", "acc"),
    ("acc Infinity", "imb_mcqa", _set_result("acc"), math.inf, 0, "acc = inf is not finite", "acc"),
    ("acc NaN", "imb_mcqa", _set_result("acc"), math.nan, 0, "acc = nan is not a number", "acc"),
    ("acc a string", "imb_mcqa", _set_result("acc"), "0.5", 0, "acc = '0.5' is not a number", "acc"),
    ("bleu above 1", "imb_qa", _set_result("bleu"), 35.2, 0, "bleu = 35.2 is outside [0, 1]", "bleu"),
    ("BERTScore above 1", "imb_qa", _set_result("bertscore_precision"), 1.5, 0,
     "bertscore_precision = 1.5 is outside [0, 1]", "bertscore_precision"),
    ("ROUGE negative", "imb_qa", _set_result("rouge1"), -2, 0, "rouge1 = -2 is outside [0, 1]", "rouge1"),
    ("stderr Infinity", "imb_mcqa", _set_stderr("acc"), math.inf, 0,
     "acc stderr = inf is not a standard error", None),
    ("n-samples negative", "imb_mcqa", _set_n_samples, -5, 0, "n-samples = -5 is negative", "acc"),
    ("n-shot Infinity", "imb_mcqa", lambda raw, v: raw["n-shot"].update({"imb_mcqa": v}), math.inf, 0,
     "n-shot = inf is not finite", "acc"),
    ("limit negative", "imb_mcqa", _set("config", "limit"), -1, 0, "limit = -1 is negative", "acc"),
    ("parameters Infinity", "imb_mcqa", _set("config", "model_num_parameters"), math.inf, 0,
     "model_num_parameters = inf is not a parameter count", None),
    ("parameters 1e20", "imb_mcqa", _set("config", "model_num_parameters"), 1e20, 0,
     "model_num_parameters = 1e+20 is not a parameter count", None),
    ("date Infinity", "imb_mcqa", _set("date"), math.inf, 0, "'date' = inf is not a time", "acc"),
    ("date 1e20", "imb_mcqa", _set("date"), 1e20, 0, "'date' = 1e+20 is not a time", "acc"),
    ("date a word", "imb_mcqa", _set("date"), "ieri", 0, "'date' = 'ieri' is not a time", "acc"),
    ("date a list", "imb_mcqa", _set("date"), [2026], 0, "'date' = [2026] is neither a number nor a string",
     "acc"),
]


@pytest.mark.parametrize("case, task, change, value, code, reason, gone", CASES, ids=[c[0] for c in CASES])
def test_impossible_values(tmp_path, capfd, monkeypatch, case, task, change, value, code, reason, gone):
    from leaderboard_fixtures import write_run

    folder = write_run(tmp_path / "runs", TEMPLATE, "org/model-7B", 7e9, "2026-03-01T00-00-00",
                       0.8, 0.7, n_mcqa=20, n_qa=20)
    path = next(folder.glob(f"results_*-{task}.json"))
    raw = json.loads(path.read_text(encoding="utf-8"))
    change(raw, value)
    path.write_text(json.dumps(raw), encoding="utf-8")  # json writes Infinity / NaN as lm-eval would

    out = tmp_path / "board"
    # The one fault harness (tests/cli_faults.py): exit code, one line on an error, no traceback.
    result = run_fault(Fault(case, ["leaderboard", "build", str(folder), "--out", str(out), "--no-plots"], code,
                             re.escape(reason)), tmp_path, capfd, monkeypatch)
    assert reason in result.out + result.err
    if code:
        assert not (out / "results.parquet").exists()
        return
    table = pd.read_parquet(out / "results.parquet")
    numeric = table[["value", "parameters", "n_samples", "n_shot", "limit"]].astype("float64")
    assert not numeric.isin([math.inf, -math.inf]).any().any()
    assert table["value"].notna().all() and table["stderr"].dropna().map(math.isfinite).all()
    assert table["value"].between(0, 1).all()
    if gone:
        mine = table[(table["task"] == task) & (table["metric"] == gone) & table["category"].isna()]
        assert mine.empty
    if "parameters" in case:
        assert set(table["parameters"]) == {7e9}  # from the name "model-7B", as the reason says
    for name in ("scores.parquet", "pairs.parquet"):
        frame = pd.read_parquet(out / name)
        floats = frame.select_dtypes("number")
        assert not floats.isin([math.inf, -math.inf]).any().any()


def test_infinity_never_reaches_the_plots(tmp_path, capfd, monkeypatch):
    """Issue 19: `acc` Infinity was written into results.parquet and the plot step then crashed.
    With the plots on (the cases above skip them), the row is skipped with its reason, the
    plots are drawn from the finite rows, and the command ends well."""
    from leaderboard_fixtures import write_run

    pytest.importorskip("matplotlib")
    folder = write_run(tmp_path / "runs", TEMPLATE, "org/model-7B", 7e9, "2026-03-01T00-00-00",
                       0.8, 0.7, n_mcqa=20, n_qa=20)
    path = next(folder.glob("results_*-imb_mcqa.json"))
    raw = json.loads(path.read_text(encoding="utf-8"))
    _set_result("acc")(raw, math.inf)
    path.write_text(json.dumps(raw), encoding="utf-8")
    out = tmp_path / "board"
    run_fault(Fault("acc Infinity, plots on", ["leaderboard", "build", str(folder), "--out", str(out)], 0,
                    re.escape("acc = inf is not finite")), tmp_path, capfd, monkeypatch)
    table = pd.read_parquet(out / "results.parquet")
    assert table["value"].map(math.isfinite).all()
    assert list(out.rglob("*.png")) or list(out.rglob("*.svg")) or list(out.rglob("*.pdf"))
