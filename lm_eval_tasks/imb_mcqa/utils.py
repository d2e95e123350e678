"""Data and prompts of the IMB-MCQA tasks.

The letter prompts make every choice a single token (" A" .. " E"), so the
harness scores a question with one forward pass; the cloze task scores the
option texts instead, for comparison (headqa/medmcqa style).
"""

from __future__ import annotations

LETTERS = "ABCDE"


def load_mcqa(category: str | None = None, categories_file: str | None = None, **metadata):
    """`custom_dataset` of every IMB-MCQA task: the whole `test` split, or one category's
    in a per-category set (`category`, checked against the set's `categories_file`),
    and `dev` for few-shot (same category first, see task_data.fewshot_pool)."""
    from pathlib import Path

    import datasets

    from imb_tools.evaluation.task_data import (
        check_task_set, fewshot_pool, labels_to_names, load_for_tasks, require_rows,
        warn_if_letters_split,
    )

    warn_if_letters_split(metadata)
    dsd = load_for_tasks("mcqa", metadata)
    test = labels_to_names(dsd["test"], ["category"])
    if categories_file:
        check_task_set(test, "category", Path(__file__).parent / categories_file, "mcqa", metadata)
    if category is not None:
        test = test.filter(lambda c: c == category, input_columns="category")
        require_rows(test, f"category '{category}'", metadata, "mcqa")
    require_rows(test, "the test split", metadata, "mcqa")
    dev = labels_to_names(dsd["dev"], ["category"])
    return datasets.DatasetDict(test=test, dev=fewshot_pool(dev, "category", category))


def doc_to_choice(doc) -> list[str]:
    """The option letters, 4 or 5."""
    return list(LETTERS[: len(doc["options"])])


def _lettered(doc, sep: str) -> str:
    return "\n".join(f"{LETTERS[i]}{sep} {opt}" for i, opt in enumerate(doc["options"]))


def doc_to_text(doc) -> str:
    """Prompt 1 (the main one): question, lettered options, `Risposta:`."""
    return f"Domanda: {doc['question'].strip()}\n{_lettered(doc, '.')}\nRisposta:"


def doc_to_text_p2(doc) -> str:
    """Prompt 2: an instruction first, options as `A)`."""
    return (
        "Rispondi alla seguente domanda di medicina indicando la lettera dell'opzione corretta.\n"
        f"Domanda: {doc['question'].strip()}\nOpzioni:\n{_lettered(doc, ')')}\nRisposta:"
    )


def doc_to_text_p3(doc) -> str:
    """Prompt 3: an exam-style wording, the answer asked as a letter."""
    return (
        f"Quesito del test di medicina: {doc['question'].strip()}\n{_lettered(doc, ':')}\n"
        "La lettera della risposta corretta è:"
    )


def doc_to_text_cloze(doc) -> str:
    """Cloze prompt: no options shown, the choices are the option texts."""
    return f"Domanda: {doc['question'].strip()}\nRisposta:"
