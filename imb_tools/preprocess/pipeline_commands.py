"""`imb reformulate`, `imb categorize`, `imb difficulty` and `imb preprocess`.

Registered by `imb_tools.preprocess.commands.register` through `register_more`.
Heavy libraries load inside the handlers, so `imb --help` stays instant.
"""

from __future__ import annotations

import json

from imb_tools.preprocess.categorize import DEFAULT_EMBEDDING_MODEL

MODEL_HELP = ("local model folder or Hub id (transformers), or 'openai:<model>@<base_url>' for an "
              "OpenAI-compatible server such as vLLM (key from $IMB_LLM_API_KEY or $OPENAI_API_KEY)")


def register_more(subparsers) -> None:
    _register_reformulate(subparsers)
    _register_categorize(subparsers)
    _register_difficulty(subparsers)
    _register_preprocess(subparsers)


# ---------------------------------------------------------------- shared options
def _add_llm_options(p) -> None:
    p.add_argument("--cache", help="per-record generation cache, JSONL (default: <out>.cache.jsonl); "
                                   "rerunning a killed job resumes from it")
    p.add_argument("--max-new-tokens", type=int, default=512, help="token budget per text (default: %(default)s)")
    p.add_argument("--batch-size-llm", type=int, default=8,
                   help="prompts per forward pass for a local model (default: %(default)s)")
    p.add_argument("--max-concurrency", type=int, default=8,
                   help="requests in flight at once to a server (default: %(default)s)")
    p.add_argument("--max-retries", type=int, default=5,
                   help="retries with exponential backoff on 429/5xx/timeouts (default: %(default)s)")
    p.add_argument("--api-key-env", help="environment variable holding the server's API key")


def backend_kwargs(args) -> dict:
    """Constructor options for the backend the spec names (see imb_tools.llm.make_backend)."""
    if args.model and args.model.startswith("openai:"):
        return {"max_concurrency": args.max_concurrency, "max_retries": args.max_retries,
                "api_key_env": args.api_key_env}
    return {"batch_size": args.batch_size_llm}


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


# ---------------------------------------------------------------- imb reformulate
def _register_reformulate(sub) -> None:
    p = sub.add_parser(
        "reformulate",
        help="rewrite doctors' answers with an LLM (clear, consistent, no colloquialisms)",
        description="Reformulate one text column with an LLM, following the paper's three criteria and "
                    "keeping the medical content. Empty, truncated or non-Italian outputs keep the original "
                    "and are flagged in <out-column>_flag. Resumable: every generation is cached.",
    )
    p.add_argument("--in", dest="in_path", required=True, help="input table (.jsonl, .json, .csv, .parquet)")
    p.add_argument("--out", required=True, help="output table; format from the extension")
    p.add_argument("--column", default="testo_risposta", help="text column to reformulate (default: %(default)s)")
    p.add_argument("--out-column", help="where the result goes (default: <column>_riformulata)")
    p.add_argument("--context-column", help="column shown to the model as context, e.g. testo_domanda")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default: %(default)s)")
    p.add_argument("--report", help="also write the counts as JSON here")
    p.add_argument("--model", required=True, metavar="SPEC", help=MODEL_HELP)
    _add_llm_options(p)
    p.set_defaults(func=_reformulate)


def _reformulate(args) -> int:
    from imb_tools.preprocess.reformulate import reformulate_table

    report = reformulate_table(
        args.in_path, args.out, args.column, args.model, out_column=args.out_column,
        context_column=args.context_column, cache_path=args.cache, max_new_tokens=args.max_new_tokens,
        temperature=args.temperature, backend_kwargs=backend_kwargs(args),
    )
    if args.report:
        from imb_tools.atomic import write_json_atomic

        write_json_atomic(args.report, report)
    _print_json(report)
    return 0


# ---------------------------------------------------------------- imb categorize
def _register_categorize(sub) -> None:
    p = sub.add_parser(
        "categorize",
        help="BERTopic topics (sentence-transformers + UMAP + HDBSCAN) vs. the known categories",
        description="Fit BERTopic on one text column and report how topics match the categories and "
                    "macro-categories: contingency tables, purity, NMI, ARI, outliers.",
    )
    p.add_argument("--in", dest="in_path", required=True,
                   help="table (.jsonl, .json, .csv, .parquet) or a folder made by 'imb build'")
    p.add_argument("--split", help="split of a built dataset (default: all splits)")
    p.add_argument("--out", help="write the input plus topic and topic_label columns here")
    p.add_argument("--report-dir", required=True, help="report.json, topics.csv, contingency_*.csv go here")
    p.add_argument("--column", help="text column (default: question, testo_domanda or Question)")
    p.add_argument("--category-column", help="category column (default: category, categoria or Category)")
    p.add_argument("--model", default=DEFAULT_EMBEDDING_MODEL,
                   help="sentence-transformers model, Hub id or folder (default: %(default)s)")
    p.add_argument("--min-topic-size", type=int, help="HDBSCAN min_cluster_size (default: scaled to the corpus)")
    p.add_argument("--seed", type=int, default=42, help="UMAP random state (default: %(default)s)")
    p.set_defaults(func=_categorize)


def _categorize(args) -> int:
    from imb_tools.preprocess.categorize import categorize

    report = categorize(args.in_path, args.out, args.report_dir, split=args.split, column=args.column,
                        category_column=args.category_column, model=args.model,
                        min_topic_size=args.min_topic_size, seed=args.seed)
    summary = {k: report[k] for k in ("topics_found",) if k in report}
    for level in ("category", "macro_category"):
        if level in report:
            summary[level] = {k: report[level][k] for k in ("purity", "nmi", "ari", "outlier_share")}
    _print_json({**summary, "report": f"{args.report_dir}/report.json"})
    return 0


# ---------------------------------------------------------------- imb difficulty
def _register_difficulty(sub) -> None:
    p = sub.add_parser(
        "difficulty",
        help="difficulty index; share of questions above average per category (table + PNG)",
        description="IMB-QA: index from length, medical-term density and syntax (z-scores, averaged). "
                    "IMB-MCQA: 1 - percentage_correct. Writes per-category and per-macro-category shares of "
                    "questions above average as CSV and PNG (the paper's Figures 2 and 3).",
    )
    p.add_argument("--in", dest="in_path", required=True,
                   help="table (.jsonl, .json, .csv, .parquet) or a folder made by 'imb build'")
    p.add_argument("--split", help="split of a built dataset (default: all splits)")
    p.add_argument("--report-dir", required=True, help="report.json, difficulty_by_*.csv/.png go here")
    p.add_argument("--out", help="write the input plus difficulty_index and difficulty_above_average here")
    p.add_argument("--mode", choices=("auto", "text", "accuracy"), default="auto",
                   help="text index, accuracy (percentage_correct), or auto (default: %(default)s)")
    p.add_argument("--column", help="question column for the text index (default: question, testo_domanda)")
    p.add_argument("--category-column", help="category column (default: category or categoria)")
    p.add_argument("--terms", help="medical term list (default: imb_tools/preprocess/medical_terms.txt)")
    p.set_defaults(func=_difficulty)


def _difficulty(args) -> int:
    from imb_tools.preprocess.difficulty import difficulty

    report = difficulty(args.in_path, args.report_dir, out_path=args.out, column=args.column,
                        category_column=args.category_column, split=args.split, mode=args.mode,
                        terms_path=args.terms)
    tables = {name: t["png"] for name, t in report["tables"].items()}
    share = report["share_above_average"]
    print(f"{report['scored']} of {report['questions']} questions scored ({report['mode']}); "
          f"{share:.2f}% above average" if share is not None else "no question could be scored")
    for name, png in tables.items():
        print(f"  by {name}: {png}")
    return 0


# ---------------------------------------------------------------- imb preprocess
def _register_preprocess(sub) -> None:
    from imb_tools.preprocess.anonymize import MODES

    p = sub.add_parser(
        "preprocess",
        help="chain clean -> anonymize -> reformulate -> categorize before 'imb build'",
        description="Run the preprocessing steps in order on a forum dump. Clean and anonymize run by "
                    "default; reformulation runs when --reformulate names a model (its output goes to "
                    "<answer>_riformulata, the column 'imb build' reads); categorization with --categorize.",
    )
    p.add_argument("--in", dest="in_path", required=True, help="input table (.jsonl, .json, .csv, .parquet)")
    p.add_argument("--out", required=True, help="output table; format from the extension")
    p.add_argument("--report-dir", help="preprocess.json and step reports (default: <out stem>.report/)")
    p.add_argument("--quarantine", help="records dropped by cleaning (default: <out stem>.quarantine.jsonl)")
    p.add_argument("--column-question", default="testo_domanda", help="(default: %(default)s)")
    p.add_argument("--column-answer", default="testo_risposta", help="(default: %(default)s)")
    p.add_argument("--no-clean", dest="clean", action="store_false", help="skip cleaning")
    p.add_argument("--min-words", type=int, default=5, help="cleaning: shorter questions are quarantined")
    p.add_argument("--no-anonymize", dest="anonymize", action="store_false", help="skip anonymization")
    p.add_argument("--anonymize-columns", nargs="+",
                   help="columns to anonymize (default: the question and answer columns)")
    p.add_argument("--anonymize-mode", choices=MODES, default="placeholder", help="(default: %(default)s)")
    p.add_argument("--ner-model", help="extra token-classification model for anonymization")
    p.add_argument("--llm-check", metavar="SPEC", help="LLM that confirms flagged names/places are sensitive")
    p.add_argument("--reformulate", dest="model", metavar="SPEC",
                   help="reformulate answers with this model: " + MODEL_HELP)
    p.add_argument("--categorize", action="store_true", help="add BERTopic topics of the questions")
    p.add_argument("--embedding-model", default=DEFAULT_EMBEDDING_MODEL, help="(default: %(default)s)")
    p.add_argument("--category-column", help="categories to compare topics with (default: categoria)")
    p.add_argument("--num-proc", type=int, default=1, help="worker processes for clean/anonymize")
    p.add_argument("--batch-size", type=int, default=64, help="records per map batch (default: %(default)s)")
    _add_llm_options(p)
    p.set_defaults(func=_preprocess)


def _preprocess(args) -> int:
    from imb_tools.preprocess.pipeline import preprocess

    report = preprocess(
        args.in_path, args.out, report_dir=args.report_dir, question_column=args.column_question,
        answer_column=args.column_answer, clean=args.clean, min_words=args.min_words,
        anonymize=args.anonymize, anonymize_columns=args.anonymize_columns,
        anonymize_mode=args.anonymize_mode, ner_model=args.ner_model, llm_check=args.llm_check,
        reformulate_model=args.model, backend_kwargs=backend_kwargs(args), cache_path=args.cache,
        max_new_tokens=args.max_new_tokens, categorize=args.categorize,
        embedding_model=args.embedding_model, category_column=args.category_column,
        num_proc=args.num_proc, batch_size=args.batch_size, quarantine_path=args.quarantine,
    )
    print(f"preprocessed {report['records_in']} records ({' -> '.join(report['steps']) or 'no step'}): "
          f"{report['records_out']} out, {report['quarantined']} quarantined; report {report['report']}")
    return 0
