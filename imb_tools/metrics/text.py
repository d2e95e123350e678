"""ROUGE, BLEU and METEOR for Italian text, offline.

Why not HF `evaluate`: it downloads each metric's script at run time and
fails offline. The libraries behind it (`rouge_score`, `sacrebleu`, `nltk`)
are used directly, with two Italian fixes:
- ROUGE: `rouge_score`'s default tokenizer keeps only [a-z0-9] and mangles
  accented words ("perché" -> "perch"); we pass `ItalianTokenizer`, which
  lower-cases and keeps Unicode word characters ("dell'anca" -> dell, anca).
  No stemming.
- METEOR: nltk's Porter stemmer and English WordNet are wrong for Italian and
  WordNet is a download; we use SnowballStemmer("italian") and no synonyms,
  so METEOR matches exact words and stems only.
BLEU is sacrebleu's corpus BLEU with its standard `13a` tokenizer, reported
on a 0-1 scale as in the IMB paper (Table 8).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)


class ItalianTokenizer:
    """Lower-cased Unicode word tokens; the `tokenize` interface `rouge_score` expects."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())


def tokenize(text: str) -> list[str]:
    return ItalianTokenizer().tokenize(text)


def _check(preds: Sequence[str], refs: Sequence[str]) -> None:
    from imb_tools.infra.errors import ImbError

    if len(preds) != len(refs):
        raise ImbError(f"{len(preds)} predictions but {len(refs)} references")


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
    per_item = rouge_per_item(preds, refs)
    return {key: _mean(vals) for key, vals in per_item.items()}


def bleu(preds: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU (sacrebleu, 13a tokenizer, one reference per item), on a 0-1 scale."""
    import sacrebleu

    _check(preds, refs)
    if not preds:
        return {"bleu": float("nan")}
    result = sacrebleu.corpus_bleu(list(preds), [list(refs)])
    return {"bleu": result.score / 100.0}


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
    return [
        meteor_score([tokenize(ref)], tokenize(pred), stemmer=stemmer, wordnet=wordnet)
        for pred, ref in zip(preds, refs)
    ]


def meteor(preds: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Mean METEOR over the pairs."""
    return {"meteor": _mean(meteor_per_item(preds, refs))}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
