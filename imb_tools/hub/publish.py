"""Publish a built dataset folder to a Hub dataset repo (or stage it for a dry run).

The staged folder is exactly what is uploaded: Parquet shards, the card and
the build report. The quarantine file never leaves the machine (it may hold
raw text), and a column that must never be released stops the upload.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from imb_tools.data.io import built_split_files
from imb_tools.data.schema import forbidden_columns
from imb_tools.infra.errors import ImbError


STAGING_MARKER = ".imb-publish-staging.json"


def stage(built_dir: Path, staging: Path, repo_id: str) -> list[str]:
    """Copy what would be uploaded into `staging`; return the relative paths."""
    import pyarrow.parquet as pq

    from imb_tools.data.card import write_card
    from imb_tools.data.kinds import builder_for

    built_dir = Path(built_dir)
    report_path = built_dir / "report.json"
    if not report_path.exists():
        raise ImbError(f"{built_dir}: no report.json; is it a folder made by 'imb build'?")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except ValueError:
        report = None
    if not isinstance(report, dict) or report.get("dataset") not in ("imb-qa", "imb-mcqa"):
        raise ImbError(f"{report_path}: not the report of an IMB build (no 'dataset' field); rebuild the folder")
    files = built_split_files(built_dir)
    if not files:
        raise ImbError(f"{built_dir}: no Parquet files under data/")
    shards = [path for paths in files.values() for path in paths]
    for path in shards:
        bad = forbidden_columns(pq.read_schema(path))
        if bad:
            raise ImbError(f"{path}: refuses to publish columns that must never be released: {', '.join(bad)}")
    from imb_tools.infra.ownership import claim_output_folder

    built, staged = built_dir.resolve(), Path(staging).resolve()
    if staged == built or built in staged.parents or staged in built.parents:
        raise ImbError(f"--dry-run {staging}: must be a folder outside the build {built_dir} (and not above it)")
    # Only a folder an earlier dry run staged is replaced; old shards go, so it shows exactly
    # what this build would upload.
    claim_output_folder(staging, STAGING_MARKER, ("data/*", "report.json", "README.md"), {"kind": "publish-staging"})
    for old in (staging / "data").glob("*"):
        old.unlink()
    (staging / "data").mkdir(exist_ok=True)
    for path in shards:
        shutil.copyfile(path, staging / "data" / Path(path).name)
    shutil.copyfile(report_path, staging / "report.json")
    write_card(staging, report["dataset"], report, builder_for(report["dataset"]), repo_id=repo_id)
    return sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())


# Files a publish owns: removed from the repo when the new build does not have them, so a
# republish with fewer shards loads exactly the new data (the card's data/train-* pattern).
DELETE_PATTERNS = ["data/*", "report.json"]


def publish(built_dir: str | Path, repo_id: str, private: bool = False,
            dry_run: str | Path | None = None, allow_sample: bool = False) -> list[str]:
    if repo_id.count("/") != 1:
        raise ImbError(f"--repo-id must look like ORG/NAME, got {repo_id!r}")
    if dry_run is not None:
        return stage(Path(built_dir), Path(dry_run), repo_id)
    from imb_tools.data.sources import is_sample

    if is_sample(built_dir) and not allow_sample:
        raise ImbError(f"{built_dir} was built from the bundled sample, not from IMB; refusing "
                       "to publish it (--allow-sample to publish anyway)")

    import tempfile

    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    with tempfile.TemporaryDirectory(prefix="imb-publish-") as tmp:
        files = stage(Path(built_dir), Path(tmp), repo_id)
        api = HfApi()  # token from HF_TOKEN or the login cache; never printed
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            api.upload_folder(folder_path=tmp, repo_id=repo_id, repo_type="dataset",
                              delete_patterns=DELETE_PATTERNS,
                              commit_message="Publish with the IMB toolkit (imb publish)")
        except HfHubHTTPError as exc:
            status = getattr(exc.response, "status_code", None)
            hint = " (log in with 'hf auth login' or set HF_TOKEN with write access)" if status in (401, 403) else ""
            raise ImbError(f"upload to {repo_id} failed: {str(exc).splitlines()[0]}{hint}") from None
    return files
