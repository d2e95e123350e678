"""Where a built dataset keeps its files, and how to load one from a folder or the Hub."""

from __future__ import annotations

import re
from pathlib import Path

from imb_tools.infra.errors import ImbError

# Shards of one split: data/train-00000-of-00002.parquet, data/train-00001-of-00002.parquet
SHARD_PATTERN = "data/{split}-{index:05d}-of-{count:05d}.parquet"
_SHARD = re.compile(r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


ROW_GROUP_ROWS = 10_000


class ParquetSink:
    """Parquet shards per split, written straight from validated Arrow tables.

    Rows are regrouped into row groups of exactly ROW_GROUP_ROWS (the last one
    shorter), so the bytes depend only on the rows, never on how they were batched.
    A new shard starts once a shard holds `max_shard_bytes` of Arrow data.
    """

    def __init__(self, folder: Path, splits: list[str], schema, max_shard_bytes: int = 500_000_000,
                 dictionary_columns: tuple[str, ...] = ()):
        self.folder = Path(folder)
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.splits = list(splits)
        self.max_shard_bytes = max_shard_bytes
        self.dictionary_columns = list(dictionary_columns)
        self.pending = {s: [] for s in splits}
        self.pending_rows = {s: 0 for s in splits}
        self.writers = {}
        self.shards = {s: [] for s in splits}
        self.shard_bytes = {s: 0 for s in splits}

    def _writer(self, split: str):
        import pyarrow.parquet as pq

        if split not in self.writers or self.shard_bytes[split] >= self.max_shard_bytes:
            if split in self.writers:
                self.writers[split].close()
            path = self.folder / "data" / f".{split}.{len(self.shards[split]):05d}.parquet.tmp"
            self.shards[split].append(path)
            self.writers[split] = pq.ParquetWriter(str(path), self.schema, compression="snappy",
                                                   use_dictionary=self.dictionary_columns)
            self.shard_bytes[split] = 0
        return self.writers[split]

    def _flush(self, split: str, final: bool) -> None:
        import pyarrow as pa

        if not self.pending[split]:
            return
        table = pa.concat_tables(self.pending[split])
        start = 0
        while table.num_rows - start >= ROW_GROUP_ROWS or (final and start < table.num_rows):
            group = table.slice(start, ROW_GROUP_ROWS).combine_chunks()
            writer = self._writer(split)
            writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
            self.shard_bytes[split] += group.nbytes
            start += group.num_rows
        rest = table.slice(start)
        self.pending[split] = [rest] if rest.num_rows else []
        self.pending_rows[split] = rest.num_rows

    def write(self, split: str, table) -> None:
        self.pending[split].append(table)
        self.pending_rows[split] += table.num_rows
        if self.pending_rows[split] >= ROW_GROUP_ROWS:
            self._flush(split, final=False)

    def close(self) -> None:
        for split in self.splits:
            self._flush(split, final=True)
            if split in self.writers:
                self.writers[split].close()
        for split, paths in self.shards.items():
            for index, path in enumerate(paths):
                path.rename(self.folder / SHARD_PATTERN.format(split=split, index=index, count=len(paths)))


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
        from imb_tools.infra.locate import check_reference

        # a local-looking path is never sent to the Hub; an uncached repo offline fails at once
        check_reference(path_or_repo_id, "built dataset folder", "--data DIR", repo_type="dataset")
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
