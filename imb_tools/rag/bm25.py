"""Lexical retrieval with bm25s: Italian stop words and PyStemmer's Italian stemmer.

Why BM25 beside dense retrieval: medical terms (drug names, exam codes) are
rare words that a small English-trained embedding model blurs, and BM25
matches them exactly; the two fail differently, which is what hybrid
retrieval exploits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from imb_tools.infra.errors import ImbError, require


def tokenize(texts: Sequence[str], show_progress: bool = False):
    """Italian stop words and stemmer: the lm-eval task's tokenization (imb_qa_rag), one copy."""
    require("bm25s", "rag")
    from lm_eval_tasks.imb_common.rag import bm25_tokenize

    return bm25_tokenize(texts, show_progress)


def _quiet_bm25s():
    """bm25s logs each index build at DEBUG through its own handler; keep it to warnings."""
    import logging

    logging.getLogger("bm25s").setLevel(logging.WARNING)


class BM25:
    """A bm25s index over passages, queried by row number."""

    def __init__(self, model):
        self.model = model

    @classmethod
    def build(cls, texts: Sequence[str], show_progress: bool = False) -> BM25:
        bm25s = require("bm25s", "rag")
        _quiet_bm25s()
        model = bm25s.BM25()
        model.index(tokenize(texts, show_progress), show_progress=show_progress)
        return cls(model)

    def search(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores), each of shape (len(queries), k'), k' = min(k, corpus size); the lm-eval
        task searches the same way (its code, one copy)."""
        from lm_eval_tasks.imb_common.rag import bm25_search

        return bm25_search(self.model, queries, k)

    @property
    def size(self) -> int:
        return int(self.model.scores["num_docs"])

    def save(self, path: str | Path) -> None:
        self.model.save(str(path), show_progress=False)

    @classmethod
    def load(cls, path: str | Path) -> BM25:
        bm25s = require("bm25s", "rag")
        try:
            return cls(bm25s.BM25.load(str(path), show_progress=False))
        except (OSError, ValueError, KeyError, EOFError, TypeError) as exc:  # missing, cut or damaged files
            raise ImbError(f"{path}: the BM25 index does not load ({type(exc).__name__}); rebuild the index") from None
