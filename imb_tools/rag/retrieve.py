"""Dense, BM25 and hybrid search over a set of passages, one interface for all three.

Shared by `imb rag query`, the retriever evaluation, `imb rag answer` and
the lm-eval task, so they all rank passages the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imb_tools.infra.errors import ImbError
from imb_tools.rag import MODES  # noqa: F401  (re-exported)
from imb_tools.rag.hybrid import reciprocal_rank_fusion
from imb_tools.rag.knowledge_base import Passage

# Hybrid fuses this many candidates from each retriever (at least k).
HYBRID_DEPTH = 50


@dataclass
class Hit:
    row: int
    score: float
    passage: Passage


class Retriever:
    """Searches passages with a FAISS index, a BM25 index, or both fused."""

    def __init__(self, passages: Sequence[Passage], faiss_index=None, bm25=None, embedder=None):
        self.passages = list(passages)
        self.faiss_index = faiss_index
        self.bm25 = bm25
        self.embedder = embedder

    @classmethod
    def from_index(cls, rag_index, embedder=None) -> Retriever:
        return cls(rag_index.passages, rag_index.faiss_index, rag_index.bm25, embedder)

    def search(
        self, queries: Sequence[str], k: int = 5, mode: str = "dense", query_vectors: np.ndarray | None = None
    ) -> list[list[Hit]]:
        rows, scores = self.search_rows(queries, k, mode, query_vectors)
        return [
            [Hit(int(r), float(s), self.passages[r]) for r, s in zip(rr, ss) if r >= 0]
            for rr, ss in zip(rows, scores)
        ]

    def search_rows(
        self, queries: Sequence[str], k: int, mode: str = "dense", query_vectors: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers and scores, shape (len(queries), k); -1 pads where fewer exist."""
        if mode not in MODES:
            raise ImbError(f"unknown retrieval mode '{mode}' (choose from {', '.join(MODES)})")
        if mode == "dense":
            return self._dense(queries, k, query_vectors)
        if mode == "bm25":
            return self._pad(*self.bm25.search(queries, k), k)
        depth = max(k, HYBRID_DEPTH)
        d_rows, _ = self._dense(queries, depth, query_vectors)
        b_rows, _ = self.bm25.search(queries, depth)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        for i in range(len(queries)):
            for j, (row, score) in enumerate(reciprocal_rank_fusion([d_rows[i], b_rows[i]], top=k)):
                rows[i, j], scores[i, j] = row, score
        return rows, scores

    def _dense(self, queries, k, query_vectors):
        if query_vectors is None:
            if self.embedder is None:
                raise ImbError("dense retrieval needs the embedding model the index was built with")
            query_vectors = self.embedder.encode(list(queries))
        scores, rows = self.faiss_index.search(
            np.ascontiguousarray(query_vectors, dtype=np.float32), min(k, self.faiss_index.ntotal)
        )
        return self._pad(rows, scores, k)

    @staticmethod
    def _pad(rows, scores, k):
        if rows.shape[1] < k:
            pad = k - rows.shape[1]
            rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)))
        return rows, scores
