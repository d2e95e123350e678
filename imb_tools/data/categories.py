"""The 77 IMB-QA categories and the project's mapping to the paper's 10 macro-categories.

The paper (Table 5) publishes the macro-categories and their sizes but not which
category belongs to which; BERTopic produced them. This mapping is ours, made
by reading the category names, and is documented in dataset_card.md. When the
authors publish theirs, replace MACRO_CATEGORIES and rebuild: splits do not
depend on it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Table 5 names (English, as published), with a short slug used in task names.
MACRO_CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Urology, andrology and male health": (
        "urology",
        ("Andrologia", "Nefrologia", "Rene e vie urinarie", "Salute maschile",
         "Sessualità", "Urologia"),
    ),
    "Gastroenterology and digestive health": (
        "gastroenterology",
        ("Alimentazione", "Chirurgia dell apparato digerente", "Colonproctologia",
         "Fegato", "Gastroenterologia e endoscopia digestiva",
         "Scienza dell alimentazione", "Stomaco e intestino"),
    ),
    "Mental health": (
        "mental_health",
        ("Neuropsichiatria infantile", "Psichiatria", "Psicologia", "Psicoterapia"),
    ),
    "General Medicine and General Surgery": (
        "general_medicine",
        ("Anatomia patologica", "Chirurgia di urgenza e pronto soccorso",
         "Chirurgia generale", "Chirurgia pediatrica", "Diabete tiroide e ghiandole",
         "Diabetologia e malattie del metabolismo", "Endocrinologia", "Farmaci e cure",
         "Farmacologia", "Geriatria", "Infanzia", "Malattie infettive",
         "Medicina del lavoro", "Medicina di base", "Medicina generale",
         "Medicina interna", "Oncologia medica", "Pediatria", "Terza età", "Tumori"),
    ),
    "Ophthalmology, otolaryngology, dentistry and pneumology": (
        "ophthalmology_ent_dentistry_pneumology",
        ("Apparato respiratorio", "Audiologia e foniatria", "Bocca e denti",
         "Chirurgia maxillo-facciale", "Chirurgia toracica", "Gnatologia clinica",
         "Occhio e vista", "Oculistica", "Odontoiatria e odontostomatologia",
         "Orecchie naso e gola", "Ortodonzia", "Otorinolaringoiatria", "Pneumologia"),
    ),
    "Cardiology, circulatory system and hematology": (
        "cardiology",
        ("Cardiochirurgia", "Cardiologia", "Cardiologia interventistica",
         "Chirurgia vascolare e angiologia", "Cuore circolazione e malattie del sangue",
         "Ematologia"),
    ),
    "Gynecology and female health": (
        "gynecology",
        ("Ginecologia e ostetricia", "Salute femminile", "Senologia"),
    ),
    "Orthopedics and musculoskeletal system": (
        "orthopedics",
        ("Chirurgia della mano", "Medicina dello sport", "Medicina fisica e riabilitativa",
         "Ortopedia", "Reumatologia", "Scheletro e articolazioni"),
    ),
    "Dermatology, allergies and aesthetics": (
        "dermatology",
        ("Allergie", "Allergologia e immunologia", "Chirurgia estetica",
         "Chirurgia plastica e ricostruttiva", "Dermatologia e venereologia",
         "Medicina estetica", "Pelle"),
    ),
    "Neurology": (
        "neurology",
        ("Medicina del sonno", "Mente e cervello", "Neurochirurgia", "Neurologia",
         "Neuroradiologia"),
    ),
}

MACRO_NAMES: list[str] = list(MACRO_CATEGORIES)
MACRO_SLUGS: dict[str, str] = {name: slug for name, (slug, _) in MACRO_CATEGORIES.items()}
CATEGORY_TO_MACRO: dict[str, str] = {
    cat: macro for macro, (_, cats) in MACRO_CATEGORIES.items() for cat in cats
}
QA_CATEGORIES: list[str] = sorted(CATEGORY_TO_MACRO)

# Paper, Table 5: records per macro-category in the full IMB-QA.
PAPER_MACRO_COUNTS: dict[str, int] = {
    "Urology, andrology and male health": 110_052,
    "Gastroenterology and digestive health": 104_449,
    "Mental health": 103_893,
    "General Medicine and General Surgery": 87_789,
    "Ophthalmology, otolaryngology, dentistry and pneumology": 83_710,
    "Cardiology, circulatory system and hematology": 81_232,
    "Gynecology and female health": 65_792,
    "Orthopedics and musculoskeletal system": 50_283,
    "Dermatology, allergies and aesthetics": 49_288,
    "Neurology": 46_704,
}


def fold_text(text: str) -> str:
    """The one text key: accents removed, lower case, every run of other characters one space.

    Category names compare by it ("Chirurgia dell'apparato digerente" in URLs and the
    released "Chirurgia dell apparato digerente" are one category), slugs and MCQA id
    prefixes are made from it, splits are a function of the folded question
    (data/splits.py), and the RAG leakage guard compares reposts with it.

    Defined as: NFKD, drop every character with a combining class, lower case, every run of
    characters other than a-z and 0-9 one space, trimmed. Computed one character at a time
    from a table (`_fold_slowly` is the definition; the table holds its value for each
    character below U+20000), so a forum question folds in C, not in a Python loop.
    """
    if text.isascii():
        data = text.encode()
    else:
        # Most Italian text is ASCII once its accents (combining marks after NFKD) are gone:
        # then bytes do the rest in C. Anything else left (a typographic quote, an emoji, another
        # mark) takes the table, so the result is the definition's either way.
        data = unicodedata.normalize("NFKD", text).encode()
        for mark in _COMMON_MARKS:
            data = data.replace(mark, b"")
        if not data.isascii():
            folded = " ".join(text.translate(_fold_table()).split())
            return folded if folded.isascii() else _fold_slowly(text)  # a character past the table
    return b" ".join(data.translate(_ASCII_FOLD).split()).decode()


_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
# grave, acute, circumflex, tilde, diaeresis, cedilla: the marks of Italian and its neighbours
_COMMON_MARKS = tuple(chr(c).encode() for c in (0x300, 0x301, 0x302, 0x303, 0x308, 0x327))
# ASCII: A-Z to a-z, a-z and 0-9 kept, everything else a separator
_ASCII_FOLD = bytes(c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))


def _fold_slowly(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return _NOT_ALNUM.sub(" ", text).strip()


@lru_cache(maxsize=1)
def _fold_table() -> tuple:
    """fold of each character below U+20000 (BMP, emoji, mathematical letters): '' for a
    combining mark, ' ' for a separator, else its letters. A run of a text's characters
    folds to the concatenation of their folds, as NFKD decomposes character by character
    and only combining marks, all dropped, are reordered."""
    out = []
    for cp in range(0x20000):
        folded = unicodedata.normalize("NFKD", chr(cp))
        folded = _NOT_ALNUM.sub(" ", "".join(ch for ch in folded if not unicodedata.combining(ch)).lower())
        out.append(None if not folded else " " if folded == " " else folded)
    return tuple(out)


category_key = fold_text  # category names compare by their folded text


@lru_cache(maxsize=1)
def _by_key() -> dict[str, str]:
    return {category_key(c): c for c in QA_CATEGORIES}


@lru_cache(maxsize=4096)  # a few hundred distinct spellings in 782k records
def canonical_qa_category(name: str) -> str | None:
    """The canonical spelling of an IMB-QA category, or None when it is not one of the 77."""
    return _by_key().get(category_key(name))


def slugify(name: str) -> str:
    """A task-name-safe slug: ascii lower case, words joined by underscores."""
    return category_key(name).replace(" ", "_")
