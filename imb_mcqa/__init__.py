"""IMB-MCQA: 25,862 Italian medical specialisation exam questions with 4-5 options.

    from imb_mcqa import ImbMcqa, build, load
    build("IMB-MCQA.json", "out/mcqa")
    dsd = load("out/mcqa")

The definition lives in `imb_tools.data.kinds`, building and loading in
`imb_tools.data.access`; this package only re-exports them.
"""

from __future__ import annotations

from pathlib import Path

from imb_tools.data import access
from imb_tools.data.splits import MCQA_FRACTIONS as DEFAULT_FRACTIONS
from imb_tools.data.kinds import ImbMcqa


def build(raw_path: str | None, out_dir: str | Path, fractions: dict[str, float] | None = None,
          progress: bool = True) -> dict:
    """Build IMB-MCQA into a folder; `raw_path=None` fetches the gated Hub file. Returns the report."""
    return access.build("imb-mcqa", raw_path, out_dir, fractions, progress)


def load(path_or_repo_id: str | Path | None = None, split: str | None = None):
    """A built IMB-MCQA folder or Hub repo as a DatasetDict (or one split).

    No argument: the published repo in IMB_MCQA_REPO, else the gated raw file from
    praiselab-picuslab/IMB, built once into the cache and reused (needs access on the Hub).
    The other dataset's folder is refused with a one-line error.
    """
    return access.load("imb-mcqa", path_or_repo_id, split)


__all__ = ["ImbMcqa", "build", "load", "DEFAULT_FRACTIONS"]
