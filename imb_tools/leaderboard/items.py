"""Per-item scores from lm-eval's logged samples: what uncertainties and paired tests need.

lm-eval logs, for each document, each metric's per-item value: a number for metrics
averaged over items (accuracy, ROUGE, METEOR), or the (prediction, reference, ...) pair
that a corpus-level aggregation takes (corpus BLEU, batched BERTScore). Both become
per-item *statistics* whose sums give the score:
- a mean metric: [value, 1] per item, score = sum of values / count;
- corpus BLEU: sacrebleu's sufficient statistics per item (n-gram matches and totals,
  lengths), score = BLEU of their sums (0-1 scale, sacrebleu's 13a tokenizer, as the IMB
  tasks report it);
- BERTScore: the pairs are scored again with the scoring model the run recorded (its
  per-item precision/recall/F1 are averaged by the task), when that model loads here.
Items are keyed by the document's `id` (else lm-eval's `doc_id`), so two runs are paired
on the same questions whatever their order.
"""

from __future__ import annotations

import math
from pathlib import Path

MEAN, BLEU = "mean", "bleu"


def item_id(sample: dict) -> str:
    doc = sample.get("doc")
    if isinstance(doc, dict) and doc.get("id") not in (None, ""):
        return str(doc["id"])
    return f"doc-{sample.get('doc_id')}"


def _pairs(values: list) -> bool:
    return all(isinstance(v, (list, tuple)) and len(v) >= 2 for v in values)


def _numbers(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in values)


def bleu_statistics(preds: list[str], refs: list[str]) -> list[list[float]]:
    """sacrebleu's per-sentence statistics (lengths, n-gram matches and totals)."""
    import sacrebleu

    metric = sacrebleu.BLEU()
    return [[float(x) for x in row] for row in metric._extract_corpus_statistics(preds, [refs])]


def bleu_from_statistics(sums) -> float:
    """Corpus BLEU (0-1) of summed sacrebleu statistics."""
    import sacrebleu

    return sacrebleu.BLEU()._compute_score_from_stats([float(x) for x in sums]).score / 100.0


def _bertscore_items(metric: str, values: list, skipped: list[str], where: str) -> list[float] | None:
    part = metric.removeprefix("bertscore_")
    first = values[0]
    model = first[2] if len(first) > 2 and first[2] else None
    layers = first[3] if len(first) > 3 else None
    if model is None:
        skipped.append(f"{where}: {metric}: the samples do not name the scoring model; "
                       "no per-item scores")
        return None
    try:
        from imb_tools.metrics import bertscore

        result = bertscore.score([str(v[0]) for v in values], [str(v[1]) for v in values],
                                 model=str(model), num_layers=layers)
    except Exception as exc:  # a model that does not load here: no uncertainty, said why
        skipped.append(f"{where}: {metric}: cannot score the pairs again with {model} "
                       f"({exc.__class__.__name__}); no per-item scores")
        return None
    return [float(x) for x in result[f"{part}_items"]]


def item_statistics(samples: list[dict], metric: str, skipped: list[str],
                    where: str = "samples") -> dict | None:
    """{"kind", "ids", "stats"} for `metric` over a task's logged samples (filter "none"),
    or None (with the reason in `skipped`) when they do not give per-item scores."""
    rows = [s for s in samples if isinstance(s, dict) and s.get("filter", "none") == "none"
            and metric in s]
    if not rows:
        return None
    ids = [item_id(s) for s in rows]
    if len(set(ids)) != len(ids):
        skipped.append(f"{where}: {metric}: two samples share a document id; no per-item scores")
        return None
    values = [s[metric] for s in rows]
    if _numbers(values):
        return {"kind": MEAN, "ids": ids, "stats": [[float(v), 1.0] for v in values]}
    if not _pairs(values):
        skipped.append(f"{where}: {metric}: per-item values are neither numbers nor pairs")
        return None
    if metric == "bleu":
        try:
            stats = bleu_statistics([str(v[0]) for v in values], [str(v[1]) for v in values])
        except ImportError:
            skipped.append(f"{where}: bleu: sacrebleu is not installed (pip install "
                           "imb-toolkit[eval]); no per-item scores")
            return None
        return {"kind": BLEU, "ids": ids, "stats": stats}
    if metric.startswith("bertscore_"):
        scores = _bertscore_items(metric, values, skipped, where)
        if scores is None:
            return None
        return {"kind": MEAN, "ids": ids, "stats": [[v, 1.0] for v in scores]}
    skipped.append(f"{where}: {metric}: no per-item statistic is known for this metric")
    return None


def score(kind: str, sums) -> float:
    """The metric's value from summed per-item statistics ([value, 1] per item for a mean)."""
    if kind == BLEU:
        return bleu_from_statistics(sums)
    return float(sums[0]) / float(sums[1]) if sums[1] else math.nan


def samples_items(samples_path: Path, metrics: list[str], skipped: list[str]) -> dict[str, dict]:
    """metric -> item statistics, for the metrics a samples file gives per-item scores of."""
    from imb_tools.evaluation.breakdown import read_samples

    samples = read_samples(samples_path)
    found = {}
    for metric in metrics:
        stats = item_statistics(samples, metric, skipped, samples_path.name)
        if stats is not None:
            found[metric] = stats
    return found


def column_name(benchmark: str, metric: str, filter_: str) -> str:
    """The wide table's column of a score: 'task/metric', plus ' [filter]' unless lm-eval's 'none'."""
    return f"{benchmark}/{metric}" + ("" if filter_ == "none" else f" [{filter_}]")
