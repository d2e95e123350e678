"""Difficulty: term list, text index, MCQA accuracy difficulty, per-category shares and plots."""

from __future__ import annotations

import json

import pytest

from imb_tools.infra.errors import ImbError
from imb_tools.analysis.difficulty import (
    accuracy_difficulty, difficulty, load_terms, parse_percentage, share_above_average,
    text_difficulty,
)

SIMPLE = "Ho mal di testa da ieri. Cosa faccio?"
HARD = (
    "Salve, da tre mesi soffro di gastrite cronica e reflusso; il gastroenterologo mi ha prescritto "
    "omeprazolo ma, sebbene lo assuma regolarmente, i sintomi persistono perché forse l'esofagite "
    "non è guarita, e qualora fosse necessario dovrei ripetere la gastroscopia e una biopsia, "
    "che tuttavia mi spaventa poiché ho già avuto una reazione all'anestesia."
)


def test_term_list_rules(tmp_path):
    terms = load_terms()
    for word in ("gastrite", "appendicectomia", "ecografia", "cardiologo", "omeprazolo", "Biopsia"):
        assert word in terms, word
    for word in ("vite", "sentite", "fotografia", "gastronomia", "casa", "mamma"):
        assert word not in terms, word
    custom = tmp_path / "terms.txt"
    custom.write_text("# mine\nfebbre\n-ite\nneuro-\n!partite\n")
    mine = load_terms(custom)
    assert "febbre" in mine and "tonsillite" in mine and "neurochirurgo" in mine
    assert "partite" not in mine and "otite" not in mine  # "ot" leaves fewer than 4 letters
    with pytest.raises(ImbError, match="cannot read term list"):
        load_terms(tmp_path / "missing.txt")


def test_text_index_ranks_complex_questions_higher():
    df = text_difficulty([SIMPLE, HARD, "Buongiorno, grazie mille.", ""])
    assert df.loc[1, "difficulty_index"] == df["difficulty_index"].max()
    assert list(df["above_average"]) == [False, True, False, False]
    assert df.loc[1, "term_density"] > 0.15 and df.loc[0, "term_density"] == 0
    assert df.loc[1, "subordination"] >= 4 and df.loc[0, "sentences"] == 2
    assert df.loc[3, "words"] == 0  # empty text scores, does not crash
    for comp in ("length", "term_density", "sentence_length", "subordination"):
        assert abs(df[f"z_{comp}"].mean()) < 1e-9


@pytest.mark.parametrize("raw, share", [
    (0.49, 0.49), ("49%", 0.49), (49, 0.49), ("0,25", 0.25), (1, 1.0), (0, 0.0),
    (None, None), ("", None), ("n/d", None), (-3, None), (150, None), (float("nan"), None),
])
def test_parse_percentage(raw, share):
    assert parse_percentage(raw) == pytest.approx(share) if share is not None else parse_percentage(raw) is None


def test_accuracy_difficulty_and_shares():
    df = accuracy_difficulty([0.9, 0.2, "30%", None, 0.6])
    assert df["difficulty_index"].tolist()[:3] == pytest.approx([0.1, 0.8, 0.7])
    # mean difficulty of the four scored = 0.5 -> above: 0.8 and 0.7
    assert [None if str(v) == "<NA>" else bool(v) for v in df["above_average"]] == [
        False, True, True, None, False]
    table = share_above_average(["a", "b", "b", "b", "a"], df["above_average"])
    rows = {r.group: (r.questions, r.above_average, r.share_above_average) for r in table.itertuples()}
    assert rows == {"a": (2, 0, 0.0), "b": (2, 2, 100.0)}  # the missing one is not counted
    assert list(table["group"]) == ["b", "a"]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def test_difficulty_qa_table_writes_tables_and_plots(tmp_path):
    rows = [{"ID": str(i), "testo_domanda": HARD if i % 3 == 0 else SIMPLE,
             "categoria": "Neurologia" if i % 2 else "Cardiologia"} for i in range(12)]
    src = _jsonl(tmp_path / "qa.jsonl", rows)
    report = difficulty(src, tmp_path / "rep", out_path=tmp_path / "scored.jsonl", progress=False)
    assert report["mode"] == "text" and report["questions"] == report["scored"] == 12
    assert report["share_above_average"] == pytest.approx(100 * 4 / 12)
    by_cat = {r["group"]: r for r in report["tables"]["category"]["rows"]}
    assert sum(r["questions"] for r in by_cat.values()) == 12
    assert by_cat["Cardiologia"]["above_average"] == 2 and by_cat["Neurologia"]["above_average"] == 2
    macros = {r["group"] for r in report["tables"]["macro_category"]["rows"]}
    assert macros == {"Neurology", "Cardiology, circulatory system and hematology"}
    for name in ("category", "macro_category"):
        png = tmp_path / "rep" / f"difficulty_by_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / "rep" / f"difficulty_by_{name}.csv").read_text().startswith("group,questions")
    scored = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    assert [r["ID"] for r in scored] == [str(i) for i in range(12)]
    assert [r["difficulty_above_average"] for r in scored] == [i % 3 == 0 for i in range(12)]


def test_difficulty_mcqa_uses_percentage_correct(tmp_path):
    rows = [{"id": str(i), "category": "Medicina termale" if i < 4 else "Oculistica",
             "question": "Quale farmaco?", "percentage_correct": p}
            for i, p in enumerate([0.1, 0.2, 0.3, None, 0.9, 0.8, 0.7, 0.95])]
    src = _jsonl(tmp_path / "mcqa.jsonl", rows)
    report = difficulty(src, tmp_path / "rep", out_path=tmp_path / "out.parquet", progress=False)
    assert report["mode"] == "accuracy" and report["missing"] == 1 and report["scored"] == 7
    rows_by = {r["group"]: r for r in report["tables"]["category"]["rows"]}
    assert rows_by["Medicina termale"]["share_above_average"] == 100.0
    assert rows_by["Oculistica"]["share_above_average"] == 0.0
    assert "macro_category" not in report["tables"]
    with pytest.raises(ImbError, match="no percentage column"):
        difficulty(_jsonl(tmp_path / "qa.jsonl", [{"question": "x"}]), tmp_path / "r2", mode="accuracy")


def test_difficulty_on_built_datasets(built_qa, built_mcqa, tmp_path):
    qa = difficulty(built_qa, tmp_path / "qa", split="test", progress=False)
    assert qa["mode"] == "text" and qa["scored"] == qa["questions"] > 0
    groups = {r["group"] for r in qa["tables"]["macro_category"]["rows"]}
    assert groups and all(not g.isdigit() for g in groups)  # names, not ClassLabel ids
    mcqa = difficulty(built_mcqa, tmp_path / "mcqa", progress=False)
    assert mcqa["mode"] == "accuracy" and mcqa["source_column"] == "percentage_correct"
    assert mcqa["scored"] + mcqa["missing"] == mcqa["questions"]
    assert sum(r["questions"] for r in mcqa["tables"]["category"]["rows"]) == mcqa["scored"]
