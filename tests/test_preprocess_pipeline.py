"""`imb preprocess` chain and the reformulate/categorize/difficulty CLI commands."""

from __future__ import annotations

import json

import pytest

from imb_tools.cli import main
from imb_tools.preprocess.pipeline import preprocess

GOOD = [
    ("Ho la pressione alta da due mesi e prendo un farmaco ogni mattina, va bene?",
     "Il farmaco va bene, ma misuri la pressione ogni giorno.", "Cardiologia"),
    ("Da tre giorni ho febbre alta e tosse secca, devo preoccuparmi o aspettare?",
     "Se la febbre dura oltre tre giorni contatti il medico curante.", "Pneumologia"),
    ("Ho delle macchie rosse sulla pelle che prudono molto, cosa possono essere?",
     "Potrebbe trattarsi di una dermatite: serve una visita dermatologica.", "Dermatologia e venereologia"),
    ("Mi sanguinano le gengive quando lavo i denti, è grave o passa da solo?",
     "Serve una pulizia dentale professionale e una visita dal dentista.", "Odontoiatria e odontostomatologia"),
]


def _rows():
    rows = []
    for i in range(12):
        q, a, cat = GOOD[i % 4]
        rows.append({"ID": str(i), "testo_domanda": q, "testo_risposta": a, "categoria": cat})
    rows[1]["testo_risposta"] = "Gentile utente, " + rows[1]["testo_risposta"] + " Cordiali saluti, Dott. Mario Rossi"
    rows[2]["testo_domanda"] = ("Sono Giulia Bianchi, scrivetemi a giulia.bianchi@example.com: ho macchie "
                                "rosse sulla pelle da settimane.")
    rows[5]["testo_domanda"] = "Ho un dolore al ginocchio quando faccio le scale e"
    return rows


@pytest.fixture()
def forum_dump(tmp_path):
    path = tmp_path / "dump.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows()))
    return path


class _TopicInfo:
    def to_csv(self, path, index=False):
        open(path, "w").write("Topic,Name\n0,0_a\n1,1_b\n")


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_chain_all_steps_and_resume(forum_dump, tmp_path, tiny_llama, monkeypatch):
    from imb_tools.analysis import categorize

    # BERTopic itself is exercised in test_categorize.py; here only the wiring matters.
    seen = []

    def fake_fit_topics(texts, **kw):
        seen.extend(texts)
        topics = [i % 2 for i in range(len(texts))]
        return categorize.TopicResult(topics, {0: "0_a", 1: "1_b"}, _TopicInfo(), {"model": kw["model"]})

    monkeypatch.setattr(categorize, "fit_topics", fake_fit_topics)
    out = tmp_path / "out.jsonl"
    kwargs = dict(reformulate_model=str(tiny_llama), max_new_tokens=4, categorize=True,
                  embedding_model="some/model", category_column="categoria", progress=False)
    report = preprocess(forum_dump, out, **kwargs)
    assert report["steps"] == ["clean", "anonymize", "reformulate", "categorize"]
    assert report["records_in"] == 12 == report["records_out"] + report["quarantined"]
    quarantine = _read_jsonl(tmp_path / "out.quarantine.jsonl")
    assert [(r["ID"], r["reason"]) for r in quarantine] == [("5", "truncated")]
    rows = _read_jsonl(out)
    assert [r["ID"] for r in rows] == [str(i) for i in range(12) if i != 5]
    by_id = {r["ID"]: r for r in rows}
    assert "Gentile" not in by_id["1"]["testo_risposta"] and "Rossi" not in by_id["1"]["testo_risposta"]
    assert "giulia.bianchi@example.com" not in by_id["2"]["testo_domanda"]
    assert "[EMAIL]" in by_id["2"]["testo_domanda"]
    assert by_id["0"]["testo_domanda"] == GOOD[0][0]  # clean text comes out unchanged
    # The tiny model writes noise: every reformulation is rejected with its reason, and the
    # reformulated column stays empty (an original answer must never pass for a reformulation).
    assert all(r["testo_risposta_riformulata"] is None and r["testo_risposta"] for r in rows)
    assert all(r["testo_risposta_riformulata_flag"] for r in rows)
    assert [r["topic"] for r in rows] == [i % 2 for i in range(11)]
    assert seen == [r["testo_domanda"] for r in rows]  # questions, anonymized
    assert report["categorize"]["category"]["texts"] == 11
    pii = report["anonymize"]["columns"]["testo_domanda"]
    assert pii["texts"] == 11 and pii["before"]["texts_with_pii"] == 1 and pii["after"]["texts_with_pii"] == 0
    assert report["reformulate"]["generated"] == 4  # four distinct answers after cleaning
    # PII after each step, as the paper's 27% -> 7% -> 1%, in this pipeline's order, with the detector's recall
    steps = report["pii_by_step"]
    assert steps["column"] == "testo_risposta" and "anonymize -> reformulate" in steps["order"]
    # the clean step already cut the one signature in the answers: nothing left to find
    assert steps["original"] == steps["anonymized"] == steps["reformulated"] == 0.0
    assert "same detector" in steps["measured_by"] and 0 <= steps["detector_recall"]["answer_residual"] <= 0.02
    saved = json.loads((tmp_path / "out.report" / "preprocess.json").read_text())
    assert saved["clean"]["answer_rules"]["salutation"] == 1

    again = preprocess(forum_dump, out, **{**kwargs, "categorize": False})
    assert again["reformulate"]["generated"] == 0 and again["reformulate"]["from_cache"] == 11


def test_clean_with_worker_processes_matches_single_process(forum_dump, tmp_path):
    one = preprocess(forum_dump, tmp_path / "one.jsonl", anonymize=False, progress=False)
    two = preprocess(forum_dump, tmp_path / "two.jsonl", anonymize=False, num_proc=2, batch_size=3,
                     progress=False)
    assert _read_jsonl(tmp_path / "one.jsonl") == _read_jsonl(tmp_path / "two.jsonl")
    assert one["clean"] == two["clean"]
    assert two["clean"]["quarantine_reasons"]["truncated"] == 1


def test_cli_commands(forum_dump, tmp_path, tiny_llama, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "ref.csv"
    rc = main(["reformulate", "--in", str(forum_dump), "--out", str(out), "--model", str(tiny_llama),
               "--max-new-tokens", "3", "--report", str(tmp_path / "ref.json")])
    assert rc == 0
    assert json.loads((tmp_path / "ref.json").read_text())["records"] == 12
    assert out.read_text().splitlines()[0].endswith("testo_risposta_riformulata,testo_risposta_riformulata_flag")
    rc = main(["difficulty", "--in", str(forum_dump), "--report-dir", str(tmp_path / "diff")])
    assert rc == 0 and (tmp_path / "diff" / "difficulty_by_macro_category.png").exists()
    assert "above average" in capsys.readouterr().out
    # Bad input: one line, exit 2.
    assert main(["reformulate", "--in", str(forum_dump), "--out", str(out), "--model", "openai:x"]) == 2
    assert main(["difficulty", "--in", str(tmp_path / "nope.jsonl"), "--report-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("imb: error: ") for line in err)
