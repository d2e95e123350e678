"""lm-eval results files -> one tidy table (one row per run, task and metric).

Reads the `results_<date>.json` files that `lm_eval --output_path DIR` and
`imb eval` write under `DIR/<model_name_sanitized>/`. Every row carries a
`run_key`, a hash of what identifies the run of one task, so collecting or
merging the same file twice keeps one copy of its rows.

Per-category rows of the complete tasks (imb_mcqa, imb_qa...) come from the
`imb_summary_<date>.json` that `imb eval` writes beside the results file, else
from lm-eval's `samples_<task>_<date>.jsonl` (then without BERTScore).
Every row carries its provenance (data source and revision, bundled sample or
not, task-set hash, limit, chat template, few-shot) and a `setting` hash of it:
rows with different settings are never averaged together. Tasks that are not
IMB's, values that are not numbers or fall outside their metric's range (see
`value_problem`), impossible counts and dates are skipped with a reason, never
silently and never with a traceback: nothing non-finite reaches the table.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from imb_tools.infra.atomic import atomic_write
from imb_tools.infra.errors import ImbError
from imb_tools.leaderboard.items import column_name

# Column order of the tidy table; KEY_COLUMNS identify one row.
COLUMNS = [
    "run_key", "model", "model_source", "model_args", "parameters", "parameters_source",
    "size", "dtype", "benchmark", "parent", "task", "category", "level", "metric",
    "filter", "value", "stderr", "higher_is_better", "n_samples", "items_in_split", "n_shot",
    "limit", "chat_template", "fewshot_as_multiturn", "data_source", "data_revision",
    "is_sample", "task_set_hash", "setting",
    "bertscore_model", "task_version", "lm_eval_version", "transformers_version", "date",
    "source_file",
]
KEY_COLUMNS = ["run_key", "category", "metric", "filter"]
# What makes two scores comparable besides the model: rows differing in any are never averaged.
SETTING_COLUMNS = ["data_source", "data_revision", "is_sample", "task_set_hash", "limit",
                   "chat_template", "fewshot_as_multiturn", "n_shot", "bertscore_model",
                   "bertscore_layers", "gen_kwargs", "system_instruction", "task_version"]
IMB_TASK_PREFIX = "imb_"

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
    """A metric value as float; lm-eval writes "N/A" where it has none. `true` is not a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


# Metrics whose value is a share: accuracies, F1, BERTScore, BLEU (0-1 scale, as the IMB tasks
# report it), ROUGE, METEOR, exact match. Matched by name prefix.
UNIT_INTERVAL_METRICS = ("acc", "exact_match", "f1", "bertscore", "bleu", "rouge", "meteor",
                         "precision", "recall")
# Parameter counts above this are not a model's (the largest are about 2e12).
MAX_PARAMETERS = 1e14


def value_problem(metric: str, value) -> str | None:
    """Why `value` cannot be `metric`'s score (None when it can): not a number, not finite,
    or outside [0, 1] for a share."""
    number = _number(value)
    if math.isnan(number):
        return "is not a number"
    if not math.isfinite(number):
        return "is not finite"
    if metric.startswith(UNIT_INTERVAL_METRICS) and not -1e-9 <= number <= 1.0 + 1e-9:
        return "is outside [0, 1]"  # (a rounding error's worth of slack: 100.00000000000004 / 100)
    return None


def count_problem(value) -> str | None:
    """Why `value` cannot be a count (None for a count or no value)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "is not a number"
    if not math.isfinite(value):
        return "is not finite"
    if value < 0:
        return "is negative"
    return None


def _timestamp(date_raw) -> tuple[str | None, str | None]:
    """lm-eval's `date` (seconds since 1970, or an ISO-8601 string) as ISO-8601, or why it is
    no time: the file's rows are then skipped with that reason, as any impossible value is."""
    if date_raw is None or date_raw == "":
        return None, None
    if isinstance(date_raw, str):
        try:
            return datetime.fromisoformat(date_raw).isoformat(timespec="seconds"), None
        except ValueError:
            return None, f"'date' = {date_raw!r} is not a time (ISO-8601 or seconds since 1970)"
    if isinstance(date_raw, bool) or not isinstance(date_raw, (int, float)):
        return None, f"'date' = {date_raw!r} is neither a number nor a string"
    try:
        return datetime.fromtimestamp(float(date_raw), tz=timezone.utc).isoformat(timespec="seconds"), None
    except (OverflowError, OSError, ValueError):
        return None, f"'date' = {date_raw!r} is not a time (seconds since 1970)"


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


def _task_metadata(task: str, configs: dict, group_subtasks: dict, depth: int = 0) -> dict:
    """A task's metadata; a group (no config of its own) takes its first subtask's, so a group's
    row names the same data as its tasks' rows (else one run splits into two by its data)."""
    own = (configs.get(task) or {}).get("metadata") or {}
    if own or depth > 10:
        return own
    for sub in group_subtasks.get(task) or []:
        found = _task_metadata(sub, configs, group_subtasks, depth + 1)
        if found:
            return found
    return {}


def _model_name(config: dict, data: dict) -> str:
    """The full model id or path, plus its adapter (`peft=`), never a path's last part."""
    args = config.get("model_args")
    if isinstance(args, str):
        pairs = [part.split("=", 1) for part in args.split(",") if "=" in part]
        args = {k.strip(): v.strip() for k, v in pairs}
    args = args if isinstance(args, dict) else {}
    base = args.get("pretrained") or args.get("model") or config.get("model") \
        or data.get("model_name") or "unknown"
    adapter = args.get("peft") or args.get("lora_local_path")
    return f"{base} + adapter {adapter}" if adapter else str(base)


def _dict_field(data: dict, field: str, path: Path) -> dict:
    value = data.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImbError(f"{path}: '{field}' is not an object ({type(value).__name__})")
    return value


def _companion(path: Path, prefix: str, task: str | None = None) -> Path | None:
    """imb_summary_<date>.json or samples_<task>_<date>.jsonl beside results_<date>.json."""
    stamp = path.name.removeprefix("results_").removesuffix(".json")
    name = f"{prefix}_{stamp}.json" if task is None else f"{prefix}_{task}_{stamp}.jsonl"
    found = path.with_name(name)
    return found if found.is_file() else None


def setting_key(row: dict) -> str:
    ident = json.dumps([None if _missing(row.get(c)) else str(row.get(c)) for c in SETTING_COLUMNS])
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()[:8]


def _missing(value) -> bool:
    try:
        return value is None or bool(value != value)  # NaN
    except (TypeError, ValueError):  # pandas NA: its comparison is NA, whose truth is an error
        return True


def read_results_file(path: str | Path, skipped: list[str] | None = None,
                      items: list[dict] | None = None) -> list[dict]:
    """Rows of one lm-eval results file; a file that is not one stops with a one-line error,
    a task or value that cannot be used is skipped with its reason appended to `skipped`.
    With `items`, the per-item statistics of each task's logged samples are appended to it
    (rows of items.parquet, see `ranking`)."""
    path = Path(path)
    skipped = [] if skipped is None else skipped
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImbError(f"{path}: cannot read as JSON ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ImbError(f"{path}: not an lm-eval results file (top level is not an object)")
    for field in ("results", "config"):
        if not isinstance(data.get(field), dict):
            raise ImbError(f"{path}: not an lm-eval results file (no '{field}' object)")
    try:
        rows = _rows(path, data, skipped)
        if items is not None:
            items.extend(_items(path, rows, skipped))
        return rows
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ImbError(f"{path}: malformed lm-eval results ({exc.__class__.__name__}: {exc})") from None


def _rows(path: Path, data: dict, skipped: list[str]) -> list[dict]:
    config = data["config"]
    args = config.get("model_args")
    model = _model_name(config, data)
    model_args = _canonical_args(args)
    parameters = config.get("model_num_parameters")
    parameters_source = "lm-eval"
    if not isinstance(parameters, (int, float)) or isinstance(parameters, bool) or parameters <= 0 \
            or not math.isfinite(parameters) or parameters > MAX_PARAMETERS:
        if parameters not in (None, 0, "", "N/A"):
            skipped.append(f"{path.name}: model_num_parameters = {parameters!r} is not a "
                           "parameter count; ignored (size from the model name)")
        parameters = parameters_from_name(model)
        parameters_source = "name" if parameters is not None else None
    date_raw = data.get("date")
    date, problem = _timestamp(date_raw)
    if problem:
        skipped.append(f"{path.name}: {problem}; its rows skipped")
        return []
    lm_eval_version = str(data.get("lm_eval_version") or "")
    group_subtasks = _dict_field(data, "group_subtasks", path)
    parents = _parents(group_subtasks)
    configs = _dict_field(data, "configs", path)
    n_shot_all = _dict_field(data, "n-shot", path)
    versions = _dict_field(data, "versions", path)
    n_samples_all = _dict_field(data, "n-samples", path)
    better_all = _dict_field(data, "higher_is_better", path)
    task_hashes = _dict_field(data, "task_hashes", path)
    prov = data.get("imb_provenance") if isinstance(data.get("imb_provenance"), dict) else {}
    summary_path = _companion(path, "imb_summary")
    imb_summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path else {}
    prov = prov or imb_summary.get("provenance") or {}
    limit = config.get("limit") if config.get("limit") is not None else prov.get("limit")

    rows = []
    for task, entry in data["results"].items():
        if not str(task).startswith(IMB_TASK_PREFIX):
            skipped.append(f"{path.name}: task '{task}' is not an IMB task")
            continue
        if not isinstance(entry, dict):
            raise ImbError(f"{path}: results.{task} is not an object")
        parent = parents.get(task)
        root = _root(task, parents)
        n_shot = n_shot_all.get(task, n_shot_all.get(root))
        key = run_key(model, model_args, task, n_shot, lm_eval_version, date_raw)
        samples = (n_samples_all.get(task) or {}).get("effective", entry.get("sample_len"))
        counts = {"n-shot": n_shot, "n-samples": samples, "limit": limit,
                  "items_in_split": _items_in_split(imb_summary, task)}
        bad = [f"{name} = {value!r} {count_problem(value)}" for name, value in counts.items()
               if count_problem(value)]
        if bad:
            skipped.append(f"{path.name}: {task} skipped: {'; '.join(bad)}")
            continue
        version = versions.get(task)
        metadata = _task_metadata(task, configs, group_subtasks)
        data_info = _data_info(task, prov, metadata, task_hashes)
        task_bert = metadata.get("bertscore_model")
        base = {
            "run_key": key, "model": model,
            "model_source": data.get("model_source") or config.get("model"),
            "model_args": model_args, "parameters": parameters,
            "parameters_source": parameters_source, "size": size_bucket(parameters),
            "dtype": config.get("model_dtype"), "benchmark": root, "parent": parent,
            "task": task, "category": _category(task, parent, configs),
            "level": "group" if task in group_subtasks else "task",
            "higher_is_better": None, "n_samples": samples,
            "items_in_split": _items_in_split(imb_summary, task), "n_shot": n_shot,
            "limit": limit,
            "chat_template": bool(data.get("chat_template")) or bool(prov.get("apply_chat_template")),
            "fewshot_as_multiturn": bool(data.get("fewshot_as_multiturn")
                                         or prov.get("fewshot_as_multiturn")),
            **data_info,
            "task_version": None if version is None else str(version),
            "lm_eval_version": lm_eval_version,
            "transformers_version": data.get("transformers_version"), "date": date,
            "source_file": path.name,
        }
        scoring = prov.get("scoring") or {}
        base["setting"] = setting_key(base | {
            "bertscore_model": task_bert,
            "bertscore_layers": scoring.get("bertscore_layers"),
            # generation settings change what is scored: never one setting for two of them
            "gen_kwargs": json.dumps(prov.get("gen_kwargs"), sort_keys=True) if prov.get("gen_kwargs") else None,
            "system_instruction": prov.get("system_instruction"),
        })
        for name, value in entry.items():
            if "," not in name or "_stderr," in name:
                continue
            metric, filter_ = name.split(",", 1)
            problem = value_problem(metric, value)
            if problem:
                skipped.append(f"{path.name}: {task} {metric} = {value!r} {problem}")
                continue
            number = _number(value)
            stderr = _number(entry.get(f"{metric}_stderr,{filter_}"))
            if not math.isnan(stderr) and (not math.isfinite(stderr) or stderr < 0):
                skipped.append(f"{path.name}: {task} {metric} stderr = {stderr!r} is not a "
                               "standard error; the score is kept without it")
                stderr = math.nan
            bert = task_bert if metric.startswith("bertscore") else None
            rows.append(base | {
                "metric": metric, "filter": filter_, "value": number, "stderr": stderr,
                "higher_is_better": (better_all.get(task) or {}).get(metric),
                # BERTScore values are comparable only under the same scoring model
                "bertscore_model": bert,
            })
        if parent is None:  # a per-category subtask is its category's row already
            rows.extend(_category_rows(path, task, base, imb_summary, configs, group_subtasks,
                                       skipped))
    return rows


def _items(path: Path, rows: list[dict], skipped: list[str]) -> list[dict]:
    """Per-item statistics of the file's complete tasks, from their samples files."""
    from imb_tools.leaderboard import items as item_stats
    from imb_tools.leaderboard.ranking import item_rows

    found = []
    tasks = {}
    for row in rows:
        if row["level"] != "category" and row["filter"] == "none" and row["parent"] is None:
            tasks.setdefault((row["run_key"], row["task"]), []).append(row["metric"])
    for (key, task), metrics in tasks.items():
        samples = _companion(path, "samples", task)
        if samples is None:
            continue
        found.extend(item_rows(key, task, item_stats.samples_items(samples, metrics, skipped)))
    return found


def _items_in_split(imb_summary: dict, task: str):
    for figures in (imb_summary.get("tasks") or {}).values():
        if isinstance(figures, dict) and isinstance(figures.get(task), dict):
            return figures[task].get("items_in_split")
    return None


def _data_info(task: str, prov: dict, metadata: dict, task_hashes: dict) -> dict:
    """Data source and revision, sample or not, task-set hash: from imb eval's provenance,
    else from what lm-eval recorded (task metadata, the hash of the task's samples)."""
    kind = "mcqa" if task.startswith("imb_mcqa") else "qa"
    info = (prov.get("data") or {}).get(kind) or {}
    source = info.get("data_source") or metadata.get(f"{kind}_data_dir") or \
        metadata.get("data_dir") or metadata.get("generated_data_dir") or \
        metadata.get(f"{kind}_repo")
    revision = info.get("data_revision")
    if revision is None and task_hashes.get(task):
        revision = f"samples-{str(task_hashes[task])[:16]}"
    is_sample = info.get("is_sample")
    if is_sample is None and source and Path(str(source)).is_dir():
        from imb_tools.data.built import find_build

        build = find_build(source, kind)
        is_sample = build.is_sample if build else None
    return {"data_source": None if source is None else str(source), "data_revision": revision,
            "is_sample": is_sample, "task_set_hash": prov.get("task_set_hash")}


def _category_rows(path: Path, task: str, base: dict, imb_summary: dict, configs: dict,
                   group_subtasks: dict, skipped: list[str]) -> list[dict]:
    """Per-category rows of a complete task: imb eval's summary, else the samples file."""
    table = None
    for figures in (imb_summary.get("tasks") or {}).values():
        if isinstance(figures, dict) and isinstance(figures.get(task), dict) \
                and figures[task].get("categories"):
            table = figures[task]["categories"]
    if table is None and task not in group_subtasks:
        samples = _companion(path, "samples", task)
        if samples is not None:
            from imb_tools.evaluation.breakdown import category_scores, read_samples

            table = (category_scores(read_samples(samples), bertscore=False)
                     or {}).get("categories")
    rows = []
    for category, figures in (table or {}).items():
        if not isinstance(figures, dict):
            skipped.append(f"{path.name}: {task} category {category!r} is not an object")
            continue
        if count_problem(figures.get("items")):
            skipped.append(f"{path.name}: {task} category {category!r} skipped: items = "
                           f"{figures.get('items')!r} {count_problem(figures.get('items'))}")
            continue
        for metric, value in figures.items():
            if metric == "items":
                continue
            problem = value_problem(metric, value)
            if problem == "is not a number" and value is None:
                continue  # a metric the category has no value for
            if problem:
                skipped.append(f"{path.name}: {task} category {category!r} {metric} = "
                               f"{value!r} {problem}")
                continue
            number = _number(value)
            rows.append(base | {
                "parent": task, "category": str(category), "level": "category",
                "metric": metric, "filter": "none", "value": number, "stderr": math.nan,
                "n_samples": figures.get("items"),
                "bertscore_model": (_task_metadata(task, configs, group_subtasks).get("bertscore_model")
                                    if metric.startswith("bertscore") else None),
            })
    return rows


NON_TEXT = ("parameters", "n_samples", "n_shot", "items_in_split", "limit", "value", "stderr",
            "higher_is_better", "chat_template", "fewshot_as_multiturn", "is_sample")


def to_frame(rows: list[dict]):
    """Rows -> DataFrame with the table's columns and dtypes (stable across empty inputs)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("parameters", "n_samples", "n_shot", "items_in_split"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").round().astype("Int64")
    frame["limit"] = pd.to_numeric(frame["limit"], errors="coerce").astype("Float64")
    for column in ("value", "stderr"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in ("higher_is_better", "chat_template", "fewshot_as_multiturn", "is_sample"):
        frame[column] = frame[column].astype("boolean")
    text = [c for c in COLUMNS if c not in NON_TEXT]
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


def collect(paths: Iterable[str | Path], skipped: list[str] | None = None,
            items: list[dict] | None = None):
    """Read every results file under `paths` into one de-duplicated table; what cannot be
    used is skipped with a reason appended to `skipped` (the CLI prints them). With `items`, the
    per-item statistics of the logged samples are appended to it."""
    skipped = [] if skipped is None else skipped
    rows: list[dict] = []
    for file in find_results_files(paths):
        found = read_results_file(file, skipped, items)
        if not found:
            skipped.append(f"{file}: no IMB scores in this results file "
                           "(a --predict_only run, or only other tasks?)")
        rows.extend(found)
    return merge_tables(to_frame(rows))


def default_view(table, include_sample: bool = False, include_limited: bool = False):
    """The rows shown by default: no run on the bundled sample or on data it does not name, no
    --limit run."""
    from imb_tools.leaderboard.space_app import unproven

    keep = table.index == table.index
    if not include_sample:
        keep &= ~unproven(table)
    if not include_limited:
        keep &= table["limit"].isna()
    return table[keep]


def run_label(model: str, setting: str, chat_template=None, n_shot=None, limit=None,
              is_sample=None) -> str:
    """A run's name in tables and plots: the full model id, its setting hash and the settings
    a reader must see (chat template, few-shot, limit, sample)."""
    bits = []
    if _true(chat_template):
        bits.append("chat")
    if not _missing(n_shot) and str(n_shot) not in ("0", "<NA>"):
        bits.append(f"{n_shot}-shot")
    if not _missing(limit):
        bits.append(f"LIMIT {float(limit):g}")
    if _true(is_sample):
        bits.append("SAMPLE")
    extra = ", ".join(bits)
    return f"{model} [{setting}{', ' + extra if extra else ''}]"


def _true(value) -> bool:
    return not _missing(value) and bool(value)


def with_labels(table):
    labels = [run_label(*vals) for vals in zip(table["model"], table["setting"],
                                               table["chat_template"], table["n_shot"],
                                               table["limit"], table["is_sample"])]
    return table.assign(run=labels)


def summary(table):
    """Wide view: one row per model and run settings (few-shot, chat template, limit, sample,
    task set), one column per benchmark metric, plus the macro mean over its categories.
    Runs that differ in any of these are separate rows; among runs with the same ones the
    latest value is shown, never a mean of runs."""
    import pandas as pd

    index = ["model", "size", "parameters", "n_shot", "chat_template", "fewshot_as_multiturn",
             "limit", "is_sample", "task_set_hash"]
    if not len(table):
        return pd.DataFrame(columns=index)
    table = table.sort_values("date", kind="stable", na_position="first")
    top = table[(table["task"] == table["benchmark"]) & (table["level"] != "category")]
    wide = _pivot(top, index, "last")
    leaves = table[table["category"].notna()]
    if len(leaves):
        latest = leaves.drop_duplicates(subset=["model", "setting", "task", "category", "metric",
                                                "filter"], keep="last")
        latest = latest.drop_duplicates(subset=index[:1] + index[3:] + [
            "task", "category", "metric", "filter"], keep="last")
        macro = _pivot(latest, index, "mean")
        macro.columns = [name + " (macro)" for name in macro.columns]
        wide = wide.join(macro, how="outer")
    wide = wide.dropna(axis=1, how="all")
    wide = wide[sorted(wide.columns)].reset_index()  # each score beside its macro mean
    return wide.sort_values(["model"], kind="stable").reset_index(drop=True)


def _pivot(frame, index: list[str], how: str):
    """index x (benchmark/metric) values; unlike pivot_table, keeps rows whose index has NA."""
    columns = ["benchmark", "metric", "filter"]
    wide = frame.groupby(index + columns, dropna=False)["value"].agg(how).unstack(columns)
    wide.columns = [column_name(b, m, f) for b, m, f in wide.columns]
    return wide


def escape_markdown(value):
    """A cell that cannot break a Markdown table or inject HTML: `|`, `<`, `>`, `&`, newlines."""
    if not isinstance(value, str):
        return value
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\r", " ").replace("\n", " "))


def _md(frame) -> str:
    frame = frame.copy()
    frame.columns = [escape_markdown(str(c)) for c in frame.columns]
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype) == "string":
            frame[column] = frame[column].map(escape_markdown)
    return frame.to_markdown(index=False, floatfmt=".4f")


def items_frame(items: list[dict] | None = None, existing=None):
    """items.parquet's table: one row per task run and metric (ids and per-item statistics);
    rows already there win, as in `merge_tables`."""
    import pandas as pd

    columns = ["run_key", "task", "metric", "kind", "ids", "stats"]
    frames = [f for f in (existing, pd.DataFrame(items or [], columns=columns)) if f is not None]
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return merged.drop_duplicates(subset=["run_key", "metric"], keep="first").reset_index(drop=True)


def read_items(folder: str | Path):
    """items.parquet of a table folder, or None."""
    import pandas as pd

    path = Path(folder) / "items.parquet"
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    frame["ids"] = frame["ids"].map(list)
    frame["stats"] = frame["stats"].map(lambda rows: [list(r) for r in rows])
    return frame


def write_table(table, out_dir: str | Path, include_sample: bool = False,
                include_limited: bool = False, items=None) -> dict[str, Path]:
    """Write results.parquet/.csv (every row), summary.parquet/.csv and leaderboard.md (the
    default view, unless told to include sample and limited runs), and the ranked view
    (scores.parquet, pairs.parquet; from items.parquet, the per-item statistics, when given)
    into `out_dir`."""
    from imb_tools.leaderboard import ranking

    out = Path(out_dir)
    shown = default_view(table, include_sample, include_limited)
    wide = summary(shown)
    paths = {
        "results.parquet": out / "results.parquet",
        "results.csv": out / "results.csv",
        "summary.parquet": out / "summary.parquet",
        "summary.csv": out / "summary.csv",
        "leaderboard.md": out / "leaderboard.md",
        "scores.parquet": out / "scores.parquet",
        "pairs.parquet": out / "pairs.parquet",
    }
    if items is not None:
        paths["items.parquet"] = out / "items.parquet"
        atomic_write(paths["items.parquet"], lambda p: items.to_parquet(p, index=False))
    scores, pairs = ranking.board(table, items)
    atomic_write(paths["scores.parquet"], lambda p: scores.to_parquet(p, index=False))
    atomic_write(paths["pairs.parquet"], lambda p: pairs.to_parquet(p, index=False))
    atomic_write(paths["results.parquet"], lambda p: table.to_parquet(p, index=False))
    atomic_write(paths["results.csv"], lambda p: table.to_csv(p, index=False))
    atomic_write(paths["summary.parquet"], lambda p: wide.to_parquet(p, index=False))
    atomic_write(paths["summary.csv"], lambda p: wide.to_csv(p, index=False))
    atomic_write(paths["leaderboard.md"],
                  lambda p: Path(p).write_text(markdown(shown, wide, len(table) - len(shown)),
                                               encoding="utf-8"))
    return paths


def markdown(table, wide=None, hidden: int = 0) -> str:
    """The summary and per-category scores as Markdown tables (names escaped); each table
    names its metric, and each run its settings."""
    wide = summary(table) if wide is None else wide
    runs, models = table["run_key"].nunique(), table["model"].nunique()
    parts = ["# IMB leaderboard", "", f"{runs} task run{'' if runs == 1 else 's'}, "
             f"{models} model{'' if models == 1 else 's'}.", ""]
    if hidden:
        parts += [f"{hidden} rows from runs on the bundled sample or with --limit are not shown "
                  "(`imb leaderboard build --all` shows them).", ""]
    parts += ["## Summary", "", "Columns are `benchmark/metric`; `(macro)` is the mean over "
              "categories. Rows differ by model and `setting` (data, task set, limit, chat "
              "template, few-shot): they are never averaged together.", ""]
    parts.append(_md(wide) if len(wide) else "(no results)")
    leaves = table[table["category"].notna()]
    if len(leaves):
        leaves = with_labels(leaves.sort_values("date", kind="stable", na_position="first"))
        parts += ["", "## Per category", "", "Each column is one model and setting; `metric` "
                  "names the score in each row."]
        for benchmark, rows in leaves.groupby("benchmark", sort=True):
            per_cat = rows.pivot_table(index=["metric", "category"], columns="run",
                                       values="value", aggfunc="last").reset_index()
            per_cat.columns.name = None
            parts += ["", f"### {benchmark}", "", _md(per_cat)]
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
