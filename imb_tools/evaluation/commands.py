"""`imb tasks generate`, `imb tasks path` and `imb eval`: the lm-evaluation-harness side of IMB.

lm-eval 0.4 has no entry point for outside task packages, so these commands
hand it the task folder (`--include_path`) and, for `imb eval`, call its
Python API with the path and the data folder preset.
"""

from __future__ import annotations

from imb_tools.cli_options import (seed, deprecated_alias, input_option, json_object, local_or_hub, nonnegative_int,
                                   output_option, positive_float, positive_int, torch_device)
from imb_tools.data.options import built_data_paths
from imb_tools.evaluation.settings import metadata_paths, model_args_paths
from imb_tools.metrics.bertscore import DEFAULT_MODEL as BERTSCORE_MODEL


def _pass_through(parser_class):
    """`imb eval`'s parser class: the CLI's own (one-line usage errors), except that options it
    does not know are kept for lm-eval (in `lm_eval_args`) instead of failing, so lm-eval's
    own flags need no re-declaring."""

    class PassThroughParser(parser_class):
        def parse_known_args(self, args=None, namespace=None):
            namespace, extra = super().parse_known_args(args, namespace)
            namespace.lm_eval_args = list(getattr(namespace, "lm_eval_args", None) or []) + extra
            return namespace, []

    return PassThroughParser


def register(subparsers) -> None:
    tasks = subparsers.add_parser("tasks", help="lm-eval task YAMLs for IMB",
                                  description="Write the lm-eval task YAMLs of IMB.")
    tsub = tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    gen = tsub.add_parser(
        "generate", help="write the task set for one build (per-category groups)",
        description="Write the task set for one build into --out: per-category groups "
                    "(imb_mcqa_by_category, imb_qa_by_macro, imb_qa_rag_by_macro) and the complete "
                    "tasks (imb_mcqa, imb_mcqa_mp, imb_mcqa_cloze, imb_qa, imb_qa_rag), all defaulting "
                    "to that build. The shipped task folder is hand-written; this writes only stubs "
                    "(lm_eval_tasks/make_category_tasks.py does the same without imb).",
    )
    input_option(gen, "--data", required=True, metavar="DIR", paths=built_data_paths,
                 help="built IMB-MCQA/IMB-QA folder, or a parent of qa/ and mcqa/")
    deprecated_alias(gen, "--data-dir", "--data", "data")
    output_option(gen, "--out", required=True, metavar="DIR",
                  help="folder for the task set (pass it to --include_path)")
    gen.set_defaults(func=_cmd_generate)

    # `imb tasks path` (cli.py turns the old `imb tasks-path` into it, with a warning)
    path = tsub.add_parser(
        "path", help="print the folder to pass to lm_eval --include_path",
        description="Print the installed IMB task folder (no data needed), or with --data a task "
                    "set made for that built dataset, defaulting to it and with per-category "
                    "groups (cached, reused while the dataset is unchanged).",
    )
    input_option(path, "--data", metavar="DIR", paths=built_data_paths,
                 help="built dataset folder (or a parent of qa/ and mcqa/)")
    deprecated_alias(path, "--data-dir", "--data", "data")
    path.set_defaults(func=_cmd_tasks_path)

    saved = subparsers._parser_class
    subparsers._parser_class = _pass_through(saved)
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
    # What eval reads and writes is declared (cli_options.check_io refuses an --out on, inside or
    # above any of it): the model's folder is in --model-args (--model is lm-eval's model type,
    # hf, vllm...), the RAG index and data folders may be in --metadata.
    input_option(ev, "--model", default="hf", help="lm-eval model type: hf, vllm, local-completions...")
    input_option(ev, "--model-args", default="", paths=model_args_paths,
                 help="lm-eval model args, e.g. pretrained=ORG/NAME,dtype=bfloat16")
    ev.add_argument("--tasks", default="imb_mcqa,imb_qa", help="comma-separated tasks or groups")
    input_option(ev, "--data", type=local_or_hub, metavar="DIR|ORG/NAME", paths=built_data_paths,
                 help="built dataset folder or a parent of qa/ and mcqa/, or a "
                      "published built repo (default: IMB_DATA_DIR, IMB_QA_REPO / "
                      "IMB_MCQA_REPO, else the gated raw repo built once into the cache)")
    deprecated_alias(ev, "--data-dir", "--data", "data")
    output_option(ev, "--out", metavar="DIR", help="folder for results, samples and summary")
    deprecated_alias(ev, "--output", "--out", "out")
    ev.add_argument("--num-fewshot", type=nonnegative_int, help="few-shot examples (from dev / validation)")
    ev.add_argument("--batch-size", default="1", help="batch size, or 'auto'")
    ev.add_argument("--device", type=torch_device, help="e.g. cuda:0 or cpu (default: cuda:0 when available)")
    ev.add_argument("--limit", type=positive_float, help="at most this many documents per task (debugging; "
                                                "such runs are marked and kept out of the leaderboard)")
    ev.add_argument("--qa-max-items", type=positive_int, help="IMB-QA items per macro-category (default 2000)")
    input_option(ev, "--bertscore-model", type=local_or_hub, metavar="MODEL",
                 help=f"BERTScore model (default {BERTSCORE_MODEL}, the paper's)")
    ev.add_argument("--bertscore-layers", type=positive_int,
                    help="BERTScore layer, 1 to the model's layer count (needed for local paths)")
    input_option(ev, "--metadata", default={}, type=json_object, paths=metadata_paths,
                 help="more task metadata as a JSON object (e.g. rag_index, rag_k)")
    ev.add_argument("--gen-kwargs", help="generation overrides, e.g. max_gen_toks=256")
    ev.add_argument("--apply-chat-template", action="store_true", help="use the model's chat template")
    ev.add_argument("--fewshot-as-multiturn", action="store_true",
                    help="few-shot examples as chat turns (with --apply-chat-template)")
    ev.add_argument("--system-instruction", help="system prompt")
    input_option(ev, "--include-path", metavar="DIR", help="another task folder to search as well")
    ev.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    ev.add_argument("--redo", action="store_true", help="rerun tasks already finished in --out")
    ev.set_defaults(func=_cmd_eval)


def _cmd_generate(args) -> int:
    from imb_tools.evaluation.tasks import write_task_set

    count = write_task_set(args.data, args.out)
    print(f"wrote {count} files into {args.out}")
    return 0


def _cmd_tasks_path(args) -> int:
    from imb_tools.evaluation.tasks import tasks_path

    print(tasks_path(args.data))
    return 0


def _cmd_eval(args) -> int:
    from imb_tools.evaluation.run import run_eval
    from imb_tools.evaluation.settings import EvalSettings

    return run_eval(EvalSettings.from_args(args))
