"""`imb publish`."""

from __future__ import annotations

from imb_tools.cli_options import hub_repo_id, output_option
from imb_tools.data.options import add_data_option


def register(sub) -> None:
    p = sub.add_parser("publish", help="push a built dataset to a Hub dataset repo",
                       description="Push a built dataset: exactly its Parquet shards (columns: the "
                                   "dataset's features), the card, report.json and eval.yaml (the "
                                   "Hub's benchmark description), so that load_dataset('ORG/NAME') "
                                   "works with no code. IMB is CC BY-NC-ND 4.0: sharing a derived "
                                   "build needs the rights holder's permission. The token comes "
                                   "from HF_TOKEN or the login cache.")
    add_data_option(p, "folder made by 'imb build'")
    p.add_argument("--repo-id", required=True, type=hub_repo_id, help="target dataset repo, ORG/NAME")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--allow-sample", action="store_true",
                   help="publish a build of the bundled sample too (refused otherwise)")
    output_option(p, "--dry-run", metavar="FOLDER",
                   help="make every check the push makes, in the same order, then write exactly "
                        "what would be uploaded into FOLDER; no network, no token")
    p.set_defaults(func=_publish)


def _publish(args) -> int:
    from imb_tools.hub.publish import publish

    files = publish(args.data, args.repo_id, private=args.private, dry_run=args.dry_run,
                    allow_sample=args.allow_sample)
    where = args.dry_run if args.dry_run else f"https://huggingface.co/datasets/{args.repo_id}"
    print(f"{'staged' if args.dry_run else 'published'} {len(files)} files -> {where}")
    for f in files:
        print(f"  {f}")
    return 0
