"""The on-disk RAG index: FAISS vectors, passages, BM25, and a manifest.

Layout of an index folder:
    manifest.json     model (portable name) and weights hash, backend, dim, count, kb_hash,
                      leakage counts, build time, ...
    index.faiss       FAISS inner-product index over L2-normalized vectors
    passages.jsonl    one passage per line, in FAISS row order (id, text, macro_category, category)
    removed.jsonl     passages the leakage guard removed, with reason and matched held-out id
    bm25/             bm25s index over the same passages

Every file is written to a temporary name and renamed into place, the
manifest last: a folder with a manifest is complete.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from imb_tools.infra.atomic import atomic_dir, atomic_write, write_text_atomic
from imb_tools.infra.errors import ImbError, require
from imb_tools.rag.knowledge_base import Passage

INDEX_KINDS = ("flat", "ivf", "hnsw")
MANIFEST = "manifest.json"


def make_faiss_index(vectors: np.ndarray, kind: str = "flat", nlist: int | None = None, hnsw_m: int = 32):
    """Exact inner product by default; IVF or HNSW for knowledge bases where exact search is slow."""
    faiss = require("faiss", "rag")
    n, dim = vectors.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    elif kind == "ivf":
        nlist = nlist or max(1, min(int(4 * np.sqrt(n)), n // 39 or 1))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = min(nlist, 16)
    else:
        raise ImbError(f"unknown index kind '{kind}' (choose from {', '.join(INDEX_KINDS)})")
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


@dataclass
class RagIndex:
    """A loaded index folder."""

    path: Path
    manifest: dict
    faiss_index: object
    passages: list[Passage]
    _bm25: object = None

    @property
    def model(self) -> str:
        """The model to load here: the manifest names it portably (see embed.portable_model_name)."""
        from imb_tools.rag.embed import resolve_model

        return resolve_model(self.manifest["model"])

    def query_embedder(self, backend: str | None = None, **kwargs):
        """An Embedder for queries, checked against the weights that built the index.

        A model found under the index's model name may still differ (another
        version on the Hub, a retrained local folder): its vectors would not
        match, so it is refused. Indexes from before the check have no hash.
        """
        from imb_tools.rag.embed import Embedder

        embedder = Embedder(self.model, backend or self.manifest.get("backend", "torch"), **kwargs)
        built_with = self.manifest.get("model_weights")
        if built_with and embedder.weights != built_with:
            raise ImbError(
                f"index {self.path} was built with other weights than those of '{self.model}' "
                f"({built_with} != {embedder.weights}): rebuild the index or use its model"
            )
        return embedder

    @property
    def bm25(self):
        if self._bm25 is None:
            from imb_tools.rag.bm25 import BM25

            self._bm25 = BM25.load(self.path / "bm25")
        return self._bm25


def _jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def save_index(
    out: str | Path,
    faiss_index,
    passages: list[Passage],
    manifest: dict,
    removed: list | None = None,
    bm25=None,
) -> Path:
    """Write the folder atomically file by file, the manifest last (and removed first)."""
    faiss = require("faiss", "rag")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # the folder is incomplete until the new one lands
    atomic_write(out / "index.faiss", lambda tmp: faiss.write_index(faiss_index, tmp))
    write_text_atomic(out / "passages.jsonl", _jsonl(asdict(p) for p in passages))
    write_text_atomic(out / "removed.jsonl", _jsonl(asdict(r) for r in removed or []))
    if bm25 is not None:
        with atomic_dir(out / "bm25") as tmp_dir:
            bm25.save(tmp_dir)
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return out


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImbError(
            f"{path} is not a complete RAG index (no {MANIFEST}); run `imb rag index` first"
        ) from None
    except json.JSONDecodeError as exc:
        raise ImbError(f"{path / MANIFEST} is not valid JSON: {exc}") from None


def load_index(path: str | Path, query_model: str | None = None) -> RagIndex:
    """Load an index folder; refuse a query model other than the one that built it.

    Vectors from two models live in unrelated spaces: searching one with the
    other returns confident nonsense, so a mismatch is an error, not a warning.
    """
    from imb_tools.rag.embed import portable_model_name

    faiss = require("faiss", "rag")
    path = Path(path)
    manifest = read_manifest(path)
    if query_model is not None and portable_model_name(query_model) != portable_model_name(manifest["model"]):
        raise ImbError(
            f"index {path} was built with '{manifest['model']}', "
            f"not '{query_model}': query it with the same model or rebuild it"
        )
    index = faiss.read_index(str(path / "index.faiss"))
    with open(path / "passages.jsonl", encoding="utf-8") as f:
        passages = [Passage(**json.loads(line)) for line in f]
    if index.ntotal != len(passages) or manifest.get("count") != len(passages):
        raise ImbError(
            f"index {path} is inconsistent: {index.ntotal} vectors, {len(passages)} passages, "
            f"manifest count {manifest.get('count')}; rebuild it"
        )
    return RagIndex(path, manifest, index, passages)


INDEX_MARKER = ".imb-rag-index.json"
INDEX_FILES = ("index.faiss", "passages.jsonl", "removed.jsonl", MANIFEST, "bm25/*")


def claim_index_folder(out: str | Path) -> Path:
    """An index folder holds only what `imb rag index` writes; anything else is refused."""
    from imb_tools.infra.ownership import claim_output_folder

    return claim_output_folder(out, INDEX_MARKER, INDEX_FILES, {"kind": "rag-index"}, legacy_file=MANIFEST)


def build_rag_index(
    dataset,
    out: str | Path,
    *,
    model: str,
    backend: str = "torch",
    size: int = 100_000,
    kind: str = "flat",
    embedding_guard: bool = True,
    cache_dir: str | Path | None = None,
    batch_size: int = 32,
    source: str | None = None,
    show_progress: bool = True,
) -> dict:
    """Knowledge base -> embeddings (cached) -> FAISS + BM25 -> folder. Returns the manifest."""
    import time

    from imb_tools import __version__
    from imb_tools.rag.bm25 import BM25
    from imb_tools.rag.embed import Embedder
    from imb_tools.rag.knowledge_base import COSINE_THRESHOLD, JACCARD_THRESHOLD, build_knowledge_base

    if kind not in INDEX_KINDS:
        raise ImbError(f"unknown index kind '{kind}' (choose from {', '.join(INDEX_KINDS)})")
    claim_index_folder(out)  # before the slow part: a user's folder is refused at once
    start = time.perf_counter()
    embedder = Embedder(
        model, backend, cache_dir=cache_dir, batch_size=batch_size, show_progress=show_progress
    )
    kb = build_knowledge_base(dataset, size=size, embedder=embedder, embedding_guard=embedding_guard)
    faiss_index = make_faiss_index(kb.vectors, kind)
    bm25 = BM25.build([p.text for p in kb.passages])  # seconds next to embedding: no bars
    per_macro: dict[str, int] = {}
    for p in kb.passages:
        per_macro[p.macro_category] = per_macro.get(p.macro_category, 0) + 1
    manifest = {
        "format": "imb-rag-index/1",
        "model": embedder.name,
        "model_weights": embedder.weights,
        "backend": backend,
        "max_seq_length": embedder.max_seq_length,
        "dim": embedder.dim,
        "count": len(kb.passages),
        "requested": size,
        "index_kind": kind,
        "metric": "inner_product_on_normalized_vectors",
        "kb_hash": kb.kb_hash(),
        "source": source,
        "per_macro_category": per_macro,
        "leakage": {
            "removed": kb.removal_counts(),
            "removed_total": len(kb.removed),
            "jaccard_threshold": JACCARD_THRESHOLD,
            "cosine_threshold": COSINE_THRESHOLD if embedding_guard else None,
            "embedding_guard": embedding_guard,
        },
        "embedded": embedder.embedded,
        "from_cache": embedder.cached,
        "build_seconds": round(time.perf_counter() - start, 2),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "imb_version": __version__,
    }
    save_index(out, faiss_index, kb.passages, manifest, kb.removed, bm25)
    return manifest
