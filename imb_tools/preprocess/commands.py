"""`imb clean`, `imb anonymize` and the other preprocessing subcommands.

Cleaning and anonymization are registered here; reformulation and the
`preprocess` chain in `pipeline_commands`.
"""

from __future__ import annotations

import json

from imb_tools.cli_options import (deprecated_alias, existing_file, input_option, llm_spec, local_or_hub,
                                   nonnegative_int, output_option, spec_model_paths)


def register(subparsers) -> None:
    _register_clean(subparsers)
    _register_anonymize(subparsers)
    from imb_tools.preprocess.pipeline_commands import register_more

    register_more(subparsers)


def _register_clean(sub) -> None:
    p = sub.add_parser(
        "clean",
        help="strip signatures, salutations, timestamps; quarantine truncated questions",
        description="Clean forum Q/A records (rules in imb_tools/preprocess/clean.py). Kept rows go to --out "
        "(every field kept), dropped ones to the quarantine file with a reason; the report counts each rule.",
    )
    input_option(p, "--in", dest="in_path", required=True, type=existing_file, metavar="FILE",
                 help="input table (.jsonl, .json, .csv, .parquet)")
    p.add_argument("--question-column", default="testo_domanda", help="question column")
    deprecated_alias(p, "--column-question", "--question-column", dest="question_column")
    p.add_argument("--answer-column", default="testo_risposta", help="answer column")
    deprecated_alias(p, "--column-answer", "--answer-column", dest="answer_column")
    output_option(p, "--out", required=True, metavar="FILE", help="output table; format from the extension")
    output_option(p, "--report", metavar="FILE", help="JSON report with counts per rule")
    output_option(p, "--quarantine", metavar="FILE",
                  help="JSONL of dropped records (default: <out stem>.quarantine.jsonl)")
    p.add_argument("--min-words", type=nonnegative_int, default=5,
                   help="shorter questions are quarantined (default: %(default)s)")
    p.set_defaults(func=_clean)


def _clean(args) -> int:
    from imb_tools.preprocess.clean import clean_table

    report = clean_table(
        args.in_path, args.question_column, args.answer_column, args.out,
        report_path=args.report, quarantine_path=args.quarantine, min_words=args.min_words,
    )
    stripped = ", ".join(f"{k} {v}" for k, v in report["answer_rules"].items() if v) or "nothing"
    print(
        f"cleaned {report['records_in']} records: {report['records_out']} kept, {report['quarantined']} quarantined "
        f"({report['quarantine']}); answers: {stripped}"
    )
    return 0


def _register_anonymize(sub) -> None:
    from imb_tools.preprocess.anonymize import DEFAULT_NER_MODEL, EVAL_SIZE, MODES, PLACE_POLICIES

    p = sub.add_parser(
        "anonymize",
        help="replace personal data (names, contacts, IDs, addresses, places) in one text column",
        description="Find PII with Presidio's Italian recognizers plus the project's (names, spaced-out "
        "websites, addresses, hospitals, places) and replace it; every other field is kept.",
    )
    input_option(p, "--in", dest="in_path", required=True, type=existing_file, metavar="FILE",
                 help="input table (.jsonl, .json, .csv, .parquet)")
    p.add_argument("--column", required=True, help="text column to anonymize (replaced in the output)")
    output_option(p, "--out", required=True, metavar="FILE", help="output table; format from the extension")
    output_option(p, "--report", metavar="FILE", help="JSON report: share of texts with PII before/after, per type")
    p.add_argument("--mode", choices=MODES, default="placeholder",
                   help="typed placeholders like [NOME] or realistic Faker it_IT surrogates (default: %(default)s)")
    input_option(p, "--ner-model", nargs="?", const=DEFAULT_NER_MODEL, default=None, type=local_or_hub,
                 help=f"also run a token-classification model (Hub id or path; bare flag: {DEFAULT_NER_MODEL})")
    input_option(p, "--llm-check", metavar="SPEC", default=None, type=llm_spec, paths=spec_model_paths,
                 help="ask an LLM (imb_tools.llm spec) whether flagged names/places are really sensitive")
    p.add_argument("--places", choices=PLACE_POLICIES, default="replace", dest="place_policy",
                   help="replace: every town and place goes, as in the published data (default); care: keep towns "
                        "where the text sends a patient for care, never in a signature, a dateline or beside a name")
    p.add_argument("--eval-size", type=nonnegative_int, default=EVAL_SIZE,
                   help="synthetic held-out answers run to report the detector's recall beside its own before/after "
                        "counts; 0 skips it (default: %(default)s)")
    p.set_defaults(func=_anonymize)


def _anonymize(args) -> int:
    from imb_tools.preprocess.anonymize import anonymize_table

    report = anonymize_table(
        args.in_path, args.column, args.out, report_path=args.report, mode=args.mode,
        ner_model=args.ner_model, llm_check=args.llm_check, eval_size=args.eval_size,
        place_policy=args.place_policy,
    )
    before, after, recall = report["before"], report["after"], report["detector_recall"]
    measured = (f"on synthetic held-out answers it leaves PII in {recall['answer_residual']:.1%} of them, "
                f"a person's name in {recall['name_residual']:.2%}"
                if recall["answers"] else "its recall was not measured")
    print(
        f"anonymized {report['texts']} texts ({args.column}, {args.mode}, places: {args.place_policy}): PII found by this detector in "
        f"{before['share']:.1%} before, {after['share']:.1%} after (it cannot count what it misses; {measured}); replaced "
        f"{json.dumps(report['replaced'], ensure_ascii=False)}"
        + (f"; report {args.report}" if args.report else "")
    )
    return 0
