"""Where a built dataset keeps its files, and how to load one from a folder or the Hub."""

from __future__ import annotations

import re
from pathlib import Path

from imb_tools.errors import ImbError

# Shards of one split: data/train-00000-of-00002.parquet, data/train-00001-of-00002.parquet
SHARD_PATTERN = "data/{split}-{index:05d}-of-{count:05d}.parquet"
_SHARD = re.compile(r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


def built_split_files(folder: str | Path) -> dict[str, list[str]]:
    """split name -> its Parquet shard paths, in order, for a built dataset folder."""
    splits: dict[str, list[str]] = {}
    for f in sorted((Path(folder) / "data").glob("*.parquet")):
        match = _SHARD.match(f.name)
        if match:
            splits.setdefault(match["split"], []).append(str(f))
    return splits


def load_built(path_or_repo_id: str | Path, split: str | None = None):
    """A built IMB dataset as a DatasetDict (or one split): a local build folder or a Hub repo id."""
    import datasets

    path = Path(path_or_repo_id)
    if path.exists():
        files = built_split_files(path)
        if not files:
            raise ImbError(f"{path}: no data/<split>-NNNNN-of-NNNNN.parquet files; "
                           f"is it a folder made by 'imb build'?")
        # Reading local Parquet takes a moment; the per-split "Generating" bars are only noise.
        was_enabled = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            dsd = datasets.load_dataset("parquet", data_files=files)
        finally:
            if was_enabled:
                datasets.enable_progress_bars()
    else:
        if str(path_or_repo_id).count("/") != 1:
            raise ImbError(f"{path_or_repo_id}: no such folder, and not a Hub repo id (ORG/NAME)")
        try:
            dsd = datasets.load_dataset(str(path_or_repo_id))
        except Exception as exc:  # the Hub's errors vary by cause; say it in one line
            raise ImbError(f"cannot load {path_or_repo_id} from the Hub: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if split is not None:
        if split not in dsd:
            raise ImbError(f"{path_or_repo_id}: no split '{split}' (has {', '.join(dsd)})")
        return dsd[split]
    return dsd
