"""What a built dataset folder is: one definition, used by every command.

A folder is a build when `imb build` marked it as one: it holds `.imb-build.json`
(MARKER) written by the build, naming the dataset and, since builder version 3, the
build's fingerprint, whether it came from the bundled sample, and the rows per split.
A split with no rows is still a split of the build (it has no Parquet file).

The marker is a small JSON object; its keys are the contract with code that cannot
import imb_tools (the lm-eval task folders read `dataset` and `fingerprint` directly):

    {"written_by": "imb build", "dataset": "imb-qa" | "imb-mcqa", "builder_version": "3",
     "fingerprint": "content-<16 hex>", "is_sample": false,
     "splits": {"test": 22, "validation": 5, "train": 47}}

The fingerprint is a hash of the Parquet shards' bytes, split by split: two folders
with the same fingerprint hold the same records in the same splits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from imb_tools.infra.errors import ImbError
# The marker and the shard names are read where the lm-eval tasks, which stand alone, read them:
# one copy of the contract.
from lm_eval_tasks.imb_common.data import MARKER, read_marker, shard_files  # noqa: F401

KINDS = {"qa": "imb-qa", "mcqa": "imb-mcqa"}
# Shards of one split: data/train-00000-of-00002.parquet, data/train-00001-of-00002.parquet
SHARD_PATTERN = "data/{split}-{index:05d}-of-{count:05d}.parquet"


def content_fingerprint(folder: str | Path) -> str:
    """'content-' + 16 hex digits of SHA-256 over each split's name and shard bytes, in order."""
    digest = hashlib.sha256()
    for split, files in sorted(shard_files(folder).items()):
        for f in files:
            digest.update(split.encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return "content-" + digest.hexdigest()[:16]


@dataclass(frozen=True)
class Build:
    """A folder made by `imb build`, as its marker describes it."""

    path: Path
    dataset: str  # "imb-qa" or "imb-mcqa"
    fingerprint: str
    is_sample: bool
    splits: dict[str, int] = field(default_factory=dict)  # rows per split, empty ones included

    @property
    def kind(self) -> str:
        """'qa' or 'mcqa'."""
        return self.dataset.removeprefix("imb-")

    def split_files(self) -> dict[str, list[str]]:
        return shard_files(self.path)


def read_build(path: str | Path) -> Build | None:
    """The build in `path`, or None when `path` is not a folder marked by `imb build`.

    Builds from before builder version 3 have no fingerprint, sample flag or split counts in
    their marker: they are computed from the files (and report.json) instead.
    """
    folder = Path(path)
    if not folder.is_dir():
        return None
    marker = read_marker(folder)
    if marker is None:
        return None
    fingerprint = marker.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        fingerprint = content_fingerprint(folder)
    splits = marker.get("splits")
    is_sample = marker.get("is_sample")
    if not isinstance(splits, dict) or not isinstance(is_sample, bool):
        report = _report(folder)
        splits = report.get("records_out") if isinstance(report.get("records_out"), dict) else {
            s: None for s in shard_files(folder)}
        is_sample = ".sample." in str(report.get("source_file") or "")
    return Build(path=folder, dataset=marker["dataset"], fingerprint=fingerprint, is_sample=is_sample,
                 splits=dict(splits))


def _report(folder: Path) -> dict:
    try:
        value = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def find_build(path: str | Path, kind: str) -> Build | None:
    """The `kind` ('qa' or 'mcqa') build at `path` or in `path/<kind>` (a parent such as out/demo)."""
    for candidate in (Path(path), Path(path) / kind):
        build = read_build(candidate)
        if build is not None and build.kind == kind:
            return build
    return None


def verify_fingerprint(build: Build, option: str = "--data") -> Build:
    """`build`, once its shards are checked to be the ones `imb build` wrote: whatever records
    the fingerprint (a RAG index, a fine-tuning run, a published copy) must not name content
    that was cut, swapped or edited since. A read of the shards, about a second per GB."""
    if content_fingerprint(build.path) != build.fingerprint:
        raise ImbError(f"{option} {build.path}: its Parquet shards are not the ones 'imb build' wrote "
                       f"(they no longer match the build's fingerprint {build.fingerprint}); "
                       "rebuild it with 'imb build'")
    return build


def require_build(path: str | Path, kind: str | None = None, option: str = "--data") -> Build:
    """As find_build (either kind when `kind` is None), or a one-line ImbError naming `option`."""
    kinds = [kind] if kind else list(KINDS)
    for k in kinds:
        build = find_build(path, k)
        if build is not None:
            return build
    what = f"IMB-{kind.upper()}" if kind else "IMB-QA or IMB-MCQA"
    other = find_build(path, next(k for k in KINDS if k != kind)) if kind else None
    why = f"it holds {other.dataset.upper()}" if other else not_a_build_reason(path, kinds)
    raise ImbError(f"{option} {path}: not a built {what} folder ({why})")


def not_a_build_reason(path: str | Path, kinds=tuple(KINDS)) -> str:
    """Why `path` (or its `<kind>/` subfolders) is no build: a damaged marker, or none."""
    candidates = (Path(path) / MARKER, *(Path(path) / k / MARKER for k in kinds))
    damaged = [m for m in candidates if m.is_file()]
    if damaged:
        return f"{damaged[0]} is not a marker 'imb build' wrote (damaged?); rebuild the folder"
    return f"no {MARKER} written by 'imb build'" + (f" in it or in its '{kinds[0]}/' subfolder"
                                                   if len(kinds) == 1 else "")
