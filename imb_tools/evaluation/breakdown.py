"""Per-category scores of a complete IMB task, computed from its logged samples.

imb_mcqa and imb_qa score every test item in one task; the per-category table
and its macro mean (each category counts once) come from here, for `imb eval`'s
summary and for `imb leaderboard build`. Per-item metrics are averaged, BLEU is
corpus BLEU of each category's pairs, BERTScore (when asked) re-uses the pair
scores the task's own aggregation already computed in this process.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from imb_tools.infra.errors import ImbError

CATEGORY_COLUMNS = ("category", "macro_category")  # MCQA, QA


def category_column(doc: dict) -> str | None:
    """`category` for IMB-MCQA docs, `macro_category` for IMB-QA docs (QA reports by macro)."""
    if "macro_category" in doc:
        return "macro_category"
    if "category" in doc:
        return "category"
    return None


def read_samples(path: str | Path) -> list[dict]:
    """lm-eval's samples_<task>_<date>.jsonl; a damaged line stops with a one-line error."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ImbError(f"{path}:{n}: not a JSON sample line ({exc})") from None
    return rows


def category_scores(samples: list[dict], bertscore: bool = True) -> dict:
    """{"column": ..., "categories": {name: {"items": n, metric: value}}, "macro": {metric: mean}}
    for one task's samples (filter "none"); empty when the docs carry no category."""
    samples = [s for s in samples if isinstance(s, dict) and isinstance(s.get("doc"), dict)
               and s.get("filter", "none") == "none"]
    if not samples:
        return {}
    column = category_column(samples[0]["doc"])
    if column is None:
        return {}
    groups: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        groups[str(s["doc"].get(column))].append(s)
    metrics = [m for m in (samples[0].get("metrics") or []) if m in samples[0]]
    table = {}
    for name, rows in sorted(groups.items()):
        figures: dict = {"items": len(rows)}
        for metric in metrics:
            value = _score(metric, [r.get(metric) for r in rows], bertscore)
            if value is not None:
                figures[metric] = value
        table[name] = figures
    macro = {}
    for metric in metrics:
        values = [f[metric] for f in table.values() if isinstance(f.get(metric), float)
                  and not math.isnan(f[metric])]
        if values:
            macro[metric] = sum(values) / len(values)
    return {"column": column, "categories": table, "macro": macro}


def _score(metric: str, values: list, bertscore: bool) -> float | None:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, bool)
           for v in values):
        return sum(float(v) for v in values) / len(values) if values else None
    pairs = [v for v in values if isinstance(v, (list, tuple)) and len(v) >= 2]
    if len(pairs) != len(values):
        return None
    preds, refs = [str(p[0]) for p in pairs], [str(p[1]) for p in pairs]
    if metric == "bleu":
        from imb_tools.metrics import text

        return text.bleu(preds, refs)["bleu"]
    if metric.startswith("bertscore_") and bertscore:
        from imb_tools.metrics import bertscore as bs

        first = pairs[0]
        model = first[2] if len(first) > 2 and first[2] else bs.DEFAULT_MODEL
        layers = first[3] if len(first) > 3 else None
        result = bs.score(preds, refs, model=model, num_layers=layers)
        return float(result[metric.removeprefix("bertscore_")])
    return None
