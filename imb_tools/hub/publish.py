"""Publish a built dataset folder to a Hub dataset repo (or stage it for a dry run).

What is uploaded is an allow-list, nothing else: the Parquet shards (whose columns must
be exactly the dataset's features), the card (README.md), report.json and eval.yaml (the
Hub's benchmark description, validated against its documented schema). The quarantine
file never leaves the machine.

A dry run is the push without the network: it makes every check the push makes, in the
same order (repo id, build, sample refusal, report, columns, eval.yaml), then stages;
only the token and the Hub itself are left unchecked.
IMB is CC BY-NC-ND 4.0: sharing a derived build needs the rights holder's permission.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import tempfile
from pathlib import Path

from imb_tools.infra.errors import ImbError

STAGING_MARKER = ".imb-publish-staging.json"
# Every file a publish uploads matches one of these, and nothing else is staged.
ALLOWED = ("data/*.parquet", "README.md", "report.json", "eval.yaml")
# Files a publish owns: removed from the repo when the new build does not have them, so a
# republish with fewer shards loads exactly the new data (the card's data/<split>-* pattern).
DELETE_PATTERNS = ["data/*", "report.json", "eval.yaml"]
LICENSE_NOTE = ("IMB is licensed CC BY-NC-ND 4.0 (no derivatives): sharing a rebuilt, "
                "filtered or extended build needs the rights holder's permission")


def _check_repo_id(repo_id: str) -> None:
    """The Hub's own rule, with ORG/ required (cli_options.hub_repo_id, the type of every
    --repo-id at the door), for callers of the library function too."""
    import argparse

    from imb_tools.cli_options import hub_repo_id

    try:
        hub_repo_id(repo_id)
    except argparse.ArgumentTypeError as exc:
        raise ImbError(f"--repo-id {exc}") from None


def check(built_dir: str | Path, repo_id: str, allow_sample: bool = False):
    """Every check of a publish, in order; returns (build, report, shards)."""
    import pyarrow.parquet as pq

    from imb_tools.data.built import MARKER, read_build, verify_fingerprint
    from imb_tools.data.kinds import builder_for
    from imb_tools.data.schema import forbidden_columns

    _check_repo_id(repo_id)
    build = read_build(built_dir)
    if build is None:
        raise ImbError(f"--data {built_dir}: not a built IMB-QA or IMB-MCQA folder (no {MARKER} "
                       "written by 'imb build')")
    if build.is_sample and not allow_sample:
        raise ImbError(f"{built_dir} was built from the bundled sample, not from IMB; refusing "
                       "to publish it (--allow-sample to publish anyway)")
    report_path = build.path / "report.json"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = None
    if not isinstance(report, dict) or report.get("dataset") != build.dataset:
        raise ImbError(f"{report_path}: missing or not the report of this {build.dataset} build; "
                       "rebuild the folder")
    shards = [path for paths in build.split_files().values() for path in paths]
    if not shards:
        raise ImbError(f"{built_dir}: no Parquet files under data/")
    features = list(builder_for(build.dataset).KIND.features)
    for path in shards:
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # pyarrow's errors for a damaged file vary
            raise ImbError(f"{path}: cannot read as Parquet ({str(exc).splitlines()[0]}); "
                           "rebuild it with 'imb build'") from None
        bad = forbidden_columns(schema)
        if bad:
            raise ImbError(f"{path}: refuses to publish columns that must never be released: "
                           f"{', '.join(bad)}")
        extra = [c for c in schema.names if c not in features]
        missing = [c for c in features if c not in schema.names]
        if extra or missing:
            raise ImbError(f"{path}: columns are not the {build.dataset} features"
                           + (f"; not features: {', '.join(extra)}" if extra else "")
                           + (f"; missing: {', '.join(missing)}" if missing else ""))
    # What is uploaded is labelled with the build's fingerprint: the shards must still be the
    # ones `imb build` wrote (not cut, swapped or edited since), else the label would lie.
    verify_fingerprint(build)
    return build, report, shards


def stage(build, report: dict, shards: list[str], staging: Path, repo_id: str) -> list[str]:
    """Write what would be uploaded into `staging`; return the relative paths."""
    from imb_tools.data.card import write_card
    from imb_tools.data.kinds import builder_for
    from imb_tools.hub.eval_results import dump_yaml, eval_yaml
    from imb_tools.infra.ownership import claim_output_folder

    built, staged = build.path.resolve(), Path(staging).resolve()
    if staged == built or built in staged.parents or staged in built.parents:
        raise ImbError(f"--dry-run {staging}: must be a folder outside the build {build.path} "
                       "(and not above it)")
    # Only a folder an earlier dry run staged is replaced; old shards go, so it shows exactly
    # what this build would upload.
    claim_output_folder(staging, STAGING_MARKER, ("data/*", "report.json", "README.md", "eval.yaml"),
                        {"kind": "publish-staging"})
    for old in (staging / "data").glob("*"):
        old.unlink()
    (staging / "data").mkdir(exist_ok=True)
    for path in shards:
        shutil.copyfile(path, staging / "data" / Path(path).name)
    shutil.copyfile(build.path / "report.json", staging / "report.json")
    (staging / "eval.yaml").write_text(dump_yaml(eval_yaml(build.dataset, build.fingerprint)),
                                       encoding="utf-8")
    write_card(staging, build.dataset, report, builder_for(build.dataset), repo_id=repo_id,
               fingerprint=build.fingerprint)
    files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*")
                   if p.is_file() and p.name != STAGING_MARKER)
    outside = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in ALLOWED)]
    if outside:  # cannot happen by construction; a guard for whoever changes stage()
        raise ImbError(f"{staging}: files outside the publish allow-list: {', '.join(outside)}")
    return files


def hub_error(exc: Exception, what: str) -> ImbError:
    """A Hub or network failure as one line (never the httpx traceback)."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled):
        return ImbError(f"{what}: the Hub is not reachable (HF_HUB_OFFLINE is set)")
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        hint = (" (log in with 'hf auth login' or set HF_TOKEN with write access)"
                if status in (401, 403) else "")
        return ImbError(f"{what}: {str(exc).splitlines()[0]}{hint}")
    return ImbError(f"{what}: cannot reach the Hub ({exc.__class__.__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else 'no answer'})")


def network_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a Hub call raises when the Hub or the network fails (huggingface_hub
    2.x speaks through httpx2, 1.x through httpx: both are caught)."""
    import importlib

    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    errors: list[type[BaseException]] = [HfHubHTTPError, OfflineModeIsEnabled, OSError]
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).HTTPError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def publish(built_dir: str | Path, repo_id: str, private: bool = False,
            dry_run: str | Path | None = None, allow_sample: bool = False) -> list[str]:
    """Check, stage and (unless a dry run) upload; returns the staged files."""
    build, report, shards = check(built_dir, repo_id, allow_sample)
    if dry_run is not None:
        return stage(build, report, shards, Path(dry_run), repo_id)

    from huggingface_hub import HfApi, get_token

    if not get_token():
        raise ImbError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    with tempfile.TemporaryDirectory(prefix="imb-publish-") as tmp:
        files = stage(build, report, shards, Path(tmp), repo_id)
        (Path(tmp) / STAGING_MARKER).unlink(missing_ok=True)
        api = HfApi()  # token from HF_TOKEN or the login cache; never printed
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            api.upload_folder(folder_path=tmp, repo_id=repo_id, repo_type="dataset",
                              delete_patterns=DELETE_PATTERNS,
                              commit_message="Publish with the IMB toolkit (imb publish)")
        except network_errors() as exc:
            raise hub_error(exc, f"upload to {repo_id} failed") from None
    return files
