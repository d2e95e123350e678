"""`imb eval`: lm-eval's Python API with IMB's task path, one task at a time.

Each requested task runs with the model loaded once, and its lm-eval results
and samples files are written as soon as it finishes; a marker in
`<out>/.imb_done/` records the settings, so a rerun of a killed run redoes only
the tasks that are missing. Everything the end needs (output folder, BERTScore
model and layer) is checked before the first generation. Quiet by default:
lm-eval's repeated warnings and datasets' Filter/Map bars are hidden unless -v.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from imb_tools.infra.atomic import write_json_atomic
from imb_tools.infra.errors import ImbError

SUMMARY = "imb_summary.json"
DONE_DIR = ".imb_done"


def kind_of(task: str) -> str | None:
    if task.startswith("imb_mcqa"):
        return "mcqa"
    if task.startswith("imb_qa"):
        return "qa"
    return None


class _Quiet(logging.Filter):
    """Drop lm-eval's per-task chatter (17 times 'Custom kwargs...', 'Overwriting default
    num_fewshot', the shadowing-directory warning)."""

    NOISE = ("Custom kwargs can be passed", "Overwriting default num_fewshot",
             "shadow", "--limit SHOULD ONLY BE USED", "model_args not specified",
             "Using pre-initialized model", "a model with chat template")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(n in message for n in self.NOISE)


def quiet(verbose: bool) -> None:
    if verbose:
        return
    import datasets

    datasets.disable_progress_bars()
    for name in ("lm_eval", "lm-eval", "datasets", "transformers", "huggingface_hub"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        logger.addFilter(_Quiet())
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


def lm_eval_options(extra: list[str]) -> dict:
    """lm-eval's own flags given to `imb eval` (e.g. --use_cache DB), parsed by lm-eval's parser,
    as simple_evaluate keyword arguments; an unknown one is a one-line error."""
    if not extra:
        return {}
    import argparse
    import contextlib
    import io

    from lm_eval._cli.run import Run

    parser = argparse.ArgumentParser(prog="imb eval", add_help=False)
    Run.create(parser.add_subparsers(dest="command"))
    run = parser._subparsers._group_actions[0].choices["run"]
    defaults = vars(run.parse_args(["--tasks", "x"]))
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            given = vars(run.parse_args(list(extra) + ["--tasks", "x"]))
    except SystemExit:
        line = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else str(extra)
        raise ImbError(f"lm-eval option: {line.split('error: ')[-1]}") from None
    changed = {k: v for k, v in given.items() if v != defaults.get(k) and k not in ("tasks", "func")}
    options: dict = {}
    for key, value in changed.items():
        if key == "cache_requests":
            from lm_eval._cli.utils import request_caching_arg_to_dict

            for k, v in request_caching_arg_to_dict(value).items():
                options[k] = v
        elif key == "seed":
            continue  # --seed is imb eval's own
        else:
            options[key] = value
    return options


def settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


EVAL_MARKER = ".imb-eval.json"
# What imb eval and lm-eval write into --out: per-model run folders, the resume markers, summaries.
EVAL_FILES = ("*/results_*.json", "*/samples_*.jsonl", "*/imb_summary_*.json", ".imb_done/*", "imb_summary*.json",
              "*.db", "*.sqlite")


def preflight(out: Path, tasks: list[str], metadata: dict) -> None:
    """Fail before the first generation, not after an hour of it."""
    from imb_tools.infra.ownership import claim_output_folder

    # A user's folder, or a dataset build, is never written into.
    claim_output_folder(out, EVAL_MARKER, EVAL_FILES, {"kind": "eval"}, legacy_file="imb_summary.json")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".imb_write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ImbError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    if any(kind_of(t) == "qa" or t.startswith("imb_qa") for t in tasks):
        from imb_tools.metrics.bertscore import get_scorer, settings_from_metadata

        scoring = settings_from_metadata(metadata)
        get_scorer(scoring["bertscore_model"], scoring["bertscore_layers"])  # loads it, or one line


def run_eval(args) -> int:
    from imb_tools.infra.errors import require

    require("lm_eval", "eval")
    from lm_eval import simple_evaluate
    from lm_eval.api.registry import get_model
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager
    from lm_eval.utils import simple_parse_args_string

    from imb_tools.evaluation.commands import eval_metadata
    from imb_tools.evaluation.tasks import tasks_path, task_set_hash

    quiet(getattr(args, "verbose", False))
    extra = lm_eval_options(getattr(args, "lm_eval_args", []))
    # lm-eval's spelling of an option imb eval has (--gen_kwargs, --num_fewshot, --batch_size...)
    # means that option: one value, never a keyword given twice to simple_evaluate.
    for key in [k for k in extra if k not in ("lm_eval_args", "func") and hasattr(args, k)]:
        setattr(args, key, extra.pop(key))
    out = Path(args.out or extra.pop("output_path", "") or "")
    extra.pop("output_path", None)
    if not str(out) or str(out) == ".":
        raise ImbError("--out FOLDER is required (results, samples and imb_summary.json go there)")
    metadata = eval_metadata(args)
    for key in ("model_args", "model", "tasks", "include_path", "log_samples", "metadata"):
        extra.pop(key, None)
    data_dir = metadata.get("data_dir")
    folder = tasks_path(data_dir)
    include = [str(folder)] + ([args.include_path] if args.include_path else [])
    model_args = simple_parse_args_string(args.model_args) if args.model_args else {}
    tasks = [t for t in args.tasks.split(",") if t]
    manager = TaskManager(include_path=include, include_defaults=False, metadata=model_args | metadata)
    if not all(t.startswith("imb_") or manager.match_tasks([t]) for t in tasks):
        manager = TaskManager(include_path=include, metadata=model_args | metadata)
    unknown = [t for t in tasks if not manager.match_tasks([t])]
    if unknown:
        raise ImbError(f"unknown task '{unknown[0]}' (IMB tasks: imb_mcqa, imb_mcqa_mp, "
                       f"imb_mcqa_cloze, imb_qa, imb_qa_rag; with --data DIR also "
                       f"imb_mcqa_by_category, imb_qa_by_macro, imb_qa_rag_by_macro)")
    preflight(out, tasks, metadata)
    provenance = run_provenance(args, tasks, metadata, folder, task_set_hash(folder), extra)

    device = args.device or extra.pop("device", None)
    if device is None:  # lm-eval's HF backend wants one (its CLI defaults to cuda:0)
        import torch

        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    extra.pop("device", None)
    batch_size = extra.pop("batch_size", None) or args.batch_size
    settings = {k: provenance[k] for k in ("model", "model_args", "limit", "num_fewshot",
                                           "apply_chat_template", "fewshot_as_multiturn",
                                           "system_instruction", "task_set_hash", "data",
                                           "gen_kwargs", "metadata")}
    key = settings_key(settings)
    done_dir = out / DONE_DIR
    lm = None
    per_task: dict[str, dict] = {}
    for task in tasks:
        marker = done_dir / f"{task}.json"
        if not args.redo and marker.is_file():
            previous = json.loads(marker.read_text(encoding="utf-8"))
            if previous.get("settings_key") == key and Path(previous.get("results", "")).is_file():
                print(f"{task}: already done in {previous['results']} (skipped; --redo to rerun)")
                per_task[task] = previous
                continue
        if lm is None:
            lm = get_model(args.model).create_from_arg_obj(
                model_args, {"batch_size": batch_size, "max_batch_size": extra.pop("max_batch_size", None),
                             "device": device})
        tracker = EvaluationTracker(output_path=str(out), **_hub_args(extra))
        started = time.time()
        results = simple_evaluate(
            model=lm, model_args=args.model_args, tasks=[task], num_fewshot=args.num_fewshot,
            batch_size=batch_size, device=device, limit=args.limit, log_samples=True,
            evaluation_tracker=tracker, system_instruction=args.system_instruction,
            apply_chat_template=args.apply_chat_template,
            fewshot_as_multiturn=args.fewshot_as_multiturn, gen_kwargs=args.gen_kwargs,
            task_manager=manager, random_seed=args.seed, numpy_random_seed=args.seed,
            torch_random_seed=args.seed, fewshot_random_seed=args.seed, **extra,
        )
        if results is None:  # a non-zero rank under accelerate: rank 0 writes
            return 0
        results["config"]["model"] = args.model
        results["imb_provenance"] = provenance
        tracker.general_config_tracker.model_source = args.model
        samples = results.pop("samples", None)
        tracker.save_results_aggregated(results=results, samples=samples)
        for name in results["configs"]:
            tracker.save_results_samples(task_name=name, samples=(samples or {}).get(name, []))
        results_file = _latest(out, "results_*.json")
        figures = task_figures(results, samples or {}, metadata)
        entry = {"settings_key": key, "results": str(results_file), "figures": figures,
                 "seconds": round(time.time() - started, 1)}
        write_json_atomic(marker, entry)
        per_task[task] = entry
    summary = {"provenance": provenance,
               "tasks": {t: e["figures"] for t, e in per_task.items()},
               "seconds": {t: e.get("seconds") for t, e in per_task.items()}}
    _items_in_split(summary, metadata)
    write_json_atomic(out / SUMMARY, summary)
    for entry in per_task.values():  # beside each results file, for `imb leaderboard build`
        results_file = Path(entry["results"])
        write_json_atomic(results_file.with_name(results_file.name.replace("results_", "imb_summary_")),
                          {"provenance": provenance, "tasks": summary["tasks"]})
    print(format_summary(summary))
    print(f"results: {out.resolve()} (imb_summary.json, lm-eval results_*.json and samples_*.jsonl)")
    return 0


def _hub_args(extra: dict) -> dict:
    from lm_eval.utils import simple_parse_args_string

    raw = extra.pop("hf_hub_log_args", None)
    hub = simple_parse_args_string(raw) if isinstance(raw, str) else dict(raw or {})
    if os.environ.get("HF_TOKEN"):
        hub["token"] = os.environ["HF_TOKEN"]
    return hub


def _latest(out: Path, pattern: str) -> Path:
    found = sorted(out.rglob(pattern), key=lambda p: p.stat().st_mtime_ns)
    return found[-1]


def run_provenance(args, tasks, metadata, folder, task_hash, extra) -> dict:
    """What a result depends on besides the model's weights: recorded in every summary and
    leaderboard row, and compared before averaging."""
    import lm_eval

    from imb_tools.data.sources import describe
    from imb_tools.evaluation.task_data import resolve_source

    data = {}
    for kind in sorted({kind_of(t) for t in tasks} - {None}):
        data[kind] = describe(resolve_source(kind, metadata))
    scoring = {k: metadata.get(k) for k in ("bertscore_model", "bertscore_layers", "qa_max_items")}
    return {
        "model": args.model, "model_args": args.model_args, "tasks": tasks,
        "data": data, "is_sample": any(d.get("is_sample") for d in data.values()),
        "task_set": str(folder), "task_set_hash": task_hash,
        "limit": args.limit, "num_fewshot": args.num_fewshot or 0,
        "apply_chat_template": bool(args.apply_chat_template),
        "fewshot_as_multiturn": bool(args.fewshot_as_multiturn),
        "system_instruction": args.system_instruction, "gen_kwargs": _gen_kwargs(args.gen_kwargs),
        "metadata": {k: v for k, v in metadata.items() if k not in ("data_dir",)},
        "scoring": scoring, "lm_eval_version": lm_eval.__version__,
        "lm_eval_options": {k: _plain(v) for k, v in sorted(extra.items())},
    }


def _gen_kwargs(value) -> dict | None:
    """Generation overrides as one canonical dict, however they were spelled
    (`--gen-kwargs max_gen_toks=16` or lm-eval's `--gen_kwargs`)."""
    if value in (None, "", {}):
        return None
    if isinstance(value, dict):
        return dict(sorted(value.items()))
    from lm_eval.utils import simple_parse_args_string

    return dict(sorted(simple_parse_args_string(str(value)).items()))


def _plain(value):
    """A JSON-safe copy of an option's value for the record."""
    return value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)


def task_figures(results: dict, samples: dict, metadata: dict) -> dict:
    """Per requested task or group: its metrics, items scored, and for each complete task
    the per-category table and macro mean computed from its samples."""
    from imb_tools.evaluation.breakdown import category_scores

    figures = {}
    for name, entry in results.get("results", {}).items():
        metrics = {k.split(",")[0]: float(v) for k, v in entry.items()
                   if "," in k and "_stderr" not in k and isinstance(v, (int, float))}
        n = results.get("n-samples", {}).get(name, {})
        item = {"metrics": metrics, "items_scored": n.get("effective"),
                "items_available": n.get("original")}
        if name in samples:
            breakdown = category_scores(samples[name])
            if breakdown:
                item["by"] = breakdown["column"]
                item["categories"] = breakdown["categories"]
                item["macro"] = breakdown["macro"]
        figures[name] = item
    return figures


def _items_in_split(summary: dict, metadata: dict) -> None:
    """Each task's items scored against the items in the test split it reads (for a
    per-category subtask, that category's items)."""
    from collections import Counter

    from imb_tools.infra.tables import labels_to_names
    from imb_tools.evaluation.task_data import load_for_tasks

    sizes: dict = {}
    for name, item in summary["tasks"].items():
        for sub, figures in item.items():
            kind = kind_of(sub)
            if kind is None or figures.get("items_scored") is None:
                continue
            if kind not in sizes:
                test = load_for_tasks(kind, metadata)["test"]
                column = "category" if kind == "mcqa" else "macro_category"
                sizes[kind] = (len(test), Counter(labels_to_names(test, [column])[column]))
            total, per_category = sizes[kind]
            cats = list(figures.get("categories") or {})
            in_split = per_category[cats[0]] if sub != name and len(cats) == 1 else total
            figures["items_in_split"] = in_split
            figures["complete"] = figures["items_scored"] == (figures.get("items_available")
                                                               or in_split)


def format_summary(summary: dict) -> str:
    """task, metric, value, items scored / in split: one line per metric."""
    lines = [f"{'task':<24} {'metric':<28} {'value':>8}  items scored / in test split"]
    prov = summary["provenance"]
    for _, item in summary["tasks"].items():
        for sub, figures in item.items():
            if figures.get("items_scored") is None:  # a group: its tasks' lines say it
                items = "mean of its tasks"
            else:
                items = f"{figures['items_scored']} / {figures.get('items_in_split', '?')}"
                cap = prov.get("scoring", {}).get("qa_max_items") or 2000
                if kind_of(sub) == "qa" and figures.get("items_scored") != figures.get("items_in_split"):
                    items += f" (at most {cap} per macro-category)"
            for metric, value in figures.get("metrics", {}).items():
                lines.append(f"{sub:<24} {metric:<28} {value:>8.4f}  {items}")
                if metric in figures.get("macro", {}) and len(figures.get("categories", {})) > 1:
                    lines.append(f"{sub:<24} {metric + ' (macro)':<28} "
                                 f"{figures['macro'][metric]:>8.4f}  "
                                 f"mean of {len(figures.get('categories', {}))} "
                                 f"{'macro-categories' if figures.get('by') == 'macro_category' else 'categories'}")
    notes = []
    if prov.get("is_sample"):
        notes.append("data: the bundled sample")
    if prov.get("limit"):
        notes.append(f"--limit {prov['limit']:g}: not a full score")
    notes.append(f"chat template {'on' if prov['apply_chat_template'] else 'off'}, "
                 f"{prov['num_fewshot']}-shot, task set {prov['task_set_hash']}")
    return "\n".join(lines + ["; ".join(notes)])
