"""IMB-MCQA: 25,862 Italian medical specialisation exam questions with 4-5 options.

    from imb_mcqa import ImbMcqa, build, load
    build("IMB-MCQA.json", "out/mcqa")
    dsd = load("out/mcqa")
"""

from __future__ import annotations

from pathlib import Path

from imb_tools.data.builder import ImbBuilder, build_to_folder
from imb_tools.data.normalize import mcqa_content_key, normalize_mcqa
from imb_tools.data.prepare import Kind
from imb_tools.data.readers import iter_mcqa_records
from imb_tools.data.schema import MCQA_ALIASES, MCQA_FEATURES, MCQA_REQUIRED
from imb_tools.data.io import load_built

DEFAULT_FRACTIONS = {"dev": 0.02}


def _iter_raw(path: Path):
    for category, raw in iter_mcqa_records(path):
        yield raw, (lambda category=category, raw=raw: normalize_mcqa(category, raw))


KIND = Kind(
    name="imb-mcqa",
    features=MCQA_FEATURES,
    iter_raw=_iter_raw,
    required={f: MCQA_ALIASES[f] for f in MCQA_REQUIRED},
    content_key=mcqa_content_key,
    eval_splits=tuple(DEFAULT_FRACTIONS),
    rest_split="test",
)


class ImbMcqa(ImbBuilder):
    """`datasets` builder for IMB-MCQA from the raw JSON object keyed by category."""

    KIND = KIND
    DEFAULT_FRACTIONS = DEFAULT_FRACTIONS
    RAW_FILENAME = "IMB-MCQA.json"
    DESCRIPTION = (
        "IMB-MCQA: multiple-choice questions (4-5 options) from Italian medical "
        "specialisation exam simulators (CompitoInClasse.org), with the share of "
        "candidates who answered correctly; 60 categories."
    )


def build(raw_path: str | None, out_dir: str | Path, fractions: dict[str, float] | None = None,
          progress: bool = True) -> dict:
    """Build IMB-MCQA into a folder; `raw_path=None` fetches the gated Hub file. Returns the report."""
    return build_to_folder(ImbMcqa, raw_path, out_dir, fractions, progress)


def load(path_or_repo_id: str | Path, split: str | None = None):
    """A built IMB-MCQA folder or Hub repo as a DatasetDict (or one split)."""
    return load_built(path_or_repo_id, split)


__all__ = ["ImbMcqa", "build", "load", "DEFAULT_FRACTIONS"]
