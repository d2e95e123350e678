"""Curriculum learning: present training records easy -> hard, by the difficulty index.

The paper fine-tunes with curriculum learning and defines an IMB-QA
difficulty index (length, terminology, syntax); the index itself lives in
`imb_tools.analysis.difficulty` and is only called from here.
"""

from __future__ import annotations

from imb_tools.data.splits import id_hash


def difficulty_scores(questions: list[str]) -> tuple[list[float], str]:
    """One score per record (higher = harder) and the name of what produced it: the paper's
    index of the question (length, terminology, syntax), z-scored over this set."""
    from imb_tools.analysis.difficulty import text_difficulty

    table = text_difficulty(questions, progress=True)
    return table["difficulty_index"].tolist(), "imb_tools.analysis.difficulty.text_difficulty (question)"


def order_by_difficulty(ds):
    """`ds` sorted easy -> hard (ties in hash order) with a `difficulty` column, and the score source.

    An existing `difficulty` column (precomputed scores) is used as it is.
    """
    if "difficulty" in ds.column_names:
        scores, source = list(ds["difficulty"]), "the dataset's difficulty column"
    else:
        scores, source = difficulty_scores(list(ds["question"]))
        ds = ds.add_column("difficulty", [float(s) for s in scores])
    ids = list(ds["id"])
    order = sorted(range(len(ds)), key=lambda i: (scores[i], id_hash(ids[i])))
    return ds.select(order), source
