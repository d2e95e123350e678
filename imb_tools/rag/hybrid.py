"""Reciprocal rank fusion (Cormack et al., 2009), as in MedRAG's hybrid retriever.

Why ranks, not scores: cosine similarities and BM25 scores live on
unrelated scales; fusing ranks needs no calibration.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = RRF_K, top: int | None = None
) -> list[tuple[int, float]]:
    """Fuse ranked lists of row numbers into one: (row, fused score), best first."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        seen = set()
        for rank, row in enumerate(ranking):
            row = int(row)
            if row < 0 or row in seen:
                continue
            seen.add(row)
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank + 1)
    ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return ordered[:top] if top is not None else ordered
