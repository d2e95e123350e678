"""One way to the real data: fetch the gated raw files and build them once into the cache.

Without a local folder, the lm-eval tasks, `imb eval`, `imb_qa.load()` and
`imb_mcqa.load()` read the dataset `data_source(kind)` names:
1. a published built repo given by option or by `IMB_QA_REPO` / `IMB_MCQA_REPO`;
2. else `cached_build(kind)`: the raw file from the gated repo
   praiselab-picuslab/IMB, built once into `<cache_root>/data/<kind>-<revision>-b<builder>`
   (keyed by the file's Hub revision, or its content hash, and a hash of the
   builder's code) and reused by every later run.
There are no made-up default repos: without access, the download stops with a
one-line message saying how to get it (imb_tools.data.fetch.download_raw).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import imb_tools
from imb_tools.data.built import content_fingerprint, read_build
from imb_tools.infra.errors import ImbError

RAW_FILES = {"qa": "IMB-QA.json", "mcqa": "IMB-MCQA.json"}
_SNAPSHOT = re.compile(r"[/\\]snapshots[/\\]([0-9a-f]{40})[/\\]")


# The code that defines what a build holds: the records (schema, categories, normalizers), how
# the raw files are read, the splits, the duplicate rules, the builder and card. Editing anything
# else (a table helper, a command) must not invalidate every user's cached build.
DEFINING_MODULES = ("imb_tools.data.schema", "imb_tools.data.categories", "imb_tools.data.normalize",
                    "imb_tools.data.splits", "imb_tools.data.prepare", "imb_tools.data.kinds",
                    "imb_tools.data.builder", "imb_tools.data.built", "imb_tools.data.io",
                    "imb_tools.data.card", "imb_tools.infra.readers")


def builder_version() -> str:
    """A hash of the code that defines the dataset (DEFINING_MODULES): a changed definition, a new build."""
    import importlib.util

    digest = hashlib.sha256()
    for name in DEFINING_MODULES:
        origin = importlib.util.find_spec(name).origin  # the file, without importing it
        digest.update(name.encode())
        digest.update(Path(origin).read_bytes())
    return digest.hexdigest()[:10]


def raw_revision(path: str | Path) -> str:
    """The Hub commit a downloaded file comes from (its snapshot folder), else its content hash."""
    match = _SNAPSHOT.search(str(Path(path).resolve()) + os.sep) or _SNAPSHOT.search(str(path))
    if match:
        return match.group(1)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "sha256-" + digest.hexdigest()


def cached_build(kind: str, repo_id: str | None = None, progress: bool = True,
                 way_out: str | None = None) -> Path:
    """The built IMB-QA ("qa") or IMB-MCQA ("mcqa") folder made from the gated raw file.

    Downloads (huggingface_hub's cache: only once) and builds on first use, into a
    staging folder renamed when complete, so an interrupted build is never reused.
    way_out: what the error says to do when the raw file cannot be fetched (None: in the
    terms of `imb eval` and the tasks, --data DIR or IMB_DATA_DIR).
    """
    from imb_tools.data import fetch
    from imb_tools.data.builder import build_to_folder
    from imb_tools.data.kinds import builder_for

    if kind not in RAW_FILES:
        raise ImbError(f"unknown dataset kind {kind!r} (qa or mcqa)")
    if way_out is None:
        way_out = (f"build it with `imb build {kind} --raw FILE --out DIR` and pass the folder "
                   "(evaluation data: --data DIR or IMB_DATA_DIR)")
    raw = fetch.download_raw(RAW_FILES[kind], repo_id or fetch.RAW_REPO_ID, way_out=way_out)
    revision = raw_revision(raw)
    key = f"{kind}-{revision.removeprefix('sha256-')[:12]}-b{builder_version()}"
    root = imb_tools.cache_root() / "data"
    target = root / key
    if (target / ".complete").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.partial-", dir=root))
    try:
        if progress:
            print(f"imb: building IMB-{kind.upper()} from {RAW_FILES[kind]} (revision "
                  f"{revision[:12]}) into {target}; done once, reused later", flush=True)
        build_to_folder(builder_for(kind), str(raw), staging / "built", progress=progress)
        (staging / "built" / ".complete").write_text(f"{repo_id or fetch.RAW_REPO_ID} {revision}\n")
        try:
            os.replace(staging / "built", target)
        except OSError:  # another process finished first
            if not (target / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def data_source(kind: str, data: str | Path | None = None) -> str:
    """What `kind`'s data is read from: `data` (folder or repo id) if given, else the
    published repo in IMB_<KIND>_REPO, else `cached_build(kind)`. For `imb_qa.load()` and
    `imb_mcqa.load()` with no argument."""
    if data:
        return str(data)
    repo = os.environ.get(f"IMB_{kind.upper()}_REPO")
    if repo:
        return repo
    # The callers are Python functions: the way out is said in Python, not as a CLI option.
    way_out = (f"build it with imb_{kind}.build('path/to/{RAW_FILES[kind]}', 'out/{kind}') and "
               f"load the folder with imb_{kind}.load('out/{kind}')")
    return str(cached_build(kind, way_out=way_out))


def describe(folder: str | Path) -> dict:
    """Provenance of a data folder or repo id: source, revision or content fingerprint, and
    whether it is the bundled sample."""
    path = Path(str(folder))
    info: dict = {"data_source": str(folder), "data_revision": None, "is_sample": False}
    if not path.is_dir():  # a Hub repo id
        return info
    info["data_source"] = str(path.resolve())
    complete = path / ".complete"
    if complete.is_file():
        parts = complete.read_text(encoding="utf-8").split()
        if len(parts) == 2:
            info["data_source"], info["data_revision"] = parts[0], parts[1]
    if info["data_revision"] is None:  # what the shards hold now, whatever the marker says
        info["data_revision"] = content_fingerprint(path)
    build = read_build(path)
    info["is_sample"] = bool(build and build.is_sample)
    return info
