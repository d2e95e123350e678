"""`imb stats`, `imb difficulty` and `imb categorize`: analysis of built datasets and tables.

Heavy libraries load inside the handlers, so `imb --help` stays instant.
"""

from __future__ import annotations

import json

from imb_tools.analysis.categorize import DEFAULT_EMBEDDING_MODEL
from imb_tools.cli_options import (seed, existing_file, existing_path, input_option, local_or_hub, nonnegative_int,
                                   output_option, positive_int)
from imb_tools.data.options import add_data_option


def register(sub) -> None:
    stats = sub.add_parser("stats", help="the paper's Tables 4 and 5 for a built dataset",
                           description="Counts, categories, tokens (spaCy's Italian tokenizer), "
                                       "lengths in characters, and records per macro-category.")
    add_data_option(stats, "folder made by 'imb build', or a Hub repo id")
    output_option(stats, "--json", metavar="FILE", help="also write the figures as JSON")
    stats.set_defaults(func=_stats)
    _register_categorize(sub)
    _register_difficulty(sub)


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def _stats(args) -> int:
    from imb_tools.analysis.stats import compute_stats, format_stats

    stats = compute_stats(args.data)
    print(format_stats(stats))
    if args.json:  # through a temporary file, in a folder made if needed, as every output
        from imb_tools.infra.atomic import write_json_atomic

        write_json_atomic(args.json, stats)
    return 0


# ---------------------------------------------------------------- imb categorize
def _register_categorize(sub) -> None:
    p = sub.add_parser(
        "categorize",
        help="BERTopic topics (sentence-transformers + UMAP + HDBSCAN) vs. the known categories",
        description="Fit BERTopic on one text column and report how topics match the categories and "
                    "macro-categories: contingency tables, purity, NMI, ARI, outliers.",
    )
    input_option(p, "--in", dest="in_path", required=True, type=existing_path, metavar="FILE|DIR",
                 help="table (.jsonl, .json, .csv, .parquet) or a folder made by 'imb build'")
    p.add_argument("--split", help="split of a built dataset (default: all splits)")
    output_option(p, "--out", metavar="FILE", help="write the input plus topic and topic_label columns here")
    output_option(p, "--report-dir", required=True, metavar="DIR",
                  help="report.json, topics.csv, contingency_*.csv go here")
    p.add_argument("--column", help="text column (default: question, testo_domanda or Question)")
    p.add_argument("--category-column", help="category column (default: category, categoria or Category)")
    input_option(p, "--model", default=DEFAULT_EMBEDDING_MODEL, type=local_or_hub,
                 help="sentence-transformers model, Hub id or folder (default: %(default)s)")
    p.add_argument("--min-topic-size", type=positive_int,
                   help="HDBSCAN min_cluster_size (default: scaled to the corpus)")
    p.add_argument("--seed", type=seed, default=42, help="UMAP random state (default: %(default)s)")
    p.set_defaults(func=_categorize)


def _categorize(args) -> int:
    from imb_tools.analysis.categorize import categorize

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
    input_option(p, "--in", dest="in_path", required=True, type=existing_path, metavar="FILE|DIR",
                 help="table (.jsonl, .json, .csv, .parquet) or a folder made by 'imb build'")
    p.add_argument("--split", help="split of a built dataset (default: all splits)")
    output_option(p, "--report-dir", required=True, metavar="DIR",
                  help="report.json, difficulty_by_*.csv/.png go here")
    output_option(p, "--out", metavar="FILE",
                  help="write the input plus difficulty_index and difficulty_above_average here")
    p.add_argument("--mode", choices=("auto", "text", "accuracy"), default="auto",
                   help="text index, accuracy (percentage_correct), or auto (default: %(default)s)")
    p.add_argument("--column", help="question column for the text index (default: question, testo_domanda)")
    p.add_argument("--category-column", help="category column (default: category or categoria)")
    input_option(p, "--terms", type=existing_file, metavar="FILE",
                 help="medical term list (default: imb_tools/analysis/medical_terms.txt)")
    p.set_defaults(func=_difficulty)


def _difficulty(args) -> int:
    from imb_tools.analysis.difficulty import difficulty

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
