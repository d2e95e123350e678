"""The on-disk RAG index: FAISS vectors, passages, BM25, and a manifest.

Layout of an index folder:
    manifest.json     model (portable name) and weights hash, backend, dim, count, kb_hash,
                      build (the dataset, its fingerprint and the splits the knowledge base
                      came from), leakage counts per reason, build time, ...
    index.faiss       FAISS inner-product index over L2-normalized vectors
    passages.jsonl    one passage per line, in FAISS row order (id, text, macro_category, category)
    removed.jsonl     passages the leakage guard removed, with reason and matched held-out id
    bm25/             bm25s index over the same passages

The folder is written whole beside its final place and renamed into place:
a folder with a manifest is complete, and a failed build leaves the old one.

The "build" entry is a contract with code that cannot import imb_tools (the
imb_qa_rag task folder reads it):
    "build": {"dataset": "imb-qa", "fingerprint": "content-<16 hex>" | "hub:ORG/NAME@<sha>",
              "kb_splits": ["train"]}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from imb_tools.infra.atomic import atomic_dir
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
            if self._bm25.size != len(self.passages):
                raise ImbError(f"{self.path / 'bm25'} indexes {self._bm25.size} passages, not "
                               f"{len(self.passages)}; rebuild the index")
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
    """Write the whole folder beside `out`, then swap it in with one rename: a kill or a
    full disk leaves the previous index (or nothing), never a mix of two."""
    faiss = require("faiss", "rag")
    out = Path(out)
    try:
        _write_folder(out, faiss, faiss_index, passages, manifest, removed, bm25)
    except OSError as exc:  # a write's error names no file: name the index
        if exc.filename is None:
            exc.filename = str(out)
        raise
    return out


def _write_folder(out: Path, faiss, faiss_index, passages, manifest, removed, bm25) -> None:
    from imb_tools.infra.ownership import write_marker

    with atomic_dir(out) as tmp:
        # Serialized here and written by Python: a full disk is an OSError (FAISS would raise RuntimeError).
        (tmp / "index.faiss").write_bytes(faiss.serialize_index(faiss_index).tobytes())
        (tmp / "passages.jsonl").write_text(_jsonl(asdict(p) for p in passages), encoding="utf-8")
        (tmp / "removed.jsonl").write_text(_jsonl(asdict(r) for r in removed or []), encoding="utf-8")
        if bm25 is not None:
            bm25.save(tmp / "bm25")
        write_marker(tmp, INDEX_MARKER, {"written_by": "imb", "kind": "rag-index"})
        tmp.chmod(0o755)  # a temporary folder is private (0700); the index is meant to be shared
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


MANIFEST_KEYS = ("model", "count", "dim")


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImbError(
            f"{path} is not a complete RAG index (no {MANIFEST}); run `imb rag index` first"
        ) from None
    except NotADirectoryError:
        raise ImbError(f"{path} is not a RAG index folder (a file); give the folder `imb rag index` wrote") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImbError(f"{path / MANIFEST} is not valid JSON ({exc}); rebuild the index") from None
    missing = [k for k in MANIFEST_KEYS if k not in manifest] if isinstance(manifest, dict) else None
    if missing is None or missing:
        what = "not a JSON object" if missing is None else f"lacks {', '.join(missing)}"
        raise ImbError(f"{path / MANIFEST} is {what}: not a manifest written by `imb rag index`; rebuild the index")
    return manifest


def _read_passages(file: Path) -> list[Passage]:
    passages = []
    try:
        with open(file, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    passages.append(Passage(**json.loads(line)))
                except (ValueError, TypeError):  # cut, not JSON, or not a passage
                    raise ImbError(f"{file}:{n}: not a passage (the file is cut or damaged); rebuild the index") from None
    except FileNotFoundError:
        raise ImbError(f"{file.parent} is not a complete RAG index (no {file.name}); rebuild it") from None
    except UnicodeDecodeError:
        raise ImbError(f"{file}: not UTF-8 text (damaged); rebuild the index") from None
    return passages


def _read_faiss(file: Path):
    faiss = require("faiss", "rag")
    if not file.is_file():
        raise ImbError(f"{file.parent} is not a complete RAG index (no {file.name}); rebuild it")
    try:
        return faiss.read_index(str(file))
    except RuntimeError as exc:  # FAISS reports a damaged file as a C++ exception
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise ImbError(f"{file}: not a FAISS index ({first[:120]}); rebuild the index") from None


def load_index(path: str | Path, query_model: str | None = None) -> RagIndex:
    """Load an index folder; refuse a query model other than the one that built it.

    Vectors from two models live in unrelated spaces: searching one with the
    other returns confident nonsense, so a mismatch is an error, not a warning.
    """
    from imb_tools.rag.embed import portable_model_name

    path = Path(path)
    manifest = read_manifest(path)
    if query_model is not None and portable_model_name(query_model) != portable_model_name(manifest["model"]):
        raise ImbError(
            f"index {path} was built with '{manifest['model']}', "
            f"not '{query_model}': query it with the same model or rebuild it"
        )
    index = _read_faiss(path / "index.faiss")
    passages = _read_passages(path / "passages.jsonl")
    if index.ntotal != len(passages) or manifest.get("count") != len(passages) or index.d != manifest.get("dim"):
        raise ImbError(
            f"index {path} is inconsistent: {index.ntotal} vectors of {index.d} dimensions, "
            f"{len(passages)} passages, manifest count {manifest.get('count')} and dim {manifest.get('dim')}; "
            f"rebuild it"
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
    source=None,
    show_progress: bool = True,
) -> dict:
    """Knowledge base -> embeddings (cached) -> FAISS + BM25 -> folder. Returns the manifest.

    `source` (a `DataSource` from `imb_tools.data.provenance.open_build`) names the build
    `dataset` was loaded from; without it (rows handed in from Python) the fingerprint is
    one of the rows themselves ("rows-...").
    """
    import time

    from imb_tools import __version__
    from imb_tools.rag.bm25 import BM25
    from imb_tools.rag.embed import Embedder
    from imb_tools.rag.knowledge_base import (
        COMMON_SHARE,
        CONTAINMENT_THRESHOLD,
        COSINE_THRESHOLD,
        JACCARD_THRESHOLD,
        KB_SPLITS,
        MIN_SHARED_SHINGLES,
        build_knowledge_base,
    )

    if kind not in INDEX_KINDS:
        raise ImbError(f"unknown index kind '{kind}' (choose from {', '.join(INDEX_KINDS)})")
    new_folder = not Path(out).exists()
    claim_index_folder(out)  # before the slow part: a user's folder is refused at once
    try:
        start = time.perf_counter()
        embedder = Embedder(
            model, backend, cache_dir=cache_dir, batch_size=batch_size, show_progress=show_progress
        )
        if source is None:
            from imb_tools.data.provenance import DataSource

            source = DataSource("imb-qa", _rows_fingerprint(dataset), "in-memory rows")
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
            "source": source.location,
            "build": {**source.record(), "kb_splits": list(KB_SPLITS)},
            "per_macro_category": per_macro,
            "leakage": {
                "removed": kb.removal_counts(),
                "removed_total": len(kb.removed),
                "jaccard_threshold": JACCARD_THRESHOLD,
                "containment_threshold": CONTAINMENT_THRESHOLD,
                "containment_min_shingles": MIN_SHARED_SHINGLES,
            "containment_common_share": COMMON_SHARE,
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
    except BaseException:
        if new_folder:  # leave nothing behind: the folder holds only the marker the claim wrote
            _unclaim(Path(out))
        raise
    return manifest


def _unclaim(folder: Path) -> None:
    if folder.is_dir() and [p.name for p in folder.iterdir()] == [INDEX_MARKER]:
        (folder / INDEX_MARKER).unlink()
        folder.rmdir()


def _rows_fingerprint(dataset) -> str:
    """A fingerprint of in-memory splits (no build marker to read): every split's rows."""
    import hashlib

    from imb_tools.data.provenance import rows_fingerprint

    digest = hashlib.sha256()
    for split in sorted(dataset):
        digest.update(f"{split}\x00{rows_fingerprint(dataset[split])}\x00".encode())
    return "rows-" + digest.hexdigest()[:16]
