"""Presidio recognizers for what its Italian set misses in forum answers.

Presidio brings fiscal code, VAT, identity card, passport, driving licence,
e-mail, IBAN, URL, phone, IP and credit card. Doctors' answers also carry
their names after a title, their websites written with spaces ("www. sito.
it"), street addresses, hospitals and the town where they see patients.
Each recognizer here is a small Presidio `LocalRecognizer` whose regular
expression marks the sensitive part with a `pii` group, so the context that
triggered it ("Dott.", "studio a", "nato il") stays in the text.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, List, Optional

from presidio_analyzer import LocalRecognizer, Pattern, RecognizerResult
from presidio_analyzer.predefined_recognizers import EmailRecognizer, PhoneRecognizer, UrlRecognizer

from imb_tools.preprocess import anonymize_gazetteer as gaz
from imb_tools.preprocess.anonymize_lexicon import is_plain_word, is_word
from imb_tools.preprocess.anonymize_names import _TITLE_WORDS, is_role, name_listed

# ---------------------------------------------------------------- building blocks
UPPER = "A-ZÀ-ÖØ-Þ"
LOWER = "a-zà-öø-ÿ"
CAP = rf"[{UPPER}][{LOWER}]+(?:['’][{UPPER}][{LOWER}]+)?"  # Rossi, D'Angelo
PARTICLE = r"(?:De|Di|Del|Della|Dello|Dal|Da|La|Lo|Li|Dell['’]|D['’])"
NAME_WORD = rf"(?:{PARTICLE}\s?)?{CAP}|[{UPPER}]\."  # De Luca, Dell'Acqua, M.
NAME_RUN = rf"(?:{NAME_WORD})(?:[ \t]+(?:{NAME_WORD})){{0,3}}"
TITLE = (
    r"(?i:(?:(?:dott(?:\.|or)?\s?(?:ssa|essa|sa)\b\.?|d\.\s?ssa\b\.?|dott\.?\s?re\b\.?|dott\.|dott\b|dottor(?:e|essa)?\b"
    r"|dr\.?\s?ssa\b\.?|dr\.|dr\b|prof\.?\s?(?:ssa|essa)\b\.?|prof\.?\s?re\b\.?|prof\.|prof\b|professor(?:e|essa)?\b)[ \t]*){1,2}"
    r"|(?:(?:egr\.|egregi[oa]|gent\.(?:mo|ma)?|gentil(?:e|issim[oa])|ill\.(?:mo|ma)?)[ \t]*)?"
    r"(?:sig\.?\s?(?:ra|na)\b(?!\.)|sig\.(?!\s?(?:ra|na)\b)|sig\b(?!\.)|signor(?:a|ina|e)?\b)|avv\.|ing\.|egr\.|gent\.(?:mo|ma)?|ill\.(?:mo|ma)?)"
)
# Words that end a name after a title: specialties and roles in signatures.
_ROLE = re.compile(  # suffixes of specialists (-logo, -iatra, -ista), then whole role and sign-off words
    r"(?:log[oaie]|iatra|iatri|terapeuta|(?:dent|ocul|intern|anestes|nutrizion|farmac|special|fisioterap|logoped|ortott|igien|"
    r"endoscop|ecograf|osteopat|posturolog|ortodont)ist[aie])$|^(?:chirurg[oaih]+|medic[oaih]+|specialist[aie]|"
    r"ospedale|studio|centro|clinica|casa|responsabile|direttore|direttrice|primario|dirigente|docente|"
    r"presso|via|ambulatorio|consulente|ordinario|associato|cordiali|cordialmente|distinti|saluti|salve|"
    r"buongiorno|buonasera|grazie)$",
    re.IGNORECASE,
)
TLDS = r"(?:it|com|net|org|eu|info|biz|edu|gov|ch|de|fr|uk|es|health|clinic|doctor|med|online|studio|care)"


def _stopword(word: str) -> bool:
    """A short function word (Le, Lei, Per, Che...) from spaCy's Italian list, never a name."""
    from spacy.lang.it.stop_words import STOP_WORDS

    low = word.lower()
    if len(low) > 6 or low not in STOP_WORDS:
        return False
    first, last = gaz.person_names()
    return low not in first and low not in last


class RegexRecognizer(LocalRecognizer):
    """Regexes whose `pii` group (or whole match) is the entity; `accept` vetoes or trims a span.

    A pattern may come with a gate: a cheap regex that must occur somewhere in
    the text before the costly one runs (most answers have no "@" or "www").
    """

    def __init__(
        self,
        entity: str,
        patterns: Iterable[tuple],
        name: str,
        accept: Optional[Callable[[str, int, int], Optional[tuple[int, int]]]] = None,
        flags: int = 0,
    ):
        self.patterns = [
            (re.compile(p[0], flags), p[1], re.compile(p[2], re.IGNORECASE) if len(p) > 2 else None) for p in patterns
        ]
        self.accept = accept
        super().__init__(supported_entities=[entity], supported_language="it", name=name)

    def load(self) -> None:  # noqa: D102 - nothing to load
        pass

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:  # noqa: D102
        out = []
        entity = self.supported_entities[0]
        for regex, score, gate in self.patterns:
            if gate is not None and not gate.search(text):
                continue
            for m in regex.finditer(text):
                start, end = m.span("pii") if "pii" in regex.groupindex else m.span()
                if self.accept is not None:
                    span = self.accept(text, start, end)
                    if span is None:
                        continue
                    start, end = span
                if end > start:
                    out.append(RecognizerResult(entity, start, end, score))
        return out


def gated(recognizer: LocalRecognizer, gate: str) -> LocalRecognizer:
    """Run a Presidio recognizer only on texts where `gate` (a cheap superset of its patterns) occurs.

    Most answers hold no ID number: a quick search for a run of digits skips
    Presidio's heavier patterns on them (the benchmark's time shares show why).
    """
    rx = re.compile(gate, re.IGNORECASE)
    analyze = recognizer.analyze

    def run(text, entities, nlp_artifacts=None, *args, **kwargs):
        return analyze(text, entities, nlp_artifacts, *args, **kwargs) if rx.search(text) else []

    recognizer.analyze = run
    return recognizer


DIGITS6 = r"(?:\d[^\w\n]{0,3}){6}"
# A fiscal code written in lower case or cut into groups ("rss mra 80a01 h501u"): Presidio's needs it in one piece.
SPACED_FISCAL_CODE = (r"(?i)(?<![\w])(?P<pii>[a-z]{3}[ \t]?[a-z]{3}[ \t]?[0-9lmnpqrstuv]{2}[ \t]?[abcdehlmprst][ \t]?"
                      r"[0-9lmnpqrstuv]{2}[ \t]?[a-z][ \t]?[0-9lmnpqrstuv]{3}[ \t]?[a-z])(?![\w])")
# The health card's number (tessera sanitaria, TEAM): 20 digits, 80380... for Italian cards, maybe spaced.
HEALTH_CARD = (r"(?i:tessera(?:\s+sanitaria)?|\bts\b|\bteam\b|\bcns\b)[^\d\n]{0,25}(?P<pii>\d(?:[ \t]?\d){15,19})(?!\d)"
               r"|(?<!\d)(?P<card>8038\d{16})(?!\d)")  # six digits, maybe separated: any phone, card or ID number
FISCAL_CODE_GATE = r"\b[a-z]{6}[0-9lmnpqrstuv]{2}[abcdehlmprst][0-9lmnpqrstuv]{2}[a-z]"


# ---------------------------------------------------------------- names
_PARTICLES = frozenset("de di del della dello dei degli da dal dalla la lo li van von".split())


def _not_a_name(word: str, after_title: bool = False) -> bool:
    """A lower-case word that is an ordinary or medical word, not a name ("curante", "ha").
    Right after a title a surname that is also a word ("dott. pellegrino") still counts."""
    low = word.lower()
    common = low in gaz.COMMON_WORDS and not after_title
    return word.islower() and (common or low in gaz.LOWER_NOT_NAMES or low in gaz.EPONYMS)


def _trim_name(text: str, start: int, end: int, lower_ok: bool = False) -> Optional[tuple[int, int]]:
    """Cut a name run at the first stop word or role word; drop eponyms."""
    kept_end = start
    words = list(re.finditer(rf"{NAME_WORD}|[{UPPER}]{{2,}}|[{LOWER}][{LOWER}'’]+|[{LOWER}]\.", text[start:end]))
    for i, m in enumerate(words):
        word = m.group(0)
        inner_particle = word.lower() in _PARTICLES and i + 1 < len(words) and kept_end > start - 1
        after_particle = i > 0 and words[i - 1].group(0).lower() in _PARTICLES  # "De Vita", "di meglio"
        if word.lower().rstrip(".") in ("dott", "dr", "prof", "dottor", "dottore", "dottoressa", "professore", "professoressa"):
            break  # a second title ("Prof. Dott."), never a name
        if _ROLE.search(word) or is_role(word) or not after_particle and not inner_particle and (_stopword(word) or _not_a_name(word, lower_ok)):
            break
        prev = words[i - 1].group(0) if i > 0 else ""
        # "dottor franca abbondanza, psicologa": a second word that ends the name is part of it
        ends_name = re.match(r"[ \t]*(?:[,;:.)\n]|$)|[ \t]+[A-ZÀ-Þ]", text[start + m.end():start + m.end() + 3]) is not None
        first_before = i == 1 and (prev.lower() in gaz.person_names()[0] or not is_word(prev) or ends_name)
        if i > 0 and word.islower() and not after_particle and not inner_particle and not first_before \
                and is_plain_word(word) and not name_listed(word):
            break  # "dott. rossi ha" / "dr. bianchi curante": an Italian word after the name ends it
        if not inner_particle:
            kept_end = start + m.end()
    if kept_end == start or gaz.is_eponym(text, start, kept_end):
        return None
    return start, kept_end


_TITLED_WORD = rf"(?:{NAME_WORD}|[{UPPER}][{UPPER}'’]+\b)"
TITLED_RUN = rf"{_TITLED_WORD}(?:[ \t]+{_TITLED_WORD}){{0,3}}"
LOWER_RUN = rf"(?:[{LOWER}][{LOWER}'’]+|[{LOWER}]\.)(?:[ \t]+(?:[{LOWER}][{LOWER}'’]+|[{LOWER}]\.)){{0,3}}"
def name_words(name: str) -> list[str]:
    """The words of a found name worth looking for elsewhere: no particles, initials, titles or common words."""
    out = []
    for w in re.findall(r"[\w'’]+", name):
        low = w.lower()
        if len(low) < 3 or _stopword(w) or low in _PARTICLES or low in gaz.COMMON_WORDS or low in gaz.EPONYMS \
                or low in gaz.LOWER_NOT_NAMES or low in gaz.towns() or _ROLE.search(low):
            continue
        out.append(w)
    return out


CAPS_RUN = rf"[{UPPER}][{UPPER}'’]+(?:[ \t]+[{UPPER}][{UPPER}'’]+){{0,2}}\b"  # ROSSI MARIO in signatures


def titled_name_recognizer() -> RegexRecognizer:
    """Names after Dott./Dr.ssa/Prof./Sig.ra...: the title stays, the name goes."""
    return RegexRecognizer(
        "PERSON",
        [
            (rf"(?<![\w]){TITLE}[ \t]*(?P<pii>{TITLED_RUN})", 0.85),
            # lower case after an abbreviated title: "dr. de marchi", "dott.ssa l. micalizzi"
            (rf"(?<![\w])(?i:dott\.?\s?ssa\.?|dott\.?\s?sa\b\.?|d\.\s?ssa\.?|dr\.?\s?ssa\.?|prof\.?\s?ssa\.?|(?:dott|prof)\.?\s?re\b\.?|(?:dott|dr|prof)\.(?!\s?(?:ssa|re|sa)\b)|(?:dott|dr|prof)\b(?!\.)|dottor(?:e|essa)?\b|professor(?:e|essa)?\b)[ \t]*(?P<pii>{LOWER_RUN})", 0.7),
        ],
        name="TitledNameRecognizer",
        accept=lambda text, start, end: _trim_name(text, start, end, lower_ok=True),
    )


def practice_name_recognizer() -> RegexRecognizer:
    """A surname naming a practice: "studio Vitale", "ambulatorio Rossi" (known to a list or not)."""

    def accept(text: str, start: int, end: int) -> Optional[tuple[int, int]]:
        # structure, not lists: any capitalized word after "studio" that is not a role or function word
        words = text[start:end].split()
        if _stopword(words[0]) or _ROLE.search(words[0]) or words[0].lower() in gaz.TOWN_OR_GENERIC or is_role(words[0]):
            return None
        # "Studio Strumentale del Sonno": a capitalized service name made of words, not "studio Vitale"
        head = text[max(0, start - 40):start].rstrip().split()[-1:] or [""]
        service = head[0][:1].isupper() or re.match(r"\s+(?:del|della|dello|dei|di|per)\b", text[end:end + 8])
        if service and all(is_word(w) and not name_listed(w) for w in words):
            return None
        return start, end

    return RegexRecognizer(
        "PERSON",
        [(rf"(?i:\bstudio|\bambulatorio)(?:\s+(?i:medico|dentistico|odontoiatrico|associato))?[ \t]+(?P<pii>{CAP}(?:[ \t]+{CAP})?)", 0.7)],
        name="PracticeNameRecognizer",
        accept=accept,
    )


_SALUTATION = r"(?i:car[oa]|carissim[oa]|gentil(?:e|issim[oa])|gent\.(?:mo|ma|mi)?|egregi[oa]|salve|buongiorno|buonasera|ciao)"
_ADDRESSEE = frozenset(
    """utente paziente signora signore signor signorina dottore dottoressa dott dottor dr prof professore amico amica
    collega lettore lettrice ragazzo ragazza mamma papà papa genitori utenti pazienti tutti tutte""".split()
)


def salutation_name_recognizer() -> RegexRecognizer:
    """A first name after a greeting: "Caro Marco,", "Gentile Aisha:" (known to a list or not)."""

    def accept(text: str, start: int, end: int) -> Optional[tuple[int, int]]:
        first = text[start:end].split()[0].lower().rstrip(".")
        if first in _ADDRESSEE or gaz.is_eponym(text, start, end) or _stopword(first) or first in gaz.LOWER_NOT_NAMES:
            return None
        return _trim_name(text, start, end, lower_ok=True)

    return RegexRecognizer(
        "PERSON",
        [(rf"(?:^|(?<=[\n.!?]))\s*{_SALUTATION}[ \t]+(?P<pii>{TITLED_RUN}|[{LOWER}][{LOWER}'’]+)\s*[,!:;\n]", 0.7)],
        name="SalutationNameRecognizer",
        accept=accept,
    )


_PLACE_PREP = re.compile(r"(?<!\w)(?:a|ad|in|da|di)\s+$", re.IGNORECASE)
# "Casole d'Elsa", "Roverè della Battaglia": a first name after these is part of a place's name
_PLACE_PARTICLE_BEFORE = re.compile(r"(?:\bd['’]|\bdell['’]|\bdella\s+|\bdel\s+|\bdello\s+)$", re.IGNORECASE)
_CAP_BEFORE = re.compile(rf"[{UPPER}][\w'’]*[ \t]+$")
_SAINT = re.compile(r"(?:\bSan|\bSanta|\bSanto|\bSant['’]|\bS\.)\s*$", re.IGNORECASE)


class GazetteerNameRecognizer(LocalRecognizer):
    """First name + surname (or a distinctive first name alone) from the packaged name lists.

    A surname alone is never enough (Costa, Ferro, Fontana are words too); a
    first name that is also a common word (Massimo, Rosa) needs a surname
    or an unknown capitalized word after it.
    """

    _run = re.compile(rf"(?<![\w.]){NAME_RUN}")

    def __init__(self):
        super().__init__(supported_entities=["PERSON"], supported_language="it", name="GazetteerNameRecognizer")

    def load(self) -> None:  # noqa: D102
        self.first, self.last = gaz.person_names()

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:  # noqa: D102
        out = []
        for run in self._run.finditer(text):
            words = [(m.start() + run.start(), m.end() + run.start(), m.group(0)) for m in re.finditer(NAME_WORD, run.group(0))]
            i = 0
            while i < len(words):
                s, e, w = words[i]
                low = w.lower()
                if low in ("san", "santa", "santo"):  # a saint's name is a place or a facility
                    i += 2
                    continue
                if low in _TITLE_WORDS:  # "Cara Serena": a greeting's word (and "Cara" a listed name) stays
                    i += 1
                    continue
                if low in self.first and not gaz.is_eponym(text, s, e) and not _SAINT.search(text, max(0, s - 7), s):
                    j = i + 1
                    # extend over further first names and a surname / unknown capitalized word
                    while j < len(words) and j - i < 4:
                        nxt = words[j][2]
                        nlow = nxt.lower()
                        if _stopword(nxt) or _ROLE.search(nxt) or nlow in gaz.EPONYMS:
                            break
                        if nlow in self.first or nlow in self.last or nlow not in gaz.COMMON_WORDS and not is_word(nlow):
                            j += 1
                            continue
                        break
                    lone_ok = (low not in gaz.COMMON_WORDS and low not in gaz.towns() and i == 0 and len(low) > 2
                               and not is_word(low)
                               and not _CAP_BEFORE.search(text, max(0, s - 30), s)
                               and not _PLACE_PARTICLE_BEFORE.search(text, max(0, s - 8), s))
                    # "a Albano Vercellese": after a preposition of place, first name + unknown word is a town
                    second = words[i + 1][2].lower() if j > i + 1 else ""
                    place_like = j == i + 2 and second not in self.last and second not in self.first and _PLACE_PREP.search(text, max(0, s - 5), s)
                    if (j > i + 1 and not place_like) or lone_ok:
                        out.append(RecognizerResult("PERSON", s, words[j - 1][1], 0.7 if j > i + 1 else 0.6))
                    i = max(j, i + 1)
                    continue
                if low in self.last and i + 1 < len(words) and words[i + 1][2].lower() in self.first:
                    # "Rossi Mario": surname then first name; after "a"/"di" more often a town ("di Montenero Sabino")
                    if not gaz.is_eponym(text, s, e) and not (i == 0 and _PLACE_PREP.search(text, max(0, s - 5), s)):
                        out.append(RecognizerResult("PERSON", s, words[i + 1][1], 0.7))
                    i += 2
                    continue
                i += 1
        return out


# ---------------------------------------------------------------- web and mail
_SEP_DOT = r"(?:\s*\.\s*|\s*[\[(]\s*(?:dot|punto)\s*[\])]\s*|\s+punto\s+)"
_SEP_AT = r"(?:\s*@\s*|\s*[\[(]\s*(?:at|chiocciola)\s*[\])]\s*|\s+chiocciola\s+)"


def obfuscated_email_recognizer() -> RegexRecognizer:
    """mario [dot] rossi [at] gmail [dot] com, mario.rossi @ gmail . com."""
    local = rf"[a-z0-9_%+-]+(?:{_SEP_DOT}[a-z0-9_%+-]+)*"
    domain = rf"[a-z0-9-]+(?:{_SEP_DOT}[a-z0-9-]+)*{_SEP_DOT}{TLDS}\b"
    return RegexRecognizer(
        "EMAIL_ADDRESS",
        [(rf"(?<![\w.@]){local}{_SEP_AT}{domain}", 0.8, r"@|[\[(]\s*at\s*[\])]|chiocciola")],
        name="ObfuscatedEmailRecognizer",
        flags=re.IGNORECASE,
    )


def spaced_url_recognizer() -> RegexRecognizer:
    """www. sito. it, www . studio-rossi . it, studiorossi [punto] it, sito punto com."""
    www = rf"(?:h\s*t\s*t\s*p\s*s?\s*:\s*/\s*/\s*)?w\s?w\s?w{_SEP_DOT}[a-z0-9-]+(?:{_SEP_DOT}[a-z0-9-]+)*{_SEP_DOT}{TLDS}\b(?:/[^\s]*)?"
    worded = rf"[a-z0-9-]+(?:(?:\s*[\[(]\s*(?:dot|punto)\s*[\])]\s*|\s+punto\s+)[a-z0-9-]+)*(?:\s*[\[(]\s*(?:dot|punto)\s*[\])]\s*|\s+punto\s+){TLDS}\b"
    return RegexRecognizer(
        "URL",
        [(rf"(?<![\w.]){www}", 0.8, r"w\s?w\s?w"), (rf"(?<![\w.]){worded}", 0.7, r"\bpunto\b|[\[(]\s*(?:dot|punto)\s*[\])]")],
        name="SpacedUrlRecognizer",
        flags=re.IGNORECASE,
    )


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validating domains with tldextract's bundled suffix list.

    The stock one calls `tldextract.extract`, which tries to download the
    public suffix list and logs a long traceback when offline.
    """

    def validate_result(self, pattern_text: str):  # noqa: D102
        return offline_tldextract()(pattern_text).fqdn != ""


_EXTRACTOR = None


def offline_tldextract():
    """A tldextract extractor that never touches the network (bundled snapshot)."""
    global _EXTRACTOR
    if _EXTRACTOR is None:
        import tldextract

        _EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    return _EXTRACTOR


def _presidio_tlds() -> str:
    """The TLD alternation inside Presidio's URL regex, reused so both know the same TLDs."""
    return UrlRecognizer.BASE_URL_REGEX.split("[.](?:", 1)[1].rsplit(")(?:/", 1)[0]


class ForumUrlRecognizer(UrlRecognizer):
    """Presidio's URL recognizer with faster patterns and without run-together sentences.

    Presidio's pattern lets `[a-z0-9.-]{1,253}` start at every character and
    backtrack through ~400 TLDs (about 8 ms on a 500-character answer); here
    a URL starts at a word start and needs a dot after each label, so most
    positions fail at once. Forum text also often lacks the space after a
    full stop ("terapia.Se", "esame.la"), which looks like a domain with the
    TLD .se or .la: a bare domain (no scheme, no www) counts only with a
    lower-case TLD from a short list of TLDs that are not Italian words.
    """

    _domain = rf"(?:www\d{{0,3}}\.)?(?:[a-z0-9-]+\.)+(?:{_presidio_tlds()})\b(?:/[^\s()<>\"']*)?"
    PATTERNS = [
        Pattern("Standard Url", rf"(?i)(?<![\w.@-])https?://{_domain}", 0.6),
        Pattern("Non schema URL", rf"(?i)(?<![\w.@/:-]){_domain}", 0.5),
    ]
    _bare_ok = re.compile(rf"\.{TLDS}(?:/|$)")

    def invalidate_result(self, pattern_text: str) -> bool:  # noqa: D102
        lowered = pattern_text.lower()
        if "://" in lowered or lowered.startswith("www"):
            return False
        return not self._bare_ok.search(pattern_text)


def spaced_fiscal_code_recognizer() -> RegexRecognizer:
    """A fiscal code in any case, maybe in groups: a cut or lower-case code is still the person's code."""

    def accept(text: str, start: int, end: int):
        code = re.sub(r"\s", "", text[start:end])
        # one piece in upper case is Presidio's (checksum-validated); here, lower case or groups, with digits
        return (start, end) if (code != text[start:end] or not code.isupper()) and sum(c.isdigit() for c in code) >= 4 else None

    return RegexRecognizer("IT_FISCAL_CODE", [(SPACED_FISCAL_CODE, 0.8, r"\d\d")], name="SpacedFiscalCodeRecognizer",
                           accept=accept)


class HealthCardRecognizer(RegexRecognizer):
    """The tessera sanitaria's number: 20 digits after "tessera sanitaria" / "TS", or any 8038 + 16 digits."""

    def __init__(self):
        super().__init__("IT_HEALTH_CARD", [(HEALTH_CARD, 0.8, r"\d{16}|\d \d")], name="HealthCardRecognizer")

    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102
        out = []
        for regex, score, gate in self.patterns:
            if not gate.search(text):
                continue
            for m in regex.finditer(text):
                group = "pii" if m.group("pii") else "card"
                out.append(RecognizerResult("IT_HEALTH_CARD", *m.span(group), score))
        return out


def italian_phone_recognizer() -> PhoneRecognizer:
    """python-phonenumbers validation for Italian numbers, Italian context words."""
    return gated(PhoneRecognizer(
        supported_language="it",
        supported_regions=("IT",),
        context=["tel", "telefono", "cell", "cellulare", "numero", "chiamare", "chiami", "contattare", "whatsapp", "fax"],
        leniency=1,
    ), DIGITS6)


def loose_phone_recognizer() -> RegexRecognizer:
    """Italian numbers phonenumbers' matcher misses: "333 12 34 567", "tel. 02/1234567"."""
    mobile = r"(?:\+\s?39[\s.-]?)?3\d{2}(?:[\s./-]?\d){6,7}"
    landline = r"(?:\+\s?39[\s.-]?)?0\d{1,3}[\s./-]?\d(?:[\s./-]?\d){4,7}"
    cue = r"(?i:tel(?:efono)?\.?|cell(?:ulare)?\.?|fax|whatsapp|numero verde|n\.\s*tel\.?)\s*:?\s*"
    return RegexRecognizer(
        "PHONE_NUMBER",
        [(rf"(?<![\w/.,]){mobile}(?![\w/.,]?\d)", 0.6, DIGITS6), (rf"{cue}(?P<pii>{landline}|{mobile})(?!\d)", 0.8, DIGITS6)],
        name="ItalianPhoneRecognizer",
    )


# ---------------------------------------------------------------- places and facilities
_STREET = r"(?i:via|viale|v\.le|piazza|p\.zza|p\.za|piazzale|corso|c\.so|largo|vicolo|contrada|c\.da|strada|lungomare|borgo|localit[àa]|loc\.)"
_STREET_NAME = rf"(?:(?:[{UPPER}0-9][\w'’.]*|d[ei]|del|della|delle|degli|dei|dello|d['’]\w+)\s*){{1,6}}?"


def address_recognizer() -> RegexRecognizer:
    """Via/Viale/Piazza/Corso + capitalized name + house number (+ CAP and town)."""
    number = r",?\s*(?:n\.?\s*|n°\s*)?\d{1,4}(?:\s*/?\s*[A-Za-z](?![\w]))?"
    tail = rf"(?:\s*[,-]?\s*(?:\d{{5}}\s+)?{CAP}(?:\s+{CAP})?(?:\s*\([A-Z]{{2}}\))?)?"
    return RegexRecognizer(
        "ADDRESS",
        [(rf"(?<!\w)(?P<pii>{_STREET}\s+(?=[{UPPER}0-9]|(?:d[ei]|del|della|delle|degli|dei|dello|d['’])\s*[{UPPER}]){_STREET_NAME}{number}{tail})(?!\w)", 0.8)],
        name="AddressRecognizer",
        accept=_trim_address,
    )


_ADDRESS_TAIL = re.compile(rf"\s*[,-]?\s*(?:\d{{5}}\s+)?(?P<town>{CAP}(?:\s+{CAP})?)(?:\s*\([A-Z]{{2}}\))?$")


def _trim_address(text: str, start: int, end: int) -> Optional[tuple[int, int]]:
    """Keep a town after the house number only when it is a known town ("Via Roma 12, Milano")."""
    m = _ADDRESS_TAIL.search(text, start, end)
    if m and not re.search(r"\d{5}", m.group(0)) and m.group("town").lower() not in gaz.towns():
        return start, m.start()
    return start, end


_MONTHS = r"(?i:gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|novembre|dicembre)"
_DATE = rf"(?:\d{{1,2}}\s*[/.-]\s*\d{{1,2}}\s*[/.-]\s*(?:19|20)?\d{{2}}|\d{{1,2}}°?\s+{_MONTHS}(?:\s+(?:19|20)\d{{2}})?|(?:19|20)\d{{2}})"


def birth_date_recognizer() -> RegexRecognizer:
    """Dates after "nato il", "nata nel", "data di nascita", "classe"."""
    cue = r"(?i:\bnat[oaie]\s+(?:a\s+[\w' ]{2,30}?\s+)?(?:il|nel|l['’])|data\s+di\s+nascita\s*:?|\bd\.?\s?d\.?\s?n\.?\s*:?|\bclasse)"
    gate = r"nat[oaie]\s|nascita|classe|d\.?\s?d\.?\s?n"
    return RegexRecognizer("BIRTH_DATE", [(rf"{cue}\s*(?P<pii>{_DATE})(?!\d)", 0.85, gate)], name="BirthDateRecognizer")


_FACILITY_KW = (
    r"(?:[Oo]spedal[ei](?:\s+[Rr]iuniti)?|[Pp]oliclinico|[Cc]linica|[Cc]as[ae]\s+di\s+[Cc]ura|[Aa]zienda\s+[Oo]spedaliera(?:\s+[Uu]niversitaria)?"
    r"|Azienda\s+(?:Sanitaria|USL|ULSS)(?:\s+Locale)?|A\.S\.L\.|ASL|ASST|A\.U\.S\.L\.|AUSL|USL|ULSS|ASP|ATS|IRCCS|I\.R\.C\.C\.S\."
    r"|Istituto(?!\s+Superiore)"
    r"|Centro\s+(?:Medico|Diagnostico|Clinico)|Poliambulatorio|Presidio\s+Ospedaliero|Humanitas)"
)
_FAC_NAME = rf"(?:(?:di|del|della|dello|dei|degli|delle|San|Santa|Sant['’]|Santo|SS\.|S\.)\s*)?(?:{CAP}|[{UPPER}]{{2,}}\b|\d{{1,2}}\b)"


def facility_recognizer() -> RegexRecognizer:
    """Named hospitals, clinics and health authorities (Ospedale San Raffaele, ASL Roma 1)."""
    name_run = rf"{_FAC_NAME}(?:[ \t]+(?:(?:di|del|della|dei|degli|delle|e|d['’]|nel|nella|sul|sulla|in|al)[ \t]+|dell['’]|all['’])?{_FAC_NAME}){{0,5}}"
    return RegexRecognizer(
        "HEALTH_FACILITY",
        [
            (rf"(?<!\w)(?P<pii>{_FACILITY_KW}[ \t]+(?={_FAC_NAME}){name_run})", 0.8),
            # a name in quotes after any facility word, maybe with its town: Ospedale "San Carlo" - Potenza
            (rf"(?<!\w)(?P<pii>(?i:{_FACILITY_ANY})(?:[ \t]+[\w'’.]+){{0,3}}?[ \t]*[\"“«][^\"”»\n]{{2,60}}[\"”»]"
             rf"(?:[ \t]*[-–,][ \t]*{_PLACE})?)", 0.8, r"[\"“«]"),
            # "Centro del Rossi", "Centro Medico Dentistico del Sorriso": a centre named after someone
            (rf"(?<!\w)(?P<pii>(?i:centro)(?:[ \t]+[{UPPER}][{LOWER}]+){{0,2}}[ \t]+(?:del|della|dello|dei|di)[ \t]+{CAP}(?:[ \t]+{CAP})?)", 0.7),
        ],
        name="HealthFacilityRecognizer",
        accept=_trim_facility,
    )


_FACILITY_ANY = r"ospedal[ei]|policlinico|clinica|cas[ae]\s+di\s+cura|centro|istituto|poliambulatorio|presidio|ambulatorio|studio"
# Capitalized words after "Centro di" that name a service, not a person.
_GENERIC_CENTRE = frozenset(
    """salute igiene riferimento ascolto accoglienza ricerca medicina prevenzione diagnosi cura cure terapia
    riabilitazione screening sanità servizi malattie diabetologia procreazione fertilità sclerosi dialisi
    trasfusionale alcologia neuropsichiatria psicologia ortopedia cardiologia""".split()
)


def _trim_facility(text: str, start: int, end: int) -> Optional[tuple[int, int]]:
    """Drop trailing connectors and stop words the name run swallowed."""
    span = text[start:end]
    m = re.match(r"(?i)centro(?:\s+\w+){0,2}?\s+(?:del|della|dello|dei|di)\s+(\w+)", span)
    if m and ('"' not in span and "«" not in span) and (m.group(1).lower() in _GENERIC_CENTRE
                                                      or is_plain_word(m.group(1)) and not name_listed(m.group(1))):
        return None
    words = span.split()
    while len(words) > 1 and (_stopword(words[-1]) and words[-1][0].islower() or words[-1].lower() in ("e", "di")):
        words.pop()
    if len(words) < 2:
        return None
    keep = span.find(words[-1], len(" ".join(words[:-1])) - 1) + len(words[-1])
    return start, start + keep


# Cheap pre-check: the cue regexes run only on texts with one of these stems.
_CUE_GATE = r"\b(?:studi|ambulator|sed[ei]\b|ricev|visit|oper|lavor|esercit|abit|viv|resident|nat[oaie]\b|sono\s+di|provincia|comune|città|zona)"
_CUE_WORDS = (
    r"(?:studio|studi|ambulatorio|ambulatori|sede|sedi|ricevo|riceve|ricevono|visito|visita|opero|operiamo|"
    r"lavoro|lavora|opera|esercito|abito|abita|vivo|vive|residente|residenza|nat[oaie]|sono\s+di|provincia\s+di|comune\s+di|"
    r"città\s+di|zona\s+di)(?:\s+(?:medico|privato|privatamente|professionale|anche|solo|principalmente|sia|è|si\s+trova|mio)){0,2}"
)
_PLACE_CUE = rf"(?i:\b{_CUE_WORDS}\s+(?:a|ad|in|di|presso|tra|fra))"
_PLACE_WORD = rf"(?:{CAP}(?:-{CAP})?|[{UPPER}][{UPPER}'’]+(?:-[{UPPER}]+)?\b)"
_PLACE = rf"{_PLACE_WORD}(?:[ \t]+(?:(?:di|del|della|dello|dei|delle|sul|sulla|nel|nella|in|al|con|d['’]|de['’]|dell['’]|all['’]|DI|DEL|SUL)[ \t]*)?{_PLACE_WORD}){{0,2}}"
# Lower-case words after "a" that say how or when, not where.
_NOT_PLACES = frozenset(
    """domicilio casa pagamento distanza tempo giorni settimana settimane breve fiducia convenzione richiesta
    appuntamento disposizione tutti tutte lungo parte pieno orario orari chiamata visita visite mesi anni
    mezzogiorno sera mattina pomeriggio""".split()
)


def place_recognizer() -> RegexRecognizer:
    """Towns that place a person: "studio a Milano", "ricevo a Roma e Latina", "Seregno (MB)"."""
    return RegexRecognizer(
        "LOCATION",
        [
            (rf"{_PLACE_CUE}\s+(?P<pii>{_PLACE}(?:\s*(?:,|e|ed|o)\s*{_PLACE})*)", 0.75, _CUE_GATE),
            (rf"(?<!\w)(?P<pii>{_PLACE}\s*\((?:{'|'.join(sorted(gaz.province_codes()))})\))", 0.75, r"\([A-Z]{2}\)"),
            # any case before a real province code: "villa carcina (BS)", "frazzanò(ME)"
            (rf"(?<![\w'’-])(?P<pii>(?:[\w'’-]+[ \t]+){{0,4}}[\w'’-]+\s*\((?i:{'|'.join(sorted(gaz.province_codes()))})\))", 0.7, r"\(\w\w\)"),
            # lower case after a strong cue, when followed by punctuation or a time word: "ricevo a bova marina."
            # (the cue before "a" is checked in _accept_place: a leading alternation here is slow)
            (rf"\b(?:a|ad)[ \t]+(?P<pii>[{LOWER}][{LOWER}'’-]+(?:[ \t]+[{LOWER}][{LOWER}'’-]+){{0,3}}?)(?=\s*(?:[,.;:!?)\n]|$))", 0.6,
             rf"{_CUE_GATE}|(?:log[oa]|iatra|chirurg[oa]|dentista)\s+ad?\s"),
            (rf"(?<![\w]){TITLE}[ \t]*{NAME_RUN}\s*[-–,|/]\s*(?P<pii>{_PLACE})", 0.6, r"[-–,|/]\s*[A-Z]"),
            (rf"(?i:\b(?:\w+log[oa]|\w+iatra|\w+ista|chirurg[oa]|medico|dentista|odontoiatra|ginecolog[oa]))\s+(?:a|ad|in|di|presso)\s+(?P<pii>{_PLACE}(?:\s*(?:,|e|ed)\s*{_PLACE})*)", 0.6, _ROLE_GATE),
        ],
        name="PlaceRecognizer",
        accept=_accept_place,
    )


_ROLE_GATE = r"(?:log[oa]|iatra|ista|chirurg[oa]|medico)\s+(?:a|ad|in|di|presso)\s+[A-Z]"


def _trim_province_town(text: str, start: int, end: int) -> Optional[tuple[int, int]]:
    """From "Ricevo anche a SARONNO (VA)" keep "SARONNO (VA)": words back to a function or cue word."""
    m = re.search(r"\s*\((\w\w)\)$", text[start:end])
    code = m.group(1)
    words = list(re.finditer(r"[\w'’-]+", text[start : start + m.start()]))
    keep = None
    for i in range(len(words) - 1, -1, -1):
        w = words[i].group(0)
        low = w.lower()
        particle = low in ("di", "del", "della", "sul", "sulla", "in", "al", "nel", "dei", "de", "d'", "e", "ed", "con") and keep is not None
        adjacent = i == len(words) - 1 and not (_stopword(w) and len(w) <= 3) and low not in _CUE_STOP
        if not particle and not adjacent and (_stopword(w) or _ROLE.search(w) or low in _CUE_STOP or low in gaz.COMMON_WORDS and keep is None and low not in gaz.towns()):
            break
        keep = i
    while keep is not None and keep < len(words) and words[keep].group(0).lower() in ("di", "del", "della", "sul", "sulla", "in", "al", "nel", "dei", "de", "e", "ed"):
        keep += 1
    if keep is None or keep >= len(words):
        return None
    town = text[start + words[keep].start() : start + m.start()]
    if code.islower() and town.lower() not in gaz.towns():
        return None
    return start + words[keep].start(), end


_LOWER_CUE = re.compile(
    rf"(?i:\b{_CUE_WORDS}|\b(?:\w+log[oa]|\w+iatra|chirurg[oa]|dentista))\s+(?:a|ad|in|di|presso)\s+$"
)
_CUE_STOP = frozenset(
    """studio studi ambulatorio ricevo riceve visito visita privatamente opero lavoro esercito abito vivo residente
    presso sede anche solo mio mia""".split()
)


_LINK_WORDS = frozenset("di del della dello dei degli delle de d' d’ sul sulla sullo in al e ed con sopra sotto".split())


def _accept_place(text: str, start: int, end: int) -> Optional[tuple[int, int]]:
    """Keep a cued place unless it is a stop word; after a signature or a job title
    ("Dott. Rossi - Milano", "chirurgo in Calabria") it must be a known town."""
    span = text[start:end]
    if span.endswith(")") and re.search(r"\(\w\w\)$", span):
        return _trim_province_town(text, start, end)
    from imb_tools.preprocess.anonymize_places import frequent_word_place

    if re.search(r"(?i)\b(?:di|in)\s+$", text[max(0, start - 4):start]) and frequent_word_place(text, start, end):
        return None  # "Medico di Guardia", "medico in Pensione": the role's own words, not a town
    if span.islower():
        if not _LOWER_CUE.search(text, max(0, start - 60), start):
            return None
        words = span.split()
        from imb_tools.preprocess.anonymize_places import IDIOMS_AFTER_PREPOSITION

        if words[0] in IDIOMS_AFTER_PREPOSITION:
            return None  # "nato a termine", "abito a pochi passi dall'ospedale"
        from imb_tools.preprocess.anonymize_places import NOT_PLACES_AFTER_PREPOSITION

        tokens = list(re.finditer(r"\S+", span))
        for i, w in enumerate(words[1:], 1):  # "visito anche a lagonegro il giovedì": the town ends before "il"
            if _stopword(w) and w not in _LINK_WORDS or w in NOT_PLACES_AFTER_PREPOSITION:
                while i > 1 and words[i - 1] in _LINK_WORDS:
                    i -= 1
                end = start + tokens[i - 1].end()
                span, words = text[start:end], words[:i]
                break
        if any(_stopword(w) or w in _NOT_PLACES or w in gaz.COMMON_WORDS and w not in ("san", "santa", "santo")
               for w in words[:1] + words[-1:]):
            return None
        return start, end
    first = span.split()[0].strip("(,")
    if _stopword(first) or _ROLE.search(first) or is_role(first):
        return None
    before = text[max(0, start - 12) : start]
    weak_cue = any(ch in before[-3:] for ch in "-–,|/") or re.search(r"(?:log[oa]|iatra|ista|chirurg[oa]|medico)\s+(?:in|di)\s+$", before, re.IGNORECASE)
    if "(" not in span and weak_cue and span.lower() not in gaz.towns():
        return None
    if span.lower() in gaz.COMMON_WORDS:
        return None
    return start, end
