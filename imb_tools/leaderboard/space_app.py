"""The IMB leaderboard page: a Gradio app over the table written by `imb leaderboard build|push`.

This one file is the whole app, so it can be copied as `app.py` into a Hugging
Face Space (it imports only gradio, pandas and huggingface_hub, never
imb_tools). Where the table comes from:
  - `IMB_LEADERBOARD_TABLE`: a local folder holding `results.parquet`
    (or `data/results.parquet`) and optional `plots/*.png`; or
  - `IMB_LEADERBOARD_REPO`: a Hub dataset repo made by `imb leaderboard push`.
Locally, `imb leaderboard serve --table DIR` runs it.
"""

from __future__ import annotations

import os
from pathlib import Path

SHOWN_COLUMNS = ["model", "setting", "size", "parameters", "benchmark", "task", "category",
                 "metric", "value", "stderr", "n_shot", "chat_template", "n_samples", "limit",
                 "is_sample", "lm_eval_version", "date"]
OVERALL = "(overall)"  # category label of a benchmark's or group's own score


def table_folder(source: str) -> Path:
    """A local folder as is; a Hub dataset repo id downloaded (table and plots only)."""
    path = Path(source)
    if path.exists():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(source, repo_type="dataset",
                                  allow_patterns=["data/*.parquet", "plots/*.png"]))


def load(folder: Path):
    """(table, summary or None, plot paths) from a folder written by `imb leaderboard build`
    or `push`."""
    import pandas as pd

    def find(name):
        for candidate in (folder / name, folder / "data" / name):
            if candidate.is_file():
                return candidate
        return None

    path = find("results.parquet")
    if path is None:
        raise FileNotFoundError(f"{folder}: no results.parquet or data/results.parquet")
    table = pd.read_parquet(path)
    table["category"] = table["category"].fillna(OVERALL)
    summary = pd.read_parquet(find("summary.parquet")) if find("summary.parquet") else None
    plots = sorted((folder / "plots").glob("*.png")) or sorted(folder.glob("*.png"))
    return table, summary, plots


def default_view(table):
    """No run on the bundled sample, no --limit run (IMB_LEADERBOARD_ALL=1 shows them)."""
    keep = table.index == table.index
    if "is_sample" in table:
        keep &= ~table["is_sample"].fillna(False).astype(bool)
    if "limit" in table:
        keep &= table["limit"].isna()
    return table[keep]


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


def build_app(table, summary=None, plots=()):
    """The Blocks app: filtered results, the per-model summary, and the plots, in tabs."""
    import gradio as gr
    import pandas as pd

    def choices(column):
        return sorted(str(v) for v in table[column].dropna().unique())

    with gr.Blocks(title="IMB leaderboard", analytics_enabled=False) as app:
        gr.Markdown("# IMB leaderboard\nItalian Medical Benchmark: IMB-QA and IMB-MCQA results "
                    "from lm-evaluation-harness. Empty filters show everything.")
        with gr.Tab("Results"):
            with gr.Row():
                task = gr.Dropdown(choices("benchmark"), multiselect=True, label="Task",
                                   elem_id="filter-task")
                category = gr.Dropdown(choices("category"), multiselect=True, label="Category",
                                       elem_id="filter-category")
                metric = gr.Dropdown(choices("metric"), multiselect=True, label="Metric",
                                     elem_id="filter-metric")
            # sizes smallest first (by their models' parameters), unknown last
            smallest = table.groupby("size")["parameters"].min()
            sizes = sorted(smallest.index, key=lambda s: (pd.isna(smallest[s]), 0.0 if pd.isna(
                smallest[s]) else float(smallest[s])))
            size = gr.CheckboxGroup(sizes, label="Model size", elem_id="filter-size")
            rows = filter_rows(table)
            count = gr.Markdown(_count(rows), elem_id="row-count")
            grid = gr.Dataframe(rows, interactive=False, elem_id="results-table", max_height=700)

            def update(tasks, categories, sizes, metrics):
                shown = filter_rows(table, tasks, categories, sizes, metrics)
                return _count(shown), shown

            controls = [task, category, size, metric]
            for control in controls:
                control.change(update, controls, [count, grid])
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
    table, summary, plots = load(table_folder(source))
    if os.environ.get("IMB_LEADERBOARD_ALL") != "1":
        table = default_view(table)
    launch(build_app(table, summary, plots), host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"))


if __name__ == "__main__":
    main()
