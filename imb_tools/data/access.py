"""Build and load the two datasets: the one public entry point above the definitions.

`imb_qa.build/load`, `imb_mcqa.build/load`, `imb build` and `imb demo` come here.
"""

from __future__ import annotations

from pathlib import Path

from imb_tools.data.builder import build_to_folder
from imb_tools.data.io import load_built
from imb_tools.data.kinds import builder_for
from imb_tools.data.sources import data_source
from imb_tools.infra.errors import ImbError


def build(kind: str, raw_path: str | None, out_dir: str | Path, fractions: dict[str, float] | None = None,
          progress: bool = True, way_out: str | None = None) -> dict:
    """Build one dataset ('qa' or 'mcqa') into a folder; `raw_path=None` fetches the gated Hub file.
    Returns the report. way_out: what an offline fetch tells the caller to do instead (None: in
    Python terms, `imb_qa.build('path/to/IMB-QA.json', ...)`; `imb build` passes its --raw)."""
    builder = builder_for(kind)
    if way_out is None:
        function = builder.KIND.name.replace("-", "_") + ".build"
        way_out = f"pass a local file: {function}('path/to/{builder.RAW_FILENAME}', {str(out_dir)!r})"
    return build_to_folder(builder, raw_path, out_dir, fractions, progress, way_out=way_out)


# A column only each dataset has: loading one as the other is refused.
_MARKS = {"imb-qa": "macro_category", "imb-mcqa": "options"}


def load(kind: str, path_or_repo_id: str | Path | None = None, split: str | None = None):
    """A built folder or Hub repo of `kind` as a DatasetDict (or one split).

    None: the repo in IMB_QA_REPO / IMB_MCQA_REPO, else the gated raw file built once into
    the cache (data.sources.data_source). The other dataset's folder is refused in one line.
    Errors are phrased for Python callers (they name the function, not a CLI option).
    """
    name = builder_for(kind).KIND.name
    function = f"{name.replace('-', '_')}.load"
    source = data_source(name.removeprefix("imb-"), path_or_repo_id)
    loaded = load_built(source, split, hint=f"{function}('path/to/built/folder')")
    columns = loaded.column_names if split is not None else next(iter(loaded.values())).column_names
    if _MARKS[name] not in columns:
        other = next(k for k in _MARKS if k != name)
        raise ImbError(f"{source}: holds {other.upper()}, not {name.upper()} (no '{_MARKS[name]}' column); "
                       f"load it with {other.replace('-', '_')}.load")
    return loaded
