"""The `datasets` builder shared by IMB-QA and IMB-MCQA, and the build-to-folder step.

`_split_generators` runs the one validation pass (prepare.run_pass) and
`_generate_tables` streams the Arrow batches it wrote, so the raw file is
read once whatever the number of splits.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import datasets
import pyarrow as pa
from datasets.builder import Key

from imb_tools.data.prepare import Kind, PassResult, run_pass
from imb_tools.errors import ImbError

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

            raw = download_raw(self.RAW_FILENAME)
        fractions = self.config.fractions or self.DEFAULT_FRACTIONS
        self._work_dir = Path(tempfile.mkdtemp(prefix=f"imb-{self.KIND.name}-"))
        result: PassResult = run_pass(self.KIND, Path(raw), self._work_dir, fractions,
                                      progress=self.config.progress)
        self.build_report = result.report
        if self.config.report_dir:
            out = Path(self.config.report_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.json").write_text(json.dumps(result.report, indent=2, ensure_ascii=False) + "\n")
            shutil.copyfile(result.quarantine_path, out / "quarantine.jsonl")
        # `datasets` cannot hold an empty split; the report still lists it with 0.
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"arrow_path": str(path)})
            for split, path in result.split_files.items()
            if result.report["records_out"][split] > 0
        ]

    def _generate_tables(self, arrow_path):
        # Plain reads, not a memory map: each batch is freed once written.
        with pa.OSFile(arrow_path) as source:
            reader = pa.ipc.open_stream(source)
            for i, batch in enumerate(reader):
                yield Key(0, i), pa.Table.from_batches([batch])

    def cleanup_work_dir(self) -> None:
        work = getattr(self, "_work_dir", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def build_to_folder(builder_cls: type[ImbBuilder], raw_path: str | None, out_dir: str | Path,
                    fractions: dict[str, float] | None = None, progress: bool = True,
                    max_shard_size: str | int = "500MB") -> dict:
    """Build a dataset into `out_dir` (Parquet per split, card, report, quarantine); return the report.

    Everything is made in a sibling temporary folder and swapped in at the end,
    so an interrupted build never leaves a half-written dataset behind.
    """
    from imb_tools.data.io import SHARD_PATTERN
    from imb_tools.data.card import write_card

    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()) and not (out / "report.json").exists():
        raise ImbError(f"{out}: folder exists and is not an IMB build; choose an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    cache = Path(tempfile.mkdtemp(prefix="imb-cache-"))
    if not progress:
        datasets.disable_progress_bars()
    builder = builder_cls(cache_dir=str(cache), raw_path=raw_path, fractions=fractions,
                          report_dir=str(staging), progress=progress)
    try:
        # datasets writes Parquet shards straight from the generated tables:
        # no Arrow cache copy and no memory-mapped re-read.
        shards_dir = staging / "shards"
        builder.download_and_prepare(output_dir=str(shards_dir), file_format="parquet",
                                     max_shard_size=max_shard_size,
                                     download_mode=datasets.DownloadMode.FORCE_REDOWNLOAD)
        (staging / "data").mkdir()
        for split in builder.info.splits:
            files = sorted(shards_dir.glob(f"*-{split}.parquet")) or sorted(shards_dir.glob(f"*-{split}-*.parquet"))
            for index, file in enumerate(files):
                file.rename(staging / SHARD_PATTERN.format(split=split, index=index, count=len(files)))
        shutil.rmtree(shards_dir)
        report = builder.build_report
        write_card(staging, builder.KIND.name, report, builder_cls)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
        return report
    finally:
        builder.cleanup_work_dir()
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
