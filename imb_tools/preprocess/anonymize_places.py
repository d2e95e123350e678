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

import functools
import re
from typing import List

from presidio_analyzer import LocalRecognizer, RecognizerResult

from imb_tools.preprocess import anonymize_gazetteer as gaz
from imb_tools.preprocess.anonymize_lexicon import is_attested, is_plain_word, is_word
from imb_tools.preprocess.anonymize_names import (_TITLE_WORDS, CLOSING, CLOSING_WORDS, is_role, is_specialty, name_listed,
                                                  role_tokens)

UPPER = "A-ZÀ-ÖØ-Þ"
_CAP_WORD = rf"(?:[{UPPER}][\w'’]*(?:-(?:[a-z]{{1,3}}-)?[{UPPER}][\w'’]*)*|[{UPPER}]{{2,}})"  # "Saint-Rhémy-en-Bosses"
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


# Words that follow a role or a specialty as part of its name ("Medicina Interna", "Chirurgo Plastico"), never a town.
SPECIALTY_MODIFIERS = frozenset(
    """interna interno generale generali plastica plastico plastiche estetica estetico estetiche clinica clinico
    vascolare vascolari toracica toracico sportiva sportivo sport legale legali nucleare dentale dentali pediatrica
    pediatrico funzionale riabilitativa riabilitativo preventiva preventivo sperimentale molecolare digestiva
    digestivo oncologica oncologico ricostruttiva ricostruttivo orale specialistica specialistico ospedaliera
    ospedaliero territoriale universitario universitaria ambulatoriale convenzionato convenzionata privato privata
    libero professionista lavoro famiglia base infantile adulto adulti geriatrica forense igiene sanitaria sanitario
    ortopedica ortopedico maxillo-facciale maxillofacciale facciale mininvasiva robotica laparoscopica endoscopica
    interventistica diagnostica diagnostico strumentale bariatrica metabolica medica medico cardiovascolare
    respiratoria respiratorio clinici cliniche andrologo aggiunto associato ordinario emerito""".split()
)


def _signature_line_town(text: str, start: int, end: int) -> bool:
    """A capitalized run ending a short line right after a role ("Ginecologia Noto", "Dietista Ponzano di
    Fermo"): a town even when it is a word, unless it is part of the specialty's name."""
    words = text[start:end].split()
    if not words[0][:1].isupper() or words[0].isupper() and not text[start:end].isupper():
        return False
    if _SPECIALIST_IN.search(text[max(0, start - 30):start]):
        return False  # "Specialista in Scienza dell'Alimentazione"
    return not any(w.lower().strip(".,") in SPECIALTY_MODIFIERS or is_role(w) for w in words) \
        and words[0].lower() not in _NOT_IDENTIFYING and not gaz.is_eponym(text, start, end)


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

COMMON_ZIPF = 4.0  # a word this frequent in written Italian ("pranzo", "chiesa", "piscina", "posta") after a plain
# "a"/"in"/"da" is the word, even when a comune has its name: a place only after a head that says place


def frequent_word_place(text: str, start: int, end: int) -> bool:
    """A one-word run after a weak locative cue that is a frequent Italian word: not a place, unless the
    words before say place ("vive a", "provincia di") or a name part no dictionary holds follows."""
    from imb_tools.preprocess.anonymize_lexicon import zipf

    words = text[start:end].split()
    if all(w.lower() in LOANWORDS for w in words):
        return True  # "in Day Hospital"
    if any(not is_word(w) for w in words):
        return False
    if len(words) > 1 and not all(w.lower() in LOANWORDS or is_plain_word(w) for w in words):
        return False
    if zipf(words[0].strip("'’").lower()) < COMMON_ZIPF:
        return False
    return not _PLACE_HEAD.search(text[max(0, start - 40):start])


# ---------------------------------------------------------------- after a locative preposition
# Under the default policy a capitalized run after "a", "da", "in", "presso", "vicino a" in mid-sentence
# is a place even when it is also an Italian word ("a Nave", "da Segni", "a Girasole"): Italian writes
# common nouns in lower case. What else forum text capitalizes after these prepositions is listed here
# (courtesy pronouns, holidays, months and weekdays, facility and service words, the web), with roles,
# specialties, countries and eponyms, which are told apart elsewhere.
NOT_PLACES_AFTER_PREPOSITION = frozenset(
    """lei lui loro voi noi ella esso essa sua suo sue suoi vostra vostro dio gesù natale pasqua capodanno
    ferragosto pasquetta epifania carnevale quaresima avvento gennaio febbraio marzo aprile maggio giugno luglio agosto settembre
    ottobre novembre dicembre lunedì martedì mercoledì giovedì venerdì sabato domenica ospedale ospedali clinica
    cliniche reparto reparti ambulatorio ambulatori farmacia farmacie laboratorio laboratori pronto consultorio
    studio studi casa centro centri day guardia servizio servizi struttura strutture sala ufficio istituto
    università facoltà scuola internet google facebook whatsapp youtube wikipedia rete web forum televisione
    tv radio medicina chirurgia terapia rianimazione urgenza emergenza regione asl ausl inps inail
    cordiali saluti distinti buongiorno buonasera grazie gentile caro cara salute famiglia comunità precisione
    livello primo secondo terzo riferimento zona territorio accettazione genere base""".split()
)
# Phrases a preposition starts that are Italian, not a place, in any case ("vado a casa", "da solo",
# "in fondo"): the words right after the preposition. Measured on the clean texts and on
# tests/data/ordinary_sentences.txt (ordinary sentences that use town-like words as words).
IDIOMS_AFTER_PREPOSITION = frozenset(
    """casa letto tavola piedi piede mano mani lungo breve presto parte posto volte volta meno fondo solo sola
    soli sole tempo caso corso seguito base fine inizio metà mezzo punto causa carico rischio riposo digiuno
    dieta distanza domicilio disposizione favore attesa bocca cura cure vita pieno pieni vista bordo regola
    tutto tutti tutte nulla niente quanto modo grado ordine linea media genere generale particolare effetti
    realtà pratica sintesi teoria compenso cambio pari stretto lato vicino lontano sopra sotto dentro fuori
    avanti dietro giorno giorni notte sera mattina pomeriggio ore oggi domani ieri sempre proposito riguardo
    merito ogni qualche alcuni alcune nessun nessuna gravidanza menopausa allattamento terapia età anni mesi
    settimane bambino bambina ragazzo ragazza giovane adulto anziano piccolo piccola grande grandi sveglio
    alto basso seduto sdraiato supino prono vuoto stomaco contatto conto mente memoria occhio carponi tentoni squarciagola
    bizzeffe casaccio vanvera iosa sproposito capofitto rotta crepapelle dirotto perdifiato tastoni
    termine pochi poche poco pochissimi molti molte tanti tante affitto coppia pensione collegio convitto""".split()
)
# Lower-case landscape words that are also comuni (Campagna, Montagna): "vivo in campagna" is no town, unless a
# known tail of a town's name follows ("a montagna sulla strada del vino").
_LANDSCAPE = frozenset("campagna montagna collina pianura".split())
# "di" starts these Italian phrases after a territory word: "in provincia di solito", "in città di notte".
IDIOMS_AFTER_DI = frozenset("""solito nuovo recente sicuro certo fatto norma regola seguito fronte corsa giorno notte
    mattina sera rado frequente tanto nascosto proposito persona conseguenza fila passaggio""".split())
_PREPOSITION = r"(?i:\b(?:a|ad|da|in|presso|vicino\s+a|nei\s+pressi\s+di|dalle\s+parti\s+di)\b)"
# Heads after which any word is a place ("in provincia di Anzi", "vive a Mezzano", "l'ospedale di Ora").
_PLACE_HEAD = re.compile(
    r"(?i)(?:\b(?:provincia|province|comune|città|paese|frazione|ospedale|policlinico|nosocomio)\s+(?:di|de|del|della|d['’])"
    r"|\b(?:viv[oeia]\w*|abit[oaie]\w*|risied\w*|resident[ei]|nat[oaie]|cresciut[oaie]|trasferit[oaie]|ricevo|riceve|visito|"
    r"lavoro|lavora|opero|esercito|studio\s+(?:è\s+)?|ambulatorio\s+(?:è\s+)?)\s+(?:(?:anche|solo|soltanto|pure|inoltre|"
    r"privatamente|attualmente|tuttora|ora|adesso|sempre|principalmente|prevalentemente|invece)\s+)?(?:a|ad|in|da|presso))\s*$"
)  # an adverb may stand between the verb and its preposition: "visito anche a", "ricevo privatamente a"
_TITLE_CASE_LINE = 0.6  # a line with more capitalized words than this is written in title case: no cue from case


def _title_case_line(text: str, start: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    words = re.findall(r"[^\W\d_]{3,}", text[line_start:len(text) if line_end < 0 else line_end])
    return len(words) >= 4 and sum(w[0].isupper() for w in words) / len(words) > _TITLE_CASE_LINE


@functools.lru_cache(maxsize=1)
def town_words() -> frozenset[str]:
    """Words that continue the known comuni's names ("di sotto", "terme", "marina", "po"), learnt from the
    detector's own town list: a lower-case run is extended over them, never accepted because of them."""
    out = set()
    for town in gaz.towns():
        out.update(re.findall(r"[^\W\d_]+", town)[1:])
    return frozenset(out)


# Words of medical answers that no Italian dictionary of the lexicon holds and that follow "in", "a", "da".
LOANWORDS = frozenset("""gel spray stress day hospital follow check week weekend smart working part time full online
    offline standby stand by remission allattamento ecodoppler doppler holter bypass stent laser peeling
    screening test team staff network vitro vivo situ toto itinere extremis""".split())
_LOWER_LINKS = frozenset("di del della dello dei degli delle de d sul sulla sullo sull al all allo ed e in con sopra sotto".split())
_LOWER_TOKEN = re.compile(r"[a-zà-ÿ]+(?:['’][a-zà-ÿ]+)?['’]?|[,.;:!?()\n\"“”]")
RARE_ZIPF = 2.9  # written-Italian frequency (wordfreq's Zipf scale) under which a word after "a", "da", "in" is a town
STRONG_ZIPF = 4.5  # the same after a head only a place follows ("vive a", "la Neurochirurgia di")


_DETERMINERS = frozenset("""il lo la i gli le l un uno una questo questa questi queste quello quella quelli quelle suo sua
    suoi sue mio mia miei mie tuo tua nostro nostra vostro vostra loro cui chi che ogni qualche nessun nessuna tale tali
    altro altra altri altre stesso stessa""".split())
# Words after "comune di", "provincia di" that are no place: "comune di residenza".
_NOT_A_TOWN_AFTER_TERRITORY = frozenset("residenza nascita appartenenza origine provenienza domicilio".split()) | IDIOMS_AFTER_DI
_TERRITORY_HEAD = re.compile(r"(?i)\b(?:provincia|province|comune|città|frazione|ospedale|policlinico|nosocomio)\s+(?:di|de|del|della|d['’])\s*$")


def lower_after_preposition(text: str, pos: int, strong_head: bool, territory: bool = False) -> tuple[int, int] | None:
    """The lower-case town right after a locative preposition ending at `pos`, if the words say it is one:
    a token no Italian dictionary holds ("a lucca"), a toponym head and its name ("a borgo san giacomo"),
    or, after a head that only a place follows ("in provincia di", "vive a", "la Neurochirurgia di"),
    any word that is neither frequent nor an idiom ("vive a mezzano")."""
    from spacy.lang.it.stop_words import STOP_WORDS

    from imb_tools.preprocess.anonymize_lexicon import FREQUENT, count, is_medical, zipf

    # up to 7 lower-case tokens, one space or an apostrophe apart, up to the first punctuation mark
    run = []
    for m in _LOWER_TOKEN.finditer(text, pos, min(len(text), pos + 80)):
        if m.group(0)[0] in ",.;:!?()\n\"“”" or (text[run[-1].end():m.start()] if run else text[pos:m.start()]) not in (" ", ""):
            break
        run.append(m)
        if len(run) == 7:
            break
    if not run:
        return None
    words = [m.group(0).strip("'’") for m in run]
    first = words[0]
    if "'" in run[0].group(0).strip("'’") or "’" in run[0].group(0).strip("'’") and not territory:
        return None  # "l'ospedale", "un'altra": an article, not a town
    if territory and first in _NOT_A_TOWN_AFTER_TERRITORY:
        return None  # "nel comune di residenza", "in provincia di solito"
    if territory and first not in _DETERMINERS and first not in _NOT_A_TOWN_AFTER_TERRITORY and not is_role(first) \
            and first not in ("zona", "base", "riferimento", "comunità", "giorno", "famiglia", "urgenza"):
        strong_head, territory_first = True, True  # "in provincia di anzi": only a place follows
    else:
        territory_first = False
    if not territory_first and (first in STOP_WORDS and first not in TOPONYM_HEADS or first in IDIOMS_AFTER_PREPOSITION \
            or first in NOT_PLACES_AFTER_PREPOSITION or first in _NOT_IDENTIFYING or is_role(first) or is_medical(first)
            or re.fullmatch(_TERRITORY, first)
            or first in _LANDSCAPE and extend_over_tail(text, run[0].end()) == run[0].end()):
        return None
    # extend over link words and the words that continue town names; a toponym head takes the word after it
    end = 1
    while end < len(words):
        w = words[end]
        if w in _LOWER_LINKS and end + 1 < len(words) and words[end + 1] not in _DETERMINERS \
                and (words[end + 1] in town_words() or not is_word(words[end + 1]) and words[end + 1] not in STOP_WORDS
                     or words[end + 1] not in STOP_WORDS and (zipf(words[end + 1]) < RARE_ZIPF  # "erto e casso"
                                                              or run[end].group(0) in ("de'", "de’"))):  # "corte de' frati"
            end += 2
            continue
        if words[end - 1] in TOPONYM_HEADS and w not in STOP_WORDS or w in town_words() and w not in STOP_WORDS \
                or not is_word(w) and w not in STOP_WORDS:
            end += 1
            continue
        break
    if territory_first:
        end = _extend_after_territory(text, run, words, end)
    name = words[:end]
    if any(w in IDIOMS_AFTER_PREPOSITION or is_role(w) for w in name[1:]):
        return None
    unknown = any(len(w) >= 4 and not is_word(w) and w not in STOP_WORDS and w not in LOANWORDS for w in name)
    headed = first in TOPONYM_HEADS and len(name) > 1
    linked = len(name) > 2 and name[1] in _LOWER_LINKS
    rare = zipf(first) < RARE_ZIPF  # a dictionary word seldom written: "a palata", "da specchia", not "in menopausa"
    strong_ok = strong_head and (zipf(first) < STRONG_ZIPF and count(first) < FREQUENT or len(name) > 1)
    if not (unknown or headed or linked or territory_first or strong_ok or rare):
        return None
    if gaz.is_eponym(text, run[0].start(), run[end - 1].end()):
        return None
    return run[0].start(), run[end - 1].end()


@functools.lru_cache(maxsize=1)
def town_tails() -> dict[str, frozenset[str]]:
    """Lower-case tails of the known comuni's names that start with a link word and run to the name's end
    ("sulla strada del vino", "sopra ticino", "de' frati"), by their first word: learnt from the detector's own
    town list, so a town found by its place in the sentence takes its whole name ("Caldaro sulla strada del vino").
    Only tails of three words or more, or with a word no Italian dictionary holds: "al mare", "in ultimo" after a
    town are Italian, not its name."""
    out: dict[str, set[str]] = {}
    for town in gaz.towns():
        words = town.split()
        for i in range(1, len(words) - 1):
            if words[i].strip("'’") in _LOWER_LINKS and (len(words) - i >= 3 or any(
                    not is_word(w) for w in words[i + 1:] if w.strip("'’") not in _LOWER_LINKS)):
                out.setdefault(words[i], set()).add(" ".join(words[i:]))
    return {k: frozenset(v) for k, v in out.items()}


_TAIL_START = re.compile(r"[ \t]+([a-zà-ÿ]+['’]?)")


def extend_over_tail(text: str, end: int) -> int:
    """`end` moved past a known tail of a town's name that follows it ("Montagna" + " sulla strada del vino")."""
    m = _TAIL_START.match(text, end)
    if not m or m.group(1) not in town_tails():
        return end
    for tail in sorted(town_tails()[m.group(1)], key=len, reverse=True):
        stop = m.start(1) + len(tail)
        if text[m.start(1):stop].lower() == tail and not re.match(r"[\w'’]", text[stop:stop + 1]):
            return stop
    return end


_ARTICLES = frozenset("il lo la i gli le l".split())
_CLAUSE_END = re.compile(r"[ \t]*(?:[,.;:!?()\n\"“”]|$)")


def _extend_after_territory(text: str, run: list, words: list[str], end: int) -> int:
    """After a head only a place follows ("in provincia di", "l'ospedale di"), the town's name runs on over
    ordinary words ("san martino buon albergo", "oltre il colle", "massa di somma"): over every word, link
    words and articles included, when the words end the clause; else over the words that are no stop word
    and not frequent ("sesta godano sono..." ends before "sono")."""
    from spacy.lang.it.stop_words import STOP_WORDS

    from imb_tools.preprocess.anonymize_lexicon import zipf

    def content(w):
        return w not in STOP_WORDS and w not in IDIOMS_AFTER_PREPOSITION and w not in NOT_PLACES_AFTER_PREPOSITION \
            and not is_role(w)

    upto = min(len(run), 6)
    if upto > end and _CLAUSE_END.match(text, run[upto - 1].end()) and content(words[upto - 1]) \
            and all(content(w) or w in _LOWER_LINKS or w in _ARTICLES or w in TOPONYM_HEADS for w in words[end:upto]):
        return upto
    while end < len(words) and content(words[end]) and (zipf(words[end]) < STRONG_ZIPF or not is_word(words[end])):
        end += 1
    return end


def _vetoed(value: str) -> bool:
    """An idiom ("a tentoni", "in alto"), a month, a weekday, a holiday or a courtesy pronoun starts no town,
    even one a known comune shares ("Fondo", "Alto"), unless a token that is no Italian word follows, in any
    case ("Sala Consilina", "in provincia di guardia sanframondi")."""
    words = value.split()
    first = words[0].strip("'’").lower()
    first = re.split(r"['’]", first)[0] if "'" in first or "’" in first else first
    if first.rstrip(".") in _TITLE_WORDS and len(first.rstrip(".")) > 2:
        return True  # a title starts a name, never a town: "saluti da Dott. Rossi"
    if first not in IDIOMS_AFTER_PREPOSITION and first not in NOT_PLACES_AFTER_PREPOSITION:
        return False
    rest = [re.split(r"['’]", w.strip("'’"))[-1] for w in words[1:]]  # "sala d'attesa": the word is "attesa"
    return not any(w and not is_word(w) and w.lower() not in NOT_PLACES_AFTER_PREPOSITION for w in rest)


_SPECIALIST_IN = re.compile(r"(?i)\b(?:specialist[aie]|specializzat[oaie]|specializzazione|laurea|laureat[oaie]|master|dottorato)\s+in\s*$")


def capital_after_preposition(text: str, start: int, end: int, strong: bool = False) -> bool:
    """A capitalized run right after a locative preposition, mid-sentence: a place unless it is a country, a
    role or specialty, an eponym, a listed non-place word, an idiom or a stop word, or the line is in title case.
    After a head only a place follows (`strong`: "vive a", "ricevo a") a capitalized stop word is a town too
    ("vive a Ultimo"); courtesy pronouns are listed non-place words ("vive a Lei" stays)."""
    words = text[start:end].split()
    first = words[0].strip("'’").lower()
    named = any(w[:1].isupper() and not is_word(w) and w.lower() not in NOT_PLACES_AFTER_PREPOSITION
                and w.lower() not in LOANWORDS for w in words[1:])  # "Sala Monferrato", "Casa Piccolomini"; not "Day Hospital"
    if first in _NOT_IDENTIFYING or (first in NOT_PLACES_AFTER_PREPOSITION or first in IDIOMS_AFTER_PREPOSITION) and not named:
        return False
    if is_role(words[0]) or gaz.is_eponym(text, start, end) or text[start:end].isupper():
        return False
    if _SPECIALIST_IN.search(text[max(0, start - 30):start]):
        return False  # "Specialista in Scienza dell'Alimentazione": a specialty, never a place
    from spacy.lang.it.stop_words import STOP_WORDS

    # "Oltre il Colle", "Tre Ville": a stop word starts a town only with a capitalized word after it
    if first in STOP_WORDS and not strong and not any(w[:1].isupper() and w.lower() not in STOP_WORDS for w in words[1:]):
        return False
    return not _title_case_line(text, start)


_ROLE_LINKS = frozenset("in di del dello della dei degli delle e ed".split())
_ROLE_WORD = re.compile(r"[ \t]+([^\W\d_]+)")
_ROLE_SEP = re.compile(r"[ \t]*(?:[,;|–-]|\.(?=\s))?[ \t]*(?:\n[ \t]*){0,2}")
_PAREN_AFTER_ROLE = re.compile(rf"[ \t]*,[ \t]*(?P<pii>[{UPPER}][^(),;:\n]{{1,60}}?)[ \t]*\)")
_CAP_RUN_AT = re.compile(rf"(?P<pii>{_CAP_RUN})[ \t]*(?:\([{UPPER}]{{2}}\))?[ \t]*(?=[)\n]|$)")


def town_after_role(text: str, role_end: int) -> tuple[int, int] | None:
    """The town that ends a signature after a role and the words of its name ("Chirurgo Plastico Marcianise",
    "Medicina Interna San Benedetto Belbo", "Medico di Medicina Generale Neirone", "Neurochirurgo,\nSan Sperate",
    "Psicoterapeuta. San Felice sul Panaro"): the role's modifiers, roles and link words are skipped, then a
    capitalized run that ends its line is a town when a toponym head starts it, a word of it is no Italian word,
    or it is a known comune; a run of Italian words only when it ends the answer, alone on its line or after a
    separator, not a full stop ("Fisioterapista\n\nNave", "Specialista in Ortodonzia; Cappella Maggiore"). Never a closing
    formula, a listed non-place word, a first name, a role. Inside parentheses, "(urologo, Prad am Stilfserjoch)",
    the whole rest up to the closing parenthesis."""
    paren = _PAREN_AFTER_ROLE.match(text, role_end)
    if paren and re.search(r"\([ \t]*[^\W\d_]+$", text[max(0, role_end - 40):role_end]):  # the role opens the parentheses
        s, e = paren.span("pii")
        words = text[s:e].split()
        first = words[0].strip("'’").lower()
        if not (first in _NOT_IDENTIFYING or first in NOT_PLACES_AFTER_PREPOSITION or is_role(first)
                or first in SPECIALTY_MODIFIERS or gaz.is_eponym(text, s, e)
                or name_listed(words[0]) and first in gaz.person_names()[0]):
            return s, e

    pos, skipped = role_end, 0
    while skipped < 6:
        m = _ROLE_WORD.match(text, pos)
        if not m:
            break
        w = m.group(1)
        if w.lower() in SPECIALTY_MODIFIERS or w.lower() in _ROLE_LINKS and skipped < 5 or is_role(w):
            pos, skipped = m.end(), skipped + 1
            continue
        break
    while pos > role_end and text[:pos].split()[-1].lower() in _ROLE_LINKS:  # "Medicina dello" + "Sport": links end no phrase
        pos = text.rfind(" ", role_end, pos)
        pos = role_end if pos < 0 else pos
    sep = _ROLE_SEP.match(text, pos)
    m = _CAP_RUN_AT.match(text, sep.end())
    if not m or (sep.end() == pos and pos == role_end):
        return None  # right after the role with no word between: the spaced "role Town" case is decided elsewhere
    s, e = _trim(text, *m.span("pii"))
    value = text[s:e]
    words = value.split()
    if not words or any(w.lower().strip(".,") in SPECIALTY_MODIFIERS or is_role(w) for w in words):
        return None
    first = words[0].strip("'’").lower()
    if first in _NOT_IDENTIFYING or first in CLOSING_WORDS or CLOSING.fullmatch(value) or gaz.is_eponym(text, s, e):
        return None
    headed = first in TOPONYM_HEADS and len(words) > 1 and words[1][:1].isupper()
    unknown = any(len(w) >= 3 and not is_word(w) for w in words)
    if first in NOT_PLACES_AFTER_PREPOSITION and not unknown:
        return None
    if not headed and name_listed(words[0]) and first in gaz.person_names()[0]:
        return None  # "Dermatologo\nSerena": a first name, the name detectors decide
    last = not text[m.end():].strip()  # nothing after it: the answer's last words
    alone = last and (text[text.rfind("\n", 0, s) + 1:s].strip() == "" or bool(re.search(r"[,;|–-]", text[pos:sep.end()])))
    if headed or unknown or value.lower() in gaz.towns() or alone and value.istitle():
        return s, e
    return None


def _closing(value: str) -> bool:
    """A closing formula ("Cordialmente", "Saluti"), which ends a signature line as a town would."""

    return value.split()[0].strip("'’.,").lower() in CLOSING_WORDS or bool(CLOSING.fullmatch(value))


class PlaceRecognizer(LocalRecognizer):
    """Towns by their place in the sentence, datelines, and known comuni anywhere."""

    _strong = re.compile(rf"\b{_TERRITORY}[ \t]+(?:(?:di|de|del|della)[ \t]+|d['’]|dell['’])(?P<pii>{_CAP_RUN}|{_LOW_RUN})(?![\w'’])")
    _specialty_of = re.compile(rf"(?P<head>[{UPPER}][\w]+|[a-z]\w+logia|[a-z]\w+iatria)[ \t]+(?:di|dell['’]ospedale[ \t]+di|del[ \t]+policlinico[ \t]+di)[ \t]+(?P<pii>{_CAP_RUN}|{_LOW_RUN})(?![\w'’])")
    # beside a name or a role in a signature: "(cardiologo, Milano)", "Rossi - MILANO", "Odontoiatra, Lecce"
    _beside_role = re.compile(rf"(?P<role>)(?:[ \t]*[,–-][ \t]*|[ \t]+)(?P<pii>{_CAP_RUN})[ \t]*(?=[)\n]|$)")
    _after_lower_phrase = re.compile(rf"(?:[ \t]+(?:[a-zà-ÿ]+|d['’][a-zà-ÿ]+)){{1,4}}?[ \t]+(?P<pii>{_CAP_RUN})[ \t]*(?=[)\n]|$)")
    _lower_preposition = re.compile(r"(?<![\w'’])(?i:a|ad|da|in|presso|di)[ \t]+(?=[a-zà-ÿ])")
    # "Nefrologo. Priverno": after a full stop only a token no dictionary holds, ending the line
    _after_role_stop = re.compile(rf"\.[ \t]+(?P<pii>{_CAP_RUN})[ \t]*(?=\n|$)")
    _go = re.compile(rf"(?:{_GO}|(?i:\bpresso|\bvicino\s+a|\bnei\s+pressi\s+di|\bdalle\s+parti\s+di))[ \t]+(?P<pii>{_CAP_RUN})")
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
    _link_in_run = re.compile(r"[ \t](?:di|del|della|dello|dei|degli|delle)[ \t]+|[ \t](?:d|dell)['’]")

    def __init__(self):
        super().__init__(supported_entities=["LOCATION"], supported_language="it", name="TownRecognizer")

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:  # noqa: D102
        out = []
        seen = set()

        def add(start, end, score, veto=True):
            start, end = _trim(text, start, end)
            if end > start and veto and _vetoed(text[start:end]):
                return
            end = extend_over_tail(text, end)
            if end > start and (start, end) not in seen:
                seen.add((start, end))
                out.append(RecognizerResult("LOCATION", start, end, score))

        for m in self._strong.finditer(text):
            s, e = m.span("pii")
            if text[s:e].islower():  # a lower-case run ends before a stop word that links nothing ("... sono in linea")
                from spacy.lang.it.stop_words import STOP_WORDS

                for w in re.finditer(r"\S+", text[s:e]):
                    if w.start() and w.group(0) in STOP_WORDS and w.group(0) not in _LOWER_LINKS:
                        e = s + w.start() - 1
                        break
            if text[s:e].islower() and text[s:e].split()[0] in _NOT_A_TOWN_AFTER_TERRITORY:
                continue  # "nel comune di residenza", "in provincia di solito"
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
                if _place_ok(text, s, e, strong=False) or text[s].isupper() and is_specialty(m.group("head")) \
                        and capital_after_preposition(text, s, e) \
                        and _place_ok(text, s, e, strong=True):
                    add(s, e, 0.7)
        roles = role_tokens(text)
        for m in filter(None, (self._after_role_phrase.match(text, re_) for _, re_ in roles)):
            s, e = m.span("pii")
            value = text[s:e]
            first = value.split()[0]
            if is_role(first) or is_role(value.split()[-1]) or any(is_role(w) for w in value.split()) \
                    or _closing(value):
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
                if spaced and (is_role(head[-1]) or is_word(head[0]) and not (head[0].lower() in TOPONYM_HEADS and len(head) > 1)
                               and not _signature_line_town(text, s, e)):
                    continue
                if _place_ok(text, s, e, strong=True):
                    add(s, e, 0.65)
        for _, re_ in roles:
            m = self._after_role_stop.match(text, re_)
            if m and not is_word(m.group("pii").split()[0]) and _signature_line_town(text, *m.span("pii")) \
                    and _place_ok(text, *m.span("pii"), strong=True):
                add(*m.span("pii"), 0.6)
        for _, re_ in roles:  # "Chirurgo Plastico Marcianise", "Neurochirurgo,\nSan Sperate": a town ends the signature
            span = town_after_role(text, re_)
            if span and _place_ok(text, *span, strong=True):
                add(*span, 0.6, veto=False)
        for _, re_ in roles:  # "medico di famiglia Rivodutri": a capitalized run after the role's lower-case words
            m = self._after_lower_phrase.match(text, re_)
            if m and all(w.lower() in _ROLE_LINKS for w in text[re_:m.start("pii")].split()) \
                    and frequent_word_place(text, *m.span("pii")):
                continue  # "Medico di Guardia", "Medico di Base": the role's name; "medico di Rivodutri" no word
            if m and _signature_line_town(text, *m.span("pii")) and _place_ok(text, *m.span("pii"), strong=True):
                add(*m.span("pii"), 0.6)
        for m in self._go.finditer(text):
            s, e = m.span("pii")
            if _SPECIALIST_IN.search(text[max(0, s - 30):s]):
                continue  # "Specialista in Scienza dell'Alimentazione": a specialty, never a place
            if re.search(r"(?i)(?<!\w)in[ \t]+$", text[max(0, s - 4):s]) and frequent_word_place(text, s, e):
                continue  # "in Posta e in Comune", "in Chiesa": Italian puts a town after "a", a noun after "in";
                # "a Nave", "da Segni", "vive in Piscina" (a place head) stay towns
            if _place_ok(text, s, e, strong=False) or capital_after_preposition(
                    text, s, e, strong=bool(_PLACE_HEAD.search(text[max(0, s - 40):s]))) \
                    and _place_ok(text, s, e, strong=True):
                add(s, e, 0.6)
        for m in self._lower_preposition.finditer(text):
            head = text[max(0, m.start() - 40):m.end()]
            strong_head = bool(_PLACE_HEAD.search(head)) or m.group(0).lower().startswith("di") and bool(
                re.search(r"(\w+)\s+(?:dell['’]ospedale\s+)?di\s*$", head) and is_specialty(re.search(r"(\w+)\s+(?:dell['’]ospedale\s+)?di\s*$", head).group(1)))
            if m.group(0).lower().startswith("di") and not strong_head:
                continue
            span = lower_after_preposition(text, m.end(), strong_head, bool(_TERRITORY_HEAD.search(head)))
            if span:
                add(*span, 0.55)
        for m in self._go_any_lower.finditer(text):  # "vive a lagonegro": a token no subtitle ever held
            s, e = m.span("pii")
            if len(text[s:e]) >= 5 and not is_attested(text[s:e]) and not gaz.is_eponym(text, s, e):
                add(s, e, 0.55)
        for m in self._go_lower.finditer(text):
            s, e = m.span("pii")
            if text[s:e].split()[0] in IDIOMS_AFTER_PREPOSITION or text[s:e] in _LANDSCAPE:
                continue  # "in fondo", "a volte", "in campagna": a known comune's name used as a word
            if frequent_word_place(text, s, e):
                continue  # "andare in piscina", "vado in chiesa"
            if text[s:e].lower() in gaz.towns() or lower_town(text[s:e]):
                add(s, e, 0.55)
        for m in self._dateline.finditer(text):
            s, e = m.span("pii")
            if _place_ok(text, s, e, strong=True):
                add(s, e, 0.7)
        for m in self._known.finditer(text):
            # the whole run, else what follows a link word in it: "al San Raffaele di Milano", "al Gemelli
            # di Roma" are one capitalized run, whose tail is the town
            starts = [m.start("pii")] + [m.start("pii") + w.end() for w in self._link_in_run.finditer(m.group("pii"))]
            e = m.end("pii")
            for s in starts:  # after "di" inside a capitalized run a known town is no surname nor a word
                value = text[s:e]  # ("San Raffaele di Milano", "al Gemelli di Roma")
                if value.lower() in gaz.towns() \
                        and (s > starts[0] or not is_word(value.split()[0]) and not name_listed(value.split()[0])) \
                        and not _SENTENCE_START.search(text[max(0, s - 3):s]) and not gaz.is_eponym(text, s, e):
                    add(s, e, 0.5)
                    break
        return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop trailing link words the run swallowed ("Bari e", "Lecce di") and a trailing role word."""
    words = list(re.finditer(r"\S+", text[start:end]))
    # a capitalized "Sotto", "Sopra", "Con" ends a name ("Tramonti di Sotto"); a lower-case link word does not
    while words and (re.fullmatch(_LINK, words[-1].group(0)) and not (words[-1].group(0)[0].isupper() and len(words[-1].group(0)) > 3
                                                                    and words[-1].group(0) not in ("San", "Santa", "Sant'", "Sant’"))
                     or is_role(words[-1].group(0))):
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
