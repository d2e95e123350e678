"""The 77 IMB-QA categories and the project's mapping to the paper's 10 macro-categories.

The paper (Table 5) publishes the macro-categories and their sizes but not which
category belongs to which; BERTopic produced them. This mapping is ours, made
by reading the category names, and is documented in dataset_card.md. When the
authors publish theirs, replace MACRO_CATEGORIES and rebuild: splits do not
depend on it.
"""

from __future__ import annotations

from functools import lru_cache

from lm_eval_tasks.imb_common.data import fold_text  # the one text fold: defined with the tasks, which stand alone

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
