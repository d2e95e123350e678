"""Everything the IMB lm-eval task folders call: loaders, prompts, per-document scores, aggregations.

The one public module `lm_eval_tasks/*/utils.py` import (each a few lines that name what
its YAMLs use), so the task folders hold no logic of their own. Loaders take the task
folder (`task_dir`) for the per-category sets' `categories.json`.

IMB-MCQA:Data and prompts of the IMB-MCQA tasks.

The letter prompts make every choice a single token (" A" .. " E"), so the
harness scores a question with one forward pass; the cloze task scores the
option texts instead, for comparison (headqa/medmcqa style).

IMB-QA: every macro-category's test items, capped per macro-category in hash order;
ROUGE/METEOR per document, corpus BLEU and BERTScore over the whole set at once (the
BERTScore model is loaded once per process and shared by all tasks).
(IMB-QA with retrieved passages: imb_tools.rag.task_api, built on this.)
"""

from __future__ import annotations

from imb_tools.infra.tables import labels_to_names
from imb_tools.evaluation.prompts import format_prompt

LETTERS = "ABCDE"


# ---------------------------------------------------------------- IMB-MCQA
def load_mcqa(task_dir, category: str | None = None, categories_file: str | None = None, **metadata):
    """`custom_dataset` of every IMB-MCQA task: the whole `test` split, or one category's
    in a per-category set (`category`, checked against the set's `categories_file`),
    and `dev` for few-shot (same category first, see task_data.fewshot_pool)."""
    from pathlib import Path

    import datasets

    from imb_tools.evaluation.task_data import (
        check_task_set, fewshot_pool, load_for_tasks, require_rows,
        warn_if_letters_split,
    )

    warn_if_letters_split(metadata)
    dsd = load_for_tasks("mcqa", metadata)
    test = labels_to_names(dsd["test"], ["category"])
    if categories_file:
        check_task_set(test, "category", Path(task_dir) / categories_file, "mcqa", metadata)
    if category is not None:
        test = test.filter(lambda c: c == category, input_columns="category")
        require_rows(test, f"category '{category}'", metadata, "mcqa")
    require_rows(test, "the test split", metadata, "mcqa")
    dev = labels_to_names(dsd["dev"], ["category"])
    return datasets.DatasetDict(test=test, dev=fewshot_pool(dev, "category", category))


def mcqa_doc_to_choice(doc) -> list[str]:
    """The option letters, 4 or 5."""
    return list(LETTERS[: len(doc["options"])])


def _lettered(doc, sep: str) -> str:
    return "\n".join(f"{LETTERS[i]}{sep} {opt}" for i, opt in enumerate(doc["options"]))


def mcqa_doc_to_text(doc) -> str:
    """Prompt 1 (the main one): question, lettered options, `Risposta:`."""
    return f"Domanda: {doc['question'].strip()}\n{_lettered(doc, '.')}\nRisposta:"


def mcqa_doc_to_text_p2(doc) -> str:
    """Prompt 2: an instruction first, options as `A)`."""
    return (
        "Rispondi alla seguente domanda di medicina indicando la lettera dell'opzione corretta.\n"
        f"Domanda: {doc['question'].strip()}\nOpzioni:\n{_lettered(doc, ')')}\nRisposta:"
    )


def mcqa_doc_to_text_p3(doc) -> str:
    """Prompt 3: an exam-style wording, the answer asked as a letter."""
    return (
        f"Quesito del test di medicina: {doc['question'].strip()}\n{_lettered(doc, ':')}\n"
        "La lettera della risposta corretta è:"
    )


def mcqa_doc_to_text_cloze(doc) -> str:
    """Cloze prompt: no options shown, the choices are the option texts."""
    return f"Domanda: {doc['question'].strip()}\nRisposta:"


# ---------------------------------------------------------------- IMB-QA
DEFAULT_MAX_ITEMS = 2000  # per macro-category, as the paper's evaluation sample


def load_qa(task_dir, macro_category: str | None = None, categories_file: str | None = None, **metadata):
    """`custom_dataset` of the IMB-QA tasks: the `test` items of every macro-category (or
    of one, in a per-macro set checked against its `categories_file`), the first
    `qa_max_items` (default 2,000) of each macro-category in hash order, and
    `validation` for few-shot (same macro-category first, see task_data.fewshot_pool)."""
    from pathlib import Path

    import datasets

    from imb_tools.evaluation.task_data import (
        capped_per_group, check_task_set, fewshot_pool, load_for_tasks,
        require_rows,
    )

    dsd = load_for_tasks("qa", metadata)
    limit = int(metadata.get("qa_max_items") or DEFAULT_MAX_ITEMS)
    test = labels_to_names(dsd["test"], ["category", "macro_category", "source"])
    if categories_file:
        check_task_set(test, "macro_category", Path(task_dir) / categories_file, "qa",
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


def qa_doc_to_text(doc) -> str:
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
