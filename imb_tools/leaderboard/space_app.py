"""The IMB leaderboard page: a Gradio app over the tables written by `imb leaderboard build|push`.

This one file is the whole app, so it can be copied as `app.py` into a Hugging
Face Space (it imports only gradio, pandas, huggingface_hub and the standard
library, never imb_tools). Where the tables come from:
  - `IMB_LEADERBOARD_TABLE`: a local folder holding `results.parquet`, `scores.parquet`
    and `pairs.parquet` (or the same under `data/`) and optional `plots/*.png`; or
  - `IMB_LEADERBOARD_REPO`: a Hub dataset repo made by `imb leaderboard push`.
Locally, `imb leaderboard serve --table DIR` runs it.

The first view ranks model runs (a model with its settings): each score with its
standard error, ranks that separate two runs only when a paired test over the same
items says their difference is significant (the tests are computed by `imb leaderboard
build`, see imb_tools/leaderboard/ranking.py); runs on the bundled sample and `--limit`
runs are hidden unless asked, and the page says how many.
"""

from __future__ import annotations

import html
import math
import os
import re
from pathlib import Path

SHOWN_COLUMNS = ["model", "setting", "size", "parameters", "benchmark", "task", "category",
                 "metric", "value", "stderr", "n_shot", "chat_template", "n_samples", "limit",
                 "is_sample", "lm_eval_version", "date"]
OVERALL = "(overall)"  # category label of a benchmark's or group's own score
AVERAGE = "average"
ALPHA = 0.05  # as imb_tools.leaderboard.ranking.ALPHA
ROUNDS = 1000
METHOD = (
    "**Average** = mean of IMB-MCQA accuracy and IMB-QA BERTScore precision (the paper's two "
    "headline metrics), for runs that have both. **±** is the standard error: lm-eval's, or a "
    "bootstrap over the logged items where lm-eval reports none (corpus BLEU, BERTScore). "
    "**Rank** = 1 + the number of shown runs significantly better on the ranked column: a "
    f"paired permutation test over the same items (matched by document id; {ROUNDS:,} rounds, "
    f"two-sided, alpha = {ALPHA}, no multiple-comparison correction). Runs share a rank unless "
    "their difference is significant; runs not scored on the same items are never separated."
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def table_folder(source: str) -> Path:
    """A local folder as is; a Hub dataset repo id downloaded (tables and plots only)."""
    path = Path(source)
    if path.exists():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(source, repo_type="dataset",
                                  allow_patterns=["data/*.parquet", "plots/*.png"]))


def _find(folder: Path, name: str):
    for candidate in (folder / name, folder / "data" / name):
        if candidate.is_file():
            return candidate
    return None


def load(folder: Path):
    """(table, summary or None, plot paths, scores or None, pairs or None) from a folder
    written by `imb leaderboard build` or `push`."""
    import pandas as pd

    path = _find(folder, "results.parquet")
    if path is None:
        raise FileNotFoundError(f"{folder}: no results.parquet or data/results.parquet")
    table = pd.read_parquet(path)
    table["category"] = table["category"].fillna(OVERALL)
    found = {name: _find(folder, f"{name}.parquet") for name in ("summary", "scores", "pairs")}
    frames = {name: pd.read_parquet(p) if p else None for name, p in found.items()}
    plots = sorted((folder / "plots").glob("*.png")) or sorted(folder.glob("*.png"))
    return table, frames["summary"], plots, frames["scores"], frames["pairs"]


def unproven(frame):
    """Rows not known to be scored on IMB itself: on the bundled sample, or naming no data at all
    (no provenance recorded, e.g. a plain lm_eval run whose tasks did not say what they read).
    Unknown counts as unproven: hidden by default, never pushed unless allowed. The one rule the
    page, `imb leaderboard build` and both pushes apply."""
    import pandas as pd

    if "is_sample" not in frame:
        return pd.Series(True, index=frame.index)
    flag = frame["is_sample"]
    return flag.isna() | flag.fillna(False).astype(bool)


def hidden_mask(frame):
    """Rows of a run on the bundled sample, on data it does not name, or with --limit."""
    mask = unproven(frame)
    if "limit" in frame:
        mask |= frame["limit"].notna()
    return mask


def default_view(table):
    """No run on the bundled sample, no --limit run (IMB_LEADERBOARD_ALL=1 shows them)."""
    return table[~hidden_mask(table)]


def filter_rows(table, tasks=(), categories=(), sizes=(), metrics=()):
    """Rows matching every non-empty filter (an empty selection means no filter)."""
    import pandas as pd

    mask = pd.Series(True, index=table.index)
    for column, chosen in (("benchmark", tasks), ("category", categories), ("size", sizes),
                           ("metric", metrics)):
        if chosen:
            mask &= table[column].isin(list(chosen))
    shown = [c for c in SHOWN_COLUMNS if c in table.columns]
    return table.loc[mask, shown].round({"value": 4, "stderr": 4}).reset_index(drop=True)


def _count(rows) -> str:
    return f"**{len(rows)} rows**, {rows['model'].nunique()} models"


def _missing(value) -> bool:
    try:
        return value is None or bool(value != value)
    except (TypeError, ValueError):
        return True


def model_link(model: str) -> str:
    """A Hub id as a link to its page; a local path as plain (escaped) text."""
    text = str(model)
    base = text.split(" + adapter ")[0]
    safe = html.escape(text).replace("|", "&#124;").replace("[", "&#91;").replace("]", "&#93;")
    if _HUB_ID.match(base) and not Path(base).exists():
        return f"[{safe}](https://huggingface.co/{base})"
    return safe


def settings_label(row) -> str:
    bits = [f"{int(row['n_shot']) if not _missing(row['n_shot']) else 0}-shot",
            "chat" if row.get("chat_template") else "no chat"]
    if not _missing(row.get("limit")):
        bits.append(f"LIMIT {float(row['limit']):g}")
    if row.get("is_sample"):
        bits.append("SAMPLE")
    return ", ".join(bits)


def score_columns(scores) -> list[str]:
    """Score columns, headline ones first (the average first of all)."""
    if scores is None or not len(scores):
        return []
    heads = scores.drop_duplicates("column").set_index("column")["headline"].fillna(False)
    return sorted(heads.index, key=lambda c: (c != AVERAGE, not bool(heads[c]), c))


def default_columns(scores) -> list[str]:
    if scores is None or not len(scores):
        return []
    heads = scores.drop_duplicates("column").set_index("column")["headline"].fillna(False)
    return [c for c in score_columns(scores) if bool(heads[c]) and c != AVERAGE]


def ranks(run_ids, values: dict, pairs, column: str, higher_is_better: bool = True) -> dict:
    """1 + the number of shown runs significantly better (p < ALPHA) on `column`."""
    better = {r: 0 for r in run_ids if r in values}
    if pairs is None or not len(pairs):
        return {r: 1 for r in better}
    sign = 1 if higher_is_better else -1
    chosen = pairs[(pairs["column"] == column) & (pairs["p_value"] < ALPHA)]
    for a, b, diff in zip(chosen["run_a"], chosen["run_b"], chosen["difference"]):
        if a in better and b in better:
            if sign * diff > 0:
                better[b] += 1
            elif sign * diff < 0:
                better[a] += 1
    return {r: 1 + n for r, n in better.items()}


def ranked(scores, pairs, show_hidden=False, search="", sizes=(), chat=(), shots=(),
           columns=None, rank_by=AVERAGE):
    """(the ranked table, how many runs are hidden as sample or --limit runs)."""
    import pandas as pd

    if scores is None or not len(scores):
        return pd.DataFrame(columns=["Rank", "Model"]), 0
    runs = scores.drop_duplicates("run_id").set_index("run_id")
    hidden = hidden_mask(runs)
    n_hidden = int(hidden.sum()) if not show_hidden else 0
    keep = runs.index[~hidden] if not show_hidden else runs.index
    runs = runs.loc[keep]
    if search:
        runs = runs[runs["model"].str.contains(search, case=False, regex=False, na=False)]
    if sizes:
        runs = runs[runs["size"].isin(list(sizes))]
    if chat:
        wanted = {"with chat template": True, "without": False}
        runs = runs[runs["chat_template"].fillna(False).astype(bool).isin(
            [wanted[c] for c in chat if c in wanted])]
    if shots:
        runs = runs[runs["n_shot"].fillna(0).astype(int).astype(str).isin(list(shots))]
    columns = list(default_columns(scores) if columns is None else columns)
    shown_columns = [AVERAGE] + [c for c in columns if c != AVERAGE]
    mine = scores[scores["run_id"].isin(runs.index)]
    value = mine.pivot_table(index="run_id", columns="column", values="value", aggfunc="last")
    error = mine.pivot_table(index="run_id", columns="column", values="stderr", aggfunc="last")
    if rank_by not in value.columns:
        rank_by = AVERAGE if AVERAGE in value.columns else (shown_columns[1] if len(shown_columns) > 1 else AVERAGE)
    if rank_by in value.columns:
        have = value[rank_by].dropna()
        better = scores.loc[scores["column"] == rank_by, "higher_is_better"].dropna()
        rank = ranks(list(runs.index), have.to_dict(), pairs, rank_by,
                     bool(better.iloc[0]) if len(better) else True)
    else:
        rank, have = {}, pd.Series(dtype=float)
    rows = []
    for rid, run in runs.iterrows():
        row = {"Rank": rank.get(rid, math.nan), "Model": model_link(run["model"])}
        for column in shown_columns:
            v = value.at[rid, column] if column in value.columns and rid in value.index else math.nan
            e = error.at[rid, column] if column in error.columns and rid in error.index else math.nan
            label = "Average" if column == AVERAGE else column
            row[label] = "" if _missing(v) else (f"{v:.4f}" if _missing(e) else f"{v:.4f} ± {e:.4f}")
        row.update({"Size": run["size"], "Settings": settings_label(run),
                    "_sort": (-have.get(rid, -math.inf)) if rid in have.index else math.inf})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not len(frame):
        return pd.DataFrame(columns=["Rank", "Model", "Average"]), n_hidden
    frame = frame.sort_values(["Rank", "_sort"], na_position="last", kind="stable")
    frame = frame.drop(columns="_sort")
    frame["Rank"] = frame["Rank"].map(lambda r: "" if _missing(r) else str(int(r)))
    return frame.reset_index(drop=True), n_hidden


def hidden_line(n_hidden: int, show_hidden: bool) -> str:
    if show_hidden:
        return "Showing every run, including runs on the bundled sample and `--limit` runs."
    if not n_hidden:
        return "No sample or `--limit` run hidden."
    return (f"**{n_hidden} runs on the bundled sample or with `--limit` are hidden** "
            "(tick *Show sample and --limit runs* to see them).")


def per_category(table, benchmark: str, metric: str, show_hidden: bool = False):
    """Categories x model runs for one benchmark metric."""
    import pandas as pd

    rows = table if show_hidden else table[~hidden_mask(table)]
    rows = rows[(rows["benchmark"] == benchmark) & (rows["metric"] == metric)
                & (rows["level"] == "category")]
    if not len(rows):
        return pd.DataFrame(columns=["category"])
    labels = [f"{m} [{settings_label(r)}]" for m, r in zip(rows["model"], rows.to_dict("records"))]
    rows = rows.assign(run=labels).sort_values("date", kind="stable", na_position="first")
    wide = rows.pivot_table(index="category", columns="run", values="value", aggfunc="last")
    wide.columns.name = None
    return wide.round(4).reset_index()


def build_app(table, summary=None, plots=(), scores=None, pairs=None, show_all: bool = False):
    """The Blocks app: the ranking first, then per-category scores, every row, the plots."""
    import gradio as gr

    def choices(frame, column):
        return sorted(str(v) for v in frame[column].dropna().unique()) if frame is not None and len(frame) else []

    all_columns = score_columns(scores)
    first, n_hidden = ranked(scores, pairs, show_all)
    with gr.Blocks(title="IMB leaderboard", analytics_enabled=False) as app:
        gr.Markdown("# IMB leaderboard\nItalian Medical Benchmark: IMB-MCQA and IMB-QA scores "
                    "from lm-evaluation-harness, one row per model run (a model with its "
                    "settings: few-shot, chat template).")
        with gr.Tab("Ranking"):
            with gr.Row():
                search = gr.Textbox(label="Search models", placeholder="model name or path",
                                    elem_id="search", scale=2)
                rank_by = gr.Dropdown(all_columns or [AVERAGE], value=AVERAGE, label="Rank by",
                                      elem_id="rank-by", scale=1)
            with gr.Row():
                runs = scores.drop_duplicates("run_id") if scores is not None and len(scores) else None
                sizes = gr.CheckboxGroup(choices(runs, "size"), label="Model size",
                                         elem_id="filter-size")
                chat = gr.CheckboxGroup(["with chat template", "without"], label="Chat template",
                                        elem_id="filter-chat")
                shots = gr.CheckboxGroup(sorted({str(int(v)) for v in runs["n_shot"].fillna(0)})
                                         if runs is not None else [], label="Few-shot",
                                         elem_id="filter-shots")
            columns = gr.CheckboxGroup([c for c in all_columns if c != AVERAGE],
                                       value=default_columns(scores), label="Columns",
                                       elem_id="columns")
            with gr.Row():
                note = gr.Markdown(hidden_line(n_hidden, show_all), elem_id="hidden-note")
                show = gr.Checkbox(value=show_all, label="Show sample and --limit runs",
                                   elem_id="show-hidden")
            datatypes = ["str", "markdown"] + ["str"] * (len(first.columns) - 2)
            grid = gr.Dataframe(first, interactive=False, elem_id="ranking-table",
                                datatype=datatypes, max_height=700, wrap=True)
            gr.Markdown(METHOD, elem_id="method")

            def update(show_hidden, text, chosen_sizes, chosen_chat, chosen_shots, chosen_columns,
                       by):
                frame, hidden = ranked(scores, pairs, show_hidden, text, chosen_sizes,
                                       chosen_chat, chosen_shots, chosen_columns, by)
                types = ["str", "markdown"] + ["str"] * (len(frame.columns) - 2)
                return hidden_line(hidden, show_hidden), gr.Dataframe(value=frame, datatype=types)

            controls = [show, search, sizes, chat, shots, columns, rank_by]
            for control in controls:
                control.change(update, controls, [note, grid])
        with gr.Tab("Per category"):
            benchmarks = choices(table[table["level"] == "category"], "benchmark")
            with gr.Row():
                bench = gr.Dropdown(benchmarks, value=benchmarks[0] if benchmarks else None,
                                    label="Benchmark", elem_id="category-benchmark")
                start_metric = "acc" if benchmarks and benchmarks[0].startswith("imb_mcqa") else None
                metric_choices = choices(table[(table["level"] == "category")
                                               & (table["benchmark"] == (benchmarks[0] if benchmarks else None))], "metric")
                cat_metric = gr.Dropdown(metric_choices,
                                         value=start_metric if start_metric in metric_choices
                                         else (metric_choices[0] if metric_choices else None),
                                         label="Metric", elem_id="category-metric")
            cat_grid = gr.Dataframe(per_category(table, bench.value, cat_metric.value, show_all),
                                    interactive=False, elem_id="category-table", max_height=700)

            def update_categories(b, m, show_hidden):
                metrics = choices(table[(table["level"] == "category") & (table["benchmark"] == b)], "metric")
                m = m if m in metrics else (metrics[0] if metrics else None)
                return gr.Dropdown(choices=metrics, value=m), per_category(table, b, m, show_hidden)

            for control in (bench, cat_metric, show):
                control.change(update_categories, [bench, cat_metric, show], [cat_metric, cat_grid])
        with gr.Tab("All rows"):
            shown_table = table if show_all else default_view(table)
            with gr.Row():
                task = gr.Dropdown(choices(table, "benchmark"), multiselect=True, label="Task",
                                   elem_id="filter-task")
                category = gr.Dropdown(choices(table, "category"), multiselect=True,
                                       label="Category", elem_id="filter-category")
                metric = gr.Dropdown(choices(table, "metric"), multiselect=True, label="Metric",
                                     elem_id="filter-metric")
            rows = filter_rows(shown_table)
            count = gr.Markdown(_count(rows), elem_id="row-count")
            long_grid = gr.Dataframe(rows, interactive=False, elem_id="results-table",
                                     max_height=700)

            def update_rows(tasks, categories, metrics, show_hidden):
                base = table if show_hidden else default_view(table)
                shown = filter_rows(base, tasks, categories, (), metrics)
                return _count(shown), shown

            for control in (task, category, metric, show):
                control.change(update_rows, [task, category, metric, show], [count, long_grid])
        if summary is not None and len(summary):
            with gr.Tab("Summary"):
                gr.Markdown("One row per model run: each benchmark's score (lm-eval's "
                            "size-weighted mean) and its macro mean over categories.")
                gr.Dataframe(summary.round(4), interactive=False, elem_id="summary-table")
        with gr.Tab("Plots"):
            if plots:
                for path in plots:
                    gr.Image(str(path), label=Path(path).stem.replace("_", " "),
                             show_label=True, interactive=False)
            else:
                gr.Markdown("No plots in this table folder (`imb leaderboard plot` makes them).")
    return app


def launch(app, host: str = "127.0.0.1", port: int | None = None, **kwargs):
    """Start the server with a theme that needs no web fonts (the page works offline)."""
    import gradio as gr

    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    return app.launch(server_name=host, server_port=port, theme=theme, ssr_mode=False,
                      share=False, **kwargs)


def main() -> None:
    source = os.environ.get("IMB_LEADERBOARD_TABLE") or os.environ.get("IMB_LEADERBOARD_REPO")
    if not source:
        raise SystemExit("set IMB_LEADERBOARD_TABLE (a folder) or IMB_LEADERBOARD_REPO (ORG/NAME)")
    table, summary, plots, scores, pairs = load(table_folder(source))
    launch(build_app(table, summary, plots, scores, pairs,
                     show_all=os.environ.get("IMB_LEADERBOARD_ALL") == "1"),
           host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"))


if __name__ == "__main__":
    main()
