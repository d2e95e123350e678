"""`imb eval`: lm-eval's Python API with IMB's task path, one task at a time.

Each requested task runs with the model loaded once, and its lm-eval results
and samples files are written as soon as it finishes; a marker in
`<out>/.imb_done/` records the settings, so a rerun of a killed run redoes only
the tasks that are missing. It takes an EvalSettings (settings.py), every option already
checked; the output folder, the few-shot pools and the BERTScore model and layer are
checked before the model loads. Quiet by default:
lm-eval's repeated warnings and datasets' Filter/Map bars are hidden unless -v.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

from imb_tools.evaluation.settings import IMB_TASKS_HINT, EvalSettings, kind_of
from imb_tools.infra.atomic import write_json_atomic
from imb_tools.infra.errors import ImbError

SUMMARY = "imb_summary.json"
DONE_DIR = ".imb_done"


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


def settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


EVAL_MARKER = ".imb-eval.json"
# What imb eval and lm-eval write into --out: per-model run folders, the resume markers, summaries.
EVAL_FILES = ("*/results_*.json", "*/samples_*.jsonl", "*/imb_summary_*.json", ".imb_done/*", "imb_summary*.json",
              "*.db", "*.sqlite")


def preflight(settings: EvalSettings) -> None:
    """Fail before the first generation, and before the model loads, not after an hour of it:
    the output folder, the data each task reads (and its few-shot pool), a RAG index's
    provenance, then the BERTScore model (the one slow check)."""
    from imb_tools.evaluation.task_data import load_for_tasks
    from imb_tools.infra.ownership import claim_output_folder
    from imb_tools.metrics import task_errors

    out = settings.out
    # A user's folder, or a dataset build, is never written into.
    claim_output_folder(out, EVAL_MARKER, EVAL_FILES, {"kind": "eval"}, legacy_file="imb_summary.json")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".imb_write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ImbError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    for kind in settings.kinds:
        load_for_tasks(kind, settings.metadata)
    if settings.num_fewshot:
        _check_fewshot_pools(settings)
    if any(t.startswith("imb_qa_rag") for t in settings.tasks):
        from lm_eval_tasks.imb_common.rag import checked_index

        with task_errors():
            checked_index(settings.metadata)
    if "qa" in settings.kinds:
        from imb_tools.metrics.bertscore import get_scorer, settings_from_metadata

        scoring = settings_from_metadata(settings.metadata)
        get_scorer(scoring["bertscore_model"], scoring["bertscore_layers"])  # loads it, or one line


def _check_fewshot_pools(settings: EvalSettings) -> None:
    """--num-fewshot N draws from dev (IMB-MCQA) / validation (IMB-QA): a build whose pool is
    smaller (--dev-fraction 0 makes it empty) cannot give N shots."""
    from imb_tools.evaluation.task_data import load_for_tasks

    pools = {"mcqa": "dev", "qa": "validation"}
    for kind in settings.kinds:
        dsd = load_for_tasks(kind, settings.metadata)
        have = len(dsd[pools[kind]]) if pools[kind] in dsd else 0
        if have < settings.num_fewshot:
            raise ImbError(f"--num-fewshot {settings.num_fewshot}: the IMB-{kind.upper()} data has "
                           f"{have} {pools[kind]} item(s) to draw examples from")


def _load_model(settings: EvalSettings, batch_size, device, extra: dict):
    """lm-eval's model, with a model it cannot load said in one line."""
    from lm_eval.api.registry import get_model

    try:
        model_class = get_model(settings.model)
    except (ValueError, KeyError) as exc:
        raise ImbError(f"--model {settings.model}: not an lm-eval model type ({exc})") from None
    try:
        return model_class.create_from_arg_obj(
            settings.model_arguments(),
            {"batch_size": batch_size, "max_batch_size": extra.pop("max_batch_size", None), "device": device})
    except (OSError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImbError(f"--model {settings.model} --model-args {settings.model_args}: cannot load the "
                       f"model: {first}") from None


def run_eval(settings: EvalSettings) -> int:
    from imb_tools.infra.errors import require

    require("lm_eval", "eval")
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from imb_tools.evaluation.task_data import pin_sources
    from imb_tools.evaluation.tasks import task_set_hash, tasks_path
    from imb_tools.metrics import task_errors

    quiet(settings.verbose)
    extra = dict(settings.lm_eval_options)
    metadata = pin_sources(settings.kinds, settings.metadata)
    folder = tasks_path(settings.data_dir)
    include = [str(folder)] + ([settings.include_path] if settings.include_path else [])
    model_args = settings.model_arguments()
    tasks = list(settings.tasks)
    manager = TaskManager(include_path=include, include_defaults=False, metadata=model_args | metadata)
    if not all(t.startswith("imb_") or manager.match_tasks([t]) for t in tasks):
        manager = TaskManager(include_path=include, metadata=model_args | metadata)
    unknown = [t for t in tasks if not manager.match_tasks([t])]
    if unknown:
        raise ImbError(f"unknown task '{unknown[0]}' (IMB tasks: {IMB_TASKS_HINT})")
    preflight(replace(settings, metadata=metadata))
    provenance = run_provenance(settings, metadata, folder, task_set_hash(folder), extra)

    device = settings.device or extra.pop("device", None)
    if device is None:  # lm-eval's HF backend wants one (its CLI defaults to cuda:0)
        import torch

        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    extra.pop("device", None)
    batch_size = extra.pop("batch_size", None) or settings.batch_size
    key = settings_key({k: provenance[k] for k in ("model", "model_args", "limit", "num_fewshot",
                                                   "apply_chat_template", "fewshot_as_multiturn",
                                                   "system_instruction", "task_set_hash", "data",
                                                   "gen_kwargs", "metadata")})
    done_dir = settings.out / DONE_DIR
    lm = None
    per_task: dict[str, dict] = {}
    for task in tasks:
        marker = done_dir / f"{task}.json"
        if not settings.redo and marker.is_file():
            previous = json.loads(marker.read_text(encoding="utf-8"))
            if previous.get("settings_key") == key and Path(previous.get("results", "")).is_file():
                print(f"{task}: already done in {previous['results']} (skipped; --redo to rerun)")
                per_task[task] = previous
                continue
        if lm is None:
            lm = _load_model(settings, batch_size, device, extra)
        tracker = EvaluationTracker(output_path=str(settings.out), **_hub_args(extra))
        started = time.time()
        with task_errors():  # the task folder's one-line errors (data, settings) as imb: error:
            results = simple_evaluate(
                model=lm, model_args=settings.model_args, tasks=[task], num_fewshot=settings.num_fewshot,
                batch_size=batch_size, device=device, limit=settings.limit, log_samples=True,
                evaluation_tracker=tracker, system_instruction=settings.system_instruction,
                apply_chat_template=settings.apply_chat_template,
                fewshot_as_multiturn=settings.fewshot_as_multiturn, gen_kwargs=settings.gen_kwargs,
                task_manager=manager, random_seed=settings.seed, numpy_random_seed=settings.seed,
                torch_random_seed=settings.seed, fewshot_random_seed=settings.seed, **extra,
            )
        if results is None:  # a non-zero rank under accelerate: rank 0 writes
            return 0
        results["config"]["model"] = settings.model
        results["imb_provenance"] = provenance
        tracker.general_config_tracker.model_source = settings.model
        samples = results.pop("samples", None)
        tracker.save_results_aggregated(results=results, samples=samples)
        for name in results["configs"]:
            tracker.save_results_samples(task_name=name, samples=(samples or {}).get(name, []))
        results_file = _latest(settings.out, "results_*.json")
        figures = task_figures(results, samples or {}, metadata)
        entry = {"settings_key": key, "results": str(results_file), "figures": figures,
                 "seconds": round(time.time() - started, 1)}
        write_json_atomic(marker, entry)
        per_task[task] = entry
    summary = {"provenance": provenance,
               "tasks": {t: e["figures"] for t, e in per_task.items()},
               "seconds": {t: e.get("seconds") for t, e in per_task.items()}}
    _items_in_split(summary, metadata)
    write_json_atomic(settings.out / SUMMARY, summary)
    for entry in per_task.values():  # beside each results file, for `imb leaderboard build`
        results_file = Path(entry["results"])
        write_json_atomic(results_file.with_name(results_file.name.replace("results_", "imb_summary_")),
                          {"provenance": provenance, "tasks": summary["tasks"]})
    print(format_summary(summary))
    print(f"results: {settings.out.resolve()} (imb_summary.json, lm-eval results_*.json and samples_*.jsonl)")
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


def run_provenance(settings: EvalSettings, metadata: dict, folder, task_hash, extra) -> dict:
    """What a result depends on besides the model's weights: recorded in every summary and
    leaderboard row, and compared before averaging."""
    import lm_eval

    from imb_tools.data.sources import describe
    from imb_tools.evaluation.task_data import resolve_source

    data = {kind: describe(resolve_source(kind, metadata)) for kind in settings.kinds}
    scoring = {k: metadata.get(k) for k in ("bertscore_model", "bertscore_layers", "qa_max_items")}
    return {
        "model": settings.model, "model_args": settings.model_args, "tasks": list(settings.tasks),
        "data": data, "is_sample": any(d.get("is_sample") for d in data.values()),
        "task_set": str(folder), "task_set_hash": task_hash,
        "limit": settings.limit, "num_fewshot": settings.num_fewshot or 0,
        "apply_chat_template": settings.apply_chat_template,
        "fewshot_as_multiturn": settings.fewshot_as_multiturn,
        "system_instruction": settings.system_instruction, "gen_kwargs": settings.gen_kwargs,
        "metadata": {k: v for k, v in settings.metadata.items() if k not in ("data_dir",)},
        "scoring": scoring, "lm_eval_version": lm_eval.__version__,
        "lm_eval_options": {k: _plain(v) for k, v in sorted(extra.items())},
    }


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
