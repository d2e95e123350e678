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


def _stemmer():
    try:
        import Stemmer
    except ImportError:  # stemming is optional: bm25s works on surface forms
        return None
    return Stemmer.Stemmer("italian").stemWords


def _quiet_bm25s():
    """bm25s logs each index build at DEBUG through its own handler; keep it to warnings."""
    import logging

    logging.getLogger("bm25s").setLevel(logging.WARNING)


def tokenize(texts: Sequence[str], show_progress: bool = False):
    bm25s = require("bm25s", "rag")
    return bm25s.tokenize(
        list(texts), stopwords="it", stemmer=_stemmer(), return_ids=False, show_progress=show_progress
    )


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
        """(rows, scores), each of shape (len(queries), k'), k' = min(k, corpus size)."""
        k = min(k, self.size)
        tokens = [[t for t in q if t in self.model.vocab_dict] for q in tokenize(queries)]
        # A query with no indexed word has no lexical evidence: no hits (row -1), not a guess.
        rows = np.full((len(tokens), k), -1, dtype=np.int64)
        scores = np.zeros((len(tokens), k), dtype=np.float32)
        live = [i for i, t in enumerate(tokens) if t]
        if live and k:
            r, s = self.model.retrieve([tokens[i] for i in live], k=k, show_progress=False, n_threads=1)
            rows[live], scores[live] = r, s
        return rows, scores

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
