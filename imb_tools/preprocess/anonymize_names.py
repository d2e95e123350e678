"""Names where names live: in greetings, before a profession, beside a name already found.

A token in these positions is a name when a name list holds it or when it
is no Italian word (`anonymize_lexicon`), whatever its case; a profession
or specialty ("Odontoiatra", "Psichiatria", "Specialista in Ortodonzia")
is never a name nor a place, and the words right before it are a
signature. Greetings keep their noun when it addresses nobody by name
("Gentile signora", "Cara amica", "Gent.mo utente") and lose it when it
is a name ("Gentile Federica", "cara giulia").
"""

from __future__ import annotations

import functools
import re
from typing import List

from presidio_analyzer import LocalRecognizer, RecognizerResult

from imb_tools.preprocess import anonymize_gazetteer as gaz
from imb_tools.preprocess.anonymize_lexicon import is_plain_word as is_word

# ---------------------------------------------------------------- professions and specialties
# Italian word formation: -logo (cardiologo), -iatra (pediatra), -chirurgo, -terapeuta, -ista
# (dentista, nutrizionista), -pata (osteopata); specialties in -logia, -iatria, -chirurgia, -terapia.
_PROFESSION = re.compile(
    r"(?i)^(?:\w*log[oaie]|\w*logh[ei]|\w*iatr[aie]|\w*chirurg[oaih]\w?|\w*terapeut[aie]|\w*(?:osteo|omeo|naturo|neuro)pat[aie]|"
    r"(?:dent|ocul|intern|anestes|nutrizion|farmac|special|fisioterap|logoped|ortott|igien|endoscop|ecograf|ortodont|diet|"
    r"audioprotes|estet|implantolog|parodont|gnatolog|analist|posturolog|chiroprat|kinesiolog|sessuolog|massofisioterap|"
    r"podolog|odontoiatr|ostetr|radiolog|ematolog)ist[aie]|"
    r"medic[oaie]|medich[ei]|specialist[aie]|specializzat[oaie]|specializzand[oaie]|ostetric[oaih]e?|infermier[aei]|"
    r"primario|primaria|dirigente|direttore|direttrice|responsabile|docente|ricercat(?:ore|rice)|consulente|tecnic[oaih]e?|"
    r"odontotecnic[oa]|veterinari[oa]|ortopedic[oaih]e?|professore|professoressa|biolog[oa]|psicolog[oa]|farmacist[aie])$"
)
_NOT_PROFESSION = frozenset(
    """lista liste vista viste pista piste rivista riviste intervista conquista svista artista artisti turista turisti
    logo dialogo dialoghi catalogo analogo analoga prologo epilogo omologo omologa ideologo
    logica logico ortodontista""".split()
) - {"ortodontista"}
_SPECIALTY = re.compile(
    r"(?i)^(?:\w*logia|\w*iatria|\w*chirurgia|\w*terapia|ortodonzia|odontoiatria|ostetricia|"
    r"pediatria|ortopedia|medicina|chirurgia|anestesia|anestesiologia|rianimazione|senologia|andrologia|nutrizione|"
    r"riabilitazione|logopedia|ortottica|implantologia|parodontologia|gnatologia|protesi|venereologia|"
    r"traumatologia|neurofisiopatologia|psicoterapia|psicologia|sessuologia|oncologia|ematologia|igiene)$"
)


_WORD4 = re.compile(r"[^\W\d_]{4,}")


@functools.lru_cache(maxsize=8)
def role_tokens(text: str) -> tuple:
    """(start, end) of the profession and specialty words of `text` (asked by two recognizers: cached)."""
    return tuple((m.start(), m.end()) for m in _WORD4.finditer(text) if is_role(m.group(0)))


@functools.lru_cache(maxsize=20000)
def is_profession(word: str) -> bool:
    """Odontoiatra, Cardiochirurgo, Nutrizionista, medico, Primario..."""
    low = word.lower().strip(".,;:")
    return low not in _NOT_PROFESSION and bool(_PROFESSION.match(low))


@functools.lru_cache(maxsize=20000)
def is_specialty(word: str) -> bool:
    """Psichiatria, Ortodonzia, Dermatologia, Medicina..."""
    return bool(_SPECIALTY.match(word.lower().strip(".,;:")))


def is_role(word: str) -> bool:
    return is_profession(word) or is_specialty(word)


# ---------------------------------------------------------------- what a token is
_PARTICLES = frozenset("de di del della dello dei degli da dal dalla la lo li le van von d' d’ dell' dell’".split())
_TITLE_WORDS = frozenset("""dott dr prof ssa sa re sig sigra gent gentile egr egregio egregia ill avv ing dottor dottore
    dottoressa professor professore professoressa signor signora signore signorina cara caro cari care carissima
    carissimo gentilissima gentilissimo gentili salve buongiorno buonasera ciao""".split())
_ELIDED = re.compile(r"(?i)^(?:l|un|nell|all|dall|sull|quest|quell|c|n|s|m|t|v|gl)['’]")  # "L'ernia", "un'altra"
_INITIAL = re.compile(r"^(?:[A-ZÀ-Þa-zà-ÿ]\.){1,3}$")


def name_listed(word: str) -> bool:
    first, last = gaz.person_names()
    low = word.lower().strip(".,'’")
    return low in first or low in last


def name_token(word: str, strong: bool = False) -> bool:
    """A token that can be part of a name here: an initial, a listed name, or a token that is no Italian word.
    `strong` (right after a title or a closing formula): any word but a function word or a role."""
    w = word.strip(",;:")
    if not w or not re.match(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*$|^(?:[^\W\d_]\.){1,3}$", w):
        return False
    if _INITIAL.match(w):
        return True
    if _ELIDED.match(w):
        return False
    low = w.lower().rstrip(".")
    from spacy.lang.it.stop_words import STOP_WORDS

    if is_role(w) or low in gaz.EPONYMS:
        return False
    if low in STOP_WORDS and not name_listed(low):
        return False
    if strong:
        return True
    return name_listed(w) or not is_word(w)


# ---------------------------------------------------------------- greetings
_OPENER = (r"(?i:gentil(?:e|issim[oaie]|i)|gent\.?\s?(?:mo|ma|mi|me|le)\b\.?|gent\.|car[oaie]|carissim[oaie]|"
           r"egregi[oa]|spett\.?(?:le)?|salve|buongiorno|buonasera|buon\s+giorno|ciao)")
# Nouns and titles that address someone without naming them: after them a name may follow ("signora Maria").
_ADDRESSEE = frozenset(
    """utente utenti paziente pazienti signora signore signor signorina signori sig sig. sig.ra sig.ra. sigra sig.na
    dottore dottoressa dott dott. dottor dr dr. prof prof. professore professoressa amico amica amici amiche collega
    colleghi colleghe lettore lettrice lettori ragazzo ragazza ragazzi ragazze mamma mamme papà papa genitori
    tutti tutte donna uomo giovane giovani coppia famiglia cliente sposa futura futuro figlio figlia nonno nonna
    zio zia sorella fratello mamme signorine anonimo anonima forum""".split()
)
# Person nouns by their ending: richiedente, gestante, interlocutore, lettrice, sposina, giovanotto...
_PERSON_NOUN = re.compile(r"(?:ente|enti|ante|anti|tore|tori|trice|trici|ista|isti|iste|olog[oaie]|iatr[aie]|in[oaie]|"
                          r"ott[oaie]|ett[oaie]|ell[oaie]|essa|esse|ier[ea])$")
_WORD_RUN = re.compile(r"[^\W\d_]+(?:[.'’-][^\W\d_]+)*\.?")


def _addressee(word: str) -> bool:
    low = word.lower()
    return low in _ADDRESSEE or low.rstrip(".") in _ADDRESSEE or bool(re.match(r"(?i)^sig\.\w*$", word))


class GreetingNameRecognizer(LocalRecognizer):
    """"Gentile Federica,", "Cara giulia", "Gentile signora Maria:" -> the name; "Gentile signora," stays."""

    _greeting = re.compile(rf"(?:^|(?<=[\n.!?]))[ \t\"“]*{_OPENER}(?P<rest>[ \t]+(?:[^\n,!:;?.]|\.(?!\s)){{1,60}}\.?)")

    def __init__(self):
        super().__init__(supported_entities=["PERSON"], supported_language="it", name="GreetingNameRecognizer")

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:  # noqa: D102
        out = []
        for m in self._greeting.finditer(text):
            base = m.start("rest")
            tokens = [(base + t.start(), base + t.end(), t.group(0)) for t in _WORD_RUN.finditer(m.group("rest"))]
            # the greeting's words are the run right after the opener: stop at the first gap that is not a space
            run = []
            prev_end = base
            for s, e, w in tokens:
                if text[prev_end:s].strip():
                    break
                run.append((s, e, w))
                prev_end = e
            start = end = None
            after_addressee = False
            for i, (s, e, w) in enumerate(run[:5]):
                low = w.lower()
                if _addressee(w):
                    if start is not None:
                        break
                    after_addressee = True
                    continue
                capital = w[:1].isupper()
                listed = name_listed(w)
                word = is_word(w)
                from spacy.lang.it.stop_words import STOP_WORDS

                if low in STOP_WORDS and not listed or is_role(w) or low in gaz.EPONYMS:
                    break
                # a lone word that ends the greeting ("Salve luciano!") and names no kind of person is a name,
                # in any case; nouns of persons keep their place ("Gentile interlocutore", "Cara sposina")
                ends = re.match(r"\s*[,!:;\n]|\s*$|[ \t]+[A-ZÀ-Þ]", text[e:e + 3]) is not None
                if _ELIDED.match(w):
                    break
                if listed or not word or (capital and (after_addressee or i == 0) and start is None) \
                        or (ends and len(w) > 2 and not _PERSON_NOUN.search(low)):
                    start = s if start is None else start
                    end = e
                    continue
                break
            if start is None:
                continue
            # a name is what ends the greeting: followed by punctuation, a line end or a function word
            tail = text[end:end + 12]
            if tail and not re.match(r"^\s*(?:[,!:;.?\n]|$|(?i:e|ed|il|la|le|lo|i|gli|ho|mi|sono|grazie)\b|[A-ZÀ-Þ])", tail):
                continue
            if gaz.is_eponym(text, start, end):
                continue
            out.append(RecognizerResult("PERSON", start, end, 0.75))
        return out


# ---------------------------------------------------------------- sign-offs
# A closing formula (a signature follows it) and the words that end one, never a name: shared by
# the signature and place recognizers.
CLOSING = re.compile(
    r"(?i)(?<!\w)(?:(?:(?:un|uno|i\s+miei|tanti|molti|cari|cordiali|distinti|affettuosi|sinceri|con\s+i\s+migliori|migliori)\s+)?"
    r"(?:(?:caro|cordiale|affettuoso|caloroso|grande)\s+)?(?:saluti|saluto|auguri|abbraccio)"
    r"(?:\s+(?:cordiali|cordiale|affettuosi|affettuoso|vivissimi|sinceri|di\s+(?:pronta|buona)\s+guarigione))?"
    r"|cordialità|cordialmente|arrivederci|a\s+presto|ciao(?=\s*[.,!\n])"
    r"|buon[ae]?\s+(?:giornata|serata|fortuna|guarigione|continuazione|notte|domenica|lavoro|fine\s+settimana)"
    r"|in\s+bocca\s+al\s+lupo"
    r"|(?:resto|rimango|restiamo|rimaniamo)\s+a\s+(?:(?:sua|vostra|tua)\s+)?(?:completa\s+)?disposizione"
    r"(?:\s+per\s+(?:ulteriori\s+|eventuali\s+|altri\s+)?(?:chiarimenti|informazioni|domande|dubbi))?(?:\.\s*saluti)?"
    r"|le\s+auguro\s+(?:ogni\s+bene|il\s+meglio|una\s+pronta\s+guarigione|buona\s+fortuna)"
    r"|grazie\s+a\s+lei|grazie(?:\s+(?:mille|ancora|tante|infinite|di\s+cuore))?(?=\s*[.,!\n]))"
    r"(?:\s+e\s+(?:auguri|buona\s+(?:giornata|serata|fortuna)|in\s+bocca\s+al\s+lupo|a\s+presto)(?:\s+di\s+pronta\s+guarigione)?)?(?!\w)"
)
# Words that end a sign-off, never a name.
CLOSING_WORDS = frozenset(
    """auguri guarigione giornata serata presto fortuna lupo saluti saluto cordiali cordialmente distinti grazie
    disposizione attesa risposta buona buon tanti tante auguro spero resto
    tel telefono cell cellulare fax email mail pec www sito web whatsapp orari orario""".split()
)

# ---------------------------------------------------------------- names before a profession
_CLOSING_END = re.compile(r"(?i)(?:saluti|saluto|cordialità|cordialmente|auguri|arrivederci|presto|giornata|serata|fortuna|"
                          r"lupo|disposizione|abbraccio|lei|grazie|guarigione|bene)$")


class ProfessionNameRecognizer(LocalRecognizer):
    """Words right before a profession or specialty on the same line are a signature:
    "marco ferretti Odontoiatra", "Gianni Bellotti Psichiatria", "G.M. Rossi Bianchi Cardiochirurgo"."""

    _token = re.compile(r"(?:[^\W\d_]\.){1,3}|[^\W\d_]+(?:['’-][^\W\d_]+)*")

    def __init__(self):
        super().__init__(supported_entities=["PERSON"], supported_language="it", name="ProfessionNameRecognizer")

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:  # noqa: D102
        out = []
        roles = role_tokens(text)
        if not roles:
            return out
        tokens = [(m.start(), m.end(), m.group(0)) for m in self._token.finditer(text)]
        index = {t[0]: k for k, t in enumerate(tokens)}
        for rs, _ in roles:
            k = index.get(rs)
            if not k:
                continue
            s, e, w = tokens[k]
            if is_role(tokens[k - 1][2]):
                continue  # "Biologo Nutrizionista": the run before the first role word counts
            run = []
            j = k - 1
            while j >= 0 and len(run) < 5:
                ps, pe, pw = tokens[j]
                gap = text[pe:(run[0][0] if run else s)]
                if gap.strip() or "\n" in gap:
                    break
                if not (name_token(pw, strong=True) or pw.lower() in _PARTICLES and run):
                    break
                if pw.lower() in _TITLE_WORDS or ps and text[ps - 1] == ".":
                    break  # "Dott.ssa Olimpia ...": the title's tail ("ssa", "re") is no name
                run.insert(0, tokens[j])
                j -= 1
            while run and run[0][2].lower() in _PARTICLES:
                run.pop(0)
            if not run:
                continue
            # what comes before the run: a line start, a punctuation mark or a closing; never a function word
            lead = text[:run[0][0]].rstrip(" \t")
            after_closing = _CLOSING_END.search(lead[-40:].rstrip(".,;:!\n -–")) is not None
            if lead and lead[-1].isalpha() and not after_closing:
                continue
            # the run is a name when a list holds one of its words, one is no Italian word, or a closing precedes it
            line_head = not lead or lead.endswith("\n")
            # "Franca Maggio Odontoiatra", "rosario fiorentini Flebologo" on a line of their own
            titled_line = line_head and (all(w[:1].isupper() for _, _, w in run) or len(run) >= 2 and all(w.islower() for _, _, w in run))
            if not after_closing and not titled_line and not any(_INITIAL.match(w) or name_listed(w) or not is_word(w) for _, _, w in run):
                continue
            if any(gaz.is_eponym(text, ts, te) for ts, te, _ in run):
                continue
            out.append(RecognizerResult("PERSON", run[0][0], run[-1][1], 0.7))
        return out


# ---------------------------------------------------------------- whole names


def widen_names(text: str, spans: list) -> list:
    """A found name takes its neighbours that are names too: "Gianni [Bellotti]" -> "[Gianni Bellotti]",
    "[G.M.] Rossi Bianchi", particles inside ("Maria [De Santis]"). Spans are dataclasses with start and end."""
    import dataclasses

    out = []
    for span in spans:
        if span.entity != "PERSON":
            out.append(span)
            continue
        start, end = span.start, span.end
        lower = text[start:end].islower()
        for _ in range(3):  # left: initials, listed or unknown words, particles; spaces only between
            m = re.search(r"(?<![^\W\d_.])((?:[^\W\d_]\.){1,3}|[^\W\d_]+(?:['’-][^\W\d_]+)*)[ \t]*$", text[max(0, start - 40):start])
            if not m or m.end() != len(text[max(0, start - 40):start]):
                break
            w = m.group(1)
            attached = m.start(1) > 0 and text[max(0, start - 40):start][m.start(1) - 1] == "."  # "d.ssa", "Dott.re"
            if attached or w.lower().rstrip(".") in _TITLE_WORDS:
                break
            if not (_INITIAL.match(w) or w.lower() in _PARTICLES and w[:1].isupper()
                    or name_token(w) and (name_listed(w) or not is_word(w)) and (w[:1].isupper() or lower)):
                break
            start = start - (len(text[max(0, start - 40):start]) - m.start(1))
        for _ in range(3):  # right: listed surnames or unknown capitalized words
            m = re.match(r"[ \t]+((?:[^\W\d_]\.){1,3}|[^\W\d_]+(?:['’-][^\W\d_]+)*)", text[end:end + 40])
            if not m:
                break
            w = m.group(1)
            nxt = re.match(r"[ \t]+([^\W\d_]+(?:['’-][^\W\d_]+)*)", text[end + m.end():end + m.end() + 40])
            particle = w.lower() in _PARTICLES and nxt and nxt.group(1)[:1].isupper() and name_token(nxt.group(1))
            if particle:
                end = end + m.end() + nxt.end()
                continue
            if not ((w[:1].isupper() or lower) and name_token(w) and (name_listed(w) or not is_word(w))):
                break
            end += m.end()
        if gaz.is_eponym(text, start, end):
            out.append(span)
        else:
            out.append(dataclasses.replace(span, start=start, end=end))
    return out


# ---------------------------------------------------------------- names after a relation or in a self-introduction
# "mia figlia Aurora", "mio padre Giovanni", "il mio compagno Gavino", "Mamma di Aurora", "sono Chiara, ho 22 anni":
# a name position like a title's; the word is decided as in other name positions.
_RELATION = (r"figli[oa]|padre|madre|marito|moglie|compagn[oa]|fidanzat[oa]|fratello|sorella|nonn[oa]|zi[oa]|nipote|"
             r"cugin[oa]|bambin[oa]|piccol[oa]|ragazz[oa]|amic[oa]|suocer[oa]|cognat[oa]|gemell[oa]|primogenit[oa]|"
             r"figliolett[oa]|bimb[oa]|mamma|papà|papa|partner")
_RELATION_NAME = re.compile(
    r"(?:(?<![\w'’])(?i:mi[oa]|tu[oa]|su[oa]|nostr[oa]|vostr[oa])[ \t]+(?:(?i:" + _RELATION + r"|"
    r"figli|bambini|ragazzi|gemelli)[ \t]+(?:(?i:maggiore|minore|piccol[oa]|grande|più\s+piccol[oa]|più\s+grande)[ \t]+)?)"
    r"|(?<![\w'’])(?i:mamma|madre|papà|papa|padre|nonn[oa]|zi[oa])[ \t]+(?i:di)[ \t]+"
    r"|(?:^|(?<=[\n.!?,;:]))[ \t]*(?i:(?:io\s+)?sono|(?:ciao|salve|buongiorno|buonasera)[ \t,]+sono)[ \t]+)"
    r"(?P<name>[^\W\d_]+(?:['’-][^\W\d_]+)?)"
)


class RelationNameRecognizer(LocalRecognizer):
    """A capitalized name right after a possessive and a relation noun, after "mamma di", or introducing
    oneself ("sono Chiara,"); in lower case only a listed name or a token no Italian word."""

    def __init__(self):
        super().__init__(supported_entities=["PERSON"], supported_language="it", name="RelationNameRecognizer")

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:  # noqa: D102
        from spacy.lang.it.stop_words import STOP_WORDS

        from imb_tools.preprocess.anonymize_lexicon import zipf

        out = []
        for m in _RELATION_NAME.finditer(text):
            s, e = m.span("name")
            w = m.group("name")
            low = w.lower()
            intro = m.group(0)[:s - m.start()].strip(" \t\n.!?,;:").lower().endswith("sono")
            if low in STOP_WORDS and not name_listed(w) or is_role(w) or low in gaz.EPONYMS or low in _ADDRESSEE \
                    or low in gaz.towns() or _ELIDED.match(w) or gaz.is_eponym(text, s, e):
                continue
            if intro:
                # "sono Chiara, ho 22 anni": a capitalized name that ends its clause; "sono Preoccupata" is no name
                if not w[:1].isupper() or w.isupper() or not re.match(r"[ \t]*(?:[,.!;:\n]|$|e\b|ed\b|ho\b|di\b|da\b)", text[e:e + 4]):
                    continue
                if is_word(w) and not name_listed(w) and zipf(low) >= 4.5:
                    continue
            elif w[:1].isupper() and not w.isupper():
                if is_word(w) and not name_listed(w) and zipf(low) >= 5.5:
                    continue  # "mio padre Non ...": a frequent word capitalized by mistake
            elif not (name_listed(w) and not is_word(w) or not is_word(w) and len(w) > 3):
                continue
            out.append(RecognizerResult("PERSON", s, e, 0.7))
        return out
