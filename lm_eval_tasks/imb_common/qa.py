"""IMB-QA: the one prompt, the data the tasks score, per-document scores and set-level metrics.

The prompt is also what the IMB toolkit's fine-tuning evaluation and `imb rag compare`
ask a model (they import it from here), so their scores stay comparable with the task's.
Data: every macro-category's test items, at most `qa_max_items` each (default 2,000, the
paper's sample), the first in hash order of their ids. ROUGE and METEOR per document;
corpus BLEU and BERTScore over the whole set at once, the BERTScore model loaded once per
process and shared by every task.
"""

from __future__ import annotations

from . import TaskError, data, metrics

INSTRUCTION = (
    "Sei un medico esperto. Rispondi in italiano alla domanda del paziente "
    "in modo chiaro, accurato e conciso."
)
DEFAULT_MAX_ITEMS = 2000  # per macro-category, as the paper's evaluation sample
MAX_GEN_TOKS = 384  # the YAML's generation_kwargs.max_gen_toks; RAG fits passages to what it leaves
LABEL_COLUMNS = ["category", "macro_category", "source"]


def format_prompt(question: str, context: str | None = None) -> str:
    """The Italian instruction, optional context passages, the question, `Risposta:`."""
    parts = [INSTRUCTION]
    if context:
        parts.append(f"Contesto:\n{context.strip()}")
    parts.append(f"Domanda: {question.strip()}\nRisposta:")
    return "\n\n".join(parts)


def max_items(metadata: dict) -> int:
    value = metadata.get("qa_max_items")
    if value in (None, ""):
        return DEFAULT_MAX_ITEMS
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise TaskError(f"qa_max_items must be a whole number, got {value!r}") from None
    if value < 1:
        raise TaskError(f"qa_max_items must be at least 1, got {value}")
    return value


def load_qa(macro_category: str | None = None, categories_file: str | None = None, **metadata):
    """`custom_dataset` of the IMB-QA tasks: the capped `test` items of every macro-category
    (or of one, in a per-macro set checked against its `categories_file`), and `validation`
    for few-shot in hash order (same macro-category first). Each test document carries the
    BERTScore settings, checked now, so a bad model or layer fails before generation."""
    import datasets

    dsd = data.load("qa", metadata)
    limit = max_items(metadata)
    test = data.labels_to_names(dsd["test"], LABEL_COLUMNS)
    if categories_file:
        data.check_task_set(test, "macro_category", categories_file, "qa", metadata)
    if macro_category is not None:
        test = test.filter(lambda m: m == macro_category, input_columns="macro_category")
    validation = data.labels_to_names(dsd["validation"], LABEL_COLUMNS) if "validation" in dsd \
        else test.select([])
    out = {"test": data.capped_per_group(test, "macro_category", limit),
           "validation": data.fewshot_pool(validation, "macro_category", macro_category)}
    what = f"macro-category '{macro_category}'" if macro_category else "the test split"
    data.require_rows(out["test"], what, "qa", metadata)
    scoring = metrics.settings_from_metadata(metadata)
    out["test"] = out["test"].map(lambda _: scoring)
    return datasets.DatasetDict(out)


def doc_to_text(doc) -> str:
    return format_prompt(doc["question"])


def doc_to_target(doc) -> str:
    return doc["answer"]


def process_results(doc, results) -> dict:
    """Per-document ROUGE/METEOR; BLEU and BERTScore items for the set-level aggregations."""
    pred, ref = results[0].strip(), doc_to_target(doc)
    rouge = metrics.rouge_per_item([pred], [ref])
    bert_item = (pred, ref, doc.get("bertscore_model"), doc.get("bertscore_layers"),
                 doc.get("bertscore_batch_size"))
    return {
        "rouge1": rouge["rouge1"][0],
        "rouge2": rouge["rouge2"][0],
        "rougeL": rouge["rougeL"][0],
        "meteor": metrics.meteor_per_item([pred], [ref])[0],
        "bleu": (pred, ref),
        "bertscore_precision": bert_item,
        "bertscore_recall": bert_item,
        "bertscore_f1": bert_item,
    }


def agg_bleu(items) -> float:
    """Corpus BLEU over the whole set (0-1)."""
    preds, refs = zip(*items) if items else ((), ())
    return metrics.bleu(list(preds), list(refs))["bleu"]


def bertscore_of_items(items) -> dict:
    """BERTScore of the (prediction, reference, model, layer, batch size) items that
    process_results gives, in one batched call with the process-wide model."""
    if not items:
        return {"precision": float("nan"), "recall": float("nan"), "f1": float("nan")}
    first = items[0]
    model = first[2] if len(first) > 2 and first[2] else metrics.DEFAULT_BERTSCORE_MODEL
    layers = first[3] if len(first) > 3 else None
    batch_size = (first[4] if len(first) > 4 else None) or 64
    return metrics.bertscore([str(it[0]) for it in items], [str(it[1]) for it in items],
                             model=model, num_layers=layers, batch_size=batch_size)


def agg_bertscore_precision(items) -> float:
    return bertscore_of_items(items)["precision"]


def agg_bertscore_recall(items) -> float:
    return bertscore_of_items(items)["recall"]


def agg_bertscore_f1(items) -> float:
    return bertscore_of_items(items)["f1"]
