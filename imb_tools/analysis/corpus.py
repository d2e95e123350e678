"""Read what the analysis steps (categorize, difficulty) work on: a table file or a built dataset.

Both steps accept either a raw/preprocessed table (JSONL, JSON, CSV, Parquet,
read by data.tables) or a folder made by `imb build` (one split, or all splits
concatenated). Class-label columns come back as their names, so reports speak
category names, not integers.
"""

from __future__ import annotations

from pathlib import Path

from imb_tools.infra.tables import labels_to_names
from imb_tools.infra.errors import ImbError

# Column names tried, in order, when the user names none: built datasets first,
# then the forum dumps' Italian columns, then the paper's English ones.
TEXT_COLUMNS = ("question", "testo_domanda", "Question")
CATEGORY_COLUMNS = ("category", "categoria", "Category")
MACRO_COLUMNS = ("macro_category", "Macro Category")


def load_corpus(path: str | Path, split: str | None = None):
    """A `datasets.Dataset` from a table file or a built dataset folder (ClassLabels decoded)."""
    import datasets

    path = Path(path)
    if not path.exists():
        raise ImbError(f"{path}: no such table file or built dataset folder")
    if path.is_dir():
        from imb_tools.data.io import load_built

        loaded = load_built(path, split)
        ds = loaded if isinstance(loaded, datasets.Dataset) else datasets.concatenate_datasets(
            [loaded[s] for s in loaded]
        )
    else:
        if split is not None:
            raise ImbError(f"{path}: --split applies to built dataset folders, not table files")
        from imb_tools.infra.tables import read_table

        ds = read_table(path)
    return labels_to_names(ds)


def pick_column(ds, wanted: str | None, candidates: tuple[str, ...], source) -> str | None:
    """``wanted`` if given (it must exist), else the first candidate present, else None."""
    if wanted:
        if wanted not in ds.column_names:
            raise ImbError(f"{source}: no column {wanted!r} (columns: {', '.join(ds.column_names)})")
        return wanted
    return next((c for c in candidates if c in ds.column_names), None)


def macro_of(categories) -> list[str | None]:
    """The project's macro-category for each IMB-QA category name (None when unknown)."""
    from imb_tools.data.categories import CATEGORY_TO_MACRO, canonical_qa_category

    out = []
    for cat in categories:
        canon = canonical_qa_category(str(cat)) if cat is not None else None
        out.append(CATEGORY_TO_MACRO.get(canon) if canon else None)
    return out
