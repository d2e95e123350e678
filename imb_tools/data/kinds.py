"""The two IMB datasets, defined once: features, description, fractions, citation, licence,
the raw reader and normaliser each uses, and the `datasets` builder classes.

`imb_qa/` and `imb_mcqa/` only re-export what is here.
"""

from __future__ import annotations

from pathlib import Path

from imb_tools.data.builder import ImbBuilder, build_to_folder
from imb_tools.data.io import load_built
from imb_tools.data.normalize import mcqa_content_key, normalize_mcqa, normalize_qa, qa_content_key
from imb_tools.data.prepare import Kind
from imb_tools.infra.readers import iter_mcqa_records, iter_table_records
from imb_tools.data.schema import (MCQA_ALIASES, MCQA_FEATURES, MCQA_REQUIRED, QA_ALIASES, QA_FEATURES,
                                   QA_REQUIRED)

LICENSE = "CC BY-NC-ND 4.0"
HOMEPAGE = "https://huggingface.co/datasets/praiselab-picuslab/IMB"
CITATION = """\
@inproceedings{romano2025imb,
  title     = {IMB: An Italian Medical Benchmark for Question Answering},
  author    = {Romano, Antonio and Riccio, Giuseppe and Barone, Mariano and
               Postiglione, Marco and Moscato, Vincenzo},
  booktitle = {Proceedings of the Eleventh Italian Conference on Computational Linguistics (CLiC-it 2025)},
  address   = {Cagliari, Italy},
  year      = {2025}
}
"""

from imb_tools.data.splits import MCQA_FRACTIONS, QA_FRACTIONS  # noqa: E402  (defined with the splits)


def _identity(item):
    return item


def _mcqa_raw(item):
    return item[1]


def _normalize_mcqa_item(item):
    return normalize_mcqa(item[0], item[1])


QA_KIND = Kind(
    name="imb-qa",
    features=QA_FEATURES,
    iter_items=iter_table_records,
    raw_of=_identity,
    normalize=normalize_qa,
    required={f: QA_ALIASES[f] for f in QA_REQUIRED},
    content_key=qa_content_key,
    eval_splits=tuple(QA_FRACTIONS),
    rest_split="train",
)

def qa_results(path: Path, work_dir: Path, workers: int):
    """Pass 1 of IMB-QA in Arrow blocks, over `workers` processes for a file of several blocks."""
    from imb_tools.data.prepare import iter_block_results
    from imb_tools.infra.readers import BLOCK_BYTES, qa_blocks

    if Path(path).stat().st_size < 8 * BLOCK_BYTES:
        workers = 1  # starting processes costs more than it saves
    return iter_block_results(QA_KIND, Path(path), work_dir, workers, qa_blocks(path))


QA_KIND.iter_results = qa_results

MCQA_KIND = Kind(
    name="imb-mcqa",
    features=MCQA_FEATURES,
    iter_items=iter_mcqa_records,
    raw_of=_mcqa_raw,
    normalize=_normalize_mcqa_item,
    required={f: MCQA_ALIASES[f] for f in MCQA_REQUIRED},
    content_key=mcqa_content_key,
    eval_splits=tuple(MCQA_FRACTIONS),
    rest_split="test",
)


class _Imb(ImbBuilder):
    CITATION = CITATION
    LICENSE = LICENSE
    HOMEPAGE = HOMEPAGE


class ImbQa(_Imb):
    """`datasets` builder for IMB-QA from the raw JSON array, JSON Lines or CSV file."""

    KIND = QA_KIND
    DEFAULT_FRACTIONS = QA_FRACTIONS
    RAW_FILENAME = "IMB-QA.json"
    DESCRIPTION = (
        "IMB-QA: Italian medical forum questions (MedicItalia, Dica33) with answers by "
        "certified professionals, reformulated by an LLM and anonymized; 77 categories "
        "grouped into 10 macro-categories."
    )


class ImbMcqa(_Imb):
    """`datasets` builder for IMB-MCQA from the raw JSON object keyed by category."""

    KIND = MCQA_KIND
    DEFAULT_FRACTIONS = MCQA_FRACTIONS
    RAW_FILENAME = "IMB-MCQA.json"
    DESCRIPTION = (
        "IMB-MCQA: multiple-choice questions (4-5 options) from Italian medical "
        "specialisation exam simulators (CompitoInClasse.org), with the share of "
        "candidates who answered correctly; 60 categories."
    )


BUILDERS: dict[str, type[ImbBuilder]] = {"imb-qa": ImbQa, "imb-mcqa": ImbMcqa}


def builder_for(kind: str) -> type[ImbBuilder]:
    """The builder class for a dataset name ('imb-qa', 'imb-mcqa', or 'qa', 'mcqa')."""
    return BUILDERS[kind if kind.startswith("imb-") else f"imb-{kind}"]


def build(kind: str, raw_path: str | None, out_dir: str | Path, fractions: dict[str, float] | None = None,
          progress: bool = True, workers: int | None = None) -> dict:
    """Build one dataset into a folder; `raw_path=None` fetches the gated Hub file. Returns the report.

    workers: processes that validate blocks of a large IMB-QA file (default: IMB_BUILD_WORKERS,
    else the CPUs); the output is byte-identical whatever the number."""
    return build_to_folder(builder_for(kind), raw_path, out_dir, fractions, progress, workers=workers)


# A column only each dataset has: loading one as the other is refused.
_MARKS = {"imb-qa": "macro_category", "imb-mcqa": "options"}


def load(kind: str, path_or_repo_id: str | Path | None = None, split: str | None = None):
    """A built folder or Hub repo of `kind` as a DatasetDict (or one split).

    None: the repo in IMB_QA_REPO / IMB_MCQA_REPO, else the gated raw file built once into
    the cache (data.sources.data_source). The other dataset's folder is refused in one line.
    """
    from imb_tools.data.sources import data_source
    from imb_tools.infra.errors import ImbError

    name = builder_for(kind).KIND.name
    source = data_source(name.removeprefix("imb-"), path_or_repo_id)
    loaded = load_built(source, split)
    columns = loaded.column_names if split is not None else next(iter(loaded.values())).column_names
    if _MARKS[name] not in columns:
        other = next(k for k in _MARKS if k != name)
        raise ImbError(f"{source}: holds {other.upper()}, not {name.upper()} (no '{_MARKS[name]}' column); "
                       f"load it with {other.replace('-', '_')}.load")
    return loaded
