"""Towns and places anywhere in an answer, and the place policy that says which may stay.

Default policy ("replace"), as the published data: every town or place is
replaced, except inside a disease or eponym name ("febbre del Nilo",
"malattia di Lyme"). A town is found by the place it takes in the
sentence (after "a", "in", "da", "provincia di", "ospedale di", "la
Neurochirurgia di", at the head of a dateline, beside a name) or because
it is a known comune; the lexicon keeps ordinary words out, and countries
and continents, which identify nobody, stay.

Policy "care" (the paper's stated rule that a hospital's town may stay):
a town is kept where the sentence sends the patient for care ("a Bologna
troverà un centro", "la Neurochirurgia di Bari"), but never in a
signature, a dateline, beside a person's name or a title, or where it
says where someone lives or works.
"""

from __future__ import annotations

import re
from typing import List

from presidio_analyzer import LocalRecognizer, RecognizerResult

from imb_tools.preprocess import anonymize_gazetteer as gaz
from imb_tools.preprocess.anonymize_lexicon import is_attested, is_plain_word, is_word
from imb_tools.preprocess.anonymize_names import is_role, is_specialty, name_listed, role_tokens

UPPER = "A-ZÀ-ÖØ-Þ"
_CAP_WORD = rf"(?:[{UPPER}][\w'’]*(?:-[{UPPER}][\w'’]*)*|[{UPPER}]{{2,}})"
_LINK = (r"(?:(?i:di|del|della|dello|dei|degli|delle|de['’]?|d['’]|dell['’]|dall['’]|dal|da|sul|sulla|sullo|sull['’]|su|in|"
         r"nel|nella|ne['’]|al|all['’]|a|e|ed|con|il|lo|la|sopra|sotto|San|Santa|Sant['’])|S\.)")
_CAP_RUN = rf"{_CAP_WORD}(?:(?:[ \t]+|(?<=['’])){_LINK}?(?:[ \t]*|(?<=['’])){_CAP_WORD}){{0,3}}"
_LOW_WORD = r"[a-zà-ÿ][a-zà-ÿ'’-]{3,}"
_LOW_RUN = rf"{_LOW_WORD}(?:[ \t]+(?:(?:di|del|della|dello|sul|sulla|in|nel|e|al|a)[ \t]+|d['’]|dell['’])?{_LOW_WORD}){{0,3}}"
# Words that begin Italian place names: "San Giorgio", "Monte Vidon", "Pieve del Grappa", "Borgo San Giacomo".
TOPONYM_HEADS = frozenset("""san santa santo sant santi sante monte monti castel castello castelnuovo borgo pieve villa porto
    rocca torre colle poggio ponte fiume valle casal isola marina lido bagni terme capo motta cascina""".split())

# Countries, continents and big areas: they identify nobody and stay.
_NOT_IDENTIFYING = frozenset(
    """italia europa africa asia america americhe oceania australia cina giappone india germania francia spagna
    inghilterra regno unito stati uniti usa svizzera austria grecia portogallo olanda belgio russia brasile
    argentina canada messico egitto marocco albania romania polonia ucraina turchia israele mediterraneo
    nord sud est ovest occidente oriente""".split()
)
# Heads after which "di X" is a place: territory words, hospitals and universities, and any specialty
# ("la Neurochirurgia di Bari", "la Cardiologia dell'ospedale di Lecce").
_TERRITORY = (r"(?i:provincia|province|comune|città|paese|zona|zone|territorio|area|frazione|ospedale|ospedali|"
              r"policlinico|clinica|università|ateneo|asl|ausl|asp|ats|asst|ulss|usl|ircss|irccs|sede|sedi|"
              r"dintorni|vicinanze|periferia|centro\s+storico)")
_GO = r"(?i:\b(?:a|ad|in|da)\b)"


def lower_town(value: str) -> bool:
    """A lower-case run that is a town: one token no Italian text holds ("verrua po"), or a toponym head
    before words that are not all Italian words ("santi cosma e damiano", "san paolo d'argon")."""
    words = re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)?", value)
    if not words or words[0] in gaz.LOWER_NOT_NAMES:
        return False
    if any(len(w) >= 4 and not is_attested(w) for w in words):
        return True
    return words[0].strip("'’") in TOPONYM_HEADS and len(words) > 1 and any(not is_word(w) for w in words[1:])


def _place_ok(text: str, start: int, end: int, strong: bool) -> bool:
    """A capitalized run is a place unless it is a country, a person's name, a role, an eponym or (weak cue)
    an ordinary word."""
    value = text[start:end]
    low = value.lower()
    words = value.split()
    if low in _NOT_IDENTIFYING or any(w.lower() in _NOT_IDENTIFYING for w in words[:1]):
        return False
    if is_role(words[0]) or gaz.is_eponym(text, start, end):
        return False
    if low in gaz.towns():
        return True
    if strong:
        return True
    # weak cue ("a X"): the first word must be no Italian word and no known first name
    first = words[0].strip("'’")
    toponym = first.lower() in TOPONYM_HEADS and len(words) > 1 and words[-1][:1].isupper()
    if is_plain_word(first) and not toponym and not (len(words) > 1 and any(not is_plain_word(w) for w in words[1:])):
        return False
    return not (name_listed(first) and first.lower() in gaz.person_names()[0])


_SENTENCE_START = re.compile(r"(?:^|[.!?:\n]\s*|[\"“(]\s*)$")


class PlaceRecognizer(LocalRecognizer):
    """Towns by their place in the sentence, datelines, and known comuni anywhere."""

    _strong = re.compile(rf"\b{_TERRITORY}[ \t]+(?:(?:di|de|del|della)[ \t]+|d['’]|dell['’])(?P<pii>{_CAP_RUN}|{_LOW_RUN})(?![\w'’])")
    _specialty_of = re.compile(rf"(?P<head>[{UPPER}][\w]+|[a-z]\w+logia|[a-z]\w+iatria)[ \t]+(?:di|dell['’]ospedale[ \t]+di|del[ \t]+policlinico[ \t]+di)[ \t]+(?P<pii>{_CAP_RUN}|{_LOW_RUN})(?![\w'’])")
    # beside a name or a role in a signature: "(cardiologo, Milano)", "Rossi - MILANO", "Odontoiatra, Lecce"
    _beside_role = re.compile(rf"(?P<role>)(?:[ \t]*[,–-][ \t]*|[ \t]+)(?P<pii>{_CAP_RUN})[ \t]*(?=[)\n]|$)")
    _go = re.compile(rf"{_GO}[ \t]+(?P<pii>{_CAP_RUN})")
    _go_lower = re.compile(rf"{_GO}[ \t]+(?P<pii>{_LOW_RUN})(?![\w'’])(?=\s*(?:[,.;:!?)\n]|$|(?:c['’]è|ci\s+sono|troverà|dove|ha|non|sia|è|e|per|il|la)\b))")
    _go_any_lower = re.compile(rf"{_GO}[ \t]+(?P<pii>{_LOW_WORD})(?![\w'’])")
    _dateline = re.compile(
        rf"(?:^|(?<=\n))[ \t]*(?P<pii>{_CAP_RUN})[ \t]*,?[ \t]*(?:l[iì]\.?[ \t]*,?[ \t]*)?"
        rf"(?=\d{{1,2}}[ \t]*(?:[/.-][ \t]*\d{{1,2}}[ \t]*[/.-][ \t]*\d{{2,4}}|[ \t]+(?i:gennaio|febbraio|marzo|aprile|maggio|giugno|"
        rf"luglio|agosto|settembre|ottobre|novembre|dicembre)))"
    )
    # matched right after a role word
    _after_role_phrase = re.compile(
        rf"(?P<phrase>(?:[ \t]+(?:in|di|del|dello|della|e|[^\W\d_]+)){{0,4}}?)[ \t]*(?:[,;|–-]|\n)[ \t\n]*"
        rf"(?P<pii>{_CAP_RUN})[ \t]*(?=[)\n]|$)"
    )
    _known = re.compile(rf"(?<![\w'’.])(?P<pii>{_CAP_RUN})")

    def __init__(self):
        super().__init__(supported_entities=["LOCATION"], supported_language="it", name="TownRecognizer")

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:  # noqa: D102
        out = []
        seen = set()

        def add(start, end, score):
            start, end = _trim(text, start, end)
            if end > start and (start, end) not in seen:
                seen.add((start, end))
                out.append(RecognizerResult("LOCATION", start, end, score))

        for m in self._strong.finditer(text):
            s, e = m.span("pii")
            if text[s:e].islower() and text[s:e] not in gaz.towns():
                ends = re.match(r"\s*(?:[,.;:!?)\n]|$)", text[e:e + 2]) is not None
                if not lower_town(text[s:e]) and not (ends and any(not is_plain_word(w) for w in text[s:e].split())):
                    continue
            if _place_ok(text, s, e, strong=True):
                add(s, e, 0.7)
        for m in self._specialty_of.finditer(text):
            if is_specialty(m.group("head")) or m.group("head").lower() in ("reparto", "divisione", "dipartimento"):
                s, e = m.span("pii")
                if text[s:e].islower() and is_attested(text[s:e].split()[0]) and text[s:e] not in gaz.towns():
                    continue
                if _place_ok(text, s, e, strong=False):
                    add(s, e, 0.7)
        roles = role_tokens(text)
        for m in filter(None, (self._after_role_phrase.match(text, re_) for _, re_ in roles)):
            s, e = m.span("pii")
            value = text[s:e]
            first = value.split()[0]
            if is_role(first) or is_role(value.split()[-1]) or any(is_role(w) for w in value.split()):
                continue
            if value.isupper() or not is_plain_word(first) or any(not is_plain_word(w) for w in value.split()[1:]) \
                    or value.lower() in gaz.towns():
                if _place_ok(text, s, e, strong=True):
                    add(s, e, 0.6)
        for m in filter(None, (self._beside_role.match(text, re_) for _, re_ in roles)):
            if True:
                s, e = m.span("pii")
                spaced = not text[m.end("role"):s].strip()  # "Cardiochirurgo Kiens": no comma, so no Italian word
                head = text[s:e].split()
                if spaced and (is_role(head[-1]) or is_word(head[0]) and not (head[0].lower() in TOPONYM_HEADS and len(head) > 1)):
                    continue
                if _place_ok(text, s, e, strong=True):
                    add(s, e, 0.65)
        for m in self._go.finditer(text):
            s, e = m.span("pii")
            if _place_ok(text, s, e, strong=False):
                add(s, e, 0.6)
        for m in self._go_any_lower.finditer(text):  # "vive a lagonegro": a token no subtitle ever held
            s, e = m.span("pii")
            if len(text[s:e]) >= 5 and not is_attested(text[s:e]) and not gaz.is_eponym(text, s, e):
                add(s, e, 0.55)
        for m in self._go_lower.finditer(text):
            s, e = m.span("pii")
            if text[s:e].lower() in gaz.towns() or lower_town(text[s:e]):
                add(s, e, 0.55)
        for m in self._dateline.finditer(text):
            s, e = m.span("pii")
            if _place_ok(text, s, e, strong=True):
                add(s, e, 0.7)
        for m in self._known.finditer(text):
            s, e = m.span("pii")
            value = text[s:e]
            if value.lower() in gaz.towns() and not is_word(value.split()[0]) and not name_listed(value.split()[0]) \
                    and not _SENTENCE_START.search(text[max(0, s - 3):s]) and not gaz.is_eponym(text, s, e):
                add(s, e, 0.5)
        return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop trailing link words the run swallowed ("Bari e", "Lecce di") and a trailing role word."""
    words = list(re.finditer(r"\S+", text[start:end]))
    while words and (re.fullmatch(_LINK, words[-1].group(0)) or is_role(words[-1].group(0))):
        words.pop()
    if not words:
        return start, start
    return start, start + words[-1].end()


# ---------------------------------------------------------------- policy "care"
_CARE = re.compile(
    r"(?i)\b(?:trover[àa]|rivolg\w*|farsi\s+(?:vedere|visitare|seguire|operare)|si\s+faccia\s+(?:vedere|visitare)|"
    r"seconda\s+opinione|centr[oi]|ospedal[ei]|repart[oi]|clinic[ah]e?|ambulator\w+|policlinico|collegh[ie]|"
    r"specialist\w*|struttur\w+|spostarsi|andare|vada|recarsi|si\s+rechi|prenot\w+|percorso|\w+logia|\w+iatria|\w+chirurgia)\b"
)
_NOT_CARE = re.compile(
    r"(?i)\b(?:viv[oeiaì]\w*|abit\w+|resident\w*|residenza|nat[oaie]|sono\s+di|è\s+di|ricev\w+|visito|il\s+mio\s+studio|"
    r"studio\s+a|lavoro\s+(?:a|in|presso)|opero|esercito|scomodo|dott\.?|dr\.?|prof\.?|sig\.?)\b"
)


_AFTER_NAME = re.compile(rf"[ \t]*[-–|/,][ \t]*(?P<pii>[{UPPER}]{{2,}}(?:[ \t]+[{UPPER}'’]{{2,}}){{0,3}}|{_CAP_RUN})[ \t]*(?=[,.;)\n]|$)")


def places_beside_names(text: str, spans: list) -> list[tuple[int, int]]:
    """(start, end) of towns right after a found name in a signature: "[NOME] - MILANO", "[NOME], Lecce"."""
    out = []
    for span in spans:
        if span.entity != "PERSON":
            continue
        m = _AFTER_NAME.match(text, span.end)
        if not m:
            continue
        s, e = m.span("pii")
        value = text[s:e]
        first = value.split()[0]
        if is_role(first) or value.lower() in _NOT_IDENTIFYING or name_listed(first) or gaz.is_eponym(text, s, e):
            continue
        if value.isupper() or not is_word(first) or value.lower() in gaz.towns():
            out.append((s, e))
    return out


def keep_for_care(text: str, spans: list, signature_start: int | None) -> list:
    """Under the "care" policy: the spans to replace, once the towns a patient is sent to for care are let stay."""
    people = [s for s in spans if s.entity == "PERSON"]
    out = []
    for span in spans:
        if span.entity != "LOCATION" or (signature_start is not None and span.start >= signature_start):
            out.append(span)
            continue
        line_start = text.rfind("\n", 0, span.start) + 1
        line_end = text.find("\n", span.end)
        line_end = len(text) if line_end < 0 else line_end
        sent_start = max(line_start, max(text.rfind(p, 0, span.start) for p in (". ", "! ", "? ")) + 2)
        ends = [i for i in (text.find(p, span.end) for p in (". ", "! ", "? ")) if i >= 0]
        sent_end = min([line_end] + ends)
        sentence = text[sent_start:sent_end]
        dateline = re.match(r"\s*[,]?\s*(?:l[iì]\.?\s*,?\s*)?\d", text[span.end:span.end + 8]) and not text[line_start:span.start].strip()
        beside_name = any(p.start < sent_end and p.end > sent_start for p in people)
        if _CARE.search(sentence) and not _NOT_CARE.search(sentence) and not dateline and not beside_name:
            continue  # a town where the patient is sent for care: kept
        out.append(span)
    return out
