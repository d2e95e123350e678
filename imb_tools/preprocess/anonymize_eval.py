"""A synthetic evaluation set for `imb anonymize` that measures generalization, not memory.

Why synthetic: the real forum answers the issue measured on are held out
from this project, and the bundled sample was written while the detector was
tuned. Here realistic Italian forum answers are generated with PII in the
styles seen in real answers (signature blocks after a closing formula, a
name in any case with a title, a role, a facility and "Town (XX)"; "ricevo a
Town"; hospitals in quotes; "Centro del <Surname>"; first names after a
greeting; foreign names; phones, e-mails, websites), with every name,
surname and town drawn from the held-out lists (`anonymize_eval_heldout.json`,
1 in 5 entries that `benchmarks/build_anonymize_lists.py` kept out of the
detector's files). Half of the PII answers take the shapes issue 21 saw leak
on real answers (lower-case signatures, surnames no list holds, initials and
double surnames, misspelled first names, each title abbreviation, greetings
with names, each place form), from this module's own lists of closing
formulas, titles, professions and greetings: it imports nothing of the
detector. Clean answers carry eponyms, drug names, anatomical terms, generic
facilities, greetings that name nobody, specialties, tumour markers, DOIs,
capitalised phrases and towns inside disease names: they must come out
byte-identical. Every town is PII here, as under the default place policy;
`evaluate(..., place_policy="care")` counts towns where the text sends the
patient for care as kept-is-right instead.

Measurement is a second method, not the detector: the generator knows where
it put each PII item, and an item counts as left when one of its identifying
words is still in the output more often than in the text around the PII.

    from imb_tools.preprocess.anonymize_eval import generate, evaluate
    report = evaluate(Anonymizer(), generate(2000))
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

HELDOUT = Path(__file__).resolve().parent / "anonymize_eval_heldout.json"


@dataclass
class Case:
    """One generated answer.

    `pii` holds (start, end, label) of each PII item, `shapes` the shape each
    item was written in (the issue's list: "sig lower", "title d.ssa",
    "place dateline"...), `contexts` where a place item stands ("care" when the
    text sends a patient there for care; "signature", "dateline", "person" or
    "" otherwise), and `keep` (start, end, shape) pieces that are not PII and
    must come out unchanged (greeting nouns, specialties, tumour markers).
    """

    id: str
    text: str
    pii: list[tuple[int, int, str]] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    keep: list[tuple[int, int, str]] = field(default_factory=list)
    shape: str = ""


class _Builder:
    """Text assembled piece by piece, remembering where each PII item and each must-keep piece went."""

    def __init__(self):
        self.parts: list[str] = []
        self.pii: list[tuple[int, int, str]] = []
        self.shapes: list[str] = []
        self.contexts: list[str] = []
        self.keeps: list[tuple[int, int, str]] = []
        self.n = 0

    def add(self, text: str, label: str | None = None, shape: str = "", context: str = "") -> "_Builder":
        if label:
            self.pii.append((self.n, self.n + len(text), label))
            self.shapes.append(shape or _DEFAULT_SHAPE.get(label, label.lower()))
            self.contexts.append(context)
        self.parts.append(text)
        self.n += len(text)
        return self

    def keep(self, text: str, shape: str) -> "_Builder":
        """Text that is no PII and must survive (a greeting noun, a specialty)."""
        self.keeps.append((self.n, self.n + len(text), shape))
        return self.add(text)

    def extend(self, other: "_Builder", transform=lambda t: t) -> "_Builder":
        """Append another builder's text (through a length-keeping `transform`) and its items."""
        text = transform(other.text())
        assert len(text) == other.n
        self.pii += [(self.n + s, self.n + e, label) for s, e, label in other.pii]
        self.shapes += other.shapes
        self.contexts += other.contexts
        self.keeps += [(self.n + s, self.n + e, shape) for s, e, shape in other.keeps]
        self.parts.append(text)
        self.n += len(text)
        return self

    def text(self) -> str:
        return "".join(self.parts)

    def case(self, id: str, shape: str) -> Case:
        return Case(id, self.text(), self.pii, self.shapes, self.contexts, self.keeps, shape)


_DEFAULT_SHAPE = {"NOME": "classic name", "LUOGO": "classic place", "STRUTTURA": "facility", "TELEFONO": "phone",
                  "EMAIL": "email"}


# ---------------------------------------------------------------- medical text (no PII)
BODIES = [
    "I sintomi che descrive sono compatibili con una gastrite, da confermare con una gastroscopia.",
    "Il valore del TSH è nella norma e non giustifica la terapia con Eutirox.",
    "Il morbo di Parkinson non si trasmette per via ereditaria nella maggior parte dei casi.",
    "Può assumere Tachipirina 1000 mg al bisogno, al massimo tre volte al giorno.",
    "La tiroidite di Hashimoto richiede controlli periodici di TSH e anticorpi anti-TPO.",
    "Le consiglio una visita dermatologica con dermatoscopia dei nei sospetti.",
    "L'esofago di Barrett va sorvegliato con endoscopie programmate e biopsie.",
    "Il dolore alla spalla può dipendere da una tendinopatia della cuffia dei rotatori.",
    "La sindrome di Down si diagnostica in gravidanza con amniocentesi o villocentesi.",
    "Il Brufen va assunto a stomaco pieno, meglio se associato a un gastroprotettore.",
    "Eviti il fai da te: il Bentelan non va usato senza prescrizione.",
    "La tuba di Eustachio può restare chiusa per qualche settimana dopo un raffreddore.",
    "Il dotto di Wirsung appare regolare all'ecografia descritta.",
    "Le ghiandole del Bartolini possono infiammarsi e formare una cisti.",
    "Il test di Papanicolaou va ripetuto secondo le indicazioni del programma di screening.",
    "Il fenomeno di Raynaud peggiora con il freddo e con il fumo.",
    "La malattia di Crohn può interessare qualsiasi tratto dell'intestino.",
    "L'ansia che descrive merita un colloquio con uno specialista, senza allarmismi.",
    "Xanax e Tavor non vanno sospesi bruscamente dopo un uso prolungato.",
    "Il Cardioaspirin riduce il rischio di eventi cardiovascolari in prevenzione secondaria.",
    "Il Coumadin richiede il controllo regolare dell'INR.",
    "La manovra di Valsalva può aiutare in caso di tachicardia parossistica.",
    "Con un PSA di 4,1 ng/ml conviene ripetere l'esame tra tre mesi.",
    "Il circolo di Willis è una struttura vascolare alla base del cervello.",
    "La malattia di Lyme si trasmette con il morso di zecca.",
    "Il punto di McBurney è dolente nell'appendicite acuta.",
    "Una colonscopia dopo i cinquant'anni è comunque consigliata.",
    "La risonanza magnetica del ginocchio mostra una lesione del menisco mediale.",
    "Il Lyrica può dare sonnolenza e vertigini nelle prime settimane.",
    "Augmentin e Zitromax sono antibiotici diversi, con indicazioni diverse.",
    "Moment e Oki sono antinfiammatori da banco: non superi le dosi indicate.",
    "La sindrome di Sjögren può causare secchezza degli occhi e della bocca.",
    "La glicemia a digiuno di 112 mg/dl indica un'alterata glicemia a digiuno.",
    "Il linfoma di Hodgkin ha oggi buone probabilità di guarigione.",
    "L'ernia del disco L5-S1 spiega il dolore irradiato alla gamba.",
    "Massimo due compresse al giorno, per non più di cinque giorni.",
    "Durante la gravidanza è indicato l'acido folico.",
    "Stia tranquilla: il quadro descritto non è preoccupante.",
    "Serve una visita: solo così si può escludere una patologia organica.",
    "La papilla di Vater è il punto in cui il coledoco sbocca nel duodeno.",
    "Il Voltaren in gel si può usare per qualche giorno sulla zona dolente.",
    "La scala di Glasgow misura lo stato di coscienza.",
    "In Italia l'incidenza della malattia è simile a quella del resto d'Europa.",
    "Il Pronto Soccorso è il luogo giusto in caso di dolore toracico.",
    "Si rivolga al Centro di Salute Mentale della sua ASL.",
    "Un Centro Trasfusionale può eseguire il prelievo.",
    "In ospedale eseguiranno un elettrocardiogramma e gli esami del sangue.",
    "L'Istituto Superiore di Sanità raccomanda la vaccinazione antinfluenzale dopo i 60 anni.",
    "Ogni anno migliaia di pazienti si rivolgono al Servizio Sanitario Nazionale per questo disturbo.",
]
CLOSINGS = ["Cordiali saluti", "Cordialmente", "Distinti saluti", "Un caro saluto", "Arrivederci", "Saluti",
            "Cordiali saluti e auguri", "Buona giornata", "Un saluto cordiale", "Resto a disposizione. Saluti"]
# Sign-offs of clean answers: a closing formula and nothing personal after it.
CLEAN_ENDINGS = ["Cordiali saluti.", "Cordialmente.", "Un caro saluto e auguri di pronta guarigione.",
                 "Distinti saluti.", "Arrivederci e buona giornata.", "Saluti e auguri!", "Cordiali saluti",
                 "Un saluto cordiale, a presto."]
TITLES = ["Dott.", "Dr.", "Dott.ssa", "Dr.ssa", "Prof.", "dott.", "Dottor", "Prof.ssa", "dr."]
ROLES = ["Specialista in Cardiologia", "Odontoiatra", "Primario di Ortopedia", "Psicologo", "Medico chirurgo",
         "Specialista in Ginecologia e Ostetricia", "Psicologa psicoterapeuta", "Dirigente medico",
         "Specialista in Urologia", "Medico di medicina generale", "specialista in dermatologia",
         "Responsabile U.O. di Gastroenterologia", "Direttore della Chirurgia Generale", "Urologo andrologo",
         "Neurologo", "Fisiatra"]
GREETINGS = ["Caro", "Cara", "Gentile", "Gentilissima", "Salve", "Buongiorno", "Ciao"]
SEPARATORS = [", ", ",\n", "\n", " - ", " – ", ". ", " | ", ",", "  ", "\n\n"]


def _load() -> dict:
    return json.loads(HELDOUT.read_text("utf-8"))


def _case(rng: random.Random, s: str) -> str:
    """The same name in title case (most), lower case or upper case, as written in forums."""
    r = rng.random()
    return s.lower() if r < 0.18 else s.upper() if r < 0.26 else s


class _Gen:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        lists = _load()
        self.first = lists["first_names"]
        self.foreign = lists["foreign_first_names"]
        self.last = lists["surnames"]
        self.towns = [tuple(t) for t in lists["towns"]]

    # -- pieces
    def person(self) -> str:
        rng = self.rng
        first = rng.choice(self.foreign if rng.random() < 0.15 else self.first)
        last = rng.choice(self.last)
        form = rng.random()
        name = f"{first} {last}" if form < 0.45 else last if form < 0.7 else f"{last} {first}" if form < 0.85 else f"{first[0]}. {last}"
        return _case(rng, name)

    def town(self, code: bool | None = None) -> tuple[str, str]:
        name, prov = self.rng.choice(self.towns)
        name = _case(self.rng, name) if self.rng.random() < 0.5 else name
        if code is None:
            code = self.rng.random() < 0.5
        if code:
            return name + self.rng.choice([" (", "(", " ("]) + prov + ")", "LUOGO"
        return name, "LUOGO"

    def facility(self) -> str:
        rng = self.rng
        last, first = rng.choice(self.last), rng.choice(self.first)
        town = rng.choice(self.towns)[0]
        forms = [
            f'Ospedale "San {first}" - {town}', f"Ospedale San {first} di {town}", f"Clinica {last}",
            f"Casa di cura Villa {first}", f"Centro del {last}", f"Centro Medico {last}", f"Ospedale di {town}",
            f"Policlinico {last}", f"Istituto Clinico {last}", f'Casa di Cura "{first} {last}"',
            f"Poliambulatorio {last}", f"Centro Diagnostico {last} di {town}",
        ]
        return rng.choice(forms)

    def phone(self) -> str:
        rng = self.rng
        return rng.choice(["333", "347", "339", "02", "06", "011"]) + rng.choice([" ", "", "-", "."]) + \
            "".join(str(rng.randrange(10)) for _ in range(7))

    def email(self) -> str:
        rng = self.rng
        return f"{rng.choice(self.first).lower().replace(' ', '')}.{rng.choice(self.last).lower().replace(' ', '')}@{rng.choice(['gmail.com', 'libero.it', 'studio.it', 'pec.it'])}"

    def body(self, k: int | None = None) -> str:
        k = k or self.rng.randint(2, 4)
        return " ".join(self.rng.sample(BODIES, k))

    # -- answers
    def signature(self, b: _Builder) -> None:
        rng = self.rng
        b.add(self.body() + rng.choice([" ", "\n", "\n\n"]))
        if rng.random() < 0.12:  # a whole signature typed in lower case
            sub = _Builder()
            self._signature(sub)
            b.extend(sub, str.lower)
            return
        self._signature(b)

    def _signature(self, b: _Builder) -> None:
        rng = self.rng
        b.add(rng.choice(CLOSINGS) if rng.random() < 0.85 else rng.choice(CLOSINGS).lower())
        b.add(rng.choice(SEPARATORS))
        if rng.random() < 0.5:
            title = rng.choice(TITLES)
            b.add(title + (rng.choice([" ", " ", ""]) if title.endswith(".") else " "))
        b.add(self.person(), "NOME")
        if rng.random() < 0.7:
            b.add(rng.choice(SEPARATORS) + (rng.choice(ROLES) if rng.random() < 0.85 else rng.choice(ROLES).lower()))
        if rng.random() < 0.4:
            b.add(rng.choice(SEPARATORS)).add(self.facility(), "STRUTTURA")
        if rng.random() < 0.6:
            b.add(rng.choice(SEPARATORS))
            b.add(*self.town())
        if rng.random() < 0.15:
            b.add(rng.choice([", tel. ", " - cell. ", "\nTel "])).add(self.phone(), "TELEFONO")
        if rng.random() < 0.1:
            b.add(rng.choice([" - ", "\n", ", "])).add(self.email(), "EMAIL")

    def middle(self, b: _Builder) -> None:
        rng = self.rng
        b.add(self.body(rng.randint(1, 2)) + " ")
        style = rng.randrange(7)
        if style == 0:
            b.add(rng.choice(["Se vuole, ricevo a ", "Ricevo anche a ", "Visito privatamente a ", "Il mio studio è a "]))
            b.add(*self.town())
            b.add(rng.choice([" il martedì.", ", su appuntamento.", "."]))
        elif style == 1:
            b.add(rng.choice(["Come le ha detto il ", "Ne parli con il ", "Può rivolgersi alla collega "]))
            b.add(rng.choice(TITLES) + " ").add(self.person(), "NOME").add(rng.choice([", che conosce bene il problema.", ".", " al più presto."]))
        elif style == 2:
            b.add(rng.choice(["Lavoro presso ", "Può prenotare presso ", "Opero al ", "Può chiamare il "]))
            b.add(self.facility(), "STRUTTURA").add(rng.choice([".", " per una visita.", ", reparto di Cardiologia."]))
        elif style == 3:
            b.add(rng.choice(["Sono il ", "Sono la ", "Le scrive il "]) + rng.choice(TITLES) + " ")
            b.add(self.person(), "NOME").add(", ")
            b.add(rng.choice(["chirurgo a ", "ginecologo a ", "dentista a "])).add(*self.town(code=False)).add(".")
        elif style == 4:
            b.add("Può contattarmi al ").add(self.phone(), "TELEFONO").add(" oppure scrivere a ").add(self.email(), "EMAIL").add(".")
        elif style == 5:
            b.add("Presso il mio studio a ").add(*self.town(code=True)).add(" eseguo l'ecografia.")
        else:
            b.add("Per una seconda opinione senta il ").add(self.facility(), "STRUTTURA").add(".")
        b.add(" " + self.body(1))

    def greeting(self, b: _Builder) -> None:
        rng = self.rng
        first = rng.choice(self.foreign if rng.random() < 0.3 else self.first)
        b.add(rng.choice(GREETINGS) + " ").add(_case(rng, first) if rng.random() < 0.3 else first, "NOME")
        b.add(rng.choice([",\n", ", ", "!\n", ",\n\n"])).add(self.body())

    def clean(self, b: _Builder) -> None:
        rng = self.rng
        b.add(self.body(rng.randint(2, 5)))
        if rng.random() < 0.6:
            b.add(rng.choice([" ", "\n", "\n\n"]) + rng.choice(CLEAN_ENDINGS))


# ---------------------------------------------------------------- the shapes of issue 21
# Written from the description of what leaks on real answers and from how doctors sign
# on Italian health forums, not from the detector's patterns: closing formulas, titles, roles and
# greetings here are this generator's own lists (many are absent from the detector's).
SIGN_OFFS = [
    "Cordiali saluti", "Cordialità", "Cordialmente", "Saluti", "Saluti cordiali", "Un cordiale saluto",
    "Un caro saluto", "Un saluto", "Distinti saluti", "Arrivederci", "Auguri", "Tanti auguri", "Buona fortuna",
    "In bocca al lupo", "A presto", "Buona giornata", "Buona serata", "Resto a disposizione",
    "Rimango a disposizione per ulteriori chiarimenti", "Un abbraccio", "Saluti e auguri",
    "Auguri di pronta guarigione", "Buona guarigione", "Le auguro ogni bene", "Un saluto cordiale",
    "Con i migliori auguri", "Grazie a lei", "Molti auguri",
]
SIGN_TITLES = [
    "Dott.", "Dott", "dott.", "dott", "Dr.", "Dr", "dr.", "dr", "Dott.ssa", "dott.ssa", "D.ssa", "d.ssa", "Dr.ssa",
    "dr.ssa", "Dott.sa", "Prof.", "prof.", "Prof", "prof", "Prof.ssa", "prof.ssa", "Dott.re", "dott.re", "Dottor",
    "Dottore", "Dottoressa", "dottoressa", "Professor", "Professore", "Professoressa", "Prof. Dott.", "Dott. Prof.",
]
PROFESSIONS = [
    "Odontoiatra", "Odontoiatra Specialista in Ortodonzia", "Psichiatra", "Psichiatria", "Cardiochirurgo",
    "Medico Chirurgo", "Medico chirurgo specialista in Ginecologia", "Pediatra", "Pediatria", "Ortopedico",
    "Oculista", "Chirurgo Plastico", "Otorinolaringoiatra", "Neurochirurgo", "Dietista", "Nutrizionista",
    "Biologo Nutrizionista", "Osteopata", "Fisioterapista", "Endocrinologo", "Gastroenterologo", "Reumatologo",
    "Allergologo", "Dermatologo", "Specialista in Dermatologia e Venereologia", "Specialista in Medicina dello Sport",
    "Specialista in Chirurgia Vascolare", "Sessuologo clinico", "Medico Estetico", "Andrologia", "Cardiologia",
    "Neurologia", "Senologia", "Urologo - Andrologo", "Psicologo Psicoterapeuta", "Psicoterapeuta", "Ginecologa",
    "Medico di Medicina Generale", "Specialista in Otorinolaringoiatria", "Specialista in Ostetricia e Ginecologia",
    "Chirurgia Generale", "Medicina Interna", "Flebologo", "Proctologo", "Ematologo", "Oncologo", "Nefrologo",
    "specialista in urologia", "odontoiatra", "psicologa", "medico di famiglia", "Igienista dentale", "Logopedista",
]
GREETING_OPENERS = ["Gentile", "Gentilissima", "Gentilissimo", "Gent.ma", "Gent.mo", "Gent.le", "Cara", "Caro",
                    "Carissima", "Egregio", "Egregia", "Buongiorno", "Buonasera", "Salve", "Ciao", "gentile", "cara"]
# Greetings that address nobody by name: the noun must stay ("Gentile signora" is no name).
NAMELESS_GREETINGS = [
    "Gentile signora", "Gentile Signora", "Gentile signore", "Gentile utente", "Gentile Utente", "Gent.mo utente",
    "Gent.ma utente", "Gent.ma mamma", "Gent.ma signora", "Gent.le signora", "Gentilissima signora", "Cara amica",
    "Caro amico", "Cara mamma", "Cara signora", "Caro ragazzo", "Cara ragazza", "Gentile paziente",
    "Gentile lettrice", "Gentile lettore", "Gentile signorina", "Egregio signore", "Gentile sig.ra",
    "Gentile Sig.ra", "Gentile sig.", "Gentili genitori", "Cari genitori", "Gentile coppia", "Cara futura mamma",
    "Gentile mamma", "Gentile papà", "Caro papà", "Carissima", "Gentilissima", "Gentile", "Salve", "Buongiorno",
    "Buonasera", "Salve a lei", "Gentile utente anonimo", "Cara utente", "Gentile collega", "Caro collega",
    "Gent.mo signore", "Gentile Sig. utente", "Gentile amica", "Gentile ragazzo", "Gentile ragazza", "Cara giovane",
    "Gentile giovane", "Gentile mamma in attesa", "Gentile utente del forum", "Buongiorno signora",
]
CARE_PLACES = [  # a town where the text sends the patient for care: kept under the "care" policy
    ("A {town} troverà un centro con molta esperienza in questo campo.", "place care"),
    ("Le consiglio di farsi vedere a {town}, dove c'è un ambulatorio dedicato.", "place care"),
    ("Se può spostarsi, a {town} ci sono colleghi molto bravi.", "place care"),
    ("Si rivolga a un centro per le cefalee: ce n'è uno a {town}.", "place care"),
    ("Valuti una seconda opinione presso l'ospedale di {town}.", "place care"),
    ("La Neurochirurgia di {town} tratta spesso questi casi.", "place department"),
    ("Può rivolgersi alla Cardiologia dell'ospedale di {town}.", "place department"),
    ("Il reparto di Ematologia di {town} è un centro di riferimento.", "place department"),
    ("L'Oncologia di {town} ha un percorso per la diagnosi precoce.", "place department"),
    ("C'è un buon centro per i disturbi del sonno in provincia di {town}.", "place province"),
]
PATIENT_PLACES = [  # where the asker lives: identifying, never kept
    "Se abita in provincia di {town}, il centro più vicino è comunque raggiungibile.",
    "Lei che vive a {town} può chiedere al suo medico di base.",
    "Capisco che da {town} sia scomodo spostarsi.",
]
GENERIC_PLACES = [  # a town in a general remark
    "Qualche anno fa un focolaio di legionella a {town} ha fatto discutere.",
    "Il caso di meningite registrato a {town} non cambia le raccomandazioni.",
    "I dati raccolti in provincia di {town} sono in linea con quelli nazionali.",
]
MONTHS = ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre",
          "novembre", "dicembre"]
# Clean sentences that look like PII: specialties and professions, markers, DOIs, capitalised phrases,
# towns inside disease names. `{keep}` marks the piece that must survive.
LOOKALIKES = {
    "clean specialty": [
        ("Le serve il parere di uno {keep}.", ["Specialista in Dermatologia", "specialista in Ortodonzia",
                                               "Specialista in Pediatria", "specialista in Psichiatria",
                                               "Specialista in Chirurgia Plastica", "specialista in Andrologia",
                                               "Specialista in Medicina Interna"]),
        ("Si faccia visitare da un {keep} al più presto.", ["Odontoiatra", "Pediatra", "Cardiochirurgo", "Neurochirurgo",
                                                             "Ortopedico", "Psicoterapeuta", "Endocrinologo",
                                                             "Otorinolaringoiatra", "Gastroenterologo", "Flebologo"]),
        ("Serve una visita in {keep}, non è urgente.", ["Pediatria", "Dermatologia", "Psichiatria", "Ortodonzia",
                                                         "Chirurgia Vascolare", "Medicina dello Sport"]),
        ("Ne parli con il suo {keep}.", ["Medico di Medicina Generale", "Ginecologo", "Reumatologo", "Odontoiatra"]),
    ],
    "clean marker": [
        ("Il {keep} è nei limiti e non va ripetuto.", ["Ca 19.9", "CA 19-9", "Ca 125", "CA 15.3", "CA 15-3", "Ca 72-4", "CEA"]),
        ("Un {keep} lievemente alto non significa tumore.", ["Ca 19.9", "CA 125", "Ca 15.3", "PSA"]),
        ("Nel referto il {keep} risulta 38 U/ml.", ["Ca 19.9", "CA 125", "Ca 19-9 sierico"]),
    ],
    "clean doi": [
        ("Trova lo studio qui: {keep}.", ["doi: 10.1016/j.jhep.2015.03.012", "DOI 10.1056/NEJMoa1502345",
                                          "doi:10.1093/eurheartj/ehw128", "doi 10.1001/jama.2019.1234"]),
        ("I dati sono pubblicati ({keep}).", ["PMID: 25632458", "PMID 31415926", "doi: 10.1136/bmj.m3339"]),
    ],
    "clean phrase": [
        ("Lo {keep} dell'ospedale esegue la polisonnografia.", ["Studio Strumentale del Sonno"]),
        ("Il {keep} dell'ospedale esegue la polisonnografia.", ["Centro del Sonno", "Servizio di Neurofisiologia"]),
        ("{keep} a me: non si preoccupi.", ["Dia retta", "Dia Retta", "Creda"]),
        ("Si rivolga al {keep} della sua zona.", ["Servizio di Guardia Medica", "Medico di Base", "Centro Antidiabetico",
                                                  "Pronto Soccorso", "Consultorio Familiare", "Centro Prelievi",
                                                  "Dipartimento di Salute Mentale", "Day Hospital"]),
        ("{keep}: la terapia può proseguire.", ["Stia Tranquilla", "Nessuna Paura", "Buone Notizie"]),
    ],
    "clean disease place": [
        ("La {keep} è rara in Italia.", ["febbre del Nilo occidentale", "malattia di Lyme", "encefalite di St. Louis",
                                         "febbre mediterranea familiare", "febbre di Marburg", "encefalite giapponese",
                                         "febbre emorragica di Crimea-Congo", "sindrome di Stoccolma"]),
        ("L'{keep} si trasmette con le zanzare.", ["encefalite giapponese", "infezione da virus del Nilo occidentale"]),
    ],
    "clean numbers": [
        ("Prenda {keep} dopo i pasti.", ["1 compressa da 20 mg", "2 bustine al giorno", "12,5 mg alle ore 8.30"]),
        ("La pressione di {keep} va ricontrollata.", ["140/90 mmHg", "150/95", "135 / 85 mmHg"]),
        ("Un valore di {keep} è nella norma.", ["INR 2,5", "TSH 2.35 mU/L", "emoglobina 13,2 g/dl"]),
    ],
}
# Entries of the held-out lists that are noise of the source, not names anybody has.
_NOT_REALLY_NAMES = frozenset("ciao nonna pinco giu lollo momo toto echo itz md med jo".split())


def _misspell(rng: random.Random, name: str) -> str:
    """A first name as typed in a hurry: a vowel swapped or a double letter made single."""
    for i in range(1, len(name) - 1):
        if name[i] == name[i + 1] and rng.random() < 0.7:
            return name[:i] + name[i + 1:]
    vowels = [i for i, c in enumerate(name) if c in "aeiou" and 0 < i < len(name) - 1]
    if not vowels:
        return name + name[-1]
    i = rng.choice(vowels)
    return name[:i] + rng.choice([v for v in "aeiou" if v != name[i]]) + name[i + 1:]


class _Shapes(_Gen):
    """The shapes that leak on real answers, each built from held-out list entries only."""

    def __init__(self, seed: int):
        super().__init__(seed)
        self.first = [n for n in self.first if n.lower() not in _NOT_REALLY_NAMES]
        self.foreign = [n for n in self.foreign if n.lower() not in _NOT_REALLY_NAMES]
        self.last = [n for n in self.last if n.lower() not in _NOT_REALLY_NAMES]

    def given(self) -> str:
        return self.rng.choice(self.foreign if self.rng.random() < 0.15 else self.first)

    def sep(self) -> str:
        return self.rng.choice([", ", ",\n", "\n", " - ", ". ", " ", "\n\n", " – ", "; "])

    def sign_off(self) -> str:
        s = self.rng.choice(SIGN_OFFS)
        return s.lower() if self.rng.random() < 0.15 else s

    def tail_place(self, b: _Builder, shape="place signature") -> None:
        town, prov = self.rng.choice(self.towns)
        r = self.rng.random()
        if r < 0.3:
            b.add(" - ").add(town.upper(), "LUOGO", "place upper tail", "signature")
        elif r < 0.6:
            b.add(self.sep()).add(town, "LUOGO", shape, "signature")
        else:
            b.add(self.sep()).add(f"{town} ({prov})", "LUOGO", "place code", "signature")

    # -- signatures
    def sig_lower(self, b: _Builder) -> None:
        """`... Auguri. marco ferretti`, `cordialità brambilla`: the whole name in lower case."""
        rng = self.rng
        b.add(self.body() + rng.choice([" ", "\n"]) + self.sign_off() + rng.choice([". ", ", ", "\n", " "]))
        form = rng.random()
        first, last = self.given(), rng.choice(self.last)
        name = f"{first} {last}" if form < 0.5 else last if form < 0.8 else f"{last} {first}"
        b.add(name.lower(), "NOME", "sig lower")
        if rng.random() < 0.4:
            b.add(rng.choice([" ", ", ", "\n"]) + rng.choice(PROFESSIONS).lower())

    def sig_surname(self, b: _Builder) -> None:
        """`Arrivederci Zanchetta`, `Saluti, Rossetti`: a bare surname no list holds."""
        rng = self.rng
        b.add(self.body() + rng.choice([" ", "\n"]) + self.sign_off() + rng.choice([" ", ", ", "\n", ". ", " - "]))
        last = rng.choice(self.last)
        b.add(last.upper() if rng.random() < 0.15 else last, "NOME", "sig surname")
        if rng.random() < 0.3:
            b.add(self.sep() + rng.choice(PROFESSIONS))

    def sig_initials(self, b: _Builder) -> None:
        """`Saluti, P. Gallo`, `G.M. Rossi Bianchi Cardiochirurgo`."""
        rng = self.rng
        b.add(self.body() + rng.choice([" ", "\n"]) + self.sign_off() + rng.choice([", ", "\n", " "]))
        a, c = self.given()[0], self.given()[0]
        last = rng.choice(self.last)
        initials = rng.choice([f"{a}.", f"{a}.{c}.", f"{a}. {c}.", f"{a.lower()}."])
        if rng.random() < 0.3:
            last += " " + rng.choice(self.last)
        b.add(f"{initials} {last}", "NOME", "sig initials")
        if rng.random() < 0.5:
            b.add(rng.choice([" ", ", ", "\n"]) + rng.choice(PROFESSIONS))

    def sig_profession(self, b: _Builder) -> None:
        """`marco ferretti Odontoiatra Specialista in Ortodonzia`: a profession right after the name."""
        rng = self.rng
        closing = rng.random() < 0.7
        b.add(self.body() + rng.choice([" ", "\n"]) + (self.sign_off() + rng.choice([", ", "\n", ". "]) if closing else ""))
        name = f"{self.given()} {rng.choice(self.last)}"
        name = name.lower() if rng.random() < 0.3 else name
        b.add(name, "NOME", "sig profession").add(" " + rng.choice(PROFESSIONS))
        if rng.random() < 0.3:
            self.tail_place(b)

    def half_name(self, b: _Builder) -> None:
        """Double surnames, initials before a surname, misspelled first names, a first name and an initial."""
        rng = self.rng
        b.add(self.body() + rng.choice([" ", "\n"]) + self.sign_off() + rng.choice([", ", "\n", " "]))
        if rng.random() < 0.5:
            b.add(rng.choice(SIGN_TITLES) + " ")
        first, last, last2 = self.given(), rng.choice(self.last), rng.choice(self.last)
        form = rng.randrange(4)
        name = [f"{first} {last} {last2}", f"{first[0]}.{self.given()[0]}. {last} {last2}",
                f"{_misspell(rng, first)} {last}", f"{first} {last[0]}."][form]
        b.add(name, "NOME", "half name").add(" " + rng.choice(PROFESSIONS))

    def sig_mixed(self, b: _Builder) -> None:
        """A full signature block of the forums: title, name, role, facility or town, in any case."""
        rng = self.rng
        b.add(self.body() + rng.choice([" ", "\n"]) + self.sign_off() + self.sep())
        if rng.random() < 0.6:
            b.add(rng.choice(SIGN_TITLES) + " ")
        name = f"{self.given()} {rng.choice(self.last)}" if rng.random() < 0.6 else rng.choice(self.last)
        b.add(_case(rng, name), "NOME", "sig full")
        b.add(self.sep() + rng.choice(PROFESSIONS))
        if rng.random() < 0.6:
            self.tail_place(b)

    # -- titles mid-text
    def title(self, b: _Builder) -> None:
        rng = self.rng
        t = rng.choice(SIGN_TITLES)
        name = f"{self.given()} {rng.choice(self.last)}" if rng.random() < 0.5 else rng.choice(self.last)
        name = name.lower() if rng.random() < 0.2 else name
        shape = "title " + t.lower()
        form = rng.randrange(6)
        b.add(self.body(rng.randint(1, 2)) + " ")
        before, after = [
            ("Come le ha già detto il ", ", serve un controllo."), ("Si rivolga pure alla ", " del reparto."),
            ("Il ", " è molto esperto di questi disturbi."), ("Ho sentito il ", " e concorda con me."),
            (self.sign_off() + self.sep(), ""), ("Le risponde ", "."),
        ][form]
        b.add(before).keep(t, "title kept").add(" ").add(name, "NOME", shape).add(after)
        b.add(" " + self.body(1))

    # -- greetings
    def greeting_name(self, b: _Builder) -> None:
        """`Gentile Federica, ...`, `Cara Giulia`, `Gentile signora Maria,`."""
        rng = self.rng
        first = self.given()
        first = first.lower() if rng.random() < 0.2 else first
        if rng.random() < 0.25:
            b.keep(rng.choice(["Gentile signora", "Cara signora", "Gentile sig.ra", "Gent.ma Sig.ra", "Gentile Signora"]),
                   "greeting noun").add(" ").add(first, "NOME", "greeting noun name")
        else:
            b.add(rng.choice(GREETING_OPENERS) + " ").add(first, "NOME", "greeting name")
        b.add(rng.choice([",\n", ", ", "!\n", ",\n\n", ":\n", " "])).add(self.body())
        if rng.random() < 0.4:
            b.add(rng.choice([" ", "\n"]) + rng.choice(CLEAN_ENDINGS))

    def greeting_nameless(self, b: _Builder, with_pii: bool) -> None:
        rng = self.rng
        b.keep(rng.choice(NAMELESS_GREETINGS), "greeting no name")
        b.add(rng.choice([",\n", ", ", "!\n", ",\n\n", ":\n", ". "]) + self.body())
        if with_pii:
            b.add(rng.choice([" ", "\n"]) + self.sign_off() + self.sep() + rng.choice(SIGN_TITLES) + " ")
            b.add(f"{self.given()} {rng.choice(self.last)}", "NOME", "sig full")
        elif rng.random() < 0.5:
            b.add(rng.choice([" ", "\n"]) + rng.choice(CLEAN_ENDINGS))

    # -- places
    def _town(self, lower: bool = False) -> str:
        town = self.rng.choice(self.towns)[0]
        return town.lower() if lower else town

    def place(self, b: _Builder) -> None:
        rng = self.rng
        b.add(self.body(rng.randint(1, 2)) + " ")
        kind = rng.randrange(8)
        lower = rng.random() < 0.2
        if kind in (0, 1):
            template, shape = rng.choice(CARE_PLACES)
            self._fill(b, template, self._town(lower), "place lower" if lower else shape, "care")
        elif kind == 2:
            template = rng.choice(PATIENT_PLACES)
            shape = "place lower" if lower else "place province" if "provincia" in template else "place patient"
            self._fill(b, template, self._town(lower), shape, "")
        elif kind == 3:
            self._fill(b, rng.choice(GENERIC_PLACES), self._town(lower), "place lower" if lower else "place generic", "")
        elif kind == 4:  # a dateline, at the top or the bottom of the answer
            town = self._town()
            town = town.upper() if rng.random() < 0.6 else town
            date = rng.choice([f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 24)}",
                               f"{rng.randint(1, 28)} {rng.choice(MONTHS)} 20{rng.randint(10, 24)}"])
            sep = rng.choice([" ", ", ", ", lì ", " lì "])
            if rng.random() < 0.5:  # on its own line, before the answer or after it
                b.parts[-1] = b.parts[-1].rstrip(" ") + "\n"
                b.n = sum(map(len, b.parts))
                b.add(town, "LUOGO", "place dateline", "dateline").add(f"{sep}{date}")
                return
            b.parts, b.n = [], 0
            b.add(town, "LUOGO", "place dateline", "dateline").add(f"{sep}{date}\n" + self.body(rng.randint(1, 3)))
            return
        elif kind == 5:  # next to a person's name
            b.add(rng.choice(["Dott. ", "Dr. ", "Dott.ssa "])).add(f"{self.given()} {rng.choice(self.last)}", "NOME", "sig full")
            b.add(" (" + rng.choice(["cardiologo", "ginecologa", "urologo", "dermatologo"]) + ", ")
            b.add(self._town(), "LUOGO", "place signature", "person").add(")")
        elif kind == 6:  # the town of the doctor's practice, in the answer
            b.add(rng.choice(["Ricevo a ", "Visito anche a ", "Il mio studio è a ", "Lavoro a "]))
            b.add(self._town(lower), "LUOGO", "place lower" if lower else "place practice", "person").add(rng.choice([".", ", su appuntamento.", " il giovedì."]))
        else:
            b.add(self.sign_off() + self.sep() + rng.choice(["Dott. ", "Dr. ", ""]))
            b.add(f"{self.given()} {rng.choice(self.last)}", "NOME", "sig full")
            self.tail_place(b)
            return  # a signature ends the answer
        b.add(" " + self.body(1))

    def _fill(self, b: _Builder, template: str, town: str, shape: str, context: str) -> None:
        before, after = template.split("{town}")
        b.add(before).add(town, "LUOGO", shape, context).add(after)

    # -- clean text that looks like PII
    def lookalike(self, b: _Builder) -> str:
        rng = self.rng
        shape = rng.choice(sorted(LOOKALIKES))
        b.add(self.body(rng.randint(1, 2)) + " ")
        template, fills = rng.choice(LOOKALIKES[shape])
        before, after = template.split("{keep}")
        b.add(before).keep(rng.choice(fills), shape).add(after)
        if rng.random() < 0.5:
            b.add(" " + self.body(1))
        if rng.random() < 0.4:
            b.add(rng.choice([" ", "\n"]) + rng.choice(CLEAN_ENDINGS))
        return shape


NAME_SHAPES = ("sig_lower", "sig_surname", "sig_initials", "sig_profession", "half_name", "sig_mixed", "title",
               "greeting_name")


def generate(size: int = 2000, seed: int = 0, clean_share: float = 0.3) -> list[Case]:
    """`size` answers, about `clean_share` without PII; the same seed gives the same set.

    Half of the PII answers are in the shapes of issue 21 (lower-case and unknown-surname
    signatures, initials, half names, each title, greetings with names, each place form),
    the rest in the earlier styles; clean answers are plain medical text, greetings that
    name nobody, and text that looks like PII (specialties, markers, DOIs, capitalised
    phrases, towns inside disease names).
    """
    gen = _Shapes(seed)
    classic = [gen.signature] * 5 + [gen.middle] * 3 + [gen.greeting]
    shaped = [getattr(gen, n) for n in NAME_SHAPES] + [gen.place] * 4
    out = []
    for i in range(size):
        b = _Builder()
        r = gen.rng.random()
        if r < clean_share:
            kind = gen.rng.randrange(3)
            if kind == 0:
                gen.clean(b)
                shape = "clean body"
            elif kind == 1:
                gen.greeting_nameless(b, with_pii=False)
                shape = "clean greeting"
            else:
                shape = gen.lookalike(b)
        elif gen.rng.random() < 0.5:
            style = gen.rng.choice(classic)
            style(b)
            if style is gen.greeting and gen.rng.random() < 0.5:
                b.add(" ")
                gen.signature(b)
            shape = "classic " + style.__name__
        elif gen.rng.random() < 0.1:
            gen.greeting_nameless(b, with_pii=True)
            shape = "greeting no name + signature"
        else:
            style = gen.rng.choice(shaped)
            style(b)
            shape = style.__name__
        out.append(b.case(f"{shape.replace(' ', '_')}-{i:05d}", shape))
    return out


# ---------------------------------------------------------------- measurement
_WORDS = re.compile(r"[\wÀ-ÿ'’]+")
# Words inside a PII item that identify nobody: titles, facility kinds, particles.
_NOT_IDENTIFYING = frozenset(
    """ospedale clinica casa di cura villa centro del della medico diagnostico clinico policlinico istituto
    poliambulatorio san santa sant de di da la lo le dei degli tel cell gmail libero pec studio com it""".split()
)


def _identifying(value: str) -> list[str]:
    words = [w.lower().strip("'’") for w in _WORDS.findall(value)]
    return [w for w in words if len(w) >= 2 and w not in _NOT_IDENTIFYING]


def _counts(text: str) -> Counter:
    return Counter(w.lower().strip("'’") for w in _WORDS.findall(text))


def left_items(case: Case, output: str, items=None) -> list[tuple[int, int, str]]:
    """PII items of `case` (or `items`) with an identifying word still in `output`, more often than
    in the text outside all of the case's items."""
    outside = case.text
    for start, end, _ in sorted(case.pii, reverse=True):
        outside = outside[:start] + " " + outside[end:]
    base, now = _counts(outside), _counts(output)
    return [item for item in (case.pii if items is None else items)
            if any(now[w] > base[w] for w in _identifying(case.text[item[0]:item[1]]))]


def _kept(case: Case, output: str, start: int, end: int) -> bool:
    piece = case.text[start:end]
    return output.count(piece) >= case.text.count(piece)


def evaluate(anonymizer, cases: Sequence[Case], batch_size: int = 64, place_policy: str = "replace") -> dict:
    """Recall per type and per shape, answers with a name left, precision on clean answers and on
    greetings that name nobody, all from the generator's ground truth.

    Under the "care" place policy a town where the text sends the patient for care is not PII:
    it is counted in `care_places_kept` instead (kept is right there), never as a leak.
    """
    outputs = []
    for i in range(0, len(cases), batch_size):
        outputs += [r.text for r in anonymizer.anonymize_batch([c.text for c in cases[i:i + batch_size]])]
    per_type_total, per_type_left = Counter(), Counter()
    per_shape_total, per_shape_left = Counter(), Counter()
    keep_total, keep_ok = Counter(), Counter()
    clean_shape_total, clean_shape_ok = Counter(), Counter()
    pii_answers = answers_left = name_answers = name_left = clean = clean_changed = 0
    care_total = care_kept = 0
    misses = []
    for case, out in zip(cases, outputs):
        for start, end, shape in case.keep:
            keep_total[shape] += 1
            if _kept(case, out, start, end):
                keep_ok[shape] += 1
            else:
                misses.append({"id": case.id, "kind": "lost", "shape": shape, "text": case.text[start:end], "output": out})
        items = list(zip(case.pii, case.shapes or [""] * len(case.pii), case.contexts or [""] * len(case.pii)))
        if place_policy == "care":
            care = [it for it in items if it[0][2] == "LUOGO" and it[2] == "care"]
            care_total += len(care)
            care_kept += sum(1 for (s, e, _), _, _ in care if _kept(case, out, s, e))
            items = [it for it in items if it not in care]
        if not items:
            clean += 1
            clean_shape_total[case.shape] += 1
            if out == case.text:
                clean_shape_ok[case.shape] += 1
            else:
                clean_changed += 1
                misses.append({"id": case.id, "kind": "clean changed", "text": case.text, "output": out})
            continue
        pii_answers += 1
        left = set(left_items(case, out, [it[0] for it in items]))
        has_name = any(it[0][2] == "NOME" for it in items)
        name_answers += has_name
        for item, shape, _ in items:
            per_type_total[item[2]] += 1
            per_shape_total[shape] += 1
            if item in left:
                per_type_left[item[2]] += 1
                per_shape_left[shape] += 1
        if left:
            answers_left += 1
            name_left += any(item[2] == "NOME" for item in left)
            misses.append({"id": case.id, "kind": "pii left", "left": [case.text[s:e] for s, e, _ in left],
                           "shapes": [sh for it, sh, _ in items if it in left], "output": out})
    share = lambda a, b: round(a / b, 4) if b else 0.0  # noqa: E731
    greet = [s for s in keep_total if s.startswith("greeting")]
    return {
        "answers": len(cases),
        "place_policy": place_policy,
        "answers_with_pii": pii_answers,
        "answer_residual": share(answers_left, pii_answers),
        "answers_with_name": name_answers,
        "name_residual": share(name_left, name_answers),
        "recall_per_type": {t: share(per_type_total[t] - per_type_left[t], per_type_total[t]) for t in sorted(per_type_total)},
        "items_per_type": dict(sorted(per_type_total.items())),
        "recall": share(sum(per_type_total.values()) - sum(per_type_left.values()), sum(per_type_total.values())),
        "recall_per_shape": {s: share(per_shape_total[s] - per_shape_left[s], per_shape_total[s]) for s in sorted(per_shape_total)},
        "items_per_shape": dict(sorted(per_shape_total.items())),
        "place_residual_per_form": {s: share(per_shape_left[s], per_shape_total[s]) for s in sorted(per_shape_total)
                                    if s.startswith("place")},
        "clean_answers": clean,
        "clean_changed": clean_changed,
        "clean_precision": share(clean - clean_changed, clean),
        "clean_precision_per_shape": {s: share(clean_shape_ok[s], clean_shape_total[s]) for s in sorted(clean_shape_total)},
        "kept_per_shape": {s: share(keep_ok[s], keep_total[s]) for s in sorted(keep_total)},
        "greetings_without_name_kept": share(sum(keep_ok[s] for s in greet if s == "greeting no name"),
                                             sum(keep_total[s] for s in greet if s == "greeting no name")),
        "care_places": care_total,
        "care_places_kept": share(care_kept, care_total),
        "misses": misses,
    }
