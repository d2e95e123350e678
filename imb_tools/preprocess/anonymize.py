"""Find and replace personal data in Italian medical forum text.

Why Presidio: its analyzer and anonymizer are maintained, run offline on a
blank Italian spaCy pipeline (no model download), and already validate the
Italian identifiers with their check characters (codice fiscale, partita
IVA) and phone numbers with python-phonenumbers. What forum answers add
(doctors' names after a title, spaced-out websites, addresses, hospitals,
the town where a doctor sees patients) lives in `anonymize_recognizers`,
`anonymize_signature`, `anonymize_names` (greetings, names before a
profession, whole names) and `anonymize_places` (towns anywhere, the place
policy); `anonymize_lexicon` tells an Italian word from a name.
Optional extra detectors: a transformers token-classification model (the
paper used DeepMount00/Italian_NER_XXL) through Presidio's
HuggingFaceNerRecognizer, and an LLM that keeps a flagged span when it is
not really sensitive in context, as the paper did.

The report counts texts with PII before and after with the same detector,
as the paper measured (27% -> 1% of answers). That detector cannot count
what it misses, so "0.0% after" is no guarantee: the report also gives the
detector's recall measured on the synthetic held-out evaluation set
(`anonymize_eval`: names and towns the detector's lists never saw, ground
truth from the generator), and says which number is which.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from imb_tools.infra.errors import ImbError


# Presidio entity -> label used in placeholders and reports (the Italian NER labels).
PLACEHOLDERS = {
    "PERSON": "NOME",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "TELEFONO",
    "URL": "URL",
    "IT_FISCAL_CODE": "CODICE_FISCALE",
    "IT_VAT_CODE": "P_IVA",
    "IBAN_CODE": "IBAN",
    "ADDRESS": "INDIRIZZO",
    "BIRTH_DATE": "DATA_NASCITA",
    "HEALTH_FACILITY": "STRUTTURA",
    "LOCATION": "LUOGO",
    "IT_IDENTITY_CARD": "NUMERO_DOCUMENTO",
    "IT_PASSPORT": "NUMERO_DOCUMENTO",
    "IT_DRIVER_LICENSE": "NUMERO_DOCUMENTO",
    "IT_HEALTH_CARD": "TESSERA_SANITARIA",
    "CREDIT_CARD": "NUMERO_CARTA",
    "IP_ADDRESS": "IP",
}
MODES = ("placeholder", "surrogate")
PLACE_POLICIES = ("replace", "care")  # see anonymize_places
DEFAULT_NER_MODEL = "DeepMount00/Italian_NER_XXL"
# Labels of Italian NER models (Italian_NER_XXL and CoNLL-style) -> Presidio entities.
NER_LABELS = {
    "NOME": "PERSON", "COGNOME": "PERSON", "PER": "PERSON", "PERSON": "PERSON", "PERSONA": "PERSON",
    "EMAIL": "EMAIL_ADDRESS", "NUMERO_TELEFONO": "PHONE_NUMBER", "TELEFONO": "PHONE_NUMBER",
    "URL": "URL", "CODICE_FISCALE": "IT_FISCAL_CODE", "P_IVA": "IT_VAT_CODE", "PARTITA_IVA": "IT_VAT_CODE",
    "IBAN": "IBAN_CODE", "INDIRIZZO": "ADDRESS", "DATA_NASCITA": "BIRTH_DATE", "LUOGO": "LOCATION",
    "LOC": "LOCATION", "CITTA": "LOCATION", "CITTÀ": "LOCATION", "NUMERO_DOCUMENTO": "IT_IDENTITY_CARD",
    "NUMERO_CARTA": "CREDIT_CARD", "IP": "IP_ADDRESS", "OSPEDALE": "HEALTH_FACILITY",
    "STRUTTURA_SANITARIA": "HEALTH_FACILITY",
}
# Types an LLM may judge "not really sensitive here" (a town in a medical remark);
# structured identifiers are always replaced.
LLM_CHECKED = ("PERSON", "LOCATION", "HEALTH_FACILITY", "BIRTH_DATE")
SCORE_THRESHOLD = 0.35


def ner_label_mapping(labels: Iterable[str]) -> dict[str, str]:
    """Map a model's labels (B-/I- prefixes allowed) to the entities we replace; others are ignored."""
    out = {}
    for label in labels:
        bare = label.split("-", 1)[1] if label[:2] in ("B-", "I-", "E-", "S-") else label
        entity = NER_LABELS.get(bare.upper())
        if entity:
            out[bare] = entity
    return out


@dataclass(frozen=True)
class Span:
    """One detected piece of PII."""

    start: int
    end: int
    entity: str
    score: float
    detector: str = ""

    @property
    def label(self) -> str:
        return PLACEHOLDERS.get(self.entity, self.entity)


def _blank_italian_engine():
    """Presidio NLP engine on `spacy.blank("it")`: tokenizer only, no model download.

    Lemmas are set to the lower-cased token so Presidio's context words
    ("tel", "codice fiscale") still raise scores without a lemmatizer.
    """
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from spacy.language import Language

    if not Language.has_factory("imb_lower_lemma"):

        @Language.component("imb_lower_lemma")
        def _lower_lemma(doc):
            for token in doc:
                token.lemma_ = token.lower_
            return doc

    class BlankItalianNlpEngine(SpacyNlpEngine):
        def __init__(self):
            super().__init__(models=[{"lang_code": "it", "model_name": "blank:it"}])

        def load(self) -> None:
            nlp = spacy.blank("it")
            nlp.add_pipe("imb_lower_lemma")
            self.nlp = {"it": nlp}

    engine = BlankItalianNlpEngine()
    engine.load()
    return engine


def default_recognizers() -> list:
    """Presidio's Italian and generic pattern recognizers plus the project's ones."""
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        IpRecognizer,
        ItDriverLicenseRecognizer,
        ItFiscalCodeRecognizer,
        ItIdentityCardRecognizer,
        ItPassportRecognizer,
        ItVatCodeRecognizer,
    )

    from imb_tools.preprocess import anonymize_recognizers as rec
    from imb_tools.preprocess.anonymize_names import GreetingNameRecognizer, ProfessionNameRecognizer, RelationNameRecognizer
    from imb_tools.preprocess.anonymize_places import PlaceRecognizer
    from imb_tools.preprocess.anonymize_signature import SignatureRecognizer

    return [
        rec.gated(ItFiscalCodeRecognizer(supported_language="it"), rec.FISCAL_CODE_GATE),
        rec.gated(ItVatCodeRecognizer(supported_language="it"), rec.DIGITS6),
        rec.gated(ItIdentityCardRecognizer(supported_language="it"), r"\d{5}"),
        rec.gated(ItPassportRecognizer(supported_language="it"), r"\d{7}"),
        rec.gated(ItDriverLicenseRecognizer(supported_language="it"), r"\d{7}|U1"),
        rec.OfflineEmailRecognizer(supported_language="it", context=["email", "mail", "posta", "scrivere"]),
        IbanRecognizer(supported_language="it", context=["iban", "bonifico", "conto"]),
        rec.ForumUrlRecognizer(supported_language="it", context=["sito", "web", "link", "pagina"]),
        rec.italian_phone_recognizer(),
        # IPv4 only: Presidio's IPv6 patterns cost ~8% of the time and IPv6 addresses do not occur in answers
        IpRecognizer(supported_language="it", patterns=[p for p in IpRecognizer.PATTERNS if "IPv4" in p.name]),
        rec.gated(CreditCardRecognizer(supported_language="it", context=["carta", "credito", "visa", "mastercard"]), rec.DIGITS6),
        rec.spaced_fiscal_code_recognizer(),
        rec.HealthCardRecognizer(),
        rec.titled_name_recognizer(),
        rec.practice_name_recognizer(),
        GreetingNameRecognizer(),
        ProfessionNameRecognizer(),
        RelationNameRecognizer(),
        rec.GazetteerNameRecognizer(),
        rec.obfuscated_email_recognizer(),
        rec.spaced_url_recognizer(),
        rec.loose_phone_recognizer(),
        rec.address_recognizer(),
        rec.birth_date_recognizer(),
        rec.facility_recognizer(),
        rec.place_recognizer(),
        PlaceRecognizer(),
        SignatureRecognizer(),
    ]


def ner_recognizer(model: str, device=None):
    """Presidio's HuggingFaceNerRecognizer on `model` (Hub id or local path), Italian labels mapped."""
    import transformers

    from presidio_analyzer.predefined_recognizers.ner.huggingface_ner_recognizer import HuggingFaceNerRecognizer

    try:
        config = transformers.AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise ImbError(f"cannot load NER model {model!r}: {str(exc).splitlines()[0]}") from None
    mapping = ner_label_mapping(config.id2label.values())
    if not mapping:
        raise ImbError(f"NER model {model!r} has no label we know how to map ({', '.join(map(str, config.id2label.values()))})")
    recognizer = HuggingFaceNerRecognizer(
        model_name=model,
        supported_language="it",
        label_mapping=mapping,
        supported_entities=sorted(set(mapping.values())),
        name="NerModelRecognizer",
        device=device if device is not None else "cpu",
    )
    recognizer.load()
    return recognizer


def build_analyzer(recognizers: Sequence | None = None):
    """A Presidio AnalyzerEngine for Italian on a blank spaCy pipeline with `recognizers`."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    registry = RecognizerRegistry(supported_languages=["it"])
    for recognizer in default_recognizers() if recognizers is None else recognizers:
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=_blank_italian_engine(), supported_languages=["it"])


def resolve(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans: overlaps merge into their union, typed as the higher score (then longer) says.

    A union, not a choice: when a signature reader sees "Colloredo di Monte
    Albano" as a town and the name list sees "Monte Albano" as a person,
    keeping only one would leave the other half of the PII in the text.
    """
    ordered = sorted(spans, key=lambda s: (-s.score, -(s.end - s.start), s.start))
    kept: list[Span] = []
    for span in ordered:
        clash = [k for k in kept if k.start < span.end and span.start < k.end]
        if not clash:
            kept.append(span)
            continue
        for k in clash:
            kept.remove(k)
        start = min([span.start] + [k.start for k in clash])
        end = max([span.end] + [k.end for k in clash])
        top = clash[0]  # placed earlier, so scored at least as high
        kept.append(Span(start, end, top.entity, top.score, top.detector))
    return sorted(kept, key=lambda s: s.start)


def other_mentions(text: str, spans: Sequence[Span]) -> list[Span]:
    """Once a name is found, its words elsewhere in the text are the same person ("Rossi" after
    "Dott. Mario Rossi", "rossi" in the signature): a name found once leaves no half behind."""
    from imb_tools.preprocess.anonymize_recognizers import name_words

    words = {w for s in spans if s.entity == "PERSON" for w in name_words(text[s.start:s.end])}
    if not words:
        return []
    rx = re.compile(r"(?<![\w'’])(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")(?![\w'’])", re.IGNORECASE)
    return [Span(m.start(), m.end(), "PERSON", 0.5, "OtherMentions") for m in rx.finditer(text)
            if not any(s.start <= m.start() and m.end() <= s.end for s in spans)]


class Surrogates:
    """Realistic fake values from Faker it_IT; the same original maps to the same fake in one text."""

    def __init__(self):
        from faker import Faker

        self.faker = Faker("it_IT")
        self.seen: dict[tuple[str, str], str] = {}

    def reset(self, text: str) -> None:
        """Start a new text: forget the mapping, seed from the text so runs are reproducible."""
        self.seen.clear()
        self.faker.seed_instance(zlib.crc32(text.encode("utf-8")))

    def __call__(self, entity: str, original: str) -> str:
        key = (entity, original.strip().lower())
        if key not in self.seen:
            self.seen[key] = self._fake(entity, original)
        return self.seen[key]

    def _fake(self, entity: str, original: str) -> str:
        f = self.faker
        if entity == "PERSON":
            if len(original.split()) == 1:
                return f.last_name()
            # Italian first names ending in -a are female but for a few: keep "Dott.ssa" agreeing
            given = original.split()[0].lower()
            female = given.endswith("a") and given not in ("luca", "andrea", "nicola", "mattia", "elia", "tobia", "enea")
            first = f.first_name_female() if female else f.first_name_male()
            return f"{first} {f.last_name()}"
        makers = {
            "EMAIL_ADDRESS": f.free_email,
            "PHONE_NUMBER": f.phone_number,
            "URL": lambda: f"www.{f.domain_name()}",
            "IT_FISCAL_CODE": f.ssn,
            "IT_VAT_CODE": lambda: f.company_vat().removeprefix("IT"),
            "IBAN_CODE": f.iban,
            "ADDRESS": f.street_address,
            "BIRTH_DATE": lambda: f.date_of_birth(minimum_age=18, maximum_age=90).strftime("%d/%m/%Y"),
            "HEALTH_FACILITY": lambda: f"Ospedale {f.last_name()}",
            "LOCATION": f.city,
            "CREDIT_CARD": f.credit_card_number,
            "IP_ADDRESS": f.ipv4,
        }
        return makers.get(entity, lambda: f.bothify("??#######").upper())()


@dataclass
class Result:
    """One text after anonymization: the text, what was found in the input, where fakes were put."""

    text: str
    found: list[Span]
    inserted: list[tuple[int, int]]


class Anonymizer:
    """Detect PII (Presidio + project recognizers, optional NER and LLM check) and replace it."""

    def __init__(self, mode: str = "placeholder", ner_model: str | None = None, llm_check: str | None = None,
                 threshold: float = SCORE_THRESHOLD, recognizers: Sequence | None = None, place_policy: str = "replace"):
        if mode not in MODES:
            raise ImbError(f"unknown --mode {mode!r}; choose one of {', '.join(MODES)}")
        if place_policy not in PLACE_POLICIES:
            raise ImbError(f"unknown --places {place_policy!r}; choose one of {', '.join(PLACE_POLICIES)}")
        self.place_policy = place_policy
        recognizers = list(default_recognizers() if recognizers is None else recognizers)
        if ner_model:
            recognizers.append(ner_recognizer(ner_model))
        self.analyzer = build_analyzer(recognizers)
        self.mode = mode
        self.threshold = threshold
        self.entities = sorted({e for r in recognizers for e in r.supported_entities if e in PLACEHOLDERS})
        self.llm = None
        if llm_check:
            from imb_tools.llm import make_backend

            self.llm = make_backend(llm_check)
        self.surrogates = Surrogates() if mode == "surrogate" else None
        self._engine = None  # presidio_anonymizer.AnonymizerEngine, made on first use

    # ------------------------------------------------------------ detection
    def detect(self, text: str) -> list[Span]:
        """Resolved PII spans in `text` (before any LLM check)."""
        if not text or not text.strip():
            return []
        results = self.analyzer.analyze(text, language="it", entities=self.entities, score_threshold=self.threshold)
        spans = []
        for r in results:
            name = (r.recognition_metadata or {}).get("recognizer_name", "")
            value = text[r.start : r.end]
            start = r.start + len(value) - len(value.lstrip())
            end = r.end - len(value) + len(value.rstrip())
            if end > start:
                spans.append(Span(start, end, r.entity_type, r.score, name))
        from imb_tools.preprocess.anonymize_names import widen_names

        from imb_tools.preprocess.anonymize_places import places_beside_names

        spans = resolve(widen_names(text, resolve(spans)))
        spans = resolve(spans + [Span(s, e, "LOCATION", 0.6, "PlaceBesideName") for s, e in places_beside_names(text, spans)])
        spans = resolve(spans + other_mentions(text, spans))
        if self.place_policy == "care":
            from imb_tools.preprocess.anonymize_places import keep_for_care
            from imb_tools.preprocess.anonymize_signature import signature_start

            spans = keep_for_care(text, spans, signature_start(text))
        return spans

    def detect_batch(self, texts: Sequence[str | None]) -> list[list[Span]]:
        spans = [self.detect(t) if isinstance(t, str) else [] for t in texts]
        if self.llm is not None:
            spans = self._llm_filter(texts, spans)
        return spans

    def _llm_filter(self, texts, spans):
        """Ask the LLM about soft entities; keep (do not replace) those it calls not sensitive."""
        asks = [(i, s) for i, ss in enumerate(spans) for s in ss if s.entity in LLM_CHECKED]
        if not asks:
            return spans
        prompts = [llm_check_prompt(texts[i], s) for i, s in asks]
        answers = self.llm.generate(prompts, max_new_tokens=4, temperature=0.0)
        keep_out = {(i, s) for (i, s), a in zip(asks, answers) if a.strip().upper().startswith("NO")}
        return [[s for s in ss if (i, s) not in keep_out] for i, ss in enumerate(spans)]

    # ------------------------------------------------------------ replacement
    def replace(self, text: str, spans: Sequence[Span]) -> Result:
        """Replace `spans` with typed placeholders or consistent surrogates (Presidio anonymizer)."""
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        if not spans:
            return Result(text, [], [])
        if self.mode == "surrogate":
            self.surrogates.reset(text)
            operators = {
                e: OperatorConfig("custom", {"lambda": (lambda original, e=e: self.surrogates(e, original))})
                for e in {s.entity for s in spans}
            }
        else:
            operators = {e: OperatorConfig("replace", {"new_value": f"[{PLACEHOLDERS.get(e, e)}]"}) for e in {s.entity for s in spans}}
        if self._engine is None:
            self._engine = AnonymizerEngine()
        results = [RecognizerResult(s.entity, s.start, s.end, s.score) for s in spans]
        out = self._engine.anonymize(text=text, analyzer_results=results, operators=operators)
        inserted = sorted((item.start, item.end) for item in out.items)
        return Result(out.text, list(spans), inserted)

    def anonymize_batch(self, texts: Sequence[str | None]) -> list[Result]:
        """Anonymize texts; `None` stays `None` (as a Result with text None)."""
        spans = self.detect_batch(texts)
        return [Result(t, [], []) if not isinstance(t, str) else self.replace(t, ss) for t, ss in zip(texts, spans)]

    def anonymize(self, text: str) -> str:
        return self.anonymize_batch([text])[0].text

    def remaining(self, result: Result) -> list[Span]:
        """PII the same detector still finds in the output, surrogates we inserted excluded."""
        if not isinstance(result.text, str):
            return []
        spans = self.detect(result.text)
        if self.mode == "surrogate":
            spans = [s for s in spans if not any(a < s.end and s.start < b for a, b in result.inserted)]
        return spans


def llm_check_prompt(text: str, span: Span) -> str:
    """The paper's check: is this flagged span really sensitive in a medical context?"""
    return (
        "Sei un esperto di privacy in ambito medico. Nel testo seguente è stato segnalato il termine "
        f"«{text[span.start:span.end]}» come possibile dato personale ({span.label}).\n"
        "Rispondi SI se il termine permette di identificare una persona (paziente o medico), "
        "NO se è un riferimento generico o medico (ad esempio il nome di una malattia o una città citata "
        "senza legame con una persona). Rispondi solo SI o NO.\n\n"
        f"Testo: {text}\nRisposta:"
    )


# ---------------------------------------------------------------- tables and report
def _share(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def pii_summary(per_text: Sequence[Sequence[Span]]) -> dict:
    """Share of texts with any PII and per label, plus span counts."""
    total = len(per_text)
    texts_by_label: Counter = Counter()
    spans_by_label: Counter = Counter()
    for spans in per_text:
        labels = [s.label for s in spans]
        spans_by_label.update(labels)
        texts_by_label.update(set(labels))
    with_pii = sum(1 for spans in per_text if spans)
    return {
        "texts_with_pii": with_pii,
        "share": _share(with_pii, total),
        "per_type": {
            label: {"texts": texts_by_label[label], "share": _share(texts_by_label[label], total), "spans": spans_by_label[label]}
            for label in sorted(texts_by_label)
        },
    }


MEASURED_BY = (
    "'before' and 'after' are counted by this same detector: PII it misses is in neither, so 'after' is a lower "
    "bound, not a guarantee. 'detector_recall' is what the detector achieves on synthetic forum answers whose "
    "names and towns it has never seen (imb_tools.preprocess.anonymize_eval); real text may differ."
)
EVAL_SIZE = 1000  # synthetic answers run for the report's recall figures (about 1.5-3 s)
EVAL_SEED = 2026  # the seed benchmarks/anonymize.py reports in the README, not looked at while writing the detector


def detector_recall(anonymizer: "Anonymizer", size: int = EVAL_SIZE) -> dict:
    """The detector's recall and clean-text precision on the synthetic held-out set, for reports.

    The LLM check is left out of this run (it would ask the LLM about every
    flagged span and can only keep more PII in), so with --llm-check the
    figures are an upper bound. The place policy is the one that ran.
    """
    from imb_tools.preprocess.anonymize_eval import evaluate, generate
    from imb_tools.preprocess.anonymize_gazetteer import measuring_without_heldout

    # placeholders, so a surrogate that happens to equal a held-out name is not counted as left
    (llm, mode), anonymizer.llm, anonymizer.mode = (anonymizer.llm, anonymizer.mode), None, "placeholder"
    try:
        with measuring_without_heldout():  # names and towns the detector's lists do not hold
            result = evaluate(anonymizer, generate(size, seed=EVAL_SEED), place_policy=anonymizer.place_policy)
    finally:
        anonymizer.llm, anonymizer.mode = llm, mode
    result.pop("misses")
    keys = ("answers", "place_policy", "answer_residual", "name_residual", "recall", "recall_per_type",
            "recall_per_shape", "clean_precision", "greetings_without_name_kept", "care_places_kept")
    return {
        "source": f"synthetic forum answers, names and towns held out from the detector's lists (seed {EVAL_SEED})",
        **{k: result[k] for k in keys},
        "llm_check_applied": False,
    }


PLACE_POLICY_NOTES = {
    "replace": "every town and place replaced, except inside disease and eponym names (as the published data)",
    "care": "towns where the text sends a patient for care kept; replaced in signatures, datelines, beside a "
            "person's name and where someone lives or works",
}


def anonymize_table(in_path, column: str, out_path, report_path=None, mode: str = "placeholder",
                    ner_model: str | None = None, llm_check: str | None = None, batch_size: int = 64,
                    eval_size: int = EVAL_SIZE, place_policy: str = "replace") -> dict:
    """Anonymize one column of a JSONL/CSV/Parquet table; every other field kept. Returns the report.

    `eval_size` synthetic held-out answers measure the detector's recall for the report (0: not
    measured, e.g. with a slow NER model on a CPU; the report then says so).
    """
    from tqdm.auto import tqdm

    from imb_tools.infra.tables import read_table, require_columns, set_column, table_format, write_table
    from imb_tools.infra.atomic import write_json_atomic

    from imb_tools.infra.ownership import refuse_overwriting_input

    refuse_overwriting_input(in_path, out_path, report_path)  # never write over the only copy of the data
    table_format(out_path)  # a bad output extension fails before any work
    if batch_size < 1:
        raise ImbError("--batch-size must be at least 1")
    ds = read_table(in_path)
    require_columns(ds, [column], in_path)
    texts = ds[column]
    bad = next((i for i, t in enumerate(texts) if t is not None and not isinstance(t, str)), None)
    if bad is not None:
        raise ImbError(f"{in_path}: record {bad}, field {column!r}: expected text, got {type(texts[bad]).__name__}")
    anonymizer = Anonymizer(mode=mode, ner_model=ner_model, llm_check=llm_check, place_policy=place_policy)
    new_texts, before, after = [], [], []
    for i in tqdm(range(0, len(texts), batch_size), desc="anonymize", unit="batch"):
        for result in anonymizer.anonymize_batch(texts[i : i + batch_size]):
            new_texts.append(result.text)
            before.append(result.found)
            after.append(anonymizer.remaining(result))
    ds = set_column(ds, column, new_texts)
    write_table(ds, out_path)
    report = {
        "input": str(in_path),
        "output": str(out_path),
        "column": column,
        "texts": len(texts),
        "mode": mode,
        "place_policy": {"name": place_policy, "means": PLACE_POLICY_NOTES[place_policy]},
        "detector": {
            "recognizers": sorted({r.name for r in anonymizer.analyzer.registry.recognizers}),
            "ner_model": ner_model,
            "llm_check": bool(llm_check),
            "score_threshold": anonymizer.threshold,
        },
        "measured_by": MEASURED_BY,
        "before": pii_summary(before),
        "after": pii_summary(after),
        "detector_recall": detector_recall(anonymizer, eval_size) if eval_size else {"answers": 0, "note": "not measured (--eval-size 0)"},
        "replaced": dict(Counter(s.label for spans in before for s in spans)),
        "texts_changed": sum(1 for a, b in zip(texts, new_texts) if a != b),
    }
    if report_path:
        write_json_atomic(report_path, report)
    return report
