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
detector's files). Clean answers carry eponyms, drug names, anatomical terms,
generic facilities and towns not about a person: they must come out
byte-identical.

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
    """One generated answer; `pii` holds (start, end, label) of each PII item."""

    id: str
    text: str
    pii: list[tuple[int, int, str]] = field(default_factory=list)


class _Builder:
    """Text assembled piece by piece, remembering where each PII item went."""

    def __init__(self):
        self.parts: list[str] = []
        self.pii: list[tuple[int, int, str]] = []
        self.n = 0

    def add(self, text: str, label: str | None = None) -> "_Builder":
        if label:
            self.pii.append((self.n, self.n + len(text), label))
        self.parts.append(text)
        self.n += len(text)
        return self

    def extend(self, other: "_Builder", transform=lambda t: t) -> "_Builder":
        """Append another builder's text (through a length-keeping `transform`) and its PII items."""
        text = transform(other.text())
        assert len(text) == other.n
        self.pii += [(self.n + s, self.n + e, label) for s, e, label in other.pii]
        self.parts.append(text)
        self.n += len(text)
        return self

    def text(self) -> str:
        return "".join(self.parts)


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
    "In Lombardia l'incidenza della malattia è simile a quella del resto d'Italia.",
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
GENERIC_PLACE_SENTENCES = [  # a town that is not about a person may stay
    "Qualche anno fa un focolaio di legionella a {town} ha fatto discutere.",
    "Il caso di meningite registrato a {town} non cambia le raccomandazioni.",
    "I dati raccolti in provincia di {town} sono in linea con quelli nazionali.",
]


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
        if rng.random() < 0.25:
            b.add(" " + rng.choice(GENERIC_PLACE_SENTENCES).format(town=rng.choice(self.towns)[0]))
        if rng.random() < 0.6:
            b.add(rng.choice([" ", "\n", "\n\n"]) + rng.choice(CLEAN_ENDINGS))


def generate(size: int = 2000, seed: int = 0, clean_share: float = 0.3) -> list[Case]:
    """`size` answers, about `clean_share` without PII; the same seed gives the same set."""
    gen = _Gen(seed)
    styles = [gen.signature] * 5 + [gen.middle] * 3 + [gen.greeting]
    out = []
    for i in range(size):
        b = _Builder()
        if gen.rng.random() < clean_share:
            gen.clean(b)
            kind = "clean"
        else:
            style = gen.rng.choice(styles)
            style(b)
            if style is gen.greeting and gen.rng.random() < 0.5:
                b.add(" ")
                gen.signature(b)
            kind = style.__name__
        out.append(Case(f"{kind}-{i:05d}", b.text(), b.pii))
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


def left_items(case: Case, output: str) -> list[tuple[int, int, str]]:
    """PII items of `case` with an identifying word still in `output` (more often than outside the items)."""
    outside = case.text
    for start, end, _ in sorted(case.pii, reverse=True):
        outside = outside[:start] + " " + outside[end:]
    base, now = _counts(outside), _counts(output)
    return [item for item in case.pii
            if any(now[w] > base[w] for w in _identifying(case.text[item[0]:item[1]]))]


def evaluate(anonymizer, cases: Sequence[Case], batch_size: int = 64) -> dict:
    """Recall per type and over whole answers, and precision on clean answers, from the ground truth."""
    outputs = []
    for i in range(0, len(cases), batch_size):
        outputs += [r.text for r in anonymizer.anonymize_batch([c.text for c in cases[i:i + batch_size]])]
    per_type_total, per_type_left = Counter(), Counter()
    pii_answers = answers_left = clean = clean_changed = 0
    misses = []
    for case, out in zip(cases, outputs):
        if not case.pii:
            clean += 1
            if out != case.text:
                clean_changed += 1
                misses.append({"id": case.id, "kind": "clean changed", "text": case.text, "output": out})
            continue
        pii_answers += 1
        left = left_items(case, out)
        per_type_total.update(label for _, _, label in case.pii)
        per_type_left.update(label for _, _, label in left)
        if left:
            answers_left += 1
            misses.append({"id": case.id, "kind": "pii left", "left": [case.text[s:e] for s, e, _ in left], "output": out})
    share = lambda a, b: round(a / b, 4) if b else 0.0  # noqa: E731
    return {
        "answers": len(cases),
        "answers_with_pii": pii_answers,
        "answer_residual": share(answers_left, pii_answers),
        "recall_per_type": {t: share(per_type_total[t] - per_type_left[t], per_type_total[t]) for t in sorted(per_type_total)},
        "items_per_type": dict(sorted(per_type_total.items())),
        "recall": share(sum(per_type_total.values()) - sum(per_type_left.values()), sum(per_type_total.values())),
        "clean_answers": clean,
        "clean_changed": clean_changed,
        "clean_precision": share(clean - clean_changed, clean),
        "misses": misses,
    }
