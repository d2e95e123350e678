"""The paper's figures as PNGs: scores per model (Figures 6, 7), a per-category heatmap,
and a built dataset's category distribution (Figures 4, 5).

Uses matplotlib's object API (`Figure`, no pyplot), so plotting never touches a
display or global state.
"""

from __future__ import annotations

import re
from pathlib import Path

from imb_tools.infra.errors import ImbError
from imb_tools.infra.atomic import atomic_write

MCQA_BENCHMARK = "imb_mcqa"
QA_BENCHMARK = "imb_qa"
MCQA_METRIC = "acc"
# Figure 7 of the paper plots BERTScore precision.
QA_METRIC_PATTERN = r"bertscore.*(precision|_p$)"


def resolve_metric(table, benchmark: str, metric: str) -> str:
    """`metric` as named, or the first metric of `benchmark` matching it as a regex."""
    names = sorted(set(table.loc[table["benchmark"] == benchmark, "metric"].dropna()))
    if metric in names:
        return metric
    matches = [n for n in names if re.search(metric, n)]
    if not matches:
        raise ImbError(f"no metric '{metric}' in the {benchmark} results "
                       f"(has: {', '.join(names) or 'no rows'})")
    return matches[0]


def _label(row) -> str:
    """The run's full model id (never a path's last part) and its settings."""
    from imb_tools.leaderboard.collect import run_label

    return run_label(row["model"], row.get("setting", ""), row.get("chat_template"),
                     row.get("n_shot"), row.get("limit"), row.get("is_sample"))


def _wrap(label: str, width: int = 60) -> str:
    return label if len(label) <= width else "\n".join(
        label[i:i + width] for i in range(0, len(label), width))


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    return path


def scores_per_model(table, benchmark: str, metric: str, out: str | Path, title: str) -> Path:
    """Horizontal bars, one per model and setting, of the benchmark's top-level score (with
    stderr); a --limit or sample run is hatched and says so in its label."""
    from matplotlib.figure import Figure

    metric = resolve_metric(table, benchmark, metric)
    rows = table[(table["task"] == benchmark) & (table["metric"] == metric)
                 & (table["level"] != "category")]
    if "setting" in rows:  # a rerun of one setting: its latest value
        rows = rows.sort_values("date", kind="stable", na_position="first").drop_duplicates(
            subset=["model", "setting"], keep="last")
    rows = rows.sort_values("value", kind="stable")
    records = rows.to_dict("records")
    labels = [_wrap(_label(r)) for r in records]
    if len(set(labels)) < len(labels):
        labels = [f"{label} {str(r.get('date'))[:16]}" for label, r in zip(labels, records)]
    fig = Figure(figsize=(9, 1.4 + 0.55 * len(rows)))
    ax = fig.subplots()
    flagged = [not _na(r.get("limit")) or bool(r.get("is_sample") is True) for r in records]
    bars = ax.barh(labels, rows["value"], xerr=rows["stderr"].fillna(0), capsize=3,
                   color=["#c0c0c0" if f else "#3b75af" for f in flagged],
                   hatch=None)
    for bar, flag in zip(bars, flagged):
        if flag:
            bar.set_hatch("//")
    top = max(1.0, float(rows["value"].max()) if len(rows) else 1.0)
    ax.set_xlim(0, top * 1.18)  # room for the value labels inside the axes
    ax.bar_label(bars, fmt="%.3f", padding=3, fontsize=8, clip_on=True)
    ax.set_xlabel(metric)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title + (" (hatched: --limit or sample run)" if any(flagged) else ""))
    return _save(fig, Path(out))


def _na(value) -> bool:
    try:
        return value is None or bool(value != value)
    except (TypeError, ValueError):  # pandas NA
        return True


def category_heatmap(table, benchmark: str, metric: str, out: str | Path) -> Path:
    """Runs (model and setting) x categories of one benchmark: which specialties each misses.
    Runs with different settings are separate rows, never averaged."""
    import numpy as np
    from matplotlib.figure import Figure

    from imb_tools.leaderboard.collect import with_labels

    metric = resolve_metric(table, benchmark, metric)
    rows = table[(table["benchmark"] == benchmark) & (table["metric"] == metric)
                 & table["category"].notna()]
    if "setting" in rows:
        rows = with_labels(rows.sort_values("date", kind="stable", na_position="first"))
        index = "run"
    else:
        index = "model"
    grid = rows.pivot_table(index=index, columns="category", values="value", aggfunc="last")
    if grid.empty:
        raise ImbError(f"no per-category {metric} rows for {benchmark}")
    fig = Figure(figsize=(max(7.0, 0.35 * grid.shape[1] + 5), 1.8 + 0.45 * grid.shape[0]))
    ax = fig.subplots()
    values = grid.to_numpy(dtype=float)
    image = ax.imshow(values, aspect="auto", cmap="viridis")
    if values.size <= 400:
        for (y, x), value in np.ndenumerate(values):
            if not np.isnan(value):
                ax.text(x, y, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if value < np.nanmean(values) else "black")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(grid.shape[0]), [_wrap(str(m)) for m in grid.index], fontsize=7)
    fig.colorbar(image, ax=ax, label=metric)
    ax.set_title(f"{benchmark}: {metric} per category")
    return _save(fig, Path(out))


def category_distribution(dataset, column: str, out: str | Path, title: str) -> Path:
    """Count of records per value of `column` over all splits of a built dataset."""
    from collections import Counter

    from matplotlib.figure import Figure

    counts: Counter = Counter()
    for split in dataset.values():
        feature = split.features[column]
        values = list(split[column])
        if hasattr(feature, "int2str"):
            values = feature.int2str(values)
        counts.update(values)
    if not counts:
        raise ImbError(f"the dataset has no '{column}' values to plot")
    names, sizes = zip(*sorted(counts.items(), key=lambda kv: kv[1]))
    fig = Figure(figsize=(7, 1.2 + 0.22 * len(names)))
    ax = fig.subplots()
    ax.barh(names, sizes, color="#d9822b")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("records")
    ax.set_title(title)
    return _save(fig, Path(out))


def plot_table(table, out_dir: str | Path, mcqa: str = MCQA_BENCHMARK, qa: str = QA_BENCHMARK,
               mcqa_metric: str = MCQA_METRIC, qa_metric: str = QA_METRIC_PATTERN):
    """All results figures that the table has data for; returns (written, skipped reasons)."""
    out = Path(out_dir)
    jobs = [
        ("mcqa_accuracy.png", lambda p: scores_per_model(table, mcqa, mcqa_metric, p,
                                                         f"{mcqa}: {mcqa_metric} per model")),
        ("qa_bertscore.png", lambda p: scores_per_model(table, qa, qa_metric, p,
                                                        f"{qa}: {resolve_metric(table, qa, qa_metric)} per model")),
        ("mcqa_categories_heatmap.png", lambda p: category_heatmap(table, mcqa, mcqa_metric, p)),
        ("qa_categories_heatmap.png", lambda p: category_heatmap(table, qa, qa_metric, p)),
    ]
    return _run(jobs, out)


def plot_datasets(out_dir: str | Path, qa_data: str | None = None, mcqa_data: str | None = None):
    """Figures 4 and 5 from built datasets (folders or Hub ids); returns (written, skipped)."""
    from imb_tools.data.io import load_built

    out = Path(out_dir)
    jobs = []
    if qa_data:
        jobs.append(("qa_macro_categories.png", lambda p: category_distribution(
            load_built(qa_data), "macro_category", p, "IMB-QA: records per macro-category")))
    if mcqa_data:
        jobs.append(("mcqa_categories.png", lambda p: category_distribution(
            load_built(mcqa_data), "category", p, "IMB-MCQA: questions per category")))
    return _run(jobs, out)


def _run(jobs, out: Path):
    written, skipped = [], []
    for name, make in jobs:
        try:
            written.append(make(out / name))
        except ImbError as exc:
            skipped.append(f"{name}: {exc}")
    return written, skipped
