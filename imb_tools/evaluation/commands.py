"""`imb tasks generate`, `imb tasks-path` and `imb eval`: the lm-evaluation-harness side of IMB.

lm-eval 0.4 has no entry point for outside task packages, so these commands
hand it the task folder (`--include_path`) and, for `imb eval`, call its
Python API with the path and the data folder preset.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from imb_tools.cli_options import deprecated_alias
from imb_tools.metrics.bertscore import DEFAULT_MODEL as BERTSCORE_MODEL
from imb_tools.infra.errors import ImbError


class _PassThroughParser(argparse.ArgumentParser):
    """`imb eval`'s parser: options it does not know are kept for lm-eval (in
    `lm_eval_args`) instead of failing, so lm-eval's own flags need no re-declaring."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extra = super().parse_known_args(args, namespace)
        namespace.lm_eval_args = list(getattr(namespace, "lm_eval_args", None) or []) + extra
        return namespace, []


def register(subparsers) -> None:
    tasks = subparsers.add_parser("tasks", help="lm-eval task YAMLs for IMB",
                                  description="Write the lm-eval task YAMLs of IMB.")
    tsub = tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    gen = tsub.add_parser(
        "generate", help="write the task YAMLs (for a built dataset's categories)",
        description="Write the complete tasks imb_mcqa, imb_mcqa_mp, imb_mcqa_cloze, imb_qa and "
                    "imb_qa_rag; with --data, also per-category groups for that dataset "
                    "(imb_mcqa_by_category, imb_qa_by_macro, imb_qa_rag_by_macro). With no --data, "
                    "regenerate the shipped set.",
    )
    gen.add_argument("--data", help="built IMB-MCQA/IMB-QA folder, or a parent of qa/ and mcqa/")
    deprecated_alias(gen, "--data-dir", "--data", "data")
    gen.add_argument("--out", help="output folder (default with no --data: the installed "
                                   "lm_eval_tasks folder)")
    gen.set_defaults(func=_cmd_generate)

    path = subparsers.add_parser(
        "tasks-path", help="print the folder to pass to lm_eval --include_path",
        description="Print the installed IMB task folder (no data needed), or with --data a task "
                    "set generated for that built dataset, defaulting to it and with per-category "
                    "groups (cached, reused while the dataset is unchanged).",
    )
    path.add_argument("--data", help="built dataset folder (or a parent of qa/ and mcqa/)")
    deprecated_alias(path, "--data-dir", "--data", "data")
    path.set_defaults(func=_cmd_tasks_path)

    saved = subparsers._parser_class
    subparsers._parser_class = _PassThroughParser
    try:
        ev = subparsers.add_parser(
            "eval", help="run lm-eval on IMB tasks (wraps lm_eval's Python API)",
            allow_abbrev=False,
            description="Evaluate a model on IMB with lm-evaluation-harness, task path preset. "
                        "Each task's lm-eval results and samples are written into --out as soon "
                        "as it finishes; a rerun with the same settings skips finished tasks. "
                        "imb_summary.json holds per-category tables, macro means, items scored "
                        "and the run's provenance. Any other option (e.g. --use_cache DB, "
                        "--max_batch_size 8, --hf_hub_log_args ...) goes to lm-eval as is.",
        )
    finally:
        subparsers._parser_class = saved
    ev.add_argument("--model", default="hf", help="lm-eval model type: hf, vllm, local-completions...")
    ev.add_argument("--model-args", default="", help="lm-eval model args, e.g. pretrained=ORG/NAME,dtype=bfloat16")
    ev.add_argument("--tasks", default="imb_mcqa,imb_qa", help="comma-separated tasks or groups")
    ev.add_argument("--data", help="built dataset folder or a parent of qa/ and mcqa/, or a "
                                   "published built repo (default: IMB_DATA_DIR, IMB_QA_REPO / "
                                   "IMB_MCQA_REPO, else the gated raw repo built once into the cache)")
    deprecated_alias(ev, "--data-dir", "--data", "data")
    ev.add_argument("--out", help="folder for results, samples and summary")
    deprecated_alias(ev, "--output", "--out", "out")
    ev.add_argument("--num-fewshot", type=int, help="few-shot examples (from dev / validation)")
    ev.add_argument("--batch-size", default="1", help="batch size, or 'auto'")
    ev.add_argument("--device", help="e.g. cuda:0 or cpu (default: cuda:0 when available)")
    ev.add_argument("--limit", type=float, help="at most this many documents per task (debugging; "
                                                "such runs are marked and kept out of the leaderboard)")
    ev.add_argument("--qa-max-items", type=int, help="IMB-QA items per macro-category (default 2000)")
    ev.add_argument("--bertscore-model", help=f"BERTScore model (default {BERTSCORE_MODEL}, the paper's)")
    ev.add_argument("--bertscore-layers", type=int, help="BERTScore layer (needed for local paths)")
    ev.add_argument("--metadata", default="{}", help="more task metadata as a JSON object")
    ev.add_argument("--gen-kwargs", help="generation overrides, e.g. max_gen_toks=256")
    ev.add_argument("--apply-chat-template", action="store_true", help="use the model's chat template")
    ev.add_argument("--fewshot-as-multiturn", action="store_true",
                    help="few-shot examples as chat turns (with --apply-chat-template)")
    ev.add_argument("--system-instruction", help="system prompt")
    ev.add_argument("--include-path", help="another task folder to search as well")
    ev.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ev.add_argument("--redo", action="store_true", help="rerun tasks already finished in --out")
    ev.set_defaults(func=_cmd_eval)


def _cmd_generate(args) -> int:
    from imb_tools.evaluation import tasks as tasks_gen

    if args.data:
        if not args.out:
            raise ImbError("--out is required with --data")
        rendered = tasks_gen.render_for_data(args.data)
        out = Path(args.out)
        if out.resolve() != tasks_gen.shipped_dir().resolve():
            _copy_static(tasks_gen.shipped_dir(), out)
    else:
        out = Path(args.out) if args.out else tasks_gen.shipped_dir()
        rendered = tasks_gen.render_shipped()
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

    print(tasks_path(args.data))
    return 0


def eval_metadata(args) -> dict:
    """Task metadata from the options; explicit options win over --metadata keys."""
    try:
        metadata = json.loads(args.metadata or "{}")
    except json.JSONDecodeError as exc:
        raise ImbError(f"--metadata is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise ImbError("--metadata must be a JSON object")
    data = args.data if args.data and Path(args.data).exists() else None
    if args.data and data is None:
        if str(args.data).count("/") != 1:
            raise ImbError(f"--data {args.data}: no such folder, and not a Hub repo id ORG/NAME")
        tasks = [t for t in str(getattr(args, "tasks", "") or "").split(",") if t]
        kinds = {"mcqa" if t.startswith("imb_mcqa") else "qa" for t in tasks if t.startswith("imb_")}
        if len(kinds) != 1:
            raise ImbError(f"--data {args.data}: a published repo holds one dataset; with both "
                           "IMB-QA and IMB-MCQA tasks give --metadata "
                           "'{\"qa_repo\": ..., \"mcqa_repo\": ...}' (or IMB_QA_REPO / IMB_MCQA_REPO)")
        metadata.setdefault(f"{kinds.pop()}_repo", args.data)
    for key, value in (("data_dir", data), ("qa_max_items", args.qa_max_items),
                       ("bertscore_model", args.bertscore_model),
                       ("bertscore_layers", args.bertscore_layers)):
        if value is not None:
            metadata[key] = str(Path(value).resolve()) if key == "data_dir" else value
    return metadata




def _cmd_eval(args) -> int:
    from imb_tools.evaluation.run import run_eval

    return run_eval(args)
