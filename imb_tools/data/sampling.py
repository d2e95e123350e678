"""Hash order: the one deterministic order for capped samples.

Evaluation subsets (the paper's ~2,000 items per macro-category), the RAG knowledge
base draw and the fine-tuning eval side all take "the first N in hash order", so a
sample never depends on file order and grows by appending when the data grows.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from lm_eval_tasks.imb_common.data import hash_order  # noqa: F401  (one copy, with the tasks)


def per_group_in_hash_order(ids: Sequence[str], groups: Sequence[Hashable],
                            limit: int | None = None) -> dict[Hashable, list[int]]:
    """For each group (sorted by name), the positions of its rows in hash order, at most `limit`."""
    out: dict[Hashable, list[int]] = {}
    for i in hash_order(ids):
        bucket = out.setdefault(groups[i], [])
        if limit is None or len(bucket) < limit:
            bucket.append(i)
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))


def capped_in_hash_order(ids: Sequence[str], groups: Sequence[Hashable] | None = None,
                         limit: int | None = None) -> list[int]:
    """Positions in hash order, at most `limit` of each group (no groups: the first `limit`)."""
    order = hash_order(ids)
    if limit is None:
        return order
    if groups is None:
        return order[:limit]
    taken: dict[Hashable, int] = {}
    keep = []
    for i in order:
        if taken.get(groups[i], 0) < limit:
            taken[groups[i]] = taken.get(groups[i], 0) + 1
            keep.append(i)
    return keep
