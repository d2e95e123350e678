"""Data, prompt and metrics of the IMB-QA generative tasks.

Other tasks reuse these by import (e.g. `imb_qa_rag`):
`from lm_eval_tasks.imb_qa.utils import load_qa, bertscore_settings, format_prompt,
doc_to_target, process_results, agg_bleu, agg_bertscore_precision,
agg_bertscore_recall, agg_bertscore_f1` (a loader of its own must add
`bertscore_settings(metadata)` as columns of its test documents).

BERTScore is computed once over the whole set in the aggregation (the model
is loaded once per process by imb_tools.metrics.bertscore and shared by all
subtasks), never per document. Its model and layer come from `--metadata`
(`bertscore_model`, `bertscore_layers`, `bertscore_batch_size`); the loader
writes them into each test document, because lm-eval hands an aggregation
nothing but the per-document items.
"""

from __future__ import annotations

from imb_tools.evaluation.prompts import format_prompt  # the one prompt builder, re-exported

DEFAULT_MAX_ITEMS = 2000  # per macro-category, as the paper's evaluation sample


def load_qa(macro_category: str | None = None, categories_file: str | None = None, **metadata):
    """`custom_dataset` of the IMB-QA tasks: the `test` items of every macro-category (or
    of one, in a per-macro set checked against its `categories_file`), the first
    `qa_max_items` (default 2,000) of each macro-category in hash order, and
    `validation` for few-shot (same macro-category first, see task_data.fewshot_pool)."""
    from pathlib import Path

    import datasets

    from imb_tools.evaluation.task_data import (
        capped_per_group, check_task_set, fewshot_pool, labels_to_names, load_for_tasks,
        require_rows,
    )

    dsd = load_for_tasks("qa", metadata)
    limit = int(metadata.get("qa_max_items") or DEFAULT_MAX_ITEMS)
    test = labels_to_names(dsd["test"], ["category", "macro_category", "source"])
    if categories_file:
        check_task_set(test, "macro_category", Path(__file__).parent / categories_file, "qa",
                       metadata)
    if macro_category is not None:
        test = test.filter(lambda m: m == macro_category, input_columns="macro_category")
    validation = labels_to_names(dsd["validation"], ["category", "macro_category", "source"])
    out = {"test": capped_per_group(test, "macro_category", limit),
           "validation": fewshot_pool(validation, "macro_category", macro_category)}
    what = f"macro-category '{macro_category}'" if macro_category else "the test split"
    require_rows(out["test"], what, metadata, "qa")
    scoring = bertscore_settings(metadata)
    out["test"] = out["test"].map(lambda _: scoring)
    return datasets.DatasetDict(out)


def bertscore_settings(metadata: dict) -> dict:
    """The BERTScore columns `process_results` reads from each test document, from
    --metadata; checked now so a bad model or layer fails before generation."""
    from imb_tools.metrics.bertscore import settings_from_metadata

    return settings_from_metadata(metadata)


def doc_to_text(doc) -> str:
    return format_prompt(doc["question"])


def doc_to_target(doc) -> str:
    return doc["answer"]


def process_results(doc, results) -> dict:
    """Per-document ROUGE/METEOR; BLEU and BERTScore items for the set-level aggregations."""
    from imb_tools.metrics import text

    pred, ref = results[0].strip(), doc_to_target(doc)
    rouge = text.rouge_per_item([pred], [ref])
    bert_item = (pred, ref, doc.get("bertscore_model"), doc.get("bertscore_layers"),
                 doc.get("bertscore_batch_size"))
    return {
        "rouge1": rouge["rouge1"][0],
        "rouge2": rouge["rouge2"][0],
        "rougeL": rouge["rougeL"][0],
        "meteor": text.meteor_per_item([pred], [ref])[0],
        "bleu": (pred, ref),
        "bertscore_precision": bert_item,
        "bertscore_recall": bert_item,
        "bertscore_f1": bert_item,
    }


def agg_bleu(items) -> float:
    """Corpus BLEU over the whole set (0-1)."""
    from imb_tools.metrics import text

    preds, refs = zip(*items) if items else ((), ())
    return text.bleu(list(preds), list(refs))["bleu"]


def _bertscore(items) -> dict:
    from imb_tools.metrics import bertscore
    from imb_tools.metrics.bertscore import DEFAULT_MODEL

    if not items:
        return {"precision": float("nan"), "recall": float("nan"), "f1": float("nan")}
    model, layers, batch_size = items[0][2] or DEFAULT_MODEL, items[0][3], items[0][4] or 64
    preds = [it[0] for it in items]
    refs = [it[1] for it in items]
    return bertscore.score(preds, refs, model=model, num_layers=layers, batch_size=batch_size)


def agg_bertscore_precision(items) -> float:
    return _bertscore(items)["precision"]


def agg_bertscore_recall(items) -> float:
    return _bertscore(items)["recall"]


def agg_bertscore_f1(items) -> float:
    return _bertscore(items)["f1"]
