"""Field names of the published raw files, their aliases, and the released features.

Alias table: each canonical field lists the raw column names that mean it, in
the order they are tried. The Italian names are those of the authors' own
preprocessing code; the English ones are the paper's Tables 2 and 3.
"""

from __future__ import annotations

import datasets

from imb_tools.data.categories import MACRO_NAMES, QA_CATEGORIES

QA_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("ID", "id", "Id"),
    "url": ("URL", "url", "Url"),
    "question": ("testo_domanda", "Question", "question", "domanda"),
    # Only the reformulated, anonymized answer may be released: the original
    # `testo_risposta` is never read as the answer.
    "answer": ("testo_risposta_riformulata", "Reformulated Answer", "reformulated_answer",
               "risposta_riformulata", "answer"),
    "category": ("categoria", "Category", "category"),
}
QA_REQUIRED = ("question", "answer", "category")

# Raw columns that must never reach a built dataset or the Hub: people's
# names, the un-anonymized answer, and dates tied to people.
QA_FORBIDDEN = ("autore_domanda", "autore_risposta", "testo_risposta",
                "data_domanda", "data_risposta")

MCQA_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("ID", "id", "Id"),
    "question": ("Question", "question", "Domanda", "domanda"),
    "correct": ("Correct Answer", "CorrectAnswer", "Correct_Answer", "correct_answer",
                "Risposta corretta"),
    "percentage": ("Percentage Correct", "PercentageCorrect", "Percentage_Correct",
                   "percentage_correct", "Percentuale corretta"),
}
MCQA_REQUIRED = ("question", "correct")
LETTERS = "ABCDE"
# Option columns: "AnswerA" as in the authors' code, "Answer A" as in Table 3.
MCQA_OPTION_ALIASES: dict[str, tuple[str, ...]] = {
    letter: (f"Answer{letter}", f"Answer {letter}", f"Answer_{letter}", f"answer_{letter.lower()}")
    for letter in LETTERS
}

QA_SOURCES = ["medicitalia", "dica33", "unknown"]

QA_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answer": datasets.Value("string"),
        "category": datasets.ClassLabel(names=QA_CATEGORIES),
        "macro_category": datasets.ClassLabel(names=MACRO_NAMES),
        "source": datasets.ClassLabel(names=QA_SOURCES),
        "url": datasets.Value("string"),
    }
)

MCQA_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "category": datasets.Value("string"),
        "question": datasets.Value("string"),
        "options": datasets.List(datasets.Value("string")),
        "answer": datasets.Value("string"),
        "answer_index": datasets.Value("int32"),
        "percentage_correct": datasets.Value("float32"),
    }
)


def pick(record: dict, aliases: tuple[str, ...]):
    """The value of the first alias present in the record, or None."""
    for name in aliases:
        if name in record:
            return record[name]
    return None


def has_any(record: dict, aliases: tuple[str, ...]) -> bool:
    return any(name in record for name in aliases)
