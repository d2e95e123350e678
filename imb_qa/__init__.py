"""IMB-QA: 782,644 Italian medical forum questions with reformulated, anonymized answers.

    from imb_qa import ImbQa, build, load
    build("IMB-QA.json", "out/qa")          # Parquet + card + report + quarantine
    dsd = load("out/qa")                     # or load("ORG/imb-qa") from the Hub
    builder = ImbQa(raw_path="IMB-QA.json")  # the datasets builder itself
"""

from __future__ import annotations

from pathlib import Path

from imb_tools.data.builder import ImbBuilder, build_to_folder
from imb_tools.data.normalize import normalize_qa, qa_content_key
from imb_tools.data.prepare import Kind
from imb_tools.data.readers import iter_table_records
from imb_tools.data.schema import QA_ALIASES, QA_FEATURES, QA_FORBIDDEN, QA_REQUIRED
from imb_tools.data.io import load_built

DEFAULT_FRACTIONS = {"test": 0.025, "validation": 0.01}


def _iter_raw(path: Path):
    for raw in iter_table_records(path):
        yield raw, (lambda raw=raw: normalize_qa(raw))


KIND = Kind(
    name="imb-qa",
    features=QA_FEATURES,
    iter_raw=_iter_raw,
    required={f: QA_ALIASES[f] for f in QA_REQUIRED},
    content_key=qa_content_key,
    eval_splits=tuple(DEFAULT_FRACTIONS),
    rest_split="train",
    forbidden=QA_FORBIDDEN,
)


class ImbQa(ImbBuilder):
    """`datasets` builder for IMB-QA from the raw JSON array, JSON Lines or CSV file."""

    KIND = KIND
    DEFAULT_FRACTIONS = DEFAULT_FRACTIONS
    RAW_FILENAME = "IMB-QA.json"
    DESCRIPTION = (
        "IMB-QA: Italian medical forum questions (MedicItalia, Dica33) with answers by "
        "certified professionals, reformulated by an LLM and anonymized; 77 categories "
        "grouped into 10 macro-categories."
    )


def build(raw_path: str | None, out_dir: str | Path, fractions: dict[str, float] | None = None,
          progress: bool = True) -> dict:
    """Build IMB-QA into a folder; `raw_path=None` fetches the gated Hub file. Returns the report."""
    return build_to_folder(ImbQa, raw_path, out_dir, fractions, progress)


def load(path_or_repo_id: str | Path, split: str | None = None):
    """A built IMB-QA folder or Hub repo as a DatasetDict (or one split)."""
    return load_built(path_or_repo_id, split)


__all__ = ["ImbQa", "build", "load", "DEFAULT_FRACTIONS"]
