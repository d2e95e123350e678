"""Field names of the published raw files, their aliases, and the released features.

Alias table: each canonical field lists the raw column names that mean it, in
the order they are tried. The Italian names are those of the authors' own
preprocessing code; the English ones are the paper's Tables 2 and 3.
"""

from __future__ import annotations

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


def field_key(name) -> str:
    """A field name reduced to its meaning: camelCase split, case folded, trimmed, and every
    run of spaces, dashes, dots or underscores made one underscore
    (`" Autore-Risposta"`, `testoRisposta` -> `autore_risposta`, `testo_risposta`)."""
    import re

    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name).strip())
    return re.sub(r"[\s_.\-]+", "_", text.casefold()).strip("_")


_FORBIDDEN_KEYS = frozenset(field_key(n) for n in QA_FORBIDDEN)
# By meaning, beyond the raw files' own names: people (author, autore, nome_autore...),
# dates (data, date, data_nascita, created_date...) and the original answer under any
# name that says so (risposta_originale, original_answer...).
_PERSON_WORDS = ("autor", "author", "utente", "username", "user_name", "nickname")
_DATE_WORDS = frozenset({"data", "date", "dates", "datetime", "timestamp", "giorno"})
_ANSWER_WORDS = frozenset({"risposta", "answer", "reply"})


def is_forbidden(name) -> bool:
    """True for a never-publish field, whatever its spelling: the raw files' author, original
    answer and date columns, and any field whose name says it holds a person, a date or the
    original answer."""
    key = field_key(name)
    if key in _FORBIDDEN_KEYS:
        return True
    words = key.split("_")
    if any(word.startswith(_PERSON_WORDS) for word in words) or "username" in key:
        return True
    if _DATE_WORDS.intersection(words):
        return True
    return bool(_ANSWER_WORDS.intersection(words)) and any(w.startswith("origin") for w in words)


def without_forbidden(value):
    """A copy of a record (dicts and lists at any depth) with every never-publish field removed."""
    if isinstance(value, dict):
        return {k: without_forbidden(v) for k, v in value.items() if not is_forbidden(k)}
    if isinstance(value, list):
        return [without_forbidden(v) for v in value]
    return value


def forbidden_columns(schema) -> list[str]:
    """Dotted paths of never-publish fields in a pyarrow schema, struct children and list items included."""
    import pyarrow as pa

    found = []

    def walk(field, prefix):
        path = f"{prefix}{field.name}"
        if is_forbidden(field.name):
            found.append(path)
        t = field.type
        while pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            t = t.value_type
        if pa.types.is_struct(t):
            for i in range(t.num_fields):
                walk(t.field(i), path + ".")
        elif pa.types.is_map(t):
            walk(t.item_field, path + ".")

    for field in schema:
        walk(field, "")
    return found

MCQA_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("ID", "id", "Id"),
    "question": ("Question", "question", "Domanda", "domanda"),
    "correct": ("Correct Answer", "CorrectAnswer", "Correct_Answer", "correct_answer",
                "Risposta corretta"),
    "percentage": ("Percentage Correct", "PercentageCorrect", "Percentage_Correct",
                   "percentage_correct", "Percentuale corretta"),
}
MCQA_REQUIRED = ("question", "correct")
LETTERS = "ABCDE"  # the options a released question may have
# Option columns: "AnswerA" as in the authors' code, "Answer A" as in Table 3. Letters past E
# are read too, so that a question with more options is refused as such, never cut to five.
MCQA_OPTION_ALIASES: dict[str, tuple[str, ...]] = {
    letter: (f"Answer{letter}", f"Answer {letter}", f"Answer_{letter}", f"answer_{letter.lower()}")
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
}

QA_SOURCES = ["medicitalia", "dica33", "unknown"]

def pick(record: dict, aliases: tuple[str, ...]):
    """The value of the first alias that has one (not absent, not null), or None.

    Null and absent are one thing, whatever the format (CSV has no null).
    """
    for name in aliases:
        value = record.get(name)
        if value is not None:
            return value
    return None


def has_any(record: dict, aliases: tuple[str, ...]) -> bool:
    return any(record.get(name) is not None for name in aliases)


def _features():
    """The released features; built on first use, so that importing this module does not import `datasets`."""
    import datasets

    qa = datasets.Features(
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

    mcqa = datasets.Features(
        {
            "id": datasets.Value("string"),
            "source_id": datasets.Value("string"),
            "category": datasets.Value("string"),
            "question": datasets.Value("string"),
            "options": datasets.List(datasets.Value("string")),
            "answer": datasets.Value("string"),
            "answer_index": datasets.Value("int32"),
            "percentage_correct": datasets.Value("float32"),
        }
    )
    return {"QA_FEATURES": qa, "MCQA_FEATURES": mcqa}


_FEATURES: dict = {}


def __getattr__(name):
    if name in ("QA_FEATURES", "MCQA_FEATURES"):
        if not _FEATURES:
            _FEATURES.update(_features())
        return _FEATURES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
