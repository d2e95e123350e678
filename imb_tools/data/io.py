"""Where a built dataset keeps its files, and how to load one from a folder or the Hub."""

from __future__ import annotations

import logging
from pathlib import Path

from imb_tools.data.built import SHARD_PATTERN, not_a_build_reason, read_build, shard_files
from imb_tools.infra.errors import ImbError


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


built_split_files = shard_files  # the older name


def load_built(path_or_repo_id: str | Path, split: str | None = None, hint: str = "--data DIR"):
    """A built IMB dataset as a DatasetDict (or one split): a local build folder or a Hub repo id.

    A local folder must be a build (data/built.py); every split of the build is there, an empty
    one as an empty Dataset. hint: how the caller passes a local folder, for error messages.
    """
    import datasets

    path = Path(path_or_repo_id)
    if path.exists():
        build = read_build(path)
        if build is None:
            raise ImbError(f"{path}: not a built IMB dataset folder ({not_a_build_reason(path, ())})")
        files = build.split_files()
        # Reading local Parquet takes a moment; the per-split "Generating" bars are only noise.
        was_enabled = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        # datasets logs a failed shard before raising; the one-line error below says it once
        reader_log = logging.getLogger("datasets.packaged_modules.parquet.parquet")
        level = reader_log.level
        reader_log.setLevel(logging.CRITICAL)
        try:
            dsd = datasets.load_dataset("parquet", data_files=files) if files else datasets.DatasetDict()
        except Exception as exc:  # a cut or corrupt shard: pyarrow's and datasets' errors vary
            raise ImbError(f"{path}: cannot read the build's Parquet files ({_first_line(exc)}); "
                           f"rebuild it with 'imb build'") from None
        finally:
            reader_log.setLevel(level)
            if was_enabled:
                datasets.enable_progress_bars()
        features = _features(build.dataset)
        dsd = datasets.DatasetDict({
            name: dsd[name] if name in dsd else datasets.Dataset.from_dict(
                {k: [] for k in features}, features=features, split=datasets.Split(name))
            for name in [*build.splits, *(s for s in dsd if s not in build.splits)]})
    else:
        from imb_tools.infra.locate import check_reference

        # a local-looking path is never sent to the Hub; an uncached repo offline fails at once
        check_reference(path_or_repo_id, "built dataset folder", hint, repo_type="dataset")
        if str(path_or_repo_id).count("/") != 1:
            raise ImbError(f"{path_or_repo_id}: no such folder, and not a Hub repo id (ORG/NAME)")
        try:
            dsd = datasets.load_dataset(str(path_or_repo_id))
        except Exception as exc:  # the Hub's errors vary by cause; say it in one line
            raise ImbError(f"cannot load {path_or_repo_id} from the Hub: {_first_line(exc)}") from None
    if split is not None:
        if split not in dsd:
            raise ImbError(f"{path_or_repo_id}: no split '{split}' (has {', '.join(dsd)})")
        return dsd[split]
    return dsd


def _first_line(exc: BaseException) -> str:
    cause = exc
    while cause.__cause__ is not None or cause.__context__ is not None:  # datasets wraps pyarrow's error
        cause = cause.__cause__ or cause.__context__
    text = str(cause).strip() or str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _features(dataset: str):
    from imb_tools.data import schema

    return schema.QA_FEATURES if dataset == "imb-qa" else schema.MCQA_FEATURES
