"""Which build a derived artefact came from: the record a RAG index or a fine-tuning run keeps.

    {"dataset": "imb-qa", "fingerprint": "content-<16 hex>"}          a local build (imb build)
    {"dataset": "imb-qa", "fingerprint": "hub:ORG/NAME@<commit sha>"}  a Hub repo, at one commit

Two artefacts with the same record were made from the same records in the same
splits; that is what the RAG and fine-tuning checks compare (README, "Integrity").
A local folder is a build only as `imb_tools.data.built.require_build` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imb_tools.data.built import KINDS, require_build, verify_fingerprint
from imb_tools.infra.errors import ImbError


@dataclass(frozen=True)
class DataSource:
    """Where --data points, and the fingerprint that names its content."""

    dataset: str  # "imb-qa" / "imb-mcqa"
    fingerprint: str
    location: str  # the build folder, or the Hub repo id

    def record(self) -> dict:
        return {"dataset": self.dataset, "fingerprint": self.fingerprint}


def hub_revision(repo_id: str) -> str:
    """The commit a Hub dataset repo is at: asked of the Hub, or, offline, the one the local
    cache holds for `main` (what `datasets` then loads)."""
    import huggingface_hub

    from imb_tools.infra.locate import hub_offline

    if not hub_offline():
        try:
            sha = huggingface_hub.HfApi().dataset_info(repo_id).sha
            if sha:
                return sha
        except Exception:  # noqa: BLE001 - gated, not found, no network: the cache may still know it
            pass
    try:
        cached = huggingface_hub.scan_cache_dir()
    except Exception:  # no cache folder yet
        cached = None
    for repo in getattr(cached, "repos", ()):
        if repo.repo_id == repo_id and repo.repo_type == "dataset":
            for rev in repo.revisions:
                if "main" in rev.refs:
                    return rev.commit_hash
    raise ImbError(f"--data {repo_id}: cannot tell which commit of this Hub repo to use "
                   f"(the Hub does not answer and the local cache has no copy of it)")


def open_build(data: str | Path, kind: str = "qa", option: str = "--data"):
    """(DatasetDict, DataSource) for a built folder or a Hub repo id.

    A local path must be a build (its marker); a Hub repo is loaded at the commit its
    fingerprint names, so the record and the rows cannot disagree. Splits the build holds
    with no rows are absent from the DatasetDict, as `load_built` gives them.
    """
    from imb_tools.data.io import load_built
    from imb_tools.infra.locate import check_reference, looks_local

    path = Path(data)
    if path.exists() or looks_local(data) or str(data).count("/") != 1:
        build = verify_fingerprint(require_build(path, kind, option), option)
        return load_built(build.path), DataSource(build.dataset, build.fingerprint, str(build.path))
    repo_id = check_reference(str(data), "built dataset folder", option, repo_type="dataset")
    sha = hub_revision(repo_id)
    import datasets

    try:
        dsd = datasets.load_dataset(repo_id, revision=sha)
    except Exception as exc:  # the Hub's errors vary by cause; say it in one line
        raise ImbError(f"cannot load {repo_id}@{sha[:12]} from the Hub: "
                       f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return dsd, DataSource(KINDS[kind], f"hub:{repo_id}@{sha}", repo_id)


def rows_fingerprint(ds, columns=("id", "question", "answer")) -> str:
    """'rows-' + 16 hex digits over the given columns of an in-memory dataset (a caller that
    passes rows instead of a build, e.g. a test): the same rows give the same fingerprint."""
    import hashlib

    digest = hashlib.sha256()
    for row in zip(*(ds[c] for c in columns)):
        digest.update("\x1f".join("" if v is None else str(v) for v in row).encode("utf-8") + b"\x1e")
    return "rows-" + digest.hexdigest()[:16]
