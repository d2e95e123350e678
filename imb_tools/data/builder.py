"""The `datasets` builder shared by IMB-QA and IMB-MCQA, and the build-to-folder step.

`_split_generators` runs the one validation pass (prepare.run_pass) and
`_generate_tables` streams the Arrow batches it wrote, so the raw file is
read once whatever the number of splits. `build_to_folder` runs the same pass
and writes Parquet straight from the validated batches.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import datasets
import pyarrow as pa
from datasets.builder import Key

from imb_tools.data.built import MARKER, content_fingerprint
from imb_tools.infra import ownership
from imb_tools.infra.readers import check_regular_file
from imb_tools.data.prepare import ArrowStreamSink, Kind, PassResult, run_pass
from imb_tools.infra.errors import ImbError

BUILDER_VERSION = "3"  # 3: the marker holds fingerprint, is_sample and rows per split
# Every file a build writes; a folder holding anything else is never replaced.
BUILD_FILES = ("README.md", "report.json", "quarantine.jsonl", "data/*-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].parquet")
WORK_PREFIX = "imb-work-"  # a builder used directly keeps its work in <tmp>/imb-work-<pid>-*


@dataclass
class ImbConfig(datasets.BuilderConfig):
    """raw_path: a local raw file; None fetches the published one from the gated Hub repo.

    fractions: split name -> fraction for the evaluation splits (the rest is
    the remaining split). report_dir: where report.json and quarantine.jsonl go.
    """

    raw_path: str | None = None
    fractions: dict[str, float] | None = None
    report_dir: str | None = None
    progress: bool = True


class ImbBuilder(datasets.ArrowBasedBuilder):
    BUILDER_CONFIG_CLASS = ImbConfig
    KIND: ClassVar[Kind]
    DEFAULT_FRACTIONS: ClassVar[dict[str, float]]
    RAW_FILENAME: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    CITATION: ClassVar[str]
    LICENSE: ClassVar[str]
    HOMEPAGE: ClassVar[str]

    def __init__(self, *args, data_dir=None, data_files=None, **kwargs):
        # datasets' own data_dir / data_files would be taken and ignored: say what this builder reads
        if data_dir is not None or data_files is not None:
            kind = self.KIND.name.removeprefix("imb-").replace("-", "_")
            raise ImbError(f"{type(self).__name__} builds from one raw file: pass raw_path='path/to/"
                           f"{self.RAW_FILENAME}' (data_dir and data_files are not read); a folder made by "
                           f"'imb build' loads with imb_{kind}.load(folder)")
        super().__init__(*args, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.DESCRIPTION,
            features=self.KIND.features,
            citation=self.CITATION,
            license=self.LICENSE,
            homepage=self.HOMEPAGE,
        )

    def _split_generators(self, dl_manager):
        raw = self.config.raw_path
        if raw is None:
            from imb_tools.data.fetch import download_raw

            raw = download_raw(self.RAW_FILENAME, way_out=f"pass a local file: "
                               f"{type(self).__name__}(raw_path='path/to/{self.RAW_FILENAME}')")
        fractions = self.config.fractions or self.DEFAULT_FRACTIONS
        tmp = Path(tempfile.gettempdir())
        ownership.remove_stale(tmp, WORK_PREFIX)
        self.cleanup_work_dir()
        self._work_dir = ownership.make_run_dir(tmp, WORK_PREFIX)
        sink = ArrowStreamSink(self._work_dir, self.KIND.splits, self.KIND.features.arrow_schema)
        result: PassResult = run_pass(self.KIND, Path(raw), self._work_dir, fractions, sink,
                                      progress=self.config.progress)
        self.build_report = result.report
        if self.config.report_dir:
            out = Path(self.config.report_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.json").write_text(json.dumps(result.report, indent=2, ensure_ascii=False) + "\n")
            shutil.copyfile(result.quarantine_path, out / "quarantine.jsonl")
        # Every split, even an empty one (a small file may leave dev or test empty).
        return [datasets.SplitGenerator(name=split, gen_kwargs={"arrow_path": str(path)})
                for split, path in sink.paths.items()]

    def _generate_tables(self, arrow_path):
        # Plain reads, not a memory map: each batch is freed once written.
        with pa.OSFile(arrow_path) as source:
            reader = pa.ipc.open_stream(source)
            n = 0
            for i, batch in enumerate(reader):
                n += batch.num_rows
                yield Key(0, i), pa.Table.from_batches([batch])
            if n == 0:  # an empty split still needs its schema
                yield Key(0, 0), self.KIND.features.arrow_schema.empty_table()

    def as_dataset(self, split=None, **kwargs):
        """As datasets' own, but a split that came out empty is an empty Dataset, not an error."""
        splits = self.info.splits or {}
        empty = {name for name, info in splits.items() if not info.num_examples}

        def one(name):
            if str(name) in empty:
                return datasets.Dataset.from_dict({k: [] for k in self.info.features}, features=self.info.features,
                                                  info=self.info.copy(), split=datasets.Split(str(name)))
            return super(ImbBuilder, self).as_dataset(split=name, **kwargs)

        if split is None and empty:
            return datasets.DatasetDict({name: one(name) for name in splits})
        return one(split) if split is not None else super().as_dataset(split=split, **kwargs)

    def _download_and_prepare(self, dl_manager, verification_mode, **kwargs):
        try:
            return super()._download_and_prepare(dl_manager, verification_mode, **kwargs)
        finally:
            self.cleanup_work_dir()

    def cleanup_work_dir(self) -> None:
        work = getattr(self, "_work_dir", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
            self._work_dir = None


# Builds made before the marker existed: the same files, plus the lock files datasets left.
_LEGACY_FILES = (*BUILD_FILES, "shards_builder.lock", "shards.incomplete_info.lock")


def _legacy_build(out: Path, dataset: str) -> bool:
    """A build folder from before `.imb-build.json`: only build files, and its report names `dataset`."""
    import fnmatch

    if not out.is_dir() or out.is_symlink() or (out / MARKER).exists():
        return False
    files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()]
    if not files or any(not any(fnmatch.fnmatchcase(f, pat) for pat in _LEGACY_FILES) for f in files):
        return False
    if any(p.is_dir() and not any(p.iterdir()) for p in out.rglob("*")):
        return False
    try:
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and report.get("dataset") == dataset and "counts_add_up" in report


def _stale_leftovers(out: Path) -> None:
    """Remove what killed builds of `out` left beside it; put back a build caught mid-swap."""
    for old in ownership.stale_run_dirs(out.parent, f".{out.name}.old-", marker=MARKER):
        if not out.exists() and ownership.read_marker(old, MARKER) is not None:
            old.rename(out)  # killed between moving the old build aside and moving the new one in
        else:
            shutil.rmtree(old, ignore_errors=True)
    ownership.remove_stale(out.parent, f".{out.name}.partial-")


def _disk_error(out: Path, exc: OSError) -> ImbError:
    why = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    where = f" ({exc.filename})" if exc.filename and exc.errno != errno.ENOSPC else ""
    return ImbError(f"{out}: cannot write the build: {why}{where}; nothing was replaced")


def build_to_folder(builder_cls: type[ImbBuilder], raw_path: str | None, out_dir: str | Path,
                    fractions: dict[str, float] | None = None, progress: bool = True,
                    max_shard_size: str | int = "500MB", workers: int | None = None,
                    way_out: str = "pass a local file with --raw PATH") -> dict:
    """Build a dataset into `out_dir` (Parquet per split, card, report, quarantine); return the report.

    Everything is made in one run folder beside `out_dir` (`.NAME.partial-<pid>-*`) and
    swapped in at the end, so an interrupted build never leaves a half-written dataset
    behind, and the next build removes what a killed one left. `out_dir` is replaced
    only when it holds a previous build and nothing else. workers: processes for pass 1
    (None: one per CPU, at most 4, for a file of 64 MB or more); the output does not depend on it.
    way_out: what an offline fetch of the raw file (`raw_path=None`) tells the caller to do instead.
    """
    from imb_tools.data.card import write_card
    from imb_tools.data.io import ParquetSink

    kind = builder_cls.KIND
    out = Path(out_dir).resolve()
    if raw_path is None:
        from imb_tools.data.fetch import download_raw

        raw_path = download_raw(builder_cls.RAW_FILENAME, way_out=way_out)
    raw = check_regular_file(raw_path).resolve()  # no FIFO, folder or symlink loop
    if raw == out or out in raw.parents:
        raise ImbError(f"{out}: the output folder holds the raw file {raw_path}; "
                       f"choose an output folder outside it")
    if (out.exists() or out.is_symlink()) and not _legacy_build(out, kind.name):
        ownership.check_replaceable(out, MARKER, BUILD_FILES, {"written_by": "imb build", "dataset": kind.name})
    fractions = fractions or builder_cls.DEFAULT_FRACTIONS
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _stale_leftovers(out)
        staging = ownership.make_run_dir(out.parent, f".{out.name}.partial-")
    except OSError as exc:
        raise _disk_error(out, exc) from None
    try:
        work = staging / "work"
        final = staging / "build"
        sink = ParquetSink(final, kind.splits, kind.features.arrow_schema, _size_bytes(max_shard_size),
                           dictionary_columns=_dictionary_columns(kind))
        result = run_pass(kind, raw, work, fractions, sink, progress=progress, workers=workers)
        report = result.report
        (final / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        os.replace(result.quarantine_path, final / "quarantine.jsonl")
        write_card(final, kind.name, report, builder_cls)
        ownership.write_marker(final, MARKER, {
            "written_by": "imb build", "dataset": kind.name, "builder_version": BUILDER_VERSION,
            "fingerprint": content_fingerprint(final), "is_sample": _is_sample(raw),
            "splits": dict(report["records_out"])})
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}-0")
            os.replace(out, old)
            os.replace(final, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(final, out)
        return report
    except OSError as exc:
        raise _disk_error(out, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _is_sample(raw: Path) -> bool:
    """Built from the bundled test sample (or a copy of it: `imb demo` copies it to OUT/raw)?"""
    from imb_tools import sample_data

    names = {Path(p).name for p in (sample_data.QA_SAMPLE, sample_data.MCQA_SAMPLE)}
    return ".sample." in raw.name or raw.name in names


def _dictionary_columns(kind: Kind) -> tuple[str, ...]:
    # Dictionary-encode only the few-valued columns; long unique texts gain nothing from it.
    return tuple(n for n in kind.features if n not in ("id", "source_id", "question", "answer", "options", "url"))


def _size_bytes(size: str | int) -> int:
    if isinstance(size, int):
        return size
    text = size.strip().upper()
    for unit, mult in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3), ("B", 1)):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * mult)
    return int(text)
