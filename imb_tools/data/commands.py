"""`imb build` and `imb demo`."""

from __future__ import annotations

from imb_tools.cli_options import existing_file, fraction, input_option, output_option
from imb_tools.data.splits import MCQA_FRACTIONS, QA_FRACTIONS


def register(sub) -> None:
    build = sub.add_parser("build", help="build IMB-QA or IMB-MCQA from raw files",
                           description="Validate, quarantine, split and write a dataset folder: "
                                       "Parquet per split, README card, report.json, quarantine.jsonl.")
    kinds = build.add_subparsers(dest="kind", metavar="{qa,mcqa}", required=True)
    qa = kinds.add_parser("qa", help="IMB-QA (forum Q/A)",
                          description="Build IMB-QA from the raw forum file (JSON array, JSON Lines or CSV): "
                                      "validate, quarantine, collapse duplicates, split by question text, write Parquet.")
    _common(qa, "IMB-QA JSON array, JSON Lines or CSV")
    qa.add_argument("--test-fraction", type=fraction, default=QA_FRACTIONS["test"], help="share of records in test")
    qa.add_argument("--validation-fraction", type=fraction, default=QA_FRACTIONS["validation"],
                    help="share of records in validation")
    mc = kinds.add_parser("mcqa", help="IMB-MCQA (exam questions)",
                          description="Build IMB-MCQA from the raw JSON object keyed by category: validate, "
                                      "quarantine, collapse duplicates, split by question text, write Parquet.")
    _common(mc, "IMB-MCQA JSON object keyed by category")
    mc.add_argument("--dev-fraction", type=fraction, default=MCQA_FRACTIONS["dev"],
                    help="share of records in dev (few-shot)")
    build.set_defaults(func=_build)

    demo = sub.add_parser("demo", help="build both datasets from the bundled sample",
                          description="Build IMB-QA and IMB-MCQA from the bundled test sample (written "
                                      "by the project, not IMB data) into OUT/qa and OUT/mcqa, and copy "
                                      "the raw sample files into OUT/raw.")
    output_option(demo, "--out", default="out/demo", metavar="DIR", help="output folder (default: out/demo)")
    demo.add_argument("--tiny-model", action="store_true",
                      help="also write OUT/tiny-llama, a tiny random Llama for trying lm-eval, RAG and "
                           "fine-tuning offline (needs the 'eval' extra); its answers are noise")
    demo.set_defaults(func=_demo)


def _raw_source(text: str) -> str:
    """argparse type: 'hub', 'sample', or a raw file that exists."""
    return text if text in ("hub", "sample") else existing_file(text)


def _raw_paths(value) -> list[str]:
    return [] if value in (None, "hub", "sample") else [value]


def _common(p, what: str) -> None:
    input_option(p, "--raw", default="hub", metavar="PATH|hub|sample", type=_raw_source, paths=_raw_paths,
                 help=f"{what}; 'hub' fetches the gated praiselab-picuslab/IMB file with your token; "
                      f"'sample' uses the bundled test sample")
    output_option(p, "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _build(args) -> int:
    from imb_tools.data.access import build
    from imb_tools.data.prepare import summary_line

    if args.kind == "qa":
        fractions = {"test": args.test_fraction, "validation": args.validation_fraction}
    else:
        fractions = {"dev": args.dev_fraction}
    raw = args.raw
    if raw == "hub":
        raw = None
    elif raw == "sample":
        from imb_tools import sample_data

        raw = str(sample_data.QA_SAMPLE if args.kind == "qa" else sample_data.MCQA_SAMPLE)
    report = build(args.kind, raw, args.out, fractions, progress=not args.no_progress,
                   way_out="pass a local file with --raw PATH")
    print(summary_line(report))
    for warning in report.get("warnings", []):
        print(f"warning: {warning}")
    empty = [s for s, n in report["records_out"].items() if n == 0]
    if empty:
        print(f"warning: no records in split(s) {', '.join(empty)}; raise their fractions for a small file")
    print(f"written to {args.out} (report.json, quarantine.jsonl, data/*.parquet, README.md)")
    return 0


def _demo(args) -> int:
    from imb_tools.data.prepare import summary_line
    from imb_tools.data.demo import run_demo

    reports = run_demo(args.out)
    for name, report in reports.items():
        print(summary_line(report))
        print(f"  -> {args.out}/{name}  (report.json, quarantine.jsonl, data/*.parquet, README.md)")
    print(f"raw sample files (for trying the preprocessing commands) -> {args.out}/raw")
    if args.tiny_model:
        from pathlib import Path

        from imb_tools.infra.errors import require

        require("transformers", "eval")
        from imb_tools.tiny_model import make_tiny_llama

        path = make_tiny_llama(Path(args.out) / "tiny-llama")
        print(f"tiny random Llama (for offline trials, answers are noise) -> {path}")
    return 0
