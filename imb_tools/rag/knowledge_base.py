"""The RAG knowledge base: answers from IMB-QA `train`, with a leakage guard.

Why a guard: hash splits keep ids apart, but the forum has reposted and
near-identical answers, and answers that quote others; one of those in the
knowledge base would hand the generator a test answer. A passage is removed when
it matches a validation or test record by id, by normalized-text hash, as a near
duplicate (word-shingle Jaccard >= 0.9, candidates from datasketch MinHash LSH, then
checked exactly), when it CONTAINS a held-out answer (at least 40% of the answer's
3-word shingles, and at least 8 of them, found in the passage: the answer padded
with other text, wrapped in markup, or its first half quoted; stock phrases common
to many answers do not count; exact, through `containment.ContainmentIndex`), or by embedding cosine >= 0.98. Texts are compared
after `guard_text`: markup and invisible characters dropped, accents and case
folded. Removed passages are replaced by the next ones in hash order of the same
macro-category, and every removal is kept with its reason.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from imb_tools.infra.errors import ImbError

KB_SPLITS = ("train",)  # where knowledge-base passages come from
HELDOUT_SPLITS = ("validation", "test")  # what the guard keeps out of it
SHINGLE_WORDS = 3
JACCARD_THRESHOLD = 0.9
# Containment: the share of a held-out answer's shingles found in a passage. 0.4 catches an
# answer's first half quoted alone (just under 0.5 in shingles); 8 shingles (10 words in a
# row, or more scattered) keep stock phrases shared with a short answer from counting.
CONTAINMENT_THRESHOLD = 0.4
MIN_SHARED_SHINGLES = 8
# Stock phrases: a shingle in more than 0.1% of the held-out answers (and more than 5 of them)
# counts on neither side (see containment.py).
COMMON_SHARE = 0.001
COMMON_MIN = 5
COSINE_THRESHOLD = 0.98
NUM_PERM = 128
REASONS = ("heldout_id", "exact_text", "near_duplicate", "contains_heldout", "embedding", "empty")

# Format characters (Unicode category Cf) that hide inside words: soft hyphen, zero-width
# space/joiners, direction marks, word joiner, BOM.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


def guard_text(text: str) -> str:
    """The text the guard compares: markup dropped (the one rule, `markup_free`), invisible
    characters removed (a soft hyphen or zero-width space inside a word joins it again), then
    the one text fold (accents and case folded, every run of other characters one space)."""
    from lm_eval_tasks.imb_common.data import fold_text, markup_free

    return fold_text(_INVISIBLE.sub("", markup_free(text)))


def normalized_hash(text: str) -> str:
    return _folded_hash(guard_text(text))


def _folded_hash(folded: str) -> str:
    return hashlib.blake2b(folded.encode("utf-8"), digest_size=16).hexdigest()


def shingles(folded: str, n: int = SHINGLE_WORDS) -> frozenset[str]:
    """Word n-grams of a guard_text."""
    words = folded.split()
    if len(words) <= n:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass
class Passage:
    id: str
    text: str
    macro_category: str
    category: str


@dataclass
class Removal:
    id: str
    reason: str  # one of REASONS
    match: str | None = None  # the held-out id it matched
    score: float | None = None


class LeakageGuard:
    """Everything in validation and test, indexed for the five checks.

    `containment=False` gives the guard as it was before containment (whole-text checks
    only): benchmarks/rag.py measures both.
    """

    def __init__(
        self,
        heldout: Sequence[Passage],
        embedder=None,
        jaccard_threshold: float = JACCARD_THRESHOLD,
        cosine_threshold: float = COSINE_THRESHOLD,
        containment: bool = True,
        containment_threshold: float = CONTAINMENT_THRESHOLD,
        min_shared: int = MIN_SHARED_SHINGLES,
    ):
        from datasketch import MinHash, MinHashLSH

        from imb_tools.rag.containment import ContainmentIndex

        folded = [guard_text(p.text) for p in heldout]
        self.ids = {p.id for p in heldout}
        self.hashes = {_folded_hash(f): p.id for f, p in zip(folded, heldout)}
        self.jaccard_threshold = jaccard_threshold
        self.cosine_threshold = cosine_threshold
        self._MinHash = MinHash
        self._shingles = [shingles(f) for f in folded]
        self._heldout_ids = [p.id for p in heldout]
        self.lsh = MinHashLSH(threshold=jaccard_threshold * 0.8, num_perm=NUM_PERM)
        for i, mh in enumerate(self._minhashes(self._shingles)):
            if self._shingles[i]:
                self.lsh.insert(str(i), mh)
        self.containment = None
        if containment:
            # One entry per distinct answer text: reposts would only repeat the same matches.
            first = {}
            for i, f in enumerate(folded):
                first.setdefault(f, i)
            self._containment_ids = [self._heldout_ids[i] for i in first.values()]
            self.containment = ContainmentIndex(list(first), containment_threshold, min_shared,
                                                COMMON_SHARE, COMMON_MIN)
        self.embedder = embedder
        self.index = None
        if embedder is not None and heldout:
            import faiss

            vecs = embedder.encode([p.text for p in heldout])
            self.index = faiss.IndexFlatIP(vecs.shape[1])
            self.index.add(vecs)

    def _minhashes(self, sets: Sequence[frozenset[str]]):
        return self._MinHash.bulk([[s.encode("utf-8") for s in sh] for sh in sets], num_perm=NUM_PERM)

    def check(self, passages: Sequence[Passage], vectors: np.ndarray | None = None) -> list[Removal | None]:
        """One verdict per passage: None to keep, else why it goes."""
        verdicts: list[Removal | None] = [None] * len(passages)
        folded = [guard_text(p.text) for p in passages]
        for i, p in enumerate(passages):
            if not folded[i]:
                verdicts[i] = Removal(p.id, "empty")
            elif p.id in self.ids:
                verdicts[i] = Removal(p.id, "heldout_id", p.id)
            elif (h := _folded_hash(folded[i])) in self.hashes:
                verdicts[i] = Removal(p.id, "exact_text", self.hashes[h], 1.0)
        todo = [i for i, v in enumerate(verdicts) if v is None]
        sets = [shingles(folded[i]) for i in todo]
        for i, sh, mh in zip(todo, sets, self._minhashes(sets)):
            best, best_j = None, 0.0
            for key in self.lsh.query(mh):
                j = jaccard(sh, self._shingles[int(key)])
                if j > best_j:
                    best, best_j = int(key), j
            if best is not None and best_j >= self.jaccard_threshold:
                verdicts[i] = Removal(
                    passages[i].id, "near_duplicate", self._heldout_ids[best], round(best_j, 4)
                )
        if self.containment is not None:
            todo = [i for i, v in enumerate(verdicts) if v is None]
            for i, hit in zip(todo, self.containment.best([folded[i] for i in todo])):
                if hit is not None:
                    verdicts[i] = Removal(
                        passages[i].id, "contains_heldout", self._containment_ids[hit.heldout], round(hit.share, 4)
                    )
        if self.index is not None and vectors is not None:
            todo = [i for i, v in enumerate(verdicts) if v is None]
            if todo:
                scores, idx = self.index.search(np.ascontiguousarray(vectors[todo]), 1)
                for i, s, j in zip(todo, scores[:, 0], idx[:, 0]):
                    if j >= 0 and s >= self.cosine_threshold:
                        verdicts[i] = Removal(
                            passages[i].id, "embedding", self._heldout_ids[j], round(float(s), 4)
                        )
        return verdicts


@dataclass
class KnowledgeBase:
    passages: list[Passage]
    vectors: np.ndarray | None
    removed: list[Removal] = field(default_factory=list)
    requested: int = 0

    def removal_counts(self) -> dict[str, int]:
        counts = Counter(r.reason for r in self.removed)
        return {k: counts.get(k, 0) for k in REASONS}

    def kb_hash(self) -> str:
        """Identifies the content: ids and texts, order-independent."""
        h = hashlib.blake2b(digest_size=16)
        for line in sorted(f"{p.id}\x00{normalized_hash(p.text)}" for p in self.passages):
            h.update(line.encode("utf-8") + b"\n")
        return h.hexdigest()


def passages_from_split(ds) -> list[Passage]:
    """Passages (answers) of one IMB-QA split, with category names decoded."""
    from imb_tools.infra.tables import labels_to_names

    cols = labels_to_names(ds.select_columns(["id", "answer", "macro_category", "category"])).to_dict()
    return [
        Passage(str(i), a or "", "" if m is None else str(m), "" if c is None else str(c))
        for i, a, m, c in zip(cols["id"], cols["answer"], cols["macro_category"], cols["category"])
    ]


def stratified_order(passages: Sequence[Passage]) -> dict[str, list[Passage]]:
    """Per macro-category, passages in hash order: the deterministic draw order."""
    from imb_tools.data.sampling import per_group_in_hash_order

    groups = per_group_in_hash_order([p.id for p in passages], [p.macro_category for p in passages])
    return {macro: [passages[i] for i in rows] for macro, rows in groups.items()}


def quotas(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Proportional quotas that add up to min(total, available) (largest remainder)."""
    avail = sum(sizes.values())
    if total >= avail:
        return dict(sizes)
    raw = {k: total * n / avail for k, n in sizes.items()}
    q = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (-(raw[k] - q[k]), k))[: total - sum(q.values())]:
        q[k] += 1
    return q


def build_knowledge_base(
    dataset, size: int = 100_000, embedder=None, embedding_guard: bool = True, progress: bool = True
) -> KnowledgeBase:
    """Draw `size` train answers stratified by macro-category, guarded against held-out leakage.

    `dataset` is a built IMB-QA DatasetDict. With an embedder, passages are
    embedded (through its cache) and the vectors come back with the knowledge
    base; the embedding check of the guard runs unless `embedding_guard` is off.
    """
    if "train" not in dataset:
        raise ImbError(f"the dataset has no rows in its 'train' split (splits with rows: {', '.join(dataset) or 'none'})")
    if size < 1:
        raise ImbError(f"knowledge-base size must be at least 1, got {size}")
    heldout: list[Passage] = []
    for split in HELDOUT_SPLITS:
        if split in dataset:
            heldout.extend(passages_from_split(dataset[split]))
    heldout_questions = {}
    for split in HELDOUT_SPLITS:
        if split in dataset:
            cols = dataset[split].select_columns(["id", "question"]).to_dict()
            heldout_questions.update(
                (normalized_hash(q or ""), str(i)) for i, q in zip(cols["id"], cols["question"])
            )
    guard = LeakageGuard(heldout, embedder if embedding_guard else None)
    for h, i in heldout_questions.items():  # a passage equal to a held-out question leaks too
        guard.hashes.setdefault(h, i)

    strata = stratified_order(passages_from_split(dataset["train"]))
    want = quotas({k: len(v) for k, v in strata.items()}, size)
    kept: dict[str, list[tuple[Passage, np.ndarray | None]]] = {k: [] for k in strata}
    nxt = {k: 0 for k in strata}
    removed: list[Removal] = []
    while True:  # take what is missing from each stratum, guard it, repeat until full or exhausted
        batch = []
        for k, items in strata.items():
            need = want[k] - len(kept[k])
            take = items[nxt[k] : nxt[k] + need]
            nxt[k] += len(take)
            batch.extend(take)
        if not batch:
            break
        vecs = embedder.encode([p.text for p in batch]) if embedder is not None else None
        for i, (p, verdict) in enumerate(zip(batch, guard.check(batch, vecs))):
            if verdict is None:
                kept[p.macro_category].append((p, None if vecs is None else vecs[i]))
            else:
                removed.append(verdict)
    pairs = [pair for k in strata for pair in kept[k]]
    if not pairs:
        raise ImbError("the knowledge base is empty: every train answer was removed or the split is empty")
    vectors = np.stack([v for _, v in pairs]).astype(np.float32) if embedder is not None else None
    return KnowledgeBase([p for p, _ in pairs], vectors, removed, requested=size)
