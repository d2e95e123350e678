"""Word lists the name and place detectors look words up in.

First names (~3,500: Italian by rank and common foreign ones), surnames
(~16,000), towns (~13,500 comuni and localities) and the 107 province codes
are package data compiled by `benchmarks/build_anonymize_lists.py` from
names-dataset, ISTAT's comuni list and Faker it_IT (sources and licences in
that script). One entry in five (by a stable hash) is kept apart, in the
file the synthetic evaluation set is drawn from (`anonymize_eval`). The
detector uses those entries too (real answers name Giovanni, Ferrari and
Napoli whatever the hash said), except while it is measured
(`measuring_without_heldout()`), so the measured recall is on names the
detector has never seen. Many of the entries are also
ordinary Italian words (Costa, Ferro, Massimo, Macello...): `COMMON_WORDS`
lists the ones seen in medical answers, and the detectors ask for more
context before they flag them. `EPONYM_HEADS` are the nouns after which a
surname is part of a medical term (morbo di Parkinson, tube di Falloppio)
and must survive.
"""

from __future__ import annotations

import contextlib
import functools
import re
from pathlib import Path

# Ordinary Italian words (lower case) that are also Faker first names,
# surnames or towns; flagged only with strong context (title, first name).
COMMON_WORDS = frozenset(
    """
    abate angelo aria bianca bianco bassi basso bella bello benedetto bruno
    capo caruso carbone casa castello cattaneo chiesa colombo conte costa
    croce diamante donati ferro fiore fiori fontana fortunato franco gallo
    giusti gioia grasso greco grande gatti guerra lupo leone longo lombardi
    marino martini massimo mancini monti moro neri negro nobile orlando pace
    palma parisi pellegrino piazza pietra porta primo rizzo rosa rossi rosso
    sala santo santi sereno serena sole speranza stella testa valle vecchi
    villa vitale volpe zanetti acqua fine prima nuovo nuova salute valente
    cara caro tosto forte umile vita luce marina savio grazia giusto tommasi
    medici dottori sanità grazie amico aurora donna fedele fortunata gloria greca
    lilla morena allegra fiamma flora angelica costanzo delfino liberto sante
    santino toni elmo lisa italia natale pasqua durante vera fede domenica pia
    dolores elisa caro cara gentile cuore sanita fine ago gentili buon mare monte
    stato stati dio paese amore san santa santo
    """.split()
)

# Lower-case words that follow a title without being a name ("il dott. curante").
LOWER_NOT_NAMES = frozenset(
    """curante curanti ha è le la lo mi ci ne di in specialista specialisti medico medici chirurgo
    collega colleghi stesso stessa suo sua mio mia dottore dottoressa che""".split()
)

# Capitalized words after "studio"/"ambulatorio" that name no person.
TOWN_OR_GENERIC = frozenset(
    """
    medico dentistico odontoiatrico associato privato polispecialistico specialistico
    legale tecnico professionale clinico diagnostico radiologico fisioterapico infermieristico
    """.split()
)

# Nouns that turn the following "di X" into an eponym (a medical term).
EPONYM_HEADS = (
    "sindrome", "sindromi", "morbo", "malattia", "malattie", "test", "manovra", "manovre",
    "segno", "segni", "tromba", "trombe", "ghiandola", "ghiandole", "scissura", "acquedotto",
    "sfintere", "papilla", "tuba", "tube", "organo", "apparato", "canale", "canali", "legge",
    "metodo", "criterio", "criteri", "classificazione", "scala", "punto", "punti", "riflesso",
    "cellule", "cellula", "corpi", "corpo", "corpuscoli", "nodo", "fascio", "dotto", "dotti",
    "triade", "tetralogia", "pentalogia", "reazione", "prova", "fenomeno", "intervento",
    "operazione", "tecnica", "cisti", "anello", "linfoma", "sarcoma", "tumore", "frattura",
    "piramidi", "lussazione", "borsite", "neuroma", "angina", "paralisi", "corea", "ansa",
    "placche", "placca", "zona", "area", "aree", "circolo", "spazio", "formula", "indice",
)

# Surnames that are medical eponyms even without a head noun ("il Bartolini").
EPONYMS = frozenset(
    """
    parkinson alzheimer crohn down papanicolaou heimlich basedow graves hashimoto
    bartolini falloppio eustachio golgi malpighi valsalva oddi vater morgagni corti
    santorini wirsung glisson meckel barrett raynaud sjogren
    sjögren hodgkin burkitt kaposi cushing addison conn wilson huntington tourette
    asperger guillain barré lyme babinski lasègue lasegue romberg
    apgar gleason breslow glasgow mallory weiss menière meniere
    """.split()
)


_DATA = Path(__file__).resolve().parent
_KEPT_APART = _DATA / "anonymize_eval_heldout.json"  # the evaluation's draw; the detector's too, but while measured
_measuring = False  # True inside measuring_without_heldout()


def _lines(name: str) -> list[str]:
    text = (_DATA / name).read_text("utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _kept_apart() -> dict:
    """The entries kept apart for the evaluation, lower case as the lists; none while measured."""
    if _measuring:
        return {"first_names": [], "surnames": [], "towns": []}
    import json

    data = json.loads(_KEPT_APART.read_text("utf-8"))
    return {"first_names": [n.lower() for n in (*data["first_names"], *data["foreign_first_names"])],
            "surnames": [n.lower() for n in data["surnames"]],
            "towns": [(t.lower(), code) for t, code in data["towns"]]}


@functools.lru_cache(maxsize=1)
def person_names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames), lower case, from the packaged lists."""
    apart = _kept_apart()
    return (frozenset([*_lines("anonymize_first_names.txt"), *apart["first_names"]]),
            frozenset([*_lines("anonymize_surnames.txt"), *apart["surnames"]]))


@functools.lru_cache(maxsize=1)
def town_provinces() -> dict[str, str]:
    """Lower-case town -> province code ("" for localities that are not comuni)."""
    listed = dict(line.split("\t", 1) for line in _lines("anonymize_towns.txt"))
    return {**dict(_kept_apart()["towns"]), **listed}


def measuring_without_heldout():
    """Run the detector without the entries the evaluation draws from, so that what it finds
    there it finds by the shape of the text, never because a list knows the word; every list
    and every cache built from them is rebuilt on entry and on exit. Not thread-safe: measure
    in a process that anonymizes nothing else at the same time."""
    return _lists(measuring=True)


def every_entry():
    """The detector as users run it, with every list entry, even inside a measurement (tests
    that check both)."""
    return _lists(measuring=False)


@contextlib.contextmanager
def _lists(measuring: bool):
    global _measuring
    previous, _measuring = _measuring, measuring
    _clear_list_caches()
    try:
        yield
    finally:
        _measuring = previous
        _clear_list_caches()


def _clear_list_caches() -> None:
    """Every cache of the anonymizer's modules (the lists, and what is learnt or looked up from them)."""
    import sys

    for name, module in list(sys.modules.items()):
        if name.startswith("imb_tools.preprocess.anonymize"):
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


@functools.lru_cache(maxsize=1)
def towns() -> frozenset[str]:
    """Italian comuni and localities, lower case."""
    return frozenset(town_provinces())


@functools.lru_cache(maxsize=1)
def province_codes() -> frozenset[str]:
    """The 107 two-letter Italian province codes (MI, RM, AT...), from ISTAT's list."""
    return frozenset(_lines("anonymize_province_codes.txt"))


_EPONYM_BEFORE = re.compile(
    r"\b(?:" + "|".join(EPONYM_HEADS) + r")(?:\s+\w+){0,2}?\s+(?:di|del|della|dello|dei|de|d')\s*$",
    re.IGNORECASE,
)


def is_eponym(text: str, start: int, end: int) -> bool:
    """True when text[start:end] is a surname used as a medical term."""
    words = text[start:end].lower().split()
    if words and all(w.strip(".,'") in EPONYMS for w in words):
        return True
    return bool(_EPONYM_BEFORE.search(text[max(0, start - 60) : start]))
