"""The ranked view: one row per model run, each score with its uncertainty, and the paired
tests that decide which runs a rank may separate.

A *model run* is a model with the settings that make its scores comparable (few-shot,
chat template, limit, sample or not, task set): the rows of `collect.summary`.
- Uncertainty: the standard error lm-eval reports; where it has none (corpus BLEU,
  BERTScore), a bootstrap over items (ROUNDS resamples of the logged per-item statistics).
- Significance: a paired permutation test (approximate randomization: each item's two
  scores are swapped with probability 1/2, ROUNDS times; two-sided) over the items both
  runs scored, matched by document id. Only runs scored on exactly the same items are
  compared; otherwise no test is made and ranks never separate them. For accuracy this
  is the randomized form of McNemar's test. No correction for multiple comparisons.
- Average: the mean of AVERAGE_OF (IMB-MCQA accuracy and IMB-QA BERTScore precision,
  the paper's two headline metrics), for runs that have both; its test permutes the
  items of both benchmarks at once.
The page ranks the rows it shows: rank = 1 + the number of shown runs significantly
better (p < ALPHA), so two runs share a rank unless their difference is significant.
"""

from __future__ import annotations

import hashlib
import json
import math

from imb_tools.leaderboard import items as item_stats

ALPHA = 0.05
ROUNDS = 1000
HEADLINE = {"imb_mcqa": "acc", "imb_qa": "bertscore_precision",
            "imb_qa_rag": "bertscore_precision"}
AVERAGE = "average"
AVERAGE_OF = ("imb_mcqa/acc", "imb_qa/bertscore_precision")
RUN_COLUMNS = ["model", "size", "parameters", "n_shot", "chat_template", "fewshot_as_multiturn",
               "limit", "is_sample", "task_set_hash"]
SCORE_COLUMNS = ["run_id", *RUN_COLUMNS, "column", "benchmark", "metric", "value", "stderr",
                 "stderr_source", "n_items", "higher_is_better", "headline", "date"]
PAIR_COLUMNS = ["column", "run_a", "run_b", "difference", "p_value", "n_items"]


def run_id(row) -> str:
    ident = json.dumps([None if _missing(row.get(c)) else str(row.get(c)) for c in RUN_COLUMNS])
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()[:12]


def _missing(value) -> bool:
    try:
        return value is None or bool(value != value)
    except (TypeError, ValueError):
        return True


def _rng(*parts):
    import numpy as np

    seed = int(hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed)


def _values(kind: str, sums):
    """Metric values of each row of summed statistics."""
    import numpy as np

    if kind == item_stats.MEAN:
        return sums[:, 0] / sums[:, 1]
    return np.array([item_stats.bleu_from_statistics(row) for row in sums])


def bootstrap_stderr(kind: str, stats, rounds: int = ROUNDS, seed=("bootstrap",)) -> float:
    """Standard deviation of the metric over `rounds` resamples of the items."""
    import numpy as np

    stats = np.asarray(stats, dtype=float)
    n = len(stats)
    if n < 2:
        return math.nan
    rng = _rng(*seed)
    values = []
    for start in range(0, rounds, 100):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(100, rounds - start))
        values.append(_values(kind, counts @ stats))
    return float(np.std(np.concatenate(values), ddof=1))


def permutation_differences(kind: str, a, b, rounds: int = ROUNDS, seed=("permutation",)):
    """(observed a - b, the differences under `rounds` random swaps of paired items)."""
    import numpy as np

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    sum_a, sum_b, delta = a.sum(0), b.sum(0), b - a
    observed = float(_values(kind, sum_a[None])[0] - _values(kind, sum_b[None])[0])
    rng = _rng(*seed)
    diffs = []
    for start in range(0, rounds, 100):
        swap = rng.random((min(100, rounds - start), len(a))) < 0.5
        moved = swap @ delta
        diffs.append(_values(kind, sum_a + moved) - _values(kind, sum_b - moved))
    return observed, np.concatenate(diffs)


def p_value(observed: float, diffs) -> float:
    """Two-sided: the share of permuted differences at least as large as the observed one."""
    import numpy as np

    return float((np.sum(np.abs(diffs) >= abs(observed) - 1e-12) + 1) / (len(diffs) + 1))


def item_rows(run_key: str, task: str, found: dict[str, dict]) -> list[dict]:
    """Rows of items.parquet for one task run."""
    return [{"run_key": run_key, "task": task, "metric": metric, "kind": f["kind"],
             "ids": list(f["ids"]), "stats": [list(s) for s in f["stats"]]}
            for metric, f in found.items()]


def _empty(columns):
    import pandas as pd

    return pd.DataFrame(columns=columns)


def board(table, items):
    """(scores, pairs): one row per model run and score column (with `average`), and one
    per pair of runs compared on the same items."""
    import numpy as np
    import pandas as pd


    top = table[(table["task"] == table["benchmark"]) & (table["level"] != "category")]
    if not len(top):
        return _empty(SCORE_COLUMNS), _empty(PAIR_COLUMNS)
    top = top.sort_values("date", kind="stable", na_position="first")
    top = top.assign(run_id=[run_id(r) for r in top[RUN_COLUMNS].to_dict("records")],
                     column=[item_stats.column_name(b, m, f) for b, m, f in
                             zip(top["benchmark"], top["metric"], top["filter"])])
    latest = top.drop_duplicates(subset=["run_id", "column"], keep="last")
    by_key = {}
    if items is not None and len(items):
        for row in items.to_dict("records"):
            by_key[(row["run_key"], row["metric"])] = row
    scores, per_item = [], {}
    for row in latest.to_dict("records"):
        found = by_key.get((row["run_key"], row["metric"])) if row["filter"] == "none" else None
        stderr, source = row["stderr"], "lm-eval"
        if _missing(stderr) and found is not None:
            stderr = bootstrap_stderr(found["kind"], [list(s) for s in found["stats"]],
                                      seed=("bootstrap", row["run_key"], row["metric"]))
            source = "bootstrap over items"
        if _missing(stderr):
            stderr, source = math.nan, None
        if found is not None:
            per_item[(row["run_id"], row["column"])] = found
        scores.append({**{c: row[c] for c in RUN_COLUMNS}, "run_id": row["run_id"],
                       "column": row["column"], "benchmark": row["benchmark"],
                       "metric": row["metric"], "value": row["value"], "stderr": stderr,
                       "stderr_source": source,
                       "n_items": len(found["ids"]) if found is not None else row["n_samples"],
                       "higher_is_better": row["higher_is_better"],
                       "headline": HEADLINE.get(row["benchmark"]) == row["metric"]
                       and row["filter"] == "none", "date": row["date"]})
    scores = pd.DataFrame(scores)
    scores = pd.concat([scores, _averages(scores)], ignore_index=True)
    pairs = _pairs(scores, per_item)
    return scores[SCORE_COLUMNS].reset_index(drop=True), pairs


def _averages(scores):
    import pandas as pd

    parts = scores[scores["column"].isin(AVERAGE_OF)]
    rows = []
    for rid, group in parts.groupby("run_id", sort=False):
        if set(group["column"]) != set(AVERAGE_OF):
            continue
        first = group.iloc[0]
        errors = group["stderr"].tolist()
        stderr = (math.sqrt(sum(e * e for e in errors)) / len(errors)
                  if not any(_missing(e) for e in errors) else math.nan)
        rows.append({**{c: first[c] for c in RUN_COLUMNS}, "run_id": rid, "column": AVERAGE,
                     "benchmark": None, "metric": AVERAGE, "value": float(group["value"].mean()),
                     "stderr": stderr, "stderr_source": "combined" if not math.isnan(stderr) else None,
                     "n_items": int(group["n_items"].fillna(0).sum()), "higher_is_better": True,
                     "headline": True, "date": group["date"].max()})
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _aligned(a: dict, b: dict):
    """The two runs' statistics in the same item order, or None unless they scored the same items."""
    if set(a["ids"]) != set(b["ids"]) or len(a["ids"]) != len(b["ids"]):
        return None
    order = {i: k for k, i in enumerate(b["ids"])}
    b_stats = [b["stats"][order[i]] for i in a["ids"]]
    return [list(s) for s in a["stats"]], [list(s) for s in b_stats]


def _pairs(scores, per_item):
    import pandas as pd

    rows = []
    runs_by_column = {c: sorted(g["run_id"]) for c, g in scores.groupby("column")}
    for column, runs in sorted(runs_by_column.items()):
        for i, ra in enumerate(runs):
            for rb in runs[i + 1:]:
                result = _compare(column, ra, rb, per_item)
                if result is not None:
                    rows.append({"column": column, "run_a": ra, "run_b": rb, **result})
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def _compare(column, ra, rb, per_item):
    import numpy as np

    parts = AVERAGE_OF if column == AVERAGE else (column,)
    observed, diffs, n = 0.0, None, 0
    for part in parts:
        a, b = per_item.get((ra, part)), per_item.get((rb, part))
        if a is None or b is None or a["kind"] != b["kind"]:
            return None
        aligned = _aligned(a, b)
        if aligned is None:
            return None
        obs, d = permutation_differences(a["kind"], *aligned, seed=("permutation", column, ra, rb, part))
        observed += obs / len(parts)
        diffs = d / len(parts) if diffs is None else diffs + d / len(parts)
        n += len(a["ids"])
    return {"difference": observed, "p_value": p_value(observed, diffs), "n_items": n}


def ranks(values: dict[str, float], pairs, column: str, higher_is_better: bool = True,
          alpha: float = ALPHA) -> dict[str, int]:
    """rank of each run in `values` (run_id -> value): 1 + the runs among them significantly
    better on `column`. (The page has its own copy: it may not import imb_tools.)"""
    better = {r: 0 for r in values}
    shown = set(values)
    sign = 1 if higher_is_better else -1
    for row in pairs[pairs["column"] == column].to_dict("records"):
        a, b = row["run_a"], row["run_b"]
        if a in shown and b in shown and row["p_value"] < alpha:
            if sign * row["difference"] > 0:
                better[b] += 1
            elif sign * row["difference"] < 0:
                better[a] += 1
    return {r: 1 + n for r, n in better.items()}
