"""`imb reformulate` and `imb preprocess`.

Registered by `imb_tools.preprocess.commands.register` through `register_more`.
Heavy libraries load inside the handlers, so `imb --help` stays instant.
"""

from __future__ import annotations

import json

from imb_tools.cli_options import (deprecated_alias, existing_file, input_option, llm_spec, local_or_hub,
                                   nonnegative_float, nonnegative_int, output_option, positive_int,
                                   spec_model_paths)

from imb_tools.analysis.categorize import DEFAULT_EMBEDDING_MODEL

MODEL_HELP = ("local model folder or Hub id (transformers), or 'openai:<model>@<base_url>' for an "
              "OpenAI-compatible server such as vLLM (key from $IMB_LLM_API_KEY or $OPENAI_API_KEY)")


def register_more(subparsers) -> None:
    _register_reformulate(subparsers)
    _register_preprocess(subparsers)


# ---------------------------------------------------------------- shared options
def _add_llm_options(p) -> None:
    output_option(p, "--cache", metavar="FILE",
                  help="per-record generation cache, JSONL (default: <out>.cache.jsonl); "
                       "rerunning a killed job resumes from it")
    p.add_argument("--max-new-tokens", type=positive_int, default=512,
                   help="token budget per text (default: %(default)s)")
    p.add_argument("--llm-batch-size", type=positive_int, default=8,
                   help="prompts per forward pass for a local model")
    deprecated_alias(p, "--batch-size-llm", "--llm-batch-size", dest="llm_batch_size", type=positive_int)
    p.add_argument("--concurrency", type=positive_int, default=8,
                   help="requests in flight at once to a server")
    deprecated_alias(p, "--max-concurrency", "--concurrency", dest="concurrency", type=positive_int)
    p.add_argument("--max-retries", type=nonnegative_int, default=5,
                   help="retries with exponential backoff on 429/5xx/timeouts (default: %(default)s)")
    p.add_argument("--api-key-env", help="environment variable holding the server's API key")


def backend_kwargs(args) -> dict:
    """Constructor options for the backend the spec names (see imb_tools.llm.make_backend)."""
    if args.model and args.model.startswith("openai:"):
        return {"max_concurrency": args.concurrency, "max_retries": args.max_retries,
                "api_key_env": args.api_key_env}
    return {"batch_size": args.llm_batch_size}


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


# ---------------------------------------------------------------- imb reformulate
def _register_reformulate(sub) -> None:
    p = sub.add_parser(
        "reformulate",
        help="rewrite doctors' answers with an LLM (clear, consistent, no colloquialisms)",
        description="Reformulate one text column with an LLM, following the paper's three criteria and "
                    "keeping the medical content. Empty, truncated or non-Italian outputs leave the output empty "
                    "and are flagged in <out-column>_flag; an output column that already holds texts is "
                    "refused without --replace-column. Resumable: every generation is cached.",
    )
    input_option(p, "--in", dest="in_path", required=True, type=existing_file, metavar="FILE",
                 help="input table (.jsonl, .json, .csv, .parquet)")
    output_option(p, "--out", required=True, metavar="FILE", help="output table; format from the extension")
    p.add_argument("--column", default="testo_risposta", help="text column to reformulate (default: %(default)s)")
    p.add_argument("--out-column", help="where the result goes (default: <column>_riformulata)")
    p.add_argument("--context-column", help="column shown to the model as context, e.g. testo_domanda")
    p.add_argument("--temperature", type=nonnegative_float, default=0.0, help="0 = greedy (default: %(default)s)")
    p.add_argument("--replace-column", action="store_true",
                   help="overwrite an output column that already holds texts (refused otherwise)")
    output_option(p, "--report", metavar="FILE", help="also write the counts as JSON here")
    input_option(p, "--model", required=True, metavar="SPEC", type=llm_spec, paths=spec_model_paths, help=MODEL_HELP)
    _add_llm_options(p)
    p.set_defaults(func=_reformulate)


def _reformulate(args) -> int:
    from imb_tools.preprocess.reformulate import reformulate_table

    report = reformulate_table(
        args.in_path, args.out, args.column, args.model, out_column=args.out_column,
        context_column=args.context_column, cache_path=args.cache, max_new_tokens=args.max_new_tokens,
        temperature=args.temperature, backend_kwargs=backend_kwargs(args), replace_column=args.replace_column,
    )
    if args.report:
        from imb_tools.infra.atomic import write_json_atomic

        write_json_atomic(args.report, report)
    _print_json(report)
    _warn_rejections(report, report["records"])
    return 0


def _warn_rejections(stats: dict | None, records: int) -> None:
    import sys

    from imb_tools.preprocess.reformulate import rejection_warning

    line = rejection_warning(stats or {}, records) if stats else None
    if line:
        print(f"imb: {line}", file=sys.stderr)


# ---------------------------------------------------------------- imb preprocess
def _register_preprocess(sub) -> None:
    from imb_tools.preprocess.anonymize import MODES

    p = sub.add_parser(
        "preprocess",
        help="chain clean -> anonymize -> reformulate -> categorize before 'imb build'",
        description="Run the preprocessing steps in order on a forum dump. Clean and anonymize run by "
                    "default; reformulation runs when --reformulate-model names one (its output goes to "
                    "<answer>_riformulata, the column 'imb build' reads); categorization with --categorize.",
    )
    input_option(p, "--in", dest="in_path", required=True, type=existing_file, metavar="FILE",
                 help="input table (.jsonl, .json, .csv, .parquet)")
    output_option(p, "--out", required=True, metavar="FILE", help="output table; format from the extension")
    output_option(p, "--report-dir", metavar="DIR",
                  help="preprocess.json and step reports (default: <out stem>.report/)")
    output_option(p, "--quarantine", metavar="FILE",
                  help="records dropped by cleaning (default: <out stem>.quarantine.jsonl)")
    p.add_argument("--question-column", default="testo_domanda", help="question column")
    deprecated_alias(p, "--column-question", "--question-column", dest="question_column")
    p.add_argument("--answer-column", default="testo_risposta", help="answer column")
    deprecated_alias(p, "--column-answer", "--answer-column", dest="answer_column")
    p.add_argument("--no-clean", dest="clean", action="store_false", help="skip cleaning")
    p.add_argument("--min-words", type=nonnegative_int, default=5, help="cleaning: shorter questions are quarantined")
    p.add_argument("--no-anonymize", dest="anonymize", action="store_false", help="skip anonymization")
    p.add_argument("--anonymize-columns", nargs="+",
                   help="columns to anonymize (default: the question and answer columns)")
    p.add_argument("--anonymize-mode", choices=MODES, default="placeholder", help="(default: %(default)s)")
    input_option(p, "--ner-model", type=local_or_hub, help="extra token-classification model for anonymization")
    input_option(p, "--llm-check", metavar="SPEC", type=llm_spec, paths=spec_model_paths,
                 help="LLM that confirms flagged names/places are sensitive")
    input_option(p, "--reformulate-model", dest="model", metavar="SPEC", type=llm_spec, paths=spec_model_paths,
                 help="reformulate answers with this model: " + MODEL_HELP)
    deprecated_alias(p, "--reformulate", "--reformulate-model", dest="model", type=llm_spec)
    p.add_argument("--replace-column", action="store_true",
                   help="overwrite an existing <answer>_riformulata column that holds texts (refused otherwise)")
    p.add_argument("--categorize", action="store_true", help="add BERTopic topics of the questions")
    input_option(p, "--categorize-model", dest="embedding_model", default=DEFAULT_EMBEDDING_MODEL, type=local_or_hub,
                 help="sentence-transformers model for the topics (default: %(default)s)")
    deprecated_alias(p, "--embedding-model", "--categorize-model", dest="embedding_model", type=local_or_hub)
    p.add_argument("--category-column", help="categories to compare topics with (default: categoria)")
    p.add_argument("--num-proc", type=positive_int, default=1, help="worker processes for clean/anonymize")
    _add_llm_options(p)
    p.set_defaults(func=_preprocess)


def _preprocess(args) -> int:
    from imb_tools.preprocess.pipeline import preprocess

    report = preprocess(
        args.in_path, args.out, report_dir=args.report_dir, question_column=args.question_column,
        answer_column=args.answer_column, clean=args.clean, min_words=args.min_words,
        anonymize=args.anonymize, anonymize_columns=args.anonymize_columns,
        anonymize_mode=args.anonymize_mode, ner_model=args.ner_model, llm_check=args.llm_check,
        reformulate_model=args.model, backend_kwargs=backend_kwargs(args), cache_path=args.cache,
        max_new_tokens=args.max_new_tokens, categorize=args.categorize,
        embedding_model=args.embedding_model, category_column=args.category_column,
        num_proc=args.num_proc, quarantine_path=args.quarantine,
        replace_column=args.replace_column,
    )
    _warn_rejections(report.get("reformulate"), report["records_out"])
    print(f"preprocessed {report['records_in']} records ({' -> '.join(report['steps']) or 'no step'}): "
          f"{report['records_out']} out, {report['quarantined']} quarantined; report {report['report']}")
    return 0
