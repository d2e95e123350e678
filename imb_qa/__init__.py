"""IMB-QA: 782,644 Italian medical forum questions with reformulated, anonymized answers.

    from imb_qa import ImbQa, build, load
    build("IMB-QA.json", "out/qa")          # Parquet + card + report + quarantine
    dsd = load("out/qa")                     # or load("ORG/imb-qa") from the Hub
    builder = ImbQa(raw_path="IMB-QA.json")  # the datasets builder itself

The definition lives in `imb_tools.data.kinds`, building and loading in
`imb_tools.data.access`; this package only re-exports them.
"""

from __future__ import annotations

from pathlib import Path

from imb_tools.data import access
from imb_tools.data.splits import QA_FRACTIONS as DEFAULT_FRACTIONS
from imb_tools.data.kinds import ImbQa


def build(raw_path: str | None, out_dir: str | Path, fractions: dict[str, float] | None = None,
          progress: bool = True) -> dict:
    """Build IMB-QA into a folder; `raw_path=None` fetches the gated Hub file. Returns the report."""
    return access.build("imb-qa", raw_path, out_dir, fractions, progress)


def load(path_or_repo_id: str | Path | None = None, split: str | None = None):
    """A built IMB-QA folder or Hub repo as a DatasetDict (or one split).

    No argument: the published repo in IMB_QA_REPO, else the gated raw file from
    praiselab-picuslab/IMB, built once into the cache and reused (needs access on the Hub).
    The other dataset's folder is refused with a one-line error.
    """
    return access.load("imb-qa", path_or_repo_id, split)


__all__ = ["ImbQa", "build", "load", "DEFAULT_FRACTIONS"]
