"""Is this token an Italian word or a name? Two well-kept lexicons from PyPI decide.

Where names live (after a closing formula, after a title, in a greeting,
before a profession), a token no list knows is a name unless it is an
Italian word: "cordialità brambilla" is a sign-off and a surname, "stia
tranquilla" is advice. A corpus frequency list alone cannot tell: the
subtitles behind pyspellchecker's Italian dictionary hold Giovanni and
Francesca as often as real words. A lemma dictionary alone misses
invariable words. Two lexicons come out of pyspellchecker's Italian frequency dictionary
(MIT; counts from OpenSubtitles) and simplemma's Italian lemma data (MIT
code; lemmatization lists, Wiktionary, FreeLing, spaCy lookups), each
with spaCy's Italian stop words, the project's medical terms and the
very frequent subtitle words (>= FREQUENT: "lavoro", "sempre", which the
lemma data leaves out; the few names that frequent are words too):
- the strict one (`is_plain_word`): in the subtitles AND in the lemma
  data, attested in use and in a dictionary, which names mostly are not
  (6.7% of the held-out first names, 15.7% of the surnames, nearly all
  real words: Aurora, Gioia, Colombo). Where a name may stand, a token
  outside it counts as a name;
- the broad one (`is_word`): in the lemma data at all. It keeps ordinary
  words from being taken for a surname or a town on weak evidence.

Both packages carry their data inside the wheel: nothing is downloaded at
run time and nothing of theirs is copied into this project. Case never
matters here: tokens are looked up in lower case.
"""

from __future__ import annotations

import functools
import re

FREQUENT = 5000  # subtitle occurrences above which a token is a word whatever the lemma data says


@functools.lru_cache(maxsize=1)
def _sources() -> tuple[dict, frozenset, frozenset]:
    """(subtitle counts, simplemma forms and lemmas, spaCy stop words + medical terms), lower case."""
    from imb_tools.infra.errors import require

    spellchecker = require("spellchecker", "preprocess")
    dictionaries = require("simplemma.strategies.dictionaries", "preprocess")
    from spacy.lang.it.stop_words import STOP_WORDS

    counts = spellchecker.SpellChecker(language="it", distance=1).word_frequency.dictionary
    lemma_data = set()
    for form, lemma in dictionaries.DefaultDictionaryFactory().get_dictionary("it").items():
        lemma_data.add(form.lower())
        lemma_data.add(lemma.lower())
    return counts, frozenset(lemma_data), frozenset(STOP_WORDS) | medical_terms()


@functools.lru_cache(maxsize=1)
def plain_words() -> frozenset[str]:
    """The strict lexicon: in the subtitles and in the lemma data (or very frequent), few names in it.
    A token in a name's position that is not here may be a name."""
    counts, lemma_data, base = _sources()
    return frozenset({w for w, n in counts.items() if n >= FREQUENT or w in lemma_data} | base)


@functools.lru_cache(maxsize=1)
def words() -> frozenset[str]:
    """The broad lexicon: any form or lemma of the lemma data, frequent subtitle words, stop words, medical
    terms ("prevenzione", "strumentale"). A capitalized token here is not taken for a surname or a town on
    weak evidence ("Studio Strumentale", "in prevenzione secondaria")."""
    counts, lemma_data, base = _sources()
    return frozenset(lemma_data | {w for w, n in counts.items() if n >= FREQUENT} | base)


@functools.lru_cache(maxsize=1)
def medical_terms() -> frozenset[str]:
    """Plain words of the project's medical term list (imb_tools/analysis/medical_terms.txt)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "analysis" / "medical_terms.txt"
    return frozenset(w for w in path.read_text("utf-8").split() if re.fullmatch(r"[^\W\d_]+", w))


@functools.lru_cache(maxsize=1)
def attested() -> frozenset[str]:
    """Every token of the subtitles (names included) and of the broad lexicon: a lower-case token
    outside it ("casalvieri") is no Italian word at all, so after "a" or "in" a town."""
    return frozenset(_sources()[0]) | words()


def _key(token: str) -> str:
    return token.lower().strip(".'’")


def is_attested(token: str) -> bool:
    return _key(token) in attested()


def is_word(token: str) -> bool:
    """True when `token` (any case, apostrophes and final dots ignored) is an Italian word (broad lexicon)."""
    return _key(token) in words()


def is_plain_word(token: str) -> bool:
    """True when `token` is an Italian word by the strict lexicon (used where a name may stand)."""
    return _key(token) in plain_words()


def count(token: str) -> int:
    """How often `token` occurs in the subtitles behind pyspellchecker's Italian list (0 if never)."""
    return _sources()[0].get(_key(token), 0)


def is_medical(token: str) -> bool:
    """A plain word of the project's medical term list ("menopausa", "gravidanza")."""
    return _key(token) in medical_terms()


@functools.lru_cache(maxsize=1)
def _web_frequencies() -> dict:
    """wordfreq's Italian word frequencies (Wikipedia, news, books, web, subtitles; MIT code, data CC BY-SA
    4.0, inside its wheel). Unlike the subtitle counts it sees written Italian, so a dictionary word that
    is rare in it ("palata", "specchia") is more likely a town's name than the medical words of an
    answer ("menopausa", "allattamento"), which are common in written text."""
    from imb_tools.infra.errors import require

    wordfreq = require("wordfreq", "preprocess")
    return wordfreq.get_frequency_dict("it", wordlist="best")


def zipf(token: str) -> float:
    """log10 of `token`'s frequency per billion words in written Italian (wordfreq); 0 if never seen."""
    import math

    freq = _web_frequencies().get(_key(token), 0.0)
    return math.log10(freq) + 9 if freq > 0 else 0.0
