"""Reciprocal rank fusion (Cormack et al., 2009), as in MedRAG's hybrid retriever.

Why ranks, not scores: cosine similarities and BM25 scores live on
unrelated scales; fusing ranks needs no calibration.
"""

from __future__ import annotations

# The lm-eval task (imb_qa_rag) fuses the same way: its code, one copy.
from lm_eval_tasks.imb_common.rag import RRF_K, reciprocal_rank_fusion  # noqa: F401
