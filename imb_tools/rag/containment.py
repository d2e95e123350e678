"""Which held-out answer a passage contains: an exact word-shingle containment index.

Why containment and not similarity: a short test answer inside a long passage (padded
with other text, wrapped in markup, or its first half quoted) has a low Jaccard
similarity with it, so whole-text comparisons let it through. Containment measures
what leaks: the share of the held-out answer's 3-word shingles that the passage holds.

Stock phrases are no evidence: a shingle found in more than `common_share` of the
held-out answers (and in more than `common_min` of them), such as "le consiglio di" or
"cordiali saluti", is left out of both sides, so a passage that shares only such phrases
with an answer shares nothing countable with it; containment is measured over the other
shingles of the answer.

How it avoids a pairwise loop: prefix filtering, the standard method of exact
set-similarity joins (Chaudhuri et al. 2006; Bayardo et al., "All-Pairs", 2007). An
answer with S shingles can reach containment t in a passage only if the passage holds
at least `need = max(ceil(t * S), min_shared)` of them, hence at least one of any
`S - need + 1` of them: each answer is indexed by that many of its rarest shingles.
A passage meets only the answers it shares a rare shingle with; each such candidate is
then verified by counting the shared shingles exactly. No candidate is missed and no
score is approximate. Everything runs on numpy arrays of integer shingle codes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SHINGLE_WORDS = 3
_BITS = 21  # a word id per 21 bits: three pack exactly into one int64 below 2**21 words
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))  # beyond that, a 64-bit mix


@dataclass
class Containment:
    """The held-out answer a passage contains most of."""

    heldout: int  # position of the answer in the index
    shared: int  # shingles of the answer found in the passage
    share: float  # shared / the answer's shingles


class ContainmentIndex:
    """Held-out answers (already normalized: guard_text) indexed for containment queries."""

    def __init__(self, answers: Sequence[str], threshold: float, min_shared: int,
                 common_share: float = 0.001, common_min: int = 5):
        self.threshold = threshold
        self.min_shared = min_shared
        self.vocab: dict[str, int] = {}  # word -> id from 1; 0 stands for a word no answer has
        owner, keys = self._rows(answers, grow=True)
        # Common shingles (stock phrases) leave the index: rows are distinct per answer, so the
        # count of a code is the number of answers holding it.
        codes, inverse, df = np.unique(keys, return_inverse=True, return_counts=True)
        self.common_cap = max(common_min, math.ceil(common_share * len(answers)))
        self.common = int((df > self.common_cap).sum())
        rare = df[inverse] <= self.common_cap
        owner, keys = owner[rare], keys[rare]
        self.shingles, kid = np.unique(keys, return_inverse=True)  # distinct shingle codes, sorted
        order = np.lexsort((kid, owner))  # answer by answer, shingles in code order
        self.owner, self.kid = owner[order], kid[order].astype(np.int64)
        self.sizes = np.bincount(self.owner, minlength=len(answers))
        self.starts = np.concatenate(([0], np.cumsum(self.sizes)[:-1])).astype(np.int64)
        self.need = np.maximum(np.ceil(threshold * self.sizes - 1e-9).astype(np.int64), min_shared)
        # Prefix: the S - need + 1 rarest shingles of each answer (rarest first, ties by code).
        df = np.bincount(self.kid, minlength=len(self.shingles))
        by_rarity = np.lexsort((self.kid, df[self.kid], self.owner))
        rank = np.arange(len(by_rarity)) - self.starts[self.owner[by_rarity]]
        prefix_len = np.maximum(self.sizes - self.need + 1, 0)  # 0: too short to reach min_shared
        keep = by_rarity[rank < prefix_len[self.owner[by_rarity]]]
        order = np.argsort(self.kid[keep], kind="stable")
        self.prefix_kid, self.prefix_owner = self.kid[keep][order], self.owner[keep][order]

    def _word_ids(self, words: list[str], grow: bool) -> list[int]:
        if grow:
            return [self.vocab.setdefault(w, len(self.vocab) + 1) for w in words]
        get = self.vocab.get
        return [get(w, 0) for w in words]

    def _rows(self, texts: Sequence[str], grow: bool) -> tuple[np.ndarray, np.ndarray]:
        """(text position, shingle code) for each distinct shingle of each text; shingles
        holding a word unknown to the index are left out (they cannot match)."""
        ids: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            words = text.split()
            lengths[i] = len(words)
            ids.extend(self._word_ids(words, grow))
        w = np.asarray(ids, dtype=np.uint64)
        if len(w) < SHINGLE_WORDS:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
        pos_owner = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        a, b, c = w[:-2], w[1:-1], w[2:]
        if len(self.vocab) < (1 << _BITS) - 1:
            keys = (a << np.uint64(2 * _BITS)) | (b << np.uint64(_BITS)) | c
        else:
            keys = a * _MIX[0] ^ b * _MIX[1] ^ c
        valid = (pos_owner[:-2] == pos_owner[2:]) & (a > 0) & (b > 0) & (c > 0)
        owner, keys = pos_owner[:-2][valid], keys[valid]
        if len(keys):  # distinct per text
            order = np.lexsort((keys, owner))
            owner, keys = owner[order], keys[order]
            first = np.ones(len(keys), dtype=bool)
            first[1:] = (owner[1:] != owner[:-1]) | (keys[1:] != keys[:-1])
            owner, keys = owner[first], keys[first]
        return owner, keys

    def best(self, passages: Sequence[str], chunk: int = 20_000) -> list[Containment | None]:
        """For each passage (normalized text), the answer it contains most of when that
        reaches the threshold (and at least min_shared shingles), else None."""
        out: list[Containment | None] = [None] * len(passages)
        for start in range(0, len(passages), chunk):
            for i, hit in self._best_chunk(passages[start : start + chunk]).items():
                out[start + i] = hit
        return out

    def _best_chunk(self, passages: Sequence[str]) -> dict[int, Containment]:
        owner, keys = self._rows(passages, grow=False)
        if not len(keys) or not len(self.shingles):
            return {}
        pos = np.searchsorted(self.shingles, keys)
        pos = np.minimum(pos, len(self.shingles) - 1)
        found = self.shingles[pos] == keys
        p_owner, p_kid = owner[found], pos[found].astype(np.int64)
        n_kid = np.int64(len(self.shingles))
        p_codes = p_owner * n_kid + p_kid  # sorted: rows come per passage, kid grows with the code
        # Candidates: (passage, answer) sharing a prefix shingle of the answer.
        lo = np.searchsorted(self.prefix_kid, p_kid, "left")
        hi = np.searchsorted(self.prefix_kid, p_kid, "right")
        hits = hi - lo
        if not hits.sum():
            return {}
        rows = np.repeat(np.arange(len(p_kid)), hits)
        offsets = np.arange(hits.sum()) - np.repeat(np.cumsum(hits) - hits, hits)
        n_ans = np.int64(len(self.sizes))
        pairs = np.unique(p_owner[rows] * n_ans + self.prefix_owner[np.repeat(lo, hits) + offsets])
        cand_p, cand_e = pairs // n_ans, pairs % n_ans
        # Verification: every shingle of each candidate answer, looked up in the passage's set.
        sizes = self.sizes[cand_e]
        pair_of = np.repeat(np.arange(len(pairs)), sizes)
        within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        wanted = cand_p[pair_of] * n_kid + self.kid[self.starts[cand_e][pair_of] + within]
        at = np.minimum(np.searchsorted(p_codes, wanted), len(p_codes) - 1)
        shared = np.bincount(pair_of, weights=p_codes[at] == wanted, minlength=len(pairs)).astype(np.int64)
        ok = shared >= self.need[cand_e]
        result: dict[int, Containment] = {}
        for p, e, s in zip(cand_p[ok].tolist(), cand_e[ok].tolist(), shared[ok].tolist()):
            share = s / int(self.sizes[e])
            prev = result.get(p)
            if prev is None or (share, s) > (prev.share, prev.shared):
                result[p] = Containment(e, s, share)
        return result
