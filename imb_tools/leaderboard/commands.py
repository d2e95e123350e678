"""`imb leaderboard build|plot|push|serve`."""

from __future__ import annotations

import argparse
from pathlib import Path

from imb_tools.cli_options import (hub_model_id, hub_repo_id, deprecated_alias, existing_path, input_option, local_or_hub, output_option,
                                   port_number)
from imb_tools.data.options import add_data_option
from imb_tools.infra.errors import ImbError

# The figures' default benchmarks (build and plot may choose others; push draws these).
PLOT_DEFAULTS = {"mcqa": "imb_mcqa", "qa": "imb_qa", "mcqa_metric": "acc", "qa_metric": r"bertscore.*(precision|_p$)"}


def _plot_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mcqa-task", default=PLOT_DEFAULTS["mcqa"],
                        help="benchmark plotted as Figure 6 (default: imb_mcqa)")
    parser.add_argument("--mcqa-metric", default=PLOT_DEFAULTS["mcqa_metric"], help="its metric (default: acc)")
    parser.add_argument("--qa-task", default=PLOT_DEFAULTS["qa"],
                        help="benchmark plotted as Figure 7 (default: imb_qa)")
    parser.add_argument("--qa-metric", default=PLOT_DEFAULTS["qa_metric"],
                        help="its metric, a name or regex (default: BERTScore precision)")


def _plot_options(args) -> dict:
    if not hasattr(args, "mcqa_task"):
        return dict(PLOT_DEFAULTS)
    return {"mcqa": args.mcqa_task, "qa": args.qa_task, "mcqa_metric": args.mcqa_metric,
            "qa_metric": args.qa_metric}


def _report_plots(written, skipped) -> None:
    for path in written:
        print(f"plot: {path}")
    for reason in skipped:
        print(f"plot skipped: {reason}")


def _report_skipped(skipped) -> None:
    for reason in skipped:
        print(f"skipped: {reason}")


PUSH_STAGING_FILES = ("README.md", "leaderboard.md", "data/*", "plots/*", "model/*", "space/*")
TABLE_FILES = ("results.parquet", "results.csv", "summary.parquet", "summary.csv", "leaderboard.md",
               "items.parquet", "scores.parquet", "pairs.parquet", "plots/*.png")


def _build(args) -> int:
    from imb_tools.leaderboard import collect, plots

    from imb_tools.infra.ownership import claim_output_folder

    out = Path(args.out)
    # The table folder holds only what the leaderboard writes; a user's folder is refused.
    claim_output_folder(out, ".imb-leaderboard.json", TABLE_FILES, {"kind": "leaderboard"},
                        legacy_file="results.parquet")
    skipped: list[str] = []
    found_items: list[dict] = []
    table = collect.collect(args.results, skipped, found_items)
    _report_skipped(skipped)
    existing = existing_items = None
    if not args.replace and (out / "results.parquet").is_file():
        existing = collect.read_table(out)
        existing_items = collect.read_items(out)
    merged = collect.merge_tables(existing, table)
    items = collect.items_frame(found_items, existing_items)
    collect.write_table(merged, out, include_sample=args.all, include_limited=args.all,
                        items=items)
    before = 0 if existing is None else len(existing)
    shown = collect.default_view(merged, args.all, args.all)
    hidden = len(merged) - len(shown)
    print(f"{len(table)} rows read, {len(merged) - before} new; table: {len(merged)} rows, "
          f"{merged['model'].nunique()} models -> {out}"
          + (f" ({hidden} rows of sample or --limit runs kept out of the summary and plots; "
             "--all shows them)" if hidden else ""))
    if not args.no_plots:
        _report_plots(*plots.plot_table(shown, out / "plots", **_plot_options(args)))
    return 0


def _plot(args) -> int:
    from imb_tools.data.built import find_build
    from imb_tools.infra.ownership import claim_output_folder
    from imb_tools.leaderboard import collect, plots

    if not (args.table or args.data):
        raise ImbError("nothing to plot: give --table and/or --data")
    builds = {k: find_build(args.data, k) for k in ("qa", "mcqa")} if args.data else {}
    if args.data and not any(builds.values()):
        raise ImbError(f"--data {args.data}: no IMB-QA or IMB-MCQA build in it (folders made by 'imb build')")
    out = Path(args.out)
    # The plot folder holds only the plots: a user's folder (their own PNGs) is refused.
    claim_output_folder(out, ".imb-plots.json", ("*.png",), {"kind": "plots"})
    if args.table:
        _report_plots(*plots.plot_table(collect.read_table(args.table), out, **_plot_options(args)))
    if builds:
        _report_plots(*plots.plot_datasets(out, qa_data=builds["qa"] and builds["qa"].path,
                                           mcqa_data=builds["mcqa"] and builds["mcqa"].path))
    return 0


def _push(args) -> int:
    from imb_tools.leaderboard import collect, model_results, push

    if not (args.repo_id or args.model_repo):
        raise ImbError("nowhere to push: give --repo-id (results dataset) and/or --model-repo")
    if args.dry_run:  # the staging folder holds only what a dry run writes: a user's folder is refused
        from imb_tools.infra.ownership import claim_output_folder

        claim_output_folder(args.dry_run, ".imb-push-staging.json", PUSH_STAGING_FILES, {"kind": "push-staging"})
    tables = []
    if args.table:
        tables.append(collect.read_table(args.table))
    if args.results:
        skipped: list[str] = []
        tables.append(collect.collect(args.results, skipped))
        _report_skipped(skipped)
    if not tables:
        raise ImbError("nothing to push: give RESULTS files/folders or --table DIR")
    table = collect.merge_tables(*tables)
    # every check of both pushes first (the same with --dry-run), then the per-item statistics
    # (BERTScore over logged samples: slow), then the network
    model_files = None
    if args.model_repo:
        source = f"https://huggingface.co/datasets/{args.repo_id}" if args.repo_id else None
        model_files = model_results.entries(
            table, args.model_repo, {"mcqa": args.mcqa_repo, "qa": args.qa_repo}, source,
            allow_sample=args.allow_sample, allow_limited=args.allow_limited)
    if args.repo_id:
        push.refuse_sample(table, args.allow_sample)
        items = collect.read_items(args.table) if args.table else None
        if args.results:
            found: list[dict] = []
            collect.collect(args.results, [], found)
            items = collect.items_frame(found, items)
        result = push.push(table, args.repo_id, dry_run=args.dry_run, private=args.private,
                           plot_options=_plot_options(args), allow_sample=args.allow_sample,
                           items=items)
        where = (f"dry run, files in {args.dry_run}" if args.dry_run
                 else result.get("commit_url", "nothing new"))
        print(f"{args.repo_id}: {result['rows_added']} new rows, {result['rows_after']} in all "
              f"({where})")
    if model_files is not None:
        if not args.repo_id:
            print("no --repo-id: the .eval_results entries carry no source link")
        pushed = model_results.push(model_files, args.model_repo, dry_run=args.dry_run)
        if args.dry_run:
            for path, text in pushed["files"].items():
                print(f"--- {args.model_repo}: {path}\n{text}", end="")
            print(f"(dry run: a pull request on {args.model_repo} would add "
                  f"{len(pushed['files'])} files; written under {pushed['folder']})")
        else:
            print(f"{args.model_repo}: pull request with {len(pushed['files'])} .eval_results "
                  f"files: {pushed['pr_url']}")
    if args.space_id:
        if not args.repo_id:
            raise ImbError("--space-id shows a results dataset: give --repo-id too")
        space_dry = Path(args.dry_run) / "space" if args.dry_run else None
        space = push.push_space(args.space_id, args.repo_id, dry_run=space_dry)
        print(f"Space {args.space_id}: " + (f"files in {space_dry}" if space_dry
                                             else space["commit_url"]))
    return 0


def _serve(args) -> int:
    from imb_tools.leaderboard.serve import serve

    serve(args.table, host=args.host, port=args.port, show_all=args.all)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "leaderboard", help="results tables, plots, Hub push and a page to browse them",
        description="Collect lm-eval results into a table, plot them, push them to the Hub, "
                    "and serve a page to browse them.")
    sub = parser.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)

    build = sub.add_parser(
        "build", help="collect lm-eval results files into a table (Parquet, CSV, Markdown)",
        description="Read lm-eval results_*.json files (from `imb eval` or `lm_eval "
                    "--output_path`) into OUT/results.parquet|csv, summary.parquet|csv, "
                    "leaderboard.md and OUT/plots/. Rows already in OUT are kept; the same run "
                    "added twice appears once.")
    input_option(build, "results", nargs="+", type=existing_path, metavar="RESULTS",
                 help="results files or folders (searched recursively)")
    output_option(build, "--out", required=True, metavar="DIR", help="table folder")
    build.add_argument("--replace", action="store_true",
                       help="start a new table instead of merging into the one in --out")
    build.add_argument("--no-plots", action="store_true", help="do not draw plots")
    build.add_argument("--all", action="store_true",
                       help="also show runs on the bundled sample and --limit runs in the summary, "
                            "Markdown and plots (they are always kept in results.parquet)")
    _plot_args(build)
    build.set_defaults(func=_build)

    plot = sub.add_parser(
        "plot", help="draw the paper's figures from a table and/or built datasets",
        description="Figures 6 and 7 (scores per model) and per-category heatmaps from a table; "
                    "Figures 4 and 5 (category distributions) from built datasets.")
    input_option(plot, "--table", type=existing_path, metavar="DIR", help="table folder made by `imb leaderboard build`")
    add_data_option(plot, "a build, or a parent of qa/ and mcqa/: Figure 4 (IMB-QA per macro-category) "
                          "and Figure 5 (IMB-MCQA per category) for what it holds", required=False)
    deprecated_alias(plot, "--qa-data", "--data", dest="data", type=local_or_hub)
    deprecated_alias(plot, "--mcqa-data", "--data", dest="data", type=local_or_hub)
    output_option(plot, "--out", required=True, metavar="DIR", help="folder for the PNG files")
    _plot_args(plot)
    plot.set_defaults(func=_plot)

    push = sub.add_parser(
        "push", help="merge the table into a Hub dataset repo (idempotent) and/or open a pull "
                     "request with a model's .eval_results",
        description="--repo-id: download the results dataset's table if any, merge by run key, "
                    "write a dataset card and plots, upload. --model-repo: turn the model's runs "
                    "into Hub Eval Results files (.eval_results/<task>.yaml: the headline score "
                    "of each task and variant) and open them as a pull request on the model "
                    "repo. Every check comes before any upload, the same with --dry-run. The "
                    "token comes from HF_TOKEN or `hf auth login` and is never printed.")
    input_option(push, "results", nargs="*", type=existing_path, metavar="RESULTS",
                 help="results files or folders to add")
    input_option(push, "--table", type=existing_path, metavar="DIR",
                 help="table folder made by `imb leaderboard build` to add")
    push.add_argument("--repo-id", type=hub_repo_id, help="Hub dataset repo of the results table, ORG/NAME")
    push.add_argument("--model-repo", type=hub_model_id, metavar="ORG/MODEL",
                      help="model repo to open a pull request on with its .eval_results files "
                           "(a source link to --repo-id when given)")
    push.add_argument("--mcqa-repo", type=hub_repo_id, metavar="ORG/NAME",
                      help="published IMB-MCQA repo the runs were scored on (dataset.id of the "
                           "imb_mcqa entries; default: the run's data source when a Hub id)")
    push.add_argument("--qa-repo", type=hub_repo_id, metavar="ORG/NAME",
                      help="published IMB-QA repo, as --mcqa-repo for imb_qa and imb_qa_rag")
    output_option(push, "--dry-run", metavar="FOLDER",
                      help="make every check, then write what would be uploaded into FOLDER "
                           "(the .eval_results files under FOLDER/model/, also printed); no "
                           "network (merges with a previous dry run's table in FOLDER, as if "
                           "it were the repo)")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--allow-sample", action="store_true",
                      help="push results computed on the bundled sample too (refused otherwise; "
                           "marked SAMPLE in .eval_results notes)")
    push.add_argument("--allow-limited", action="store_true",
                      help="push --limit runs to the model repo too (refused otherwise; marked "
                           "LIMIT in notes)")
    push.add_argument("--space-id", type=hub_repo_id, metavar="ORG/NAME",
                      help="also create/update a Gradio Space showing the repo (space_app.py as "
                           "app.py); with --dry-run its files go to FOLDER/space")
    push.set_defaults(func=_push)

    serve = sub.add_parser(
        "serve", help="start the Gradio page on a table folder",
        description="Serve the leaderboard page (the same app as space_app.py, deployable as a "
                    "Hugging Face Space). It opens on a ranking, one row per model run: an average, "
                    "each score with its standard error, ranks that separate runs only when a "
                    "paired test says so, search, filters (size, chat template, few-shot) and a "
                    "column chooser; runs on the bundled sample and --limit runs are hidden, and "
                    "counted, unless --all. Per-category scores, every row and the plots are "
                    "the next tabs.")
    input_option(serve, "--table", required=True, type=existing_path, metavar="DIR",
                 help="table folder made by `imb leaderboard build`")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: local)")
    serve.add_argument("--port", type=port_number, default=7860, help="port (default: 7860)")
    serve.add_argument("--all", action="store_true",
                       help="also show runs on the bundled sample and --limit runs")
    serve.set_defaults(func=_serve)
