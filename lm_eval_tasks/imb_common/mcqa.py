"""IMB-MCQA: the data the tasks score, the prompts, and the letter-token check.

The letter prompts make every choice a single token (" A" .. " E"), so lm-eval's HF
backend scores a question with one forward pass; the cloze task scores the option texts
instead, for comparison (headqa/medmcqa style).
"""

from __future__ import annotations

import functools
import logging
from . import data

LETTERS = "ABCDE"
PROMPT_END = "Risposta:"
log = logging.getLogger(__name__)


def load_mcqa(category: str | None = None, categories_file: str | None = None, **metadata):
    """`custom_dataset` of every IMB-MCQA task: the whole `test` split (or, in a per-category
    set, one `category`'s, the set checked against its `categories_file`), and `dev` for
    few-shot in hash order (same category first)."""
    import datasets

    warn_if_letters_split(metadata)
    dsd = data.load("mcqa", metadata)
    test = data.labels_to_names(dsd["test"], ["category"])
    if categories_file:
        data.check_task_set(test, "category", categories_file, "mcqa", metadata)
    if category is not None:
        test = test.filter(lambda c: c == category, input_columns="category")
        data.require_rows(test, f"category '{category}'", "mcqa", metadata)
    data.require_rows(test, "the test split", "mcqa", metadata)
    dev = data.labels_to_names(dsd["dev"], ["category"]) if "dev" in dsd else test.select([])
    return datasets.DatasetDict(test=test, dev=data.fewshot_pool(dev, "category", category))


def doc_to_choice(doc) -> list[str]:
    """The option letters, 4 or 5."""
    return list(LETTERS[: len(doc["options"])])


def _lettered(doc, sep: str) -> str:
    return "\n".join(f"{LETTERS[i]}{sep} {opt}" for i, opt in enumerate(doc["options"]))


def doc_to_text(doc) -> str:
    """Prompt 1 (the main one): question, lettered options, `Risposta:`."""
    return f"Domanda: {doc['question'].strip()}\n{_lettered(doc, '.')}\n{PROMPT_END}"


def doc_to_text_p2(doc) -> str:
    """Prompt 2: an instruction first, options as `A)`."""
    return (
        "Rispondi alla seguente domanda di medicina indicando la lettera dell'opzione corretta.\n"
        f"Domanda: {doc['question'].strip()}\nOpzioni:\n{_lettered(doc, ')')}\n{PROMPT_END}"
    )


def doc_to_text_p3(doc) -> str:
    """Prompt 3: an exam-style wording, the answer asked as a letter."""
    return (
        f"Quesito del test di medicina: {doc['question'].strip()}\n{_lettered(doc, ':')}\n"
        "La lettera della risposta corretta è:"
    )


def doc_to_text_cloze(doc) -> str:
    """Cloze prompt: no options shown, the choices are the option texts."""
    return f"Domanda: {doc['question'].strip()}\n{PROMPT_END}"


@functools.lru_cache(maxsize=8)
def split_letters(tokenizer_name: str) -> tuple[str, ...]:
    """The option letters that the tokenizer does not encode as one token after `Risposta:`.

    lm-eval scores a question in one forward pass only when every choice is a single
    token; a multi-token letter still scores correctly, just slower (and acc_norm then
    differs from acc).
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_name)
    base = tok(PROMPT_END, add_special_tokens=False)["input_ids"]
    split = []
    for letter in LETTERS:
        whole = tok(f"{PROMPT_END} {letter}", add_special_tokens=False)["input_ids"]
        if whole[: len(base)] != base or len(whole) - len(base) != 1:
            split.append(letter)
    return tuple(split)


def warn_if_letters_split(metadata: dict) -> None:
    """Warn (once per tokenizer) when the evaluated model's tokenizer splits " A".." E".

    lm-eval merges --model_args into the tasks' metadata, so the tokenizer is known
    here; a model whose tokenizer cannot be loaded (an API model...) is not checked.
    """
    name = metadata.get("tokenizer") or metadata.get("pretrained")
    if not isinstance(name, str):
        return
    try:
        split = split_letters(name)
    except Exception as exc:  # not ours to fail on: lm-eval loads (or refuses) the model itself
        log.debug("letter token check skipped for %s: %s", name, exc)
        return
    if split:
        _warn_once(name, split)


@functools.lru_cache(maxsize=8)
def _warn_once(name: str, split: tuple[str, ...]) -> None:
    log.warning(
        "tokenizer of %s splits the option letter(s) %s after 'Risposta:' into several tokens: "
        "imb_mcqa still scores correctly but needs one forward pass per option",
        name, ", ".join(split),
    )
