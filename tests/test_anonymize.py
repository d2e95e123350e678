"""Anonymization: the project's adversarial PII set, eponyms, untouched clean text, tables, report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "pii_cases.jsonl").read_text("utf-8").splitlines() if line.strip()]
PII_CASES = [c for c in CASES if c["pii"]]
CLEAN_CASES = [c for c in CASES if not c["pii"]]


@pytest.fixture(scope="module")
def anonymizer():
    """The detector as it is measured: without the entries the held-out names and towns below come
    from, so a case passes by the shape of the text, not because a list knows the word."""
    from imb_tools.preprocess.anonymize import Anonymizer
    from imb_tools.preprocess.anonymize_gazetteer import measuring_without_heldout

    with measuring_without_heldout():
        yield Anonymizer()


def test_every_entity_type_is_covered():
    from imb_tools.preprocess.anonymize import PLACEHOLDERS

    covered = {label for c in PII_CASES for label in c["pii"]}
    assert covered == set(PLACEHOLDERS.values())


@pytest.mark.parametrize("case", PII_CASES, ids=[c["id"] for c in PII_CASES])
def test_pii_is_found_and_replaced(anonymizer, case):
    text = case["text"]
    found = {(s.label, text[s.start : s.end]) for s in anonymizer.detect(text)}
    for label, values in case["pii"].items():
        for value in values:
            assert (label, value) in found, f"{label} {value!r} not found; got {found}"
    out = anonymizer.anonymize(text)
    for label, values in case["pii"].items():
        assert f"[{label}]" in out
        for value in values:
            assert value not in out
    for kept in case.get("keep", []):
        assert kept in out, f"{kept!r} lost: {out!r}"


@pytest.mark.parametrize("case", CLEAN_CASES, ids=[c["id"] for c in CLEAN_CASES])
def test_clean_text_is_byte_identical(anonymizer, case):
    assert anonymizer.detect(case["text"]) == []
    assert anonymizer.anonymize(case["text"]) == case["text"]


def test_placeholder_output_has_no_pii_left(anonymizer):
    results = anonymizer.anonymize_batch([c["text"] for c in PII_CASES])
    leftovers = {c["id"]: anonymizer.remaining(r) for c, r in zip(PII_CASES, results)}
    assert {k: v for k, v in leftovers.items() if v} == {}


def test_surrogates_are_consistent_within_a_text():
    from imb_tools.preprocess.anonymize import Anonymizer

    text = "Il Dott. Mario Rossi risponde. Scriva al Dott. Mario Rossi: mario.rossi@gmail.com o mario.rossi@gmail.com."
    a = Anonymizer(mode="surrogate")
    result = a.anonymize_batch([text])[0]
    out = result.text
    assert "Mario Rossi" not in out and "mario.rossi@gmail.com" not in out
    assert "[" not in out
    fakes = [out[s:e] for s, e in result.inserted]
    assert len(fakes) == 4 and fakes[0] == fakes[1] and fakes[2] == fakes[3] and "@" in fakes[2]
    assert a.anonymize_batch([text])[0].text == out  # seeded from the text: reproducible
    assert a.remaining(result) == []  # inserted surrogates are not counted as leftover PII


def test_unknown_mode_is_a_one_line_error():
    from imb_tools.infra.errors import ImbError
    from imb_tools.preprocess.anonymize import Anonymizer

    with pytest.raises(ImbError, match="mode"):
        Anonymizer(mode="redact")


def test_ner_label_mapping():
    from imb_tools.preprocess.anonymize import ner_label_mapping

    mapping = ner_label_mapping(["O", "B-NOME", "I-NOME", "B-COGNOME", "B-LUOGO", "I-EMAIL", "B-PATOLOGIA", "B-PER", "IBAN"])
    assert mapping == {
        "NOME": "PERSON", "COGNOME": "PERSON", "LUOGO": "LOCATION", "EMAIL": "EMAIL_ADDRESS", "PER": "PERSON", "IBAN": "IBAN_CODE",
    }


def test_llm_check_keeps_spans_the_model_calls_not_sensitive(monkeypatch):
    import imb_tools.llm
    from imb_tools.preprocess.anonymize import Anonymizer

    prompts_seen = []

    class FakeBackend:
        def generate(self, prompts, max_new_tokens=4, temperature=0.0):
            prompts_seen.extend(prompts)
            return ["NO" if "«Bologna»" in p else "SI" for p in prompts]

    monkeypatch.setattr(imb_tools.llm, "make_backend", lambda spec, **kw: FakeBackend())
    a = Anonymizer(llm_check="fake-model")
    text = "Ho uno studio a Bologna. Dott. Mario Rossi, tel. 333 1234567."
    out = a.anonymize(text)
    assert out == "Ho uno studio a Bologna. Dott. [NOME], tel. [TELEFONO]."
    assert len(prompts_seen) == 2  # the place and the name; the phone number is never asked about


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_anonymize_table_keeps_fields_and_reports(tmp_path, suffix):
    from imb_tools.preprocess.anonymize import anonymize_table
    from imb_tools.infra.tables import read_table, write_table

    rows = [
        {"ID": "007", "data": "2019-07-08", "answer": "Cordiali saluti, Dott. Mario Rossi, tel. 333 1234567", "n": "1"},
        {"ID": "008", "data": "2020-01-01", "answer": "Il morbo di Parkinson è una malattia neurodegenerativa.", "n": "2"},
        {"ID": "009", "data": "2021-05-05", "answer": "Scriva a mario.rossi@gmail.com.", "n": "3"},
        {"ID": "010", "data": "2021-05-06", "answer": None, "n": "4"},
    ]
    src = write_table(rows, tmp_path / f"in{suffix}")
    report = anonymize_table(src, "answer", tmp_path / f"out{suffix}", report_path=tmp_path / "report.json")
    out = read_table(tmp_path / f"out{suffix}")
    assert out.column_names == ["ID", "data", "answer", "n"]
    got = out.to_list()
    assert [r["ID"] for r in got] == ["007", "008", "009", "010"] and got[0]["data"] == "2019-07-08"
    assert got[0]["answer"] == "Cordiali saluti, Dott. [NOME], tel. [TELEFONO]"
    assert got[1]["answer"] == rows[1]["answer"]
    assert got[3]["answer"] == ("" if suffix == ".csv" else None)  # CSV has no null
    assert report == json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert report["texts"] == 4 and report["before"]["texts_with_pii"] == 2 and report["before"]["share"] == 0.5
    assert report["before"]["per_type"]["NOME"] == {"texts": 1, "share": 0.25, "spans": 1}
    assert report["after"]["texts_with_pii"] == 0 and report["replaced"] == {"NOME": 1, "TELEFONO": 1, "EMAIL": 1}
    # "0.0% after" is this detector's own count: the report says so and gives its measured recall beside it
    assert "same detector" in report["measured_by"] and "not a guarantee" in report["measured_by"]
    recall = report["detector_recall"]
    assert recall["answers"] == 1000 and 0 <= recall["answer_residual"] <= 0.02 and recall["clean_precision"] >= 0.98


def test_cli_anonymize_missing_column_is_one_line_error(tmp_path, capsys):
    from imb_tools.cli import main
    from imb_tools.infra.tables import write_table

    src = write_table([{"a": "x"}], tmp_path / "in.jsonl")
    assert main(["anonymize", "--in", str(src), "--column", "answer", "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imb: error:") and "answer" in err and "\n" not in err


def test_no_network_traceback_from_tldextract(anonymizer, caplog):
    with caplog.at_level("DEBUG"):
        assert anonymizer.detect("Mi scriva a mario.rossi@gmail.com")[0].label == "EMAIL"
    assert "Traceback" not in caplog.text and "public_suffix" not in caplog.text.lower()


def test_ner_model_detector_runs_offline_with_mapped_labels(tmp_path, monkeypatch):
    """A tiny random token classifier built on the spot, biased to say B-LUOGO: its spans come back as LUOGO."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForTokenClassification, PreTrainedTokenizerFast

    from imb_tools.preprocess.anonymize import Anonymizer

    text = "Il paziente riceve a Treviso la terapia"
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator([text], trainers.WordPieceTrainer(vocab_size=120, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    labels = ["O", "B-NOME", "B-LUOGO", "I-LUOGO", "B-PATOLOGIA"]
    config = BertConfig(vocab_size=fast.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=64, id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.bias[:] = torch.tensor([0.0, 0.0, 50.0, 0.0, 0.0])
    model.save_pretrained(tmp_path)
    fast.save_pretrained(tmp_path)

    spans = Anonymizer(ner_model=str(tmp_path)).detect(text)
    ner = [s for s in spans if s.detector == "NerModelRecognizer"]
    assert ner and {s.label for s in ner} == {"LUOGO"}


def test_llm_check_runs_with_a_real_local_backend(tiny_llama, monkeypatch):
    """The hook goes through imb_tools.llm.make_backend; identifiers are replaced whatever the model says."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from imb_tools.preprocess.anonymize import Anonymizer

    text = "Ho uno studio a Bologna, tel. 333 1234567."
    out = Anonymizer(llm_check=str(tiny_llama)).anonymize(text)
    assert out.endswith("tel. [TELEFONO].")
    assert out.startswith("Ho uno studio a ")  # the place is kept or replaced, as the model decides


# ---------------------------------------------------------------- place forms (issue 21), on held-out towns
# Every town below comes from the held-out part of the lists (anonymize_eval_heldout.json), which the
# detector's files do not hold: the rules find them by their place in the sentence or the signature.
def _heldout_towns():
    heldout = Path(__file__).resolve().parents[1] / "imb_tools" / "preprocess" / "anonymize_eval_heldout.json"
    return [t for t, _ in json.loads(heldout.read_text("utf-8"))["towns"] if "?" not in t]


def _towns(test, n=4):
    out = [t for t in _heldout_towns() if test(t)][:n]
    assert out, "no held-out town of this kind"
    return out


def _no_word_left(town, out):
    words = {w.lower() for w in re.findall(r"[^\W\d_]{3,}", town)}
    return not words & {w.lower() for w in re.findall(r"[^\W\d_]+", out)}


def _unknown_one_word(t):
    from imb_tools.preprocess.anonymize_lexicon import is_word

    return re.fullmatch(r"[A-Z][a-z]{4,}", t) is not None and not is_word(t)


@pytest.mark.parametrize("role", ["Chirurgo Plastico", "Medicina Interna", "Medico di Medicina Generale",
                                  "Specialista in Medicina dello Sport", "Medico Estetico"])
def test_a_town_after_a_role_and_its_modifiers_ends_the_signature(anonymizer, role):
    for town in _towns(_unknown_one_word):
        out = anonymizer.anonymize(f"Serve una visita. Saluti\nDott. Mario Rossi {role} {town}")
        assert out.endswith(f"{role} [LUOGO]"), out


def test_a_toponym_town_after_a_role_a_comma_or_a_full_stop(anonymizer):
    from imb_tools.preprocess.anonymize_lexicon import is_word

    towns = _towns(lambda t: re.fullmatch(r"(?:San|Santa|Monte|Borgo) [A-Z][a-z]+", t) is not None
                   and is_word(t.split()[1]))  # "San Sperate": both words are Italian words
    for town in towns:
        for tail in (f"Neurochirurgo,\n{town}", f"Psicoterapeuta. {town}"):
            out = anonymizer.anonymize(f"Serve una visita. Saluti\nMario Rossi {tail}")
            assert _no_word_left(town, out) and out.endswith("]"), out  # "Monte Cavallo" may go as a name


def test_a_word_town_alone_at_the_end_after_a_role(anonymizer):
    from imb_tools.preprocess.anonymize_lexicon import is_word

    for town in _towns(lambda t: re.fullmatch(r"[A-Z][a-z]{3,}", t) is not None and is_word(t)):
        for tail in (f"Fisioterapista\n\n{town}", f"Specialista in Ortodonzia; {town}"):
            out = anonymizer.anonymize(f"Serve una visita. Saluti\nMario Rossi {tail}")
            assert out.endswith("[LUOGO]") and town not in out, out


def test_a_town_in_parentheses_after_a_role_runs_to_the_parenthesis(anonymizer):
    towns = _towns(lambda t: re.fullmatch(r"[A-Z]\w+(?: [a-z]+)+ \w+", t) is not None)  # "Trodena nel parco naturale"
    for town in towns:
        out = anonymizer.anonymize(f"Ne parli con il Dott. Mario Rossi (urologo, {town}) al più presto.")
        assert "(urologo, [LUOGO])" in out and _no_word_left(town, out), out
    for kept in ("Lei", "Medicina Interna"):  # a courtesy pronoun, a specialty
        text = f"Ne parli con il suo medico (urologo, {kept}) al più presto."
        assert anonymizer.anonymize(text) == text


def test_a_known_tail_of_a_town_name_goes_with_the_town(anonymizer):
    from imb_tools.preprocess.anonymize_places import town_tails

    tails = {t for v in town_tails().values() for t in v}
    towns = _towns(lambda t: any(t.lower().endswith(" " + tail) for tail in tails if len(tail.split()) >= 3))
    for town in towns:
        for text in (f"Lei che vive a {town} può chiedere al suo medico.", f"Capisco che da {town} sia scomodo spostarsi."):
            out = anonymizer.anonymize(text)
            assert _no_word_left(town, out), out


def test_after_a_territory_head_a_lower_case_town_runs_to_the_clause_end(anonymizer):
    from imb_tools.preprocess.anonymize_lexicon import is_word

    towns = _towns(lambda t: len(t.split()) >= 3 and all(is_word(w) for w in t.split()[1:]) and "'" not in t)
    for town in towns:
        for text in (f"I dati raccolti in provincia di {town.lower()}, come altrove, sono buoni.",
                     f"Può rivolgersi alla Cardiologia dell'ospedale di {town.lower()}."):
            out = anonymizer.anonymize(text)
            assert _no_word_left(town, out) and "[LUOGO]" in out, (text, out)


def test_an_adverb_between_verb_and_preposition_and_a_capitalized_stop_word(anonymizer):
    from spacy.lang.it.stop_words import STOP_WORDS

    from imb_tools.preprocess.anonymize_places import NOT_PLACES_AFTER_PREPOSITION

    for town in _towns(lambda t: t.lower() in STOP_WORDS and t.lower() not in NOT_PLACES_AFTER_PREPOSITION
                       and re.fullmatch(r"[A-Z][a-z]+", t) is not None, 2):
        out = anonymizer.anonymize(f"Lei che vive a {town} può chiedere al suo medico.")
        assert out == "Lei che vive a [LUOGO] può chiedere al suo medico.", out
    for town in _towns(lambda t: _unknown_one_word(t) and t.lower() == t.lower().strip(), 2):
        out = anonymizer.anonymize(f"Visito anche a {town.lower()} il giovedì.")
        assert out == "Visito anche a [LUOGO] il giovedì.", out


@pytest.mark.parametrize("text", [
    "In provincia di solito i tempi di attesa sono più brevi.",
    "Nel comune di residenza trova il consultorio più vicino.",
    "È nato a termine, dopo una gravidanza regolare.",
    "Abito a pochi passi dall'ospedale, quindi non ho problemi.",
    "Vivo in campagna e ho un cane.",
    "Si rivolga a un nutrizionista, Specialista in Scienza dell'Alimentazione",
    "Visito anche a domicilio, su richiesta del medico curante.",
    "Le serve un bravo fisioterapista. Coraggio",
    "Psicologa psicoterapeuta\nCordialmente",
    "La visito a Sua richiesta anche il sabato.",
])
def test_the_place_rules_leave_ordinary_sentences_alone(anonymizer, text):
    assert anonymizer.anonymize(text) == text


# ---------------------------------------------------------------- the hostile tester's shapes (forum text)
# Names below are in none of the detector's lists while it is measured (the `anonymizer` fixture):
# name_listed is False for each then, checked in the first test; the tests pass by the text's shape.
_UNLISTED = ("Aurora", "Giovanni", "Gavino", "Efisio", "Lucia", "Kowalski")


def test_the_names_used_here_are_in_no_detector_list():
    from imb_tools.preprocess.anonymize_gazetteer import measuring_without_heldout
    from imb_tools.preprocess.anonymize_names import name_listed

    with measuring_without_heldout():
        assert not any(name_listed(n) for n in _UNLISTED)


@pytest.mark.parametrize("text,name", [
    ("Buongiorno, mia figlia Aurora di 5 anni ha la febbre.", "Aurora"),
    ("Mamma di Aurora", "Aurora"),
    ("mio padre Giovanni ha 80 anni.", "Giovanni"),
    ("il mio compagno Gavino soffre di ansia.", "Gavino"),
    ("Salve, sono Aurora, ho 22 anni e ho un problema.", "Aurora"),
])
def test_a_name_after_a_relation_noun_or_in_a_self_introduction(anonymizer, text, name):
    out = anonymizer.anonymize(text)
    assert name not in out and "[NOME]" in out, out


@pytest.mark.parametrize("text,kept", [
    ("Grazie mille, Efisio", "Grazie mille, "),
    ("Stia tranquilla.\nUn abbraccio, Lucia (psicologa)", "(psicologa)"),
    ("Egr. Sig. Kowalski, le rispondo.", "Egr. Sig. "),
])
def test_sign_offs_and_courtesy_titles_before_a_name(anonymizer, text, kept):
    out = anonymizer.anonymize(text)
    assert "[NOME]" in out and kept in out and not any(n in out for n in _UNLISTED), out


def test_a_street_address_on_a_signature_line_and_a_particle_street_name(anonymizer):
    out = anonymizer.anonymize("Cordiali saluti\nDott. Mario Rossi\nSpecialista in Cardiologia\nVia dei Mille 12 - 80121 Napoli")
    assert out.endswith("Specialista in Cardiologia\n[INDIRIZZO]"), out


def test_a_fiscal_code_in_groups_and_a_health_card_number(anonymizer):
    assert anonymizer.anonymize("il mio codice fiscale è rss mra 80a01 h501u") == "il mio codice fiscale è [CODICE_FISCALE]"
    assert anonymizer.anonymize("tessera sanitaria 80380000000123456789") == "tessera sanitaria [TESSERA_SANITARIA]"


def test_two_towns_after_a_role_in_a_signature(anonymizer):
    out = anonymizer.anonymize("Saluti\nDott. Mario Rossi\nEndocrinologo - Ragusa / Modica")
    assert out.endswith("Endocrinologo - [LUOGO] / [LUOGO]"), out


@pytest.mark.parametrize("text", [
    "Ora è in Day Hospital",
    "può tranquillamente andare in piscina",
    "devo andare in Posta e in Comune",
    "in Quaresima digiuno",
    "ne parli con il Medico di Guardia",
    "Sono stata in Chiesa ieri",
])
def test_frequent_words_after_in_are_no_places(anonymizer, text):
    assert anonymizer.anonymize(text) == text


def test_a_town_that_is_a_frequent_word_stays_a_place_after_a_place_head(anonymizer):
    assert anonymizer.anonymize("abito a Piscina da anni") == "abito a [LUOGO] da anni"
    assert anonymizer.anonymize("vive a Nave") == "vive a [LUOGO]"


@pytest.mark.parametrize("text,expected", [
    ("Saluti\nDott.ssa Olimpia Scognamiglio (Senologia, Policlinico Gemelli Roma)", "Saluti\nDott.ssa [NOME] (Senologia, [STRUTTURA])"),
    ("Dott.ssa Olimpia Scognamiglio Psicologa", "Dott.ssa [NOME] Psicologa"),
    ("Buongiorno, faccia un controllo.\nCara Serena, non si preoccupi.", "Buongiorno, faccia un controllo.\nCara [NOME], non si preoccupi."),
])
def test_replacement_keeps_parentheses_titles_and_greeting_words(anonymizer, text, expected):
    assert anonymizer.anonymize(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("Lavorano entrambi al Sant'Orsola di Bologna.", "Lavorano entrambi al Sant'Orsola di [LUOGO]."),
    ("Vada al Gemelli di Roma.", "Vada al Gemelli di [LUOGO]."),
    ("Lavora al San Raffaele di Milano.", "Lavora al San Raffaele di [LUOGO]."),
    ("Il Centro di Salute Mentale e la Scuola di Specializzazione", "Il Centro di Salute Mentale e la Scuola di Specializzazione"),
    ("Ha il Morbo di Parkinson.", "Ha il Morbo di Parkinson."),
])
def test_a_known_town_after_di_inside_a_capitalized_name(anonymizer, text, expected):
    """A capitalized run is read whole first; when it is no town, what follows a "di" in it may be
    one (a hospital's name, then its town). After "di" a known town is no surname nor a word."""
    assert anonymizer.anonymize(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("Un saluto da Giovanni.", "Un saluto da [NOME]."),
    ("Cordiali saluti da Dott. Rossi", "Cordiali saluti da Dott. [NOME]"),
    ("Auguri da tutto lo staff", "Auguri da tutto lo staff"),
])
def test_the_senders_da_and_a_title_after_it_stay(anonymizer, text, expected):
    """After a closing formula "da" names the sender: it is no part of the name, and a title after
    it starts a name, never a town (a locative preposition before a capital)."""
    assert anonymizer.anonymize(text) == expected
