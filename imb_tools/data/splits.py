"""Hash-based splits: a record's split depends only on its id and the fractions.

A record keeps its split when the data grows or is rebuilt, so evaluation
items can never slip into training data or the RAG knowledge base.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

# Default evaluation splits (the rest is IMB-QA train / IMB-MCQA test), defined once.
QA_FRACTIONS = {"test": 0.025, "validation": 0.01}
MCQA_FRACTIONS = {"dev": 0.02}

# Namespaced so that IMB's buckets do not correlate with other hash uses of the id.
_SALT = b"imb-split-v1\x00"


def id_hash(record_id: str) -> int:
    """A stable 64-bit hash of an id; also the "hash order" used to cap evaluation sets."""
    digest = hashlib.blake2b(_SALT + record_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def bucket(record_id: str) -> float:
    """Where the id falls in [0, 1)."""
    return id_hash(record_id) / 2**64


def assign_split(record_id: str, fractions: Mapping[str, float], rest: str) -> str:
    """The split of a record: walk the evaluation splits' thresholds in order, else `rest`.

    `fractions` maps split names to fractions of the whole (e.g. test 0.025,
    validation 0.01); whatever is left goes to `rest` (e.g. train).
    """
    return split_of_hash(id_hash(record_id), fractions, rest)


def split_of_hash(hashed_id: int, fractions: Mapping[str, float], rest: str) -> str:
    """assign_split for an id already hashed with id_hash."""
    b = hashed_id / 2**64
    edge = 0.0
    for name, frac in fractions.items():
        edge += frac
        if b < edge:
            return name
    return rest


def check_fractions(fractions: Mapping[str, float]) -> None:
    from imb_tools.infra.errors import ImbError

    for name, frac in fractions.items():
        if not 0.0 <= frac <= 1.0:
            raise ImbError(f"split fraction for '{name}' must be in [0, 1], got {frac}")
    if sum(fractions.values()) > 1.0 + 1e-9:
        raise ImbError(f"split fractions add up to more than 1: {dict(fractions)}")
