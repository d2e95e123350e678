"""lm-eval results files -> one tidy table (one row per run, task and metric).

Reads the `results_<date>.json` files that `lm_eval --output_path DIR` and
`imb eval` write under `DIR/<model_name_sanitized>/`. Every row carries a
`run_key`, a hash of what identifies the run of one task, so collecting or
merging the same file twice keeps one copy of its rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from imb_tools.atomic import atomic_write
from imb_tools.errors import ImbError

# Column order of the tidy table; KEY_COLUMNS identify one row.
COLUMNS = [
    "run_key", "model", "model_source", "model_args", "parameters", "parameters_source",
    "size", "dtype", "benchmark", "parent", "task", "category", "level", "metric",
    "filter", "value", "stderr", "higher_is_better", "n_samples", "n_shot", "limit",
    "bertscore_model", "task_version", "lm_eval_version", "transformers_version", "date",
    "source_file",
]
KEY_COLUMNS = ["run_key", "metric", "filter"]

# Model-size buckets (upper bounds, in parameters) shown as a filter on the page.
SIZE_BUCKETS = [(1e9, "<1B"), (4e9, "1-4B"), (10e9, "4-10B"), (40e9, "10-40B"), (math.inf, ">=40B")]
UNKNOWN_SIZE = "unknown"

_NAME_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])")


def find_results_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders to the `results_*.json` files lm-eval writes in them (recursively)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(path.rglob("results_*.json"))
            if not inside:
                raise ImbError(f"{path}: no lm-eval results_*.json file in this folder")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise ImbError(f"{path}: no such file or folder")
    return found


def run_key(model: str, model_args: str, task: str, n_shot, lm_eval_version: str, date) -> str:
    """Stable id of one task run: the same results file always gives the same key."""
    ident = json.dumps([model, model_args, task, n_shot, lm_eval_version, date], sort_keys=True)
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()[:16]


def size_bucket(parameters: float | None) -> str:
    """Coarse model-size label for filtering (the page's 'model size' filter)."""
    if parameters is None or (isinstance(parameters, float) and math.isnan(parameters)):
        return UNKNOWN_SIZE
    return next(label for bound, label in SIZE_BUCKETS if parameters < bound)


def parameters_from_name(model: str) -> float | None:
    """Size written in a model name ("Llama-3.1-8B" -> 8e9), for backends that do not report it."""
    match = _NAME_SIZE.search(Path(str(model)).name)
    if not match:
        return None
    scale = 1e9 if match.group(2).lower() == "b" else 1e6
    return float(match.group(1)) * scale


def _canonical_args(model_args) -> str:
    """model_args as sorted JSON, whether lm-eval stored the dict (CLI) or the
    "k=v,k=v" string (Python API), so both spellings of one run compare equal."""
    if isinstance(model_args, str):
        pairs = [part.split("=", 1) for part in model_args.split(",") if part.strip()]
        if all(len(pair) == 2 for pair in pairs):
            model_args = {k.strip(): v.strip() for k, v in pairs}
    if isinstance(model_args, dict):
        return json.dumps({k: str(v) for k, v in model_args.items()}, sort_keys=True)
    return "" if model_args is None else str(model_args)


def _number(value) -> float:
    """A metric value as float; lm-eval writes "N/A" where it has none."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return math.nan


def _parents(group_subtasks: dict) -> dict[str, str]:
    parents = {}
    for group, subtasks in group_subtasks.items():
        for sub in subtasks or []:
            parents.setdefault(sub, group)
    return parents


def _root(task: str, parents: dict[str, str]) -> str:
    seen = {task}
    while task in parents and parents[task] not in seen:
        task = parents[task]
        seen.add(task)
    return task


def _category(task: str, parent: str | None, configs: dict) -> str | None:
    """A leaf task's category: metadata `category`, else its `task_alias` (the IMB tasks put
    the category's name there), else the task name minus the group prefix."""
    if parent is None:
        return None
    config = configs.get(task) or {}
    metadata = config.get("metadata") or {}
    for name in (metadata.get("category"), config.get("task_alias")):
        if name and str(name) != task:
            return str(name)
    prefix = f"{parent}_"
    return task[len(prefix):] if task.startswith(prefix) else task


def _metadata(task: str, key: str, configs: dict, group_subtasks: dict, depth: int = 0):
    """A task's metadata value; a group (no config of its own) takes its first subtask's."""
    value = ((configs.get(task) or {}).get("metadata") or {}).get(key)
    if value is not None or depth > 10:
        return value
    for sub in group_subtasks.get(task) or []:
        value = _metadata(sub, key, configs, group_subtasks, depth + 1)
        if value is not None:
            return value
    return None


def read_results_file(path: str | Path) -> list[dict]:
    """Rows of one lm-eval results file; a file that is not one stops with a one-line error."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImbError(f"{path}: cannot read as JSON ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ImbError(f"{path}: not an lm-eval results file (top level is not an object)")
    for field in ("results", "config"):
        if not isinstance(data.get(field), dict):
            raise ImbError(f"{path}: not an lm-eval results file (no '{field}' object)")

    config = data["config"]
    args = config.get("model_args")
    pretrained = args.get("pretrained") if isinstance(args, dict) else None
    model = str(data.get("model_name") or pretrained or args or config.get("model") or "unknown")
    model_args = _canonical_args(args)
    parameters = config.get("model_num_parameters")
    parameters_source = "lm-eval"
    if not isinstance(parameters, (int, float)) or isinstance(parameters, bool) or parameters <= 0:
        parameters = parameters_from_name(model)
        parameters_source = "name" if parameters is not None else None
    date_raw = data.get("date")
    date = (datetime.fromtimestamp(float(date_raw), tz=timezone.utc).isoformat(timespec="seconds")
            if isinstance(date_raw, (int, float)) else (str(date_raw) if date_raw else None))
    lm_eval_version = str(data.get("lm_eval_version") or "")
    group_subtasks = data.get("group_subtasks") or {}
    parents = _parents(group_subtasks)
    configs = data.get("configs") or {}
    n_shot_all = data.get("n-shot") or {}
    versions = data.get("versions") or {}
    n_samples_all = data.get("n-samples") or {}
    better_all = data.get("higher_is_better") or {}

    rows = []
    for task, entry in data["results"].items():
        if not isinstance(entry, dict):
            raise ImbError(f"{path}: results.{task} is not an object")
        parent = parents.get(task)
        n_shot = n_shot_all.get(task)
        key = run_key(model, model_args, task, n_shot, lm_eval_version, date_raw)
        samples = (n_samples_all.get(task) or {}).get("effective", entry.get("sample_len"))
        version = versions.get(task)
        for name, value in entry.items():
            if "," not in name or "_stderr," in name:
                continue
            metric, filter_ = name.split(",", 1)
            rows.append({
                "run_key": key,
                "model": model,
                "model_source": data.get("model_source") or config.get("model"),
                "model_args": model_args,
                "parameters": parameters,
                "parameters_source": parameters_source,
                "size": size_bucket(parameters),
                "dtype": config.get("model_dtype"),
                "benchmark": _root(task, parents),
                "parent": parent,
                "task": task,
                "category": _category(task, parent, configs),
                "level": "group" if task in group_subtasks else "task",
                "metric": metric,
                "filter": filter_,
                "value": _number(value),
                "stderr": _number(entry.get(f"{metric}_stderr,{filter_}")),
                "higher_is_better": (better_all.get(task) or {}).get(metric),
                "n_samples": samples,
                "n_shot": n_shot,
                "limit": config.get("limit"),
                # BERTScore values are comparable only under the same scoring model
                "bertscore_model": (_metadata(task, "bertscore_model", configs, group_subtasks)
                                    if metric.startswith("bertscore") else None),
                "task_version": None if version is None else str(version),
                "lm_eval_version": lm_eval_version,
                "transformers_version": data.get("transformers_version"),
                "date": date,
                "source_file": path.name,
            })
    return rows


def to_frame(rows: list[dict]):
    """Rows -> DataFrame with the table's columns and dtypes (stable across empty inputs)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("parameters", "n_samples", "n_shot"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").round().astype("Int64")
    frame["limit"] = pd.to_numeric(frame["limit"], errors="coerce").astype("Float64")
    for column in ("value", "stderr"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["higher_is_better"] = frame["higher_is_better"].astype("boolean")
    text = [c for c in COLUMNS if c not in ("parameters", "n_samples", "n_shot", "limit",
                                           "value", "stderr", "higher_is_better")]
    frame[text] = frame[text].astype("string")
    return frame


def merge_tables(*frames):
    """Union of tables, one row per (run_key, metric, filter): merging is idempotent."""
    import pandas as pd

    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return to_frame([])
    merged = pd.concat([to_frame(f.to_dict("records")) for f in frames], ignore_index=True)
    merged = merged.drop_duplicates(subset=KEY_COLUMNS, keep="first")  # existing rows win
    merged = merged.sort_values(
        ["benchmark", "level", "task", "metric", "filter", "model", "date"], kind="stable",
        na_position="first",
    )
    return merged.reset_index(drop=True)


def collect(paths: Iterable[str | Path]):
    """Read every results file under `paths` into one de-duplicated table."""
    rows: list[dict] = []
    for file in find_results_files(paths):
        found = read_results_file(file)
        if not found:
            logging.getLogger(__name__).warning("%s: no scores in this results file "
                                                "(a --predict_only run?)", file)
        rows.extend(found)
    return merge_tables(to_frame(rows))


def summary(table):
    """Wide view: one row per model run, one column per benchmark metric, plus the macro mean
    over its categories (the group score is the size-weighted mean lm-eval reports)."""
    import pandas as pd

    index = ["model", "size", "parameters", "n_shot", "lm_eval_version", "date"]
    if not len(table):
        return pd.DataFrame(columns=index)
    top = table[table["task"] == table["benchmark"]]
    wide = _pivot(top, index, "first")
    leaves = table[table["category"].notna()]
    if len(leaves):
        macro = _pivot(leaves, index, "mean")
        macro.columns = [name + " (macro)" for name in macro.columns]
        wide = wide.join(macro, how="outer")
    wide = wide.dropna(axis=1, how="all")
    wide = wide[sorted(wide.columns)].reset_index()  # each score beside its macro mean
    return wide.sort_values(["model", "date"], kind="stable").reset_index(drop=True)


def _pivot(frame, index: list[str], how: str):
    """index x (benchmark/metric) values; unlike pivot_table, keeps rows whose index has NA."""
    columns = ["benchmark", "metric", "filter"]
    wide = frame.groupby(index + columns, dropna=False)["value"].agg(how).unstack(columns)
    wide.columns = [_column_name(b, m, f) for b, m, f in wide.columns]
    return wide


def _column_name(benchmark: str, metric: str, filter_: str) -> str:
    return f"{benchmark}/{metric}" + ("" if filter_ == "none" else f" [{filter_}]")


def write_table(table, out_dir: str | Path) -> dict[str, Path]:
    """Write results.parquet/.csv, summary.parquet/.csv and leaderboard.md into `out_dir`."""
    out = Path(out_dir)
    wide = summary(table)
    paths = {
        "results.parquet": out / "results.parquet",
        "results.csv": out / "results.csv",
        "summary.parquet": out / "summary.parquet",
        "summary.csv": out / "summary.csv",
        "leaderboard.md": out / "leaderboard.md",
    }
    atomic_write(paths["results.parquet"], lambda p: table.to_parquet(p, index=False))
    atomic_write(paths["results.csv"], lambda p: table.to_csv(p, index=False))
    atomic_write(paths["summary.parquet"], lambda p: wide.to_parquet(p, index=False))
    atomic_write(paths["summary.csv"], lambda p: wide.to_csv(p, index=False))
    atomic_write(paths["leaderboard.md"],
                  lambda p: Path(p).write_text(markdown(table, wide), encoding="utf-8"))
    return paths


def markdown(table, wide=None) -> str:
    """The summary and per-category scores as Markdown tables."""
    wide = summary(table) if wide is None else wide
    parts = ["# IMB leaderboard", "", f"{table['run_key'].nunique()} task runs, "
             f"{table['model'].nunique()} models.", "", "## Summary", ""]
    parts.append(wide.to_markdown(index=False, floatfmt=".4f") if len(wide) else "(no results)")
    leaves = table[table["category"].notna()]
    if len(leaves):
        per_cat = leaves.pivot_table(index=["benchmark", "metric", "category"], columns="model",
                                     values="value", aggfunc="mean").reset_index()
        parts += ["", "## Per category", "", per_cat.to_markdown(index=False, floatfmt=".4f")]
    return "\n".join(parts) + "\n"


def read_table(folder: str | Path):
    """Load a table written by `write_table` (the `results.parquet` in `folder`, or that file)."""
    import pandas as pd

    path = Path(folder)
    if path.is_dir():
        path = path / "results.parquet"
    if not path.is_file():
        raise ImbError(f"{path}: no leaderboard table here (run `imb leaderboard build` first)")
    return to_frame(pd.read_parquet(path).to_dict("records"))
