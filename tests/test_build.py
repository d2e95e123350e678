"""The builders: raw formats, normalization, quarantine, counts, splits, determinism, loading."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import datasets
import pytest

import imb_mcqa
import imb_qa
from imb_tools.data.categories import CATEGORY_TO_MACRO, MACRO_NAMES, QA_CATEGORIES
from imb_tools.data.io import built_split_files
from imb_tools.data.splits import assign_split

QA_ROWS = [
    {"ID": 101, "URL": "https://www.medicitalia.it/consulti/cardiologia/101-palpitazioni.html",
     "data_domanda": "2023-01-02", "data_risposta": "2023-01-03",
     "autore_domanda": "utente77", "autore_risposta": "Dott. Mario Rossi",
     "testo_domanda": "Soffro di palpitazioni la sera, devo preoccuparmi?",
     "testo_risposta": "Gentile utente, faccia un Holter. Dott. Mario Rossi, tel 333 1234567",
     "testo_risposta_riformulata": "È consigliabile eseguire un Holter cardiaco delle 24 ore.",
     "categoria": "Cardiologia"},
    {"ID": 102, "URL": "https://www.dica33.it/domande/102.asp",
     "testo_domanda": "Ho un neo che cambia colore.",
     "testo_risposta": "Vada dal dermatologo.",
     "testo_risposta_riformulata": "Serve una visita dermatologica con dermatoscopia.",
     "categoria": "Dermatologia e venereologia"},
    {"ID": 103, "URL": None,
     "testo_domanda": "Mal di schiena da settimane dopo uno sforzo.",
     "testo_risposta": "Riposo.",
     "testo_risposta_riformulata": "Dopo uno sforzo è utile il riposo relativo e, se persiste, una visita.",
     "categoria": "chirurgia-dell-apparato-digerente"},
]

ENGLISH = {"ID": "ID", "URL": "URL", "testo_domanda": "Question",
           "testo_risposta_riformulata": "Reformulated Answer", "categoria": "Category"}


def write_qa(path: Path, rows: list[dict], fmt: str) -> Path:
    if fmt == "json":
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        fields = sorted({k for r in rows for k in r})
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    return path


def build_qa(tmp_path, rows, fmt="json", fractions=None, name="qa"):
    raw = write_qa(tmp_path / f"{name}.{fmt}", rows, fmt)
    out = tmp_path / f"{name}-out"
    report = imb_qa.build(str(raw), out, fractions or {"test": 0.3, "validation": 0.1}, progress=False)
    return report, out, imb_qa.load(out)


def all_rows(dsd) -> list[dict]:
    rows = []
    for split, ds in dsd.items():
        for r in ds:
            rows.append({**r, "_split": split})
    return sorted(rows, key=lambda r: r["id"])


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_qa_formats_give_the_same_records(tmp_path, fmt):
    report, _, dsd = build_qa(tmp_path, QA_ROWS, fmt)
    _, _, reference = build_qa(tmp_path, QA_ROWS, "json", name="ref")
    assert report["records_out_total"] == 3
    assert all_rows(dsd) == all_rows(reference)
    rows = {r["id"]: r for r in all_rows(dsd)}
    feats = next(iter(dsd.values())).features
    cardio = rows["101"]
    assert feats["category"].int2str(cardio["category"]) == "Cardiologia"
    assert feats["macro_category"].int2str(cardio["macro_category"]) == CATEGORY_TO_MACRO["Cardiologia"]
    assert feats["source"].int2str(cardio["source"]) == "medicitalia"
    assert cardio["answer"].startswith("È consigliabile")  # the reformulated answer, never the original
    assert feats["source"].int2str(rows["102"]["source"]) == "dica33"
    assert rows["103"]["url"] is None and feats["source"].int2str(rows["103"]["source"]) == "unknown"
    assert feats["category"].int2str(rows["103"]["category"]) == "Chirurgia dell apparato digerente"
    assert cardio["_split"] == assign_split(QA_ROWS[0]["testo_domanda"], {"test": 0.3, "validation": 0.1}, "train")


def test_english_table2_columns(tmp_path):
    rows = [{ENGLISH.get(k, k): v for k, v in r.items() if k in ENGLISH} for r in QA_ROWS]
    rows[0]["Category"] = "ITA: Cardiologia - ENG: Cardiology"
    _, _, dsd = build_qa(tmp_path, rows, "json")
    _, _, reference = build_qa(tmp_path, QA_ROWS, "json", name="ref")
    assert all_rows(dsd) == all_rows(reference)


def test_forbidden_fields_never_emitted(tmp_path):
    _, out, dsd = build_qa(tmp_path, QA_ROWS)
    for ds in dsd.values():
        assert set(ds.column_names) == {"id", "question", "answer", "category", "macro_category", "source", "url"}
    text = "".join(p.read_bytes().decode("latin-1") for p in (out / "data").glob("*.parquet"))
    assert "Mario Rossi" not in text and "333 1234567" not in text
    assert "Mario Rossi" not in (out / "quarantine.jsonl").read_text()


def test_missing_id_gets_stable_content_hash(tmp_path):
    rows = [{k: v for k, v in QA_ROWS[0].items() if k != "ID"}]
    _, _, a = build_qa(tmp_path, rows, name="a")
    _, _, b = build_qa(tmp_path, rows, name="b")
    ida, idb = all_rows(a)[0]["id"], all_rows(b)[0]["id"]
    assert ida == idb and ida.startswith("h") and len(ida) == 17


QA_BAD = [
    ({**QA_ROWS[0], "ID": 201, "testo_domanda": "   "}, "empty_question"),
    ({**QA_ROWS[0], "ID": 202, "testo_risposta_riformulata": ""}, "empty_answer"),
    ({**QA_ROWS[0], "ID": 203, "categoria": "Astrologia medica"}, "unknown_category"),
    ({**QA_ROWS[0], "testo_domanda": "Un'altra domanda con lo stesso ID"}, "id_conflict"),
    ({k: v for k, v in QA_ROWS[1].items() if k != "categoria"} | {"ID": 204}, "missing_category"),
]


def test_qa_quarantine_reasons_and_counts(tmp_path):
    rows = QA_ROWS + [QA_ROWS[0]] + [bad for bad, _ in QA_BAD]
    report, out, dsd = build_qa(tmp_path, rows)
    expected = {}
    for _, reason in QA_BAD:
        expected[reason] = expected.get(reason, 0) + 1
    assert report["quarantined"] == expected
    assert report["duplicates_collapsed_total"] == 1
    assert report["records_in"] == len(rows)
    assert report["records_in"] == (report["records_out_total"] + report["quarantined_total"]
                                    + report["duplicates_collapsed_total"])
    assert sum(len(ds) for ds in dsd.values()) == report["records_out_total"] == 3
    lines = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    assert [x["position"] for x in lines] == sorted(x["position"] for x in lines)  # file order
    # Which copy of a reused id stays does not depend on the order: the smallest content key.
    assert sorted(x["reason"] for x in lines) == sorted(r for _, r in QA_BAD)
    assert all(x["detail"] for x in lines)
    assert all("testo_risposta" not in x["record"] and "autore_risposta" not in x["record"] for x in lines)


def test_sample_builds_with_every_split_and_counts_add_up(built_qa, built_mcqa):
    for folder, splits in ((built_qa, {"train", "validation", "test"}), (built_mcqa, {"dev", "test"})):
        report = json.loads((folder / "report.json").read_text())
        assert report["counts_add_up"]
        assert report["records_in"] == (report["records_out_total"] + report["quarantined_total"]
                                        + report["duplicates_collapsed_total"])
        assert report["quarantined_total"] >= 3  # the sample's deliberately bad records
        assert set(built_split_files(folder)) == splits
        quarantined = (folder / "quarantine.jsonl").read_text().splitlines()
        assert len(quarantined) == report["quarantined_total"]


def test_two_builds_are_byte_identical(tmp_path, sample_qa_raw):
    a = tmp_path / "a"
    b = tmp_path / "b"
    imb_qa.build(str(sample_qa_raw), a, {"test": 0.3, "validation": 0.1}, progress=False)
    imb_qa.build(str(sample_qa_raw), b, {"test": 0.3, "validation": 0.1}, progress=False)
    fa, fb = built_split_files(a), built_split_files(b)
    assert fa.keys() == fb.keys()
    for split in fa:
        assert [Path(f).read_bytes() for f in fa[split]] == [Path(f).read_bytes() for f in fb[split]]
    assert (a / "README.md").read_text() == (b / "README.md").read_text()


def test_adding_records_moves_none(tmp_path, sample_qa_raw):
    rows = json.loads(Path(sample_qa_raw).read_text(encoding="utf-8"))
    half = rows[: len(rows) // 2]
    fractions = {"test": 0.3, "validation": 0.1}
    _, _, small = build_qa(tmp_path, half, fractions=fractions, name="small")
    _, _, full = build_qa(tmp_path, rows, fractions=fractions, name="full")
    where_small = {r["id"]: r["_split"] for r in all_rows(small)}
    where_full = {r["id"]: r["_split"] for r in all_rows(full)}
    assert where_small and set(where_small) <= set(where_full)
    assert all(where_full[i] == s for i, s in where_small.items())


def test_load_dataset_on_built_folder(built_qa, built_mcqa):
    qa = datasets.load_dataset(str(built_qa))
    assert set(qa) == {"train", "validation", "test"}
    assert qa["train"].features["category"].names == QA_CATEGORIES
    assert qa["train"].features["macro_category"].names == MACRO_NAMES
    mc = datasets.load_dataset(str(built_mcqa))
    assert set(mc) == {"dev", "test"}
    row = mc["test"][0]
    assert row["answer"] == "ABCDE"[row["answer_index"]]
    assert 4 <= len(row["options"]) <= 5


MCQ = {"ID": 1, "Question": "Quale vitamina è liposolubile?", "AnswerA": "Vitamina C",
       "AnswerB": "Vitamina B12", "AnswerC": "Vitamina D", "AnswerD": "Vitamina B1",
       "AnswerE": "Vitamina B6", "Correct Answer": "  vitamina   d ", "Percentage Correct": "49%"}


def build_mcqa(tmp_path, data: dict, fractions=None):
    raw = tmp_path / "mcqa.json"
    raw.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    report = imb_mcqa.build(str(raw), tmp_path / "mcqa-out", fractions or {"dev": 0.0}, progress=False)
    return report, tmp_path / "mcqa-out"


def test_mcqa_normalization(tmp_path):
    four = {k: v for k, v in MCQ.items() if k != "AnswerE"} | {"ID": 2, "Correct Answer": "Vitamina B1",
                                                              "Percentage Correct": None}
    letter = MCQ | {"ID": 3, "Question": "Domanda con lettera?", "Correct Answer": "B",
                    "Percentage Correct": 73}
    report, out = build_mcqa(tmp_path, {"Medicina interna": [MCQ, four, letter]})
    assert report["quarantined_total"] == 0
    rows = {r["source_id"]: r for r in imb_mcqa.load(out, split="test")}
    assert rows["1"]["id"] == "medicina-interna-1"
    assert rows["1"]["answer"] == "C" and rows["1"]["answer_index"] == 2
    assert rows["1"]["percentage_correct"] == pytest.approx(0.49)
    assert rows["1"]["category"] == "Medicina interna"
    assert len(rows["2"]["options"]) == 4 and rows["2"]["answer"] == "D"
    assert rows["2"]["percentage_correct"] is None
    assert rows["3"]["answer"] == "B" and rows["3"]["percentage_correct"] == pytest.approx(0.73)


def test_mcqa_quarantine_reasons(tmp_path):
    three = {k: v for k, v in MCQ.items() if k not in ("AnswerD", "AnswerE")} | {"ID": 10, "Correct Answer": "Vitamina C"}
    nomatch = MCQ | {"ID": 11, "Correct Answer": "Vitamina K"}
    twice = MCQ | {"ID": 12, "AnswerE": "Vitamina D"}
    gap = MCQ | {"ID": 13, "AnswerB": ""}
    empty_q = MCQ | {"ID": 14, "Question": ""}
    badpct = MCQ | {"ID": 15, "Percentage Correct": "molti"}
    conflict = MCQ | {"Question": "Altra domanda, stesso ID?"}
    # The same upstream ID in another category is another question, not a conflict.
    report, out = build_mcqa(tmp_path, {"Medicina interna": [MCQ, three, nomatch, twice, gap, empty_q, badpct,
                                                             conflict],
                                        "Cardiologia": [conflict]})
    assert report["quarantined"] == {
        "answer_matches_no_option": 1, "duplicate_options": 1, "bad_option_count": 1,
        "bad_options": 1, "bad_percentage": 1, "empty_question": 1, "id_conflict": 1,
    }
    assert report["records_in"] == 9 and report["records_out_total"] == 2


def test_builder_class_used_directly(tmp_path, sample_mcqa_raw):
    builder = imb_mcqa.ImbMcqa(cache_dir=str(tmp_path / "cache"), raw_path=str(sample_mcqa_raw),
                               fractions={"dev": 0.25}, progress=False)
    builder.download_and_prepare()
    dsd = builder.as_dataset()
    info = builder.info
    assert info.license == "CC BY-NC-ND 4.0" and "Romano" in info.citation and info.homepage
    assert sum(len(d) for d in dsd.values()) == builder.build_report["records_out_total"] == 72
    assert {r["category"] for r in dsd["test"]} <= set(json.loads(Path(sample_mcqa_raw).read_text()))
    builder.cleanup_work_dir()


def test_bad_fractions_are_one_line_errors(tmp_path, sample_qa_raw):
    from imb_tools.infra.errors import ImbError

    with pytest.raises(ImbError, match="add up to more than 1"):
        imb_qa.build(str(sample_qa_raw), tmp_path / "o", {"test": 0.7, "validation": 0.5}, progress=False)
    with pytest.raises(ImbError, match=r"no fraction can be set for \['dev', 'train'\] in imb-qa: fractions are set "
                                        r"for \['test', 'validation'\], and train gets the rest"):
        imb_qa.build(str(sample_qa_raw), tmp_path / "o", {"dev": 0.1, "train": 0.8}, progress=False)
    with pytest.raises(ImbError, match="fractions must map split names to shares"):
        imb_qa.build(str(sample_qa_raw), tmp_path / "o", "0.8", progress=False)
    with pytest.raises(ImbError, match="split fraction for 'test' must be a number in"):
        imb_qa.build(str(sample_qa_raw), tmp_path / "o", {"test": "0.1"}, progress=False)


def test_refuses_to_overwrite_a_foreign_folder(tmp_path, sample_qa_raw):
    from imb_tools.infra.errors import ImbError

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(ImbError, match="not written by this command"):
        imb_qa.build(str(sample_qa_raw), tmp_path / "mine", progress=False)
    assert (tmp_path / "mine" / "thesis.tex").exists()


def test_macro_mapping_covers_the_77_categories():
    from imb_tools.data.categories import MACRO_CATEGORIES

    assert len(QA_CATEGORIES) == 77 and len(MACRO_NAMES) == 10
    listed = [c for _, cats in MACRO_CATEGORIES.values() for c in cats]
    assert len(listed) == len(set(listed)) == 77


def test_load_sees_a_rebuild_in_the_same_folder(tmp_path, sample_qa_raw):
    rows = json.loads(Path(sample_qa_raw).read_text(encoding="utf-8"))
    out = tmp_path / "qa"
    for n in (20, 50):
        raw = write_qa(tmp_path / f"raw{n}.json", rows[:n], "json")
        report = imb_qa.build(str(raw), out, {"test": 0.3, "validation": 0.1}, progress=False)
        assert sum(len(d) for d in imb_qa.load(out).values()) == report["records_out_total"]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_worker_processes_give_the_same_bytes(tmp_path, sample_qa_raw, fmt, monkeypatch):
    """Pass 1 in 2 worker processes (the same normalizer, gathered in file order) writes exactly
    what one process writes: shards, quarantine, report and marker."""
    from imb_tools.data.builder import build_to_folder
    from imb_tools.data.kinds import ImbQa
    from imb_tools.infra import readers

    monkeypatch.setattr(readers, "BLOCK_RECORDS", 17)  # many blocks in flight, finishing out of order
    monkeypatch.setattr(readers, "SPAN_BYTES", 5000)

    rows = json.loads(Path(sample_qa_raw).read_text(encoding="utf-8"))
    raw = write_qa(tmp_path / f"raw.{fmt}", rows * 3, fmt)
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        build_to_folder(ImbQa, str(raw), out, {"test": 0.3, "validation": 0.1}, progress=False, workers=workers)
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len(files) >= 6
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel


def test_fold_text_is_its_definition_on_any_text():
    """The fast fold (bytes, then a table) against its definition computed one character at a
    time (NFKD, combining marks dropped, lower case, other characters one space)."""
    import random

    from lm_eval_tasks.imb_common.data import _fold_slowly, fold_text

    rng = random.Random(0)
    alphabet = "aàèéìòùçÇÈ ,.'-ßøΣσς ﬁ①ＡİĲ\u0301\u0327\u20dd𝐀xyzXYZ019\u00a0\t\n㎏😊’“”\U000E0001\U0010FFFF"
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert fold_text(text) == _fold_slowly(text), repr(text)


def test_the_split_key_is_the_folded_text_without_spaces():
    """letters_key (NFKD and one byte table, in C) against its definition: fold_text without spaces."""
    import random

    from imb_tools.data.splits import letters_key
    from lm_eval_tasks.imb_common.data import _fold_slowly

    rng = random.Random(1)
    alphabet = ("aàèéìòùçÇÈ ,.'-ßøΣσςͰ;ͺ ﬁ①ＡİĲ\u0301\u0327\u20dd𝐀xyzXYZ019\u00a0\t\n㎏😊’“”°²\U000E0001\U0010FFFF"
                + "".join(map(chr, range(0xC0, 0x100))))  # every Latin-1 letter: the first way
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert letters_key(text) == _fold_slowly(text).replace(" ", "").encode(), repr(text)


def test_builder_refuses_data_dir_it_would_ignore(tmp_path):
    """datasets' data_dir / data_files are accepted by every builder; these read one raw file, so
    they refuse both in one line that names the argument to give and the loader of built folders."""
    import imb_mcqa
    import imb_qa

    from imb_tools.infra.errors import ImbError

    for module, builder, raw in ((imb_qa, imb_qa.ImbQa, "IMB-QA.json"), (imb_mcqa, imb_mcqa.ImbMcqa, "IMB-MCQA.json")):
        for kwargs in ({"data_dir": str(tmp_path)}, {"data_files": "x.json"}):
            with pytest.raises(ImbError) as err:
                builder(**kwargs)
            assert f"raw_path='path/to/{raw}'" in str(err.value) and f"{module.__name__}.load(folder)" in str(err.value)
