"""Curriculum learning: present training records easy -> hard, by the difficulty index.

The paper fine-tunes with curriculum learning and defines an IMB-QA
difficulty index (length, terminology, syntax); the index itself lives in
`imb_tools.analysis.difficulty` and is only called from here.
"""

from __future__ import annotations

import logging

from imb_tools.data.splits import id_hash

log = logging.getLogger(__name__)

LENGTH_PROXY = "length-proxy (len(question) + len(answer) in characters)"


def length_proxy(questions: list[str], answers: list[str]) -> list[float]:
    """Fallback difficulty when the index is not installed: longer exchanges count as harder."""
    return [float(len(q) + len(a)) for q, a in zip(questions, answers)]


def difficulty_scores(questions: list[str], answers: list[str]) -> tuple[list[float], str]:
    """One score per record (higher = harder) and the name of what produced it.

    The answers only feed the fallback proxy, used when the difficulty index's
    module is not installed.
    """
    import importlib

    try:
        difficulty = importlib.import_module("imb_tools.analysis.difficulty")
    except ModuleNotFoundError as exc:
        if exc.name not in ("imb_tools.analysis", "imb_tools.analysis.difficulty"):
            raise
        log.warning("imb_tools.analysis.difficulty is not available; curriculum uses the %s", LENGTH_PROXY)
        return length_proxy(questions, answers), LENGTH_PROXY
    # The paper's index scores the question (length, terminology, syntax), z-scored over this set.
    table = difficulty.text_difficulty(questions, progress=True)
    return table["difficulty_index"].tolist(), "imb_tools.analysis.difficulty.text_difficulty (question)"


def order_by_difficulty(ds):
    """`ds` sorted easy -> hard (ties in hash order) with a `difficulty` column, and the score source.

    An existing `difficulty` column (precomputed scores) is used as it is.
    """
    if "difficulty" in ds.column_names:
        scores, source = list(ds["difficulty"]), "the dataset's difficulty column"
    else:
        scores, source = difficulty_scores(list(ds["question"]), list(ds["answer"]))
        ds = ds.add_column("difficulty", [float(s) for s in scores])
    ids = list(ds["id"])
    order = sorted(range(len(ds)), key=lambda i: (scores[i], id_hash(ids[i])))
    return ds.select(order), source
