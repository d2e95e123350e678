"""The ranked view's statistics on runs whose per-item scores are known (leaderboard_fixtures):
bootstrap standard errors where lm-eval has none, paired permutation tests over the same items,
significance-aware ranks, hidden sample/--limit runs."""

from __future__ import annotations

import math

import pytest

pd = pytest.importorskip("pandas")

TEMPLATE = {"config": {"model": "hf"}, "lm_eval_version": "0.4.13", "configs": {}, "versions": {}}


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    from leaderboard_fixtures import board_runs

    from imb_tools.cli import main
    from imb_tools.leaderboard import space_app

    base = tmp_path_factory.mktemp("ranking")
    runs = board_runs(base / "runs", _template(base))
    assert main(["leaderboard", "build", str(runs), "--out", str(base / "board"), "--no-plots"]) == 0
    return space_app.load(base / "board")


def _template(base):
    import json

    path = base / "template.json"
    path.write_text(json.dumps(TEMPLATE), encoding="utf-8")
    return path


def test_uncertainties(board):
    _, _, _, scores, _ = board
    acc = scores[(scores["column"] == "imb_mcqa/acc") & (scores["model"] == "org/big-model-7B")].iloc[0]
    # lm-eval wrote "N/A": a bootstrap over the 300 items, close to the binomial formula
    expected = math.sqrt(acc["value"] * (1 - acc["value"]) / 300)
    assert acc["stderr_source"] == "bootstrap over items"
    assert acc["stderr"] == pytest.approx(expected, rel=0.15)
    bleu = scores[scores["column"] == "imb_qa/bleu"]
    assert bleu["stderr"].gt(0).all() and set(bleu["stderr_source"]) == {"bootstrap over items"}
    average = scores[scores["column"] == "average"]
    assert len(average) == 5 and average["stderr"].gt(0).all()


def test_ranks_separate_only_significant_differences(board):
    from imb_tools.leaderboard import space_app

    _, _, _, scores, pairs = board
    ids = scores.drop_duplicates("run_id").set_index("run_id")
    big = ids.index[ids["model"] == "org/big-model-7B"][0]
    small = ids.index[ids["model"] == "/models/small-local"][0]
    limited = ids.index[ids["model"] == "org/limited-model-1B"][0]
    mid = ids.index[(ids["model"] == "org/mid-model-3B") & ~ids["chat_template"].astype(bool)][0]

    def p(a, b, column="average"):
        row = pairs[(pairs["column"] == column) & pairs["run_a"].isin([a, b]) & pairs["run_b"].isin([a, b])]
        return row["p_value"].item()

    assert p(big, mid) > 0.05 and p(big, small) < 0.01
    # a --limit run scored other items: never compared
    assert pairs[(pairs["run_a"] == limited) | (pairs["run_b"] == limited)].empty
    frame, hidden = space_app.ranked(scores, pairs)
    assert hidden == 1 and list(frame["Rank"]) == ["1", "1", "3", "4"]
    shown, hidden = space_app.ranked(scores, pairs, show_hidden=True)
    assert hidden == 0 and len(shown) == 5
    assert shown.loc[shown["Model"].str.contains("limited"), "Rank"].item() == "1"  # no test: not separated
    only_mid, _ = space_app.ranked(scores, pairs, search="mid-model")
    assert len(only_mid) == 2
    chat, _ = space_app.ranked(scores, pairs, chat=["with chat template"])
    assert len(chat) == 1 and chat["Settings"].item() == "0-shot, chat"


def test_permutation_test_on_identical_runs_is_not_significant():
    import numpy as np

    from imb_tools.leaderboard import ranking

    rng = np.random.default_rng(0)
    a = [[float(x), 1.0] for x in rng.random(200) < 0.6]
    observed, diffs = ranking.permutation_differences("mean", a, a)
    assert observed == 0 and ranking.p_value(observed, diffs) == 1.0
    b = [[1.0, 1.0]] * 200
    observed, diffs = ranking.permutation_differences("mean", a, b)
    assert observed < 0 and ranking.p_value(observed, diffs) < 0.01
