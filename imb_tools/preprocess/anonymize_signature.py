"""Signature blocks at the end of forum answers, found by their structure rather than by lists.

The most common PII left in real answers is the doctor's signature: a closing
formula ("Cordialmente", "Cordiali saluti", "Un caro saluto"), then a name
in any case, often unknown to any name list, then a title or role
("Specialista in ...", "Odontoiatra", "Primario di ..."), a facility and a
town with its province code. After the last closing formula, the rest of the
answer (if short) is cut into segments at commas, dashes, bars, full stops
and line breaks, and each segment is read by its shape:

- a role (a word such as specialista, odontoiatra, primario, -logo, -iatra)
  stays, and so do the words after it ("Specialista in Cardiologia");
- a facility keyword (Ospedale, Clinica, Casa di cura, Centro ...) starts a
  facility, replaced whole;
- "Town (XX)" with a real province code, or a known comune, is a place;
- the first other segment made of name-like words is the person, whatever
  its case; later ones are places (a signature names one person, and a
  bare segment after the role is nearly always the town).

A segment with a function word other than a name particle ("a presto",
"e auguri di pronta guarigione") is no name, so clean sign-offs stay as
they are.
"""

from __future__ import annotations

import re
from typing import List, Optional

from presidio_analyzer import LocalRecognizer, RecognizerResult

from imb_tools.preprocess import anonymize_gazetteer as gaz
from imb_tools.preprocess.anonymize_lexicon import is_plain_word as is_word
from imb_tools.preprocess.anonymize_names import CLOSING, CLOSING_WORDS, is_role, name_listed
from imb_tools.preprocess.anonymize_places import lower_town

# "(" before a word (not a province code, "(MI)") and ")" split too: "Lucia (psicologa)"; "/" between towns.
_SEGMENT_SPLIT = re.compile(r"\s*(?:[,;|\n\u2013\u2014]|\s-\s|\s/\s|\.(?=\s|$)|[ \t]{2,}|\((?=[^\W\d_]{3})|(?<!\([A-Za-z]{2})\)(?=\s*(?:$|\n)))\s*")
# A full stop after these ends an abbreviation, not a segment: "Dott. Rossi", "U.O. di", "g. claudio".
_ABBREVIATION = re.compile(r"(?i)(?:\b(?:dott|dr|prof|sig|egr|ing|avv|ssa|psicol|odont|u\.o|u\.o\.c)|(?<![\w.])\w)$")
_ONE_TITLE = (r"(?:dottor(?:e|essa)?\b|professor(?:e|essa)?\b|dott(?:\.|or)?\s?(?:ssa|essa|sa)\b\.?|d\.\s?ssa\b\.?|dott\.?\s?re\b\.?"
              r"|dott\b\.?|dr\.?\s?ssa\b\.?|dr\b\.?|prof\.?\s?(?:ssa|essa)\b\.?|prof\.?\s?re\b\.?|prof\b\.?)")
_SENDER = re.compile(r"\s*(?:da|dal|dalla|dallo|dai|dalle)\s+(?=\S)")
_TITLE_HEAD = re.compile(rf"(?i)^(?:{_ONE_TITLE}\s*){{1,2}}")
ROLE_WORD = re.compile(
    r"(?i)(?<!\w)(?:specialist[aie]|specializzat[oa]|odontoiatr[ai]|primario|psicolog[oa]|psicoterapeuta|medico|medici|chirurg[oa]|"
    r"dirigente|responsabile|direttore|direttrice|docente|professore\s+(?:ordinario|associato)|ricercator[ea]|consulente|"
    r"\w+log[oa]|\w+iatra|fisioterapista|ostetrica|infermier[ea]|nutrizionista|dietista|farmacista|u\.?o\.?c?\.?|"
    r"libero\s+professionista|medicina|ambulatorio|reparto|divisione|dipartimento|servizio|unit[àa])(?!\w)"
)
FACILITY_HEAD = re.compile(
    r"(?i)(?<!\w)(?:ospedal[ei]|policlinico|clinica|cas[ae]\s+di\s+cura|centro|istituto|poliambulatorio|presidio|"
    r"azienda\s+(?:ospedaliera|sanitaria)|a\.?s\.?l\.?|asst|ausl|ulss|irccs|studio)(?!\w)"
)
PROVINCE = re.compile(r"\(\s*([A-Za-z]{2})\s*\)\s*$")
_NAME_WORD = re.compile(r"^(?:[^\W\d_][^\W\d_'’]*(?:['’-][^\W\d_]+)*['’]?|[^\W\d_]\.?)$")
PARTICLES = frozenset("de di del della dello dei degli delle da dal dalla d' d’ de' la lo le li van von el al ben bin ibn mac mc dos nel nella sul sulla in".split())
_DISCIPLINE = re.compile(r"(?:logia|iatria|chirurgia|terapia|medicina|ostetricia|ortopedia|andrologia)$")
MAX_TAIL = 320  # a longer rest of the answer is text, not a signature


def _stopword(word: str) -> bool:
    from spacy.lang.it.stop_words import STOP_WORDS

    return word.lower() in STOP_WORDS


def name_like(words: List[str], before_code: bool = False, town_slot: bool = False, before_role: bool = False) -> bool:
    """1-5 words that could be a name or a town: letters only, function words only as inner particles,
    after a particle ("di meglio", "de vita") or capitalized after a first word that is none ("Chignolo
    Po"); before a province code, or in Title case where a town is expected ("Ultimo", "Tre Ville"), any word.
    A surname that is also an eponym counts in a signature ("Bartolini"); "Morbo di Parkinson" does not."""
    if not 1 <= len(words) <= 5:
        return False
    # a name or town is written in one case style (Title, lower or UPPER); "Attenzione al fumo" is a sentence
    styles = {"upper" if w.isupper() else "lower" if w.islower() else "title"
              for w in words if w.lower() not in PARTICLES and not (w.endswith(".") and len(w) == 2) and len(w) > 3}
    if len(styles) > 1:
        return False
    town_slot = town_slot and styles == {"title"}
    content = [w for w in words if w.lower() not in PARTICLES and not (w.endswith(".") and len(w) == 2)]
    if styles == {"lower"} and len(content) > 1 and not before_role and all(is_word(w) and not name_listed(w) for w in content):
        return False  # "stia tranquilla", "buon proseguimento": words, not a name
    for i, w in enumerate(words):
        low = w.lower().rstrip(".")
        # "segni di", "zona di" head an eponym; "Segni", "Zone" ending a segment are towns
        eponym_head = low in gaz.EPONYM_HEADS and i < len(words) - 1 and not before_role \
            and not any(len(x) == 2 and x.endswith(".") for x in words)
        if not _NAME_WORD.match(w) or low in CLOSING_WORDS or eponym_head or _DISCIPLINE.search(low):
            return False
        if w.endswith(".") and len(w) == 2:
            continue  # an initial
        inner = 0 < i < len(words) - 1 and len(low) <= 4  # "Giffoni Sei Casali", "Corteolona e Genzone"
        after_particle = i > 0 and words[i - 1].lower() in PARTICLES
        inner = inner or before_code or town_slot or after_particle or (i > 0 and w[0].isupper())
        if _stopword(low) and not inner and not (low in PARTICLES and i < len(words) - 1):
            return False
    return True


def _words(text: str) -> List[str]:
    return text.split()


class SignatureRecognizer(LocalRecognizer):
    """Person, facility and town in the signature block after the last closing formula."""

    def __init__(self):
        super().__init__(supported_entities=["PERSON", "LOCATION", "HEALTH_FACILITY"], supported_language="it",
                         name="SignatureRecognizer")

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:  # noqa: D102
        last = None
        for last in CLOSING.finditer(text):
            pass
        if last is None or len(text) - last.end() > MAX_TAIL:
            return []
        out: List[RecognizerResult] = []
        person_done = False
        pos = last.end()
        tail = text[pos:]
        segments = _segments(tail)
        for k, (seg_start, seg_end) in enumerate(segments):
            start, end = pos + seg_start, pos + seg_end
            following = tail[segments[k + 1][0]:segments[k + 1][1]] if k + 1 < len(segments) else ""
            # a role or facility right after: this segment is the name, whatever its words
            before_role = bool(following) and (ROLE_WORD.match(following.strip()) is not None or FACILITY_HEAD.match(following.strip()) is not None
                                               or is_role(following.split()[0].strip(".,")))
            found = self._segment(text, start, end, person_done, before_role)
            for entity, s, e, score in found:
                out.append(RecognizerResult(entity, s, e, score))
                person_done = person_done or entity == "PERSON"
            if not found and ROLE_WORD.search(text[start:end]):
                person_done = True  # a role after the closing: the person, if any, came before it
        return out

    def _segment(self, text: str, start: int, end: int, person_done: bool, before_role: bool = False) -> list:
        seg = text[start:end]
        sender = _SENDER.match(seg)  # "Un saluto da Giovanni": the "da" is the sender's, not the name's
        if sender:
            start += sender.end()
            seg = text[start:end]
        head = _TITLE_HEAD.match(seg)
        titled = bool(head and head.end() > 0)
        if titled:
            start += head.end()
            seg = text[start:end]
        if not seg.strip():
            return []
        # a role or facility keyword inside the segment: what comes before it is the name / town
        role = ROLE_WORD.search(seg)
        lexical_role = next((m for m in re.finditer(r"[^\W\d_]+", seg) if is_role(m.group(0))), None)
        if lexical_role and (role is None or lexical_role.start() < role.start()):
            role = lexical_role
        fac = FACILITY_HEAD.search(seg)
        cut = min([m.start() for m in (role, fac) if m] or [len(seg)])
        found = []
        if fac:
            fac_end = _facility_end(seg, fac.start())
            if fac_end:
                found.append(("HEALTH_FACILITY", start + fac.start(), start + fac_end, 0.7))
        before = seg[:cut].rstrip(" .:-")
        if not before:
            return found
        if person_done and not titled and before.islower() and lower_town(before):
            return [("LOCATION", start, start + len(before), 0.65)] + found
        prov = PROVINCE.search(before)
        words = _words(PROVINCE.sub("", before)) if prov else _words(before)
        if prov and prov.group(1).upper() in gaz.province_codes() and name_like(words, before_code=True):
            return [("LOCATION", start, start + len(before), 0.75)] + found
        if not name_like(words, town_slot=person_done and not titled, before_role=before_role or cut < len(seg)) or person_done and not titled and words[0] in ("di", "del", "della", "in"):
            return found
        low = " ".join(words).lower()
        if titled or not person_done:
            if low in gaz.towns() and not titled and person_done:
                return [("LOCATION", start, start + len(before), 0.7)] + found
            return [("PERSON", start, start + len(before), 0.75)] + found
        return [("LOCATION", start, start + len(before), 0.65)] + found


def signature_start(text: str) -> int | None:
    """Where the signature block starts (the end of the last closing formula), if the answer has one."""
    last = None
    for last in CLOSING.finditer(text):
        pass
    if last is None or len(text) - last.end() > MAX_TAIL:
        return None
    return last.start()


def _segments(tail: str) -> List[tuple[int, int]]:
    """(start, end) of the pieces of a signature, separators left out."""
    spans, pos = [], 0
    for m in _SEGMENT_SPLIT.finditer(tail):
        if "." in m.group(0) and not any(c in m.group(0) for c in ",;|\n\u2013\u2014") and _ABBREVIATION.search(tail[:m.start()]):
            continue
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < len(tail):
        spans.append((pos, len(tail)))
    return [(s, e) for s, e in spans if tail[s:e].strip()]


def _facility_end(seg: str, start: int) -> Optional[int]:
    """A facility in a signature runs to the end of its segment; a bare keyword is no facility."""
    rest = seg[start:].rstrip(" .")
    if rest.endswith(")") and rest.count(")") > rest.count("("):
        rest = rest[:-1].rstrip(" .")  # "(Senologia, Policlinico Gemelli Roma)": the parenthesis stays
    words = rest.split()
    named = [w for w in words[1:] if w.lower() not in _FACILITY_GENERIC]
    if not named:
        return None  # "studio", "centro medico", "casa di cura": no proper name
    if not any(w[0].isupper() or w[0] in "\"«" for w in words[1:]) and not (rest.islower() and name_like(named)):
        return None  # "centro di riferimento": lower case in mixed-case text is no name
    return start + len(rest)


# Words of a facility's kind, not of its name.
_FACILITY_GENERIC = frozenset(
    """di del della dello dei degli delle d' e in al cura medico medica diagnostico clinico clinica
    specialistico polispecialistico privato privata convenzionato convenzionata odontoiatrico dentistico
    ospedaliero ospedaliera universitario universitaria riferimento""".split()
)
