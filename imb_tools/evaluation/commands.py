"""`imb tasks generate`, `imb tasks-path` and `imb eval`: the lm-evaluation-harness side of IMB.

lm-eval 0.4 has no entry point for outside task packages, so these commands
hand it the task folder (`--include_path`) and, for `imb eval`, call its
Python API with the path and the data folder preset.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from imb_tools.atomic import write_json_atomic
from imb_tools.errors import ImbError


def register(subparsers) -> None:
    tasks = subparsers.add_parser("tasks", help="lm-eval task YAMLs for IMB",
                                  description="Write the lm-eval task YAMLs of IMB.")
    tsub = tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    gen = tsub.add_parser(
        "generate", help="write the task YAMLs for a built dataset's categories",
        description="Write imb_mcqa (one subtask per category), imb_mcqa_mp, imb_mcqa_cloze, "
                    "imb_qa and imb_qa_rag (one subtask per macro-category) for a built dataset. With no "
                    "--data-dir, regenerate the shipped set from the bundled sample.",
    )
    gen.add_argument("--data-dir", help="built IMB-MCQA/IMB-QA folder, or a parent of qa/ and mcqa/")
    gen.add_argument("--out", help="output folder (default with no --data-dir: the installed "
                                   "lm_eval_tasks folder)")
    gen.set_defaults(func=_cmd_generate)

    path = subparsers.add_parser(
        "tasks-path", help="print the folder to pass to lm_eval --include_path",
        description="Print the installed IMB task folder, or with --data-dir a task set generated "
                    "for that built dataset (cached, reused while the dataset is unchanged).",
    )
    path.add_argument("--data-dir", help="built dataset folder (or a parent of qa/ and mcqa/)")
    path.set_defaults(func=_cmd_tasks_path)

    ev = subparsers.add_parser(
        "eval", help="run lm-eval on IMB tasks (wraps lm_eval's Python API)",
        description="Evaluate a model on IMB with lm-evaluation-harness, task path preset. "
                    "Writes lm-eval's results and samples files, plus imb_summary.json "
                    "(micro and macro means) into --output.",
    )
    ev.add_argument("--model", default="hf", help="lm-eval model type: hf, vllm, local-completions...")
    ev.add_argument("--model-args", default="", help="lm-eval model args, e.g. pretrained=ORG/NAME,dtype=bfloat16")
    ev.add_argument("--tasks", default="imb_mcqa,imb_qa", help="comma-separated tasks or groups")
    ev.add_argument("--data-dir", help="built dataset folder or a parent of qa/ and mcqa/ "
                                       "(default: IMB_DATA_DIR, else the Hub repos)")
    ev.add_argument("--output", required=True, help="folder for results, samples and summary")
    ev.add_argument("--num-fewshot", type=int, help="few-shot examples (from dev / validation)")
    ev.add_argument("--batch-size", default="1", help="batch size, or 'auto'")
    ev.add_argument("--device", help="e.g. cuda:0 or cpu (default: cuda:0 when available)")
    ev.add_argument("--limit", type=float, help="at most this many documents per task (debugging)")
    ev.add_argument("--qa-max-items", type=int, help="IMB-QA items per macro-category (default 2000)")
    ev.add_argument("--bertscore-model", help="BERTScore model (default bert-base-multilingual-cased)")
    ev.add_argument("--bertscore-layers", type=int, help="BERTScore layer (needed for local paths)")
    ev.add_argument("--metadata", default="{}", help="more task metadata as a JSON object")
    ev.add_argument("--gen-kwargs", help="generation overrides, e.g. max_gen_toks=256")
    ev.add_argument("--apply-chat-template", action="store_true", help="use the model's chat template")
    ev.add_argument("--system-instruction", help="system prompt")
    ev.add_argument("--hf-hub-log-args", default="",
                    help="lm-eval's hub logging args, e.g. hub_results_org=ORG,push_results_to_hub=True")
    ev.add_argument("--include-path", help="another task folder to search as well")
    ev.add_argument("--no-log-samples", action="store_true", help="do not write per-sample files")
    ev.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ev.set_defaults(func=_cmd_eval)


def _cmd_generate(args) -> int:
    from imb_tools.evaluation import tasks as tasks_gen

    if args.data_dir:
        if not args.out:
            raise ImbError("--out is required with --data-dir")
        rendered = tasks_gen.render_for_data(args.data_dir)
        out = Path(args.out)
        if out.resolve() != tasks_gen.shipped_dir().resolve():
            _copy_static(tasks_gen.shipped_dir(), out)
    else:
        out = Path(args.out) if args.out else tasks_gen.shipped_dir()
        from imb_tools.demo import run_demo

        with tempfile.TemporaryDirectory(prefix="imb-sample-") as tmp:
            run_demo(tmp)  # the bundled sample, built as `imb demo` and the tests build it
            rendered = tasks_gen.render_shipped(tmp)
    tasks_gen.write_task_set(out, rendered)
    count = sum(len(files) for files in rendered.values())
    print(f"wrote {count} YAML files into {out}")
    return 0


def _copy_static(src: Path, dst: Path) -> None:
    """utils.py, READMEs and other task folders: what a generated set needs besides its YAMLs."""
    import shutil

    shutil.copytree(src, dst, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _cmd_tasks_path(args) -> int:
    from imb_tools.evaluation.tasks import tasks_path

    print(tasks_path(args.data_dir))
    return 0


def eval_metadata(args) -> dict:
    """Task metadata from the options; explicit options win over --metadata keys."""
    try:
        metadata = json.loads(args.metadata or "{}")
    except json.JSONDecodeError as exc:
        raise ImbError(f"--metadata is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise ImbError("--metadata must be a JSON object")
    for key, value in (("data_dir", args.data_dir), ("qa_max_items", args.qa_max_items),
                       ("bertscore_model", args.bertscore_model),
                       ("bertscore_layers", args.bertscore_layers)):
        if value is not None:
            metadata[key] = str(Path(value).resolve()) if key == "data_dir" else value
    return metadata


def _cmd_eval(args) -> int:
    from imb_tools.errors import require

    require("lm_eval", "eval")
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager
    from lm_eval.utils import make_table, simple_parse_args_string

    from imb_tools.evaluation.tasks import tasks_path

    metadata = eval_metadata(args)
    include = [str(tasks_path(args.data_dir))]
    if args.include_path:
        include.append(args.include_path)
    model_args = simple_parse_args_string(args.model_args) if args.model_args else {}
    tasks = [t for t in args.tasks.split(",") if t]
    # As lm_eval's CLI does, tasks see the model args (the MCQA loader checks the tokenizer).
    # lm-eval's own thousands of tasks take ~20 s to index: only when a task is not ours.
    manager = TaskManager(include_path=include, include_defaults=False, metadata=model_args | metadata)
    if not all(t.startswith("imb_") or manager.match_tasks([t]) for t in tasks):
        manager = TaskManager(include_path=include, metadata=model_args | metadata)
    unknown = [t for t in tasks if not manager.match_tasks([t])]
    if unknown:
        raise ImbError(f"unknown task '{unknown[0]}' (IMB groups: imb_mcqa, imb_mcqa_mp, "
                       f"imb_mcqa_cloze, imb_qa, imb_qa_rag)")
    hub_args = simple_parse_args_string(args.hf_hub_log_args) if args.hf_hub_log_args else {}
    hub_args["output_path"] = args.output
    if os.environ.get("HF_TOKEN"):
        hub_args["token"] = os.environ["HF_TOKEN"]
    tracker = EvaluationTracker(**hub_args)
    log_samples = not args.no_log_samples
    device = args.device
    if device is None:  # lm-eval's HF backend wants one (its CLI defaults to cuda:0)
        import torch

        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    results = simple_evaluate(
        model=args.model, model_args=model_args, tasks=tasks, num_fewshot=args.num_fewshot,
        batch_size=args.batch_size, device=device, limit=args.limit,
        log_samples=log_samples, evaluation_tracker=tracker,
        system_instruction=args.system_instruction, apply_chat_template=args.apply_chat_template,
        gen_kwargs=args.gen_kwargs, task_manager=manager,
        random_seed=args.seed, numpy_random_seed=args.seed, torch_random_seed=args.seed,
        fewshot_random_seed=args.seed,
    )
    if results is None:  # a non-zero rank under accelerate: rank 0 writes
        return 0
    samples = results.pop("samples", None) if log_samples else None
    tracker.save_results_aggregated(results=results, samples=samples)
    if samples:
        for task_name in results["configs"]:
            tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    if tracker.push_results_to_hub or tracker.push_samples_to_hub:
        tracker.recreate_metadata_card()
    print(make_table(results))
    if "groups" in results:
        print(make_table(results, "groups"))
    summary = summarize(results)
    write_json_atomic(Path(args.output) / "imb_summary.json", summary)
    for group, figures in summary.items():
        shown = ", ".join(f"{k}={v:.4f}" for k, v in figures.items() if isinstance(v, float))
        print(f"{group}: {shown}")
    return 0


def summarize(results: dict) -> dict:
    """Per group: each metric's size-weighted (micro) mean as lm-eval reports it and the
    macro mean over its subtasks (each category or prompt counts once)."""
    summary = {}
    for group, members in results.get("group_subtasks", {}).items():
        if not members or group not in results["results"]:
            continue
        group_res = results["results"][group]
        figures: dict = {"subtasks": len(members), "samples": group_res.get("sample_len")}
        for key, value in group_res.items():
            if "," not in key or "stderr" in key or not isinstance(value, (int, float)):
                continue
            metric = key.split(",")[0]
            figures[f"{metric}_micro"] = float(value)
            values = [results["results"][m].get(key) for m in members if m in results["results"]]
            values = [float(v) for v in values if isinstance(v, (int, float))]
            if values:
                figures[f"{metric}_macro"] = sum(values) / len(values)
        summary[group] = figures
    return summary


