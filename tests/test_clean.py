"""Cleaning: each rule, quarantine reasons and counts, table round trip."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from imb_tools.preprocess.clean import clean_records, clean_text, question_problem


@pytest.mark.parametrize(
    "rule, text, expected",
    [
        ("salutation", "Gentile utente, quanto descrive è benigno.", "Quanto descrive è benigno."),
        ("salutation", "Gentile Sig.ra Bianchi, la terapia va bene.", "La terapia va bene."),
        ("salutation", "Buongiorno. Caro Marco, serve un ECG.", "Serve un ECG."),
        ("sign_off", "Serve un ECG. Cordiali saluti, Dott. Marco Bianchi", "Serve un ECG."),
        ("sign_off", "Serve un ECG.\nUn caro saluto\nDr.ssa Anna Verdi - Milano", "Serve un ECG."),
        ("signature", "Serve un ECG. Dott.ssa Elena Russo", "Serve un ECG."),
        ("signature", "Serve un ECG.\nDott. Simone Martini, ginecologo, C.F. FTTGPP70C15H501W", "Serve un ECG."),
        ("timestamp", "Inviato il 12/03/2019 alle 10:32 Serve un ECG.", "Serve un ECG."),
        ("timestamp", "Serve un ECG. 2019-03-12T10:32:00", "Serve un ECG."),
        ("unknown_author", "Autore sconosciuto: serve un ECG.", "serve un ECG."),
        ("whitespace", "Serve  un ECG .\n\n\n Poi   vediamo.", "Serve un ECG.\n\nPoi vediamo."),
    ],
)
def test_each_rule(rule, text, expected):
    counts = Counter()
    assert clean_text(text, counts) == expected
    assert counts[rule] == 1


@pytest.mark.parametrize(
    "text",
    [
        "Serve un ECG. Le consiglio il Dott. Rossi come cardiologo di riferimento per la visita.",
        "Prenda il farmaco alle 10:30 e alle 22:30.",
        "La saluto e le consiglio di evitare i saluti con stretta di mano durante l'influenza.",
        "Il morbo di Parkinson non è contagioso.",
    ],
)
def test_clean_answers_are_untouched(text):
    counts = Counter()
    assert clean_text(text, counts) == text
    assert not counts


@pytest.mark.parametrize(
    "question, answer, reason",
    [
        ("", "Risposta.", "empty_question"),
        ("   \n\t ", "Risposta.", "empty_question"),
        ("Ho mal di testa da tre giorni, cosa devo fare?", "  ", "empty_answer"),
        ("Ho mal di testa da tre giorni e vorrei sapere...", "Risposta.", "truncated"),
        ("Ho mal di testa da tre giorni e vorrei sapere se", "Risposta.", "truncated"),
        ("Ho mal di testa da tre giorni e il medico dice che la", "Risposta.", "truncated"),
        ("Aiuto!", "Risposta.", "too_short"),
        ("Ho mal di testa da tre giorni, cosa devo fare", "Risposta.", None),
    ],
)
def test_question_checks(question, answer, reason):
    assert question_problem(question, answer) == reason


def test_clean_records_counts_add_up():
    records = [
        {"id": 1, "q": "Ho la pressione alta da mesi, cosa devo fare?", "a": "Gentile utente, serve un Holter. Cordiali saluti, Dott. Rossi"},
        {"id": 2, "q": "Ho la pressione alta e vorrei sapere se", "a": "Serve un Holter."},
        {"id": 3, "q": "", "a": "Serve un Holter."},
        {"id": 4, "q": "Ho la pressione alta da mesi, cosa devo fare?", "a": "Serve un Holter."},
    ]
    kept, quarantined, report = clean_records(records, "q", "a")
    assert [r["id"] for r in kept] == [1, 4]
    assert kept[0]["a"] == "Serve un Holter."
    assert [(r["id"], r["reason"]) for r in quarantined] == [(2, "truncated"), (3, "empty_question")]
    assert report["records_in"] == report["records_out"] + report["quarantined"] == 4
    assert report["answer_rules"]["salutation"] == 1 and report["answer_rules"]["sign_off"] == 1
    assert report["quarantine_reasons"] == {"empty_question": 1, "empty_answer": 0, "truncated": 1, "too_short": 0}


def test_cli_clean_writes_output_quarantine_and_report(tmp_path, capsys):
    from imb_tools.cli import main
    from imb_tools.infra.tables import read_table, write_table

    rows = [
        {"ID": "1", "testo_domanda": "Ho la pressione alta da mesi, cosa devo fare?", "testo_risposta": "Salve, serve un Holter. Dott.ssa Elena Russo", "extra": "x"},
        {"ID": "2", "testo_domanda": "", "testo_risposta": "Serve un Holter.", "extra": "y"},
    ]
    src = write_table(rows, tmp_path / "raw.csv")
    rc = main(["clean", "--in", str(src), "--out", str(tmp_path / "clean.parquet"), "--report", str(tmp_path / "r.json")])
    assert rc == 0
    out = read_table(tmp_path / "clean.parquet").to_list()
    assert out == [{"ID": "1", "testo_domanda": rows[0]["testo_domanda"], "testo_risposta": "Serve un Holter.", "extra": "x"}]
    quarantine = [json.loads(line) for line in (tmp_path / "clean.quarantine.jsonl").read_text("utf-8").splitlines()]
    assert [(q["ID"], q["reason"]) for q in quarantine] == [("2", "empty_question")]
    report = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert report["records_in"] == 2 and report["answer_rules"]["signature"] == 1
    assert "1 kept, 1 quarantined" in capsys.readouterr().out


def test_cli_clean_bad_file_is_one_line_error(tmp_path, capsys):
    from imb_tools.cli import main

    bad = tmp_path / "raw.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["clean", "--in", str(bad), "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imb: error:") and str(bad) in err and "\n" not in err
