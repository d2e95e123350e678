"""How good is the retriever? The paper never measured it; this does.

The probe: held-out question/answer pairs (validation and test, capped per
macro-category in hash order). Their answers are added to a copy of the
knowledge base (the real index is never modified); each question must find
its own answer. Recall@1/5/10 and MRR (over the top 10) per macro-category
for dense, BM25 and hybrid retrieval, side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imb_tools.data.sampling import hash_order
from imb_tools.infra.errors import ImbError
from imb_tools.rag.knowledge_base import HELDOUT_SPLITS, passages_from_split
from imb_tools.rag.retrieve import MODES, Retriever

CUTOFFS = (1, 5, 10)
DEPTH = max(CUTOFFS)


@dataclass
class ProbeItem:
    id: str
    question: str
    answer_row: int  # where its answer sits in the probe copy of the knowledge base
    macro_category: str


def probe_items(dataset, per_macro: int = 200, splits: Sequence[str] = HELDOUT_SPLITS):
    """Held-out pairs, at most `per_macro` per macro-category, in hash order (deterministic).

    Pairs with an empty question or answer cannot be probed; they are passed
    over (the next in hash order takes their place) and counted in `skipped`.
    Returns (pairs, skipped).
    """
    by_macro: dict[str, list] = {}
    for split in splits:
        if split not in dataset:
            continue
        ds = dataset[split]
        questions = dict(zip(ds["id"], ds["question"]))
        for p in passages_from_split(ds):
            by_macro.setdefault(p.macro_category, []).append((p, questions[p.id]))
    picked, skipped = [], 0
    for macro in sorted(by_macro):
        items = [by_macro[macro][i] for i in hash_order([pq[0].id for pq in by_macro[macro]])]
        usable = [pq for pq in items if pq[0].text.strip() and (pq[1] or "").strip()]
        skipped += len(items) - len(usable)
        picked.extend(usable[:per_macro])
    if not picked:
        raise ImbError(f"no held-out question/answer pairs to probe in splits {', '.join(splits)}")
    return picked, skipped


def probe_retriever(rag_index, pairs, embedder):
    """A retriever over a copy of the index with the probe answers appended, and the items."""
    import faiss

    from imb_tools.rag.bm25 import BM25

    base = list(rag_index.passages)
    items = [ProbeItem(p.id, q, len(base) + i, p.macro_category) for i, (p, q) in enumerate(pairs)]
    passages = base + [p for p, _ in pairs]
    faiss_index = faiss.clone_index(rag_index.faiss_index)
    faiss_index.add(embedder.encode([p.text for p, _ in pairs]))
    bm25 = BM25.build([p.text for p in passages])
    return Retriever(passages, faiss_index, bm25, embedder), items


def score_ranks(ranks: Sequence[int | None]) -> dict[str, float]:
    """Recall@k and MRR from the 1-based rank of each item's answer (None when not in the top 10)."""
    n = len(ranks)
    out = {f"recall@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in CUTOFFS}
    out["mrr"] = sum(1.0 / r for r in ranks if r is not None) / n
    out["n"] = n
    return out


def evaluate(rag_index, dataset, embedder, per_macro: int = 200, modes: Sequence[str] = MODES) -> dict:
    """Retriever quality on the probe: {"overall": {mode: metrics}, "per_macro": {macro: {mode: metrics}}}."""
    pairs, skipped = probe_items(dataset, per_macro)
    retriever, items = probe_retriever(rag_index, pairs, embedder)
    questions = [it.question for it in items]
    qvecs = embedder.encode(questions) if {"dense", "hybrid"} & set(modes) else None
    ranks: dict[str, list[int | None]] = {}
    for mode in modes:
        rows, _ = retriever.search_rows(questions, DEPTH, mode, qvecs)
        ranks[mode] = [_rank(r, it.answer_row) for r, it in zip(rows, items)]
    macros = sorted({it.macro_category for it in items})
    report = {
        "probe": {
            "items": len(items),
            "skipped_empty": skipped,
            "knowledge_base": len(rag_index.passages),
            "per_macro_cap": per_macro,
            "splits": list(HELDOUT_SPLITS),
        },
        "overall": {m: score_ranks(ranks[m]) for m in modes},
        "per_macro": {},
    }
    for macro in macros:
        sel = [i for i, it in enumerate(items) if it.macro_category == macro]
        report["per_macro"][macro] = {m: score_ranks([ranks[m][i] for i in sel]) for m in modes}
    return report


def _rank(rows: np.ndarray, target: int) -> int | None:
    hits = np.nonzero(rows == target)[0]
    return int(hits[0]) + 1 if len(hits) else None


def format_table(report: dict) -> str:
    """Markdown table: one row per macro-category, R@1/R@5/R@10/MRR per mode."""
    modes = list(report["overall"])
    head = (
        "| Macro-category | n | "
        + " | ".join(f"{m} R@1 | {m} R@5 | {m} R@10 | {m} MRR" for m in modes)
        + " |"
    )
    sep = "|" + "---|" * (2 + 4 * len(modes))
    lines = [head, sep]
    rows = list(report["per_macro"].items()) + [("**All**", report["overall"])]
    for name, by_mode in rows:
        n = next(iter(by_mode.values()))["n"]
        cells = [f"{by_mode[m][k]:.3f}" for m in modes for k in ("recall@1", "recall@5", "recall@10", "mrr")]
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
