"""Word lists the name and place detectors look words up in.

First names, surnames and towns come from Faker's `it_IT` providers (462
first names, 1,164 surnames, ~16,500 localities), so the lists are kept by a
maintained project rather than by us. Many of those entries are also
ordinary Italian words (Costa, Ferro, Massimo, Macello...): `COMMON_WORDS`
lists the ones seen in medical answers, and the detectors ask for more
context before they flag them. `EPONYM_HEADS` are the nouns after which a
surname is part of a medical term (morbo di Parkinson, tube di Falloppio)
and must survive.
"""

from __future__ import annotations

import functools
import re

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
    santino toni elmo lisa italia natale pasqua durante
    """.split()
)

# Common Italian first names missing from Faker's it_IT list.
EXTRA_FIRST_NAMES = frozenset(
    """
    anna andrea sara davide emanuele emanuela alice elisabetta simona cristian christian
    samuele tommaso manuela sabrina daniela rosanna noemi arianna erica ludovica ginevra
    gaia irene nicolò giorgio debora deborah francesca alessandra silvana stefania marianna
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


@functools.lru_cache(maxsize=1)
def person_names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames) from Faker `it_IT`, lower case."""
    from faker.providers.person.it_IT import Provider

    first = frozenset(n.lower() for n in (*Provider.first_names_male, *Provider.first_names_female))
    first |= EXTRA_FIRST_NAMES
    last = frozenset(n.lower() for n in Provider.last_names)
    return first, last


@functools.lru_cache(maxsize=1)
def towns() -> frozenset[str]:
    """Italian localities from Faker `it_IT`, lower case."""
    from faker.providers.address.it_IT import Provider

    return frozenset(c.lower() for c in Provider.cities)


@functools.lru_cache(maxsize=1)
def province_codes() -> frozenset[str]:
    """Two-letter Italian province codes (MI, RM...) from Faker `it_IT`."""
    from faker.providers.address.it_IT import Provider

    return frozenset(Provider.states_abbr)


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
