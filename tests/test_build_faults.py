"""Fault injection through the real CLI: bad inputs, hostile output folders, a full disk, kill -9.

Each case: the input, the expected exit code, a pattern for the one-line error (or the
quarantine reasons), and the files that must still exist afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from cli_faults import Fault, run_fault
from imb_tools.cli import main
from imb_tools.data.io import built_split_files

GOOD = {"ID": 1, "URL": "https://www.medicitalia.it/consulti/cardiologia/1-x.html",
        "testo_domanda": "Ho le palpitazioni la sera.", "testo_risposta_riformulata": "Serve un Holter.",
        "categoria": "Cardiologia"}


def q(i, **kw):
    return {**GOOD, "ID": i, "testo_domanda": f"Domanda numero {i}?", **kw}


def jsonl(rows):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def mcq(i, **kw):
    return {"ID": i, "Question": f"Domanda {i}?", "AnswerA": "uno", "AnswerB": "due", "AnswerC": "tre",
            "AnswerD": "quattro", "Correct Answer": "due", "Percentage Correct": "50%", **kw}


@dataclass
class Case:
    name: str
    kind: str
    raw_name: str
    raw: bytes | str
    rc: int = 0
    error: str | None = None  # regex on stderr
    reasons: dict | None = None  # expected report["quarantined"]
    out_total: int | None = None
    setup: object = None  # callable(tmp_path, out) run before the build
    keep: tuple = ()  # paths (relative to tmp_path) that must still exist
    extra_args: tuple = field(default_factory=tuple)
    check: object = None  # callable(out, report) -> bool, for what is particular to the case


def _user_folder(tmp, out):
    out.mkdir()
    (out / "report.json").write_text("{}")
    (out / "thesis.tex").write_text("\\documentclass{article}")
    (out / "src").mkdir()
    (out / "src" / "main.py").write_text("print(1)")


def _previous_build_plus_user_file(tmp, out):
    assert main(["build", "qa", "--raw", "sample", "--out", str(out), "--no-progress"]) == 0
    (out / "notes.txt").write_text("mine")


def _previous_build_with_raw_inside(tmp, out):
    assert main(["build", "qa", "--raw", "sample", "--out", str(out), "--no-progress"]) == 0


def _legacy_build(tmp, out, dataset="imb-qa"):
    """A build folder written before .imb-build.json existed, lock files included."""
    (out / "data").mkdir(parents=True)
    (out / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1")
    (out / "report.json").write_text(json.dumps({"dataset": dataset, "counts_add_up": True}))
    (out / "README.md").write_text("card")
    (out / "quarantine.jsonl").write_text("")
    (out / "shards_builder.lock").write_text("")


def _legacy_mcqa_build(tmp, out):
    _legacy_build(tmp, out, "imb-mcqa")


def _out_is_a_file(tmp, out):
    out.write_text("not a folder")


MCQA_PER_CATEGORY = json.dumps({f"Categoria {c}": [mcq(i, Question=f"{c}: domanda {i}?") for i in range(1, 21)]
                                for c in "ABCDE"})

# Never-publish fields under spellings the name guard never listed (issue 18 saw 33 of 47 kept),
# each holding a value that must appear nowhere in the build folder.
PRIVATE = {"autrice_risposta": "SEGRETO-1", "autrice": "SEGRETO-2", "testo_risposta_orig": "SEGRETO-3",
           "risposta_non_anonimizzata": "SEGRETO-4", "datarisposta": "SEGRETO-5", "created_at": "SEGRETO-6",
           "meta": {"Autrice": "SEGRETO-7", "firma": "SEGRETO-8"}, "Nome del medico": "SEGRETO-9",
           "email_utente": "SEGRETO-10", "indirizzo_ip": "SEGRETO-11", "telefono": "SEGRETO-12"}


CASES = [
    # (A)1 upstream IDs numbered 1..N within each category
    Case("mcqa_ids_per_category", "mcqa", "m.json", MCQA_PER_CATEGORY, reasons={}, out_total=100),
    Case("mcqa_conflict_within_category", "mcqa", "m.json",
         json.dumps({"Cardiologia": [mcq(1), mcq(1, Question="Altra?")], "Neurologia": [mcq(1)]}),
         reasons={"id_conflict": 1}, out_total=2),
    # (A)3 types checked at the door
    Case("question_list", "qa", "r.jsonl", jsonl([q(1), q(2, testo_domanda=["a", "b"])]),
         reasons={"bad_type": 1}, out_total=1),
    Case("question_object", "qa", "r.json", json.dumps([q(1), q(2, testo_domanda={"a": 1})]),
         reasons={"bad_type": 1}, out_total=1),
    Case("answer_bool", "qa", "r.jsonl", jsonl([q(1), q(2, testo_risposta_riformulata=True)]),
         reasons={"bad_type": 1}, out_total=1),
    Case("id_true", "qa", "r.jsonl", jsonl([q(1), q(True)]), reasons={"bad_type": 1}, out_total=1),
    Case("id_nan_infinity", "qa", "r.jsonl",
         jsonl([q(1)]) + '{"ID": NaN, "testo_domanda": "a?", "testo_risposta_riformulata": "b", '
         '"categoria": "Cardiologia"}\n{"ID": Infinity, "testo_domanda": "c?", '
         '"testo_risposta_riformulata": "d", "categoria": "Cardiologia"}\n',
         reasons={"bad_type": 2}, out_total=1),
    Case("id_float_integral", "qa", "r.json", json.dumps([q(1.0), q(2.5)]), reasons={}, out_total=2),
    Case("question_invisible", "qa", "r.jsonl",
         jsonl([q(1), q(2, testo_domanda="\x00\u200b\ufeff \u2060"), q(3, testo_risposta_riformulata="\u200d")]),
         reasons={"empty_question": 1, "empty_answer": 1}, out_total=1),
    Case("mcqa_option_list_and_bool_percentage", "mcqa", "m.json",
         json.dumps({"Cardiologia": [mcq(1), mcq(2, AnswerC=["tre", "3"]), mcq(3, **{"Percentage Correct": True}),
                                     mcq(4, ID={"n": 4})]}),
         reasons={"bad_type": 2, "bad_percentage": 1}, out_total=1),
    Case("mcqa_latin1", "mcqa", "m.json",
         json.dumps({"Cardiologia": [mcq(1, Question="perché?")]}, ensure_ascii=False).encode("latin-1"),
         rc=2, error=r"m\.json: .*not UTF-8 text"),
    Case("csv_duplicated_header", "qa", "r.csv",
         "ID,testo_domanda,testo_risposta_riformulata,categoria,categoria\n1,a?,b,Cardiologia,Neurologia\n",
         rc=2, error=r"r\.csv: line 1: column 'categoria' appears twice"),
    Case("csv_extra_cell", "qa", "r.csv",
         "ID,testo_domanda,testo_risposta_riformulata,categoria\n1,a?,b,Cardiologia\n2,c?,d,Cardiologia,extra\n",
         rc=2, error=r"r\.csv: line 3: row has 5 cells, the header has 4"),
    Case("csv_short_row", "qa", "r.csv",
         "ID,testo_domanda,testo_risposta_riformulata,categoria\n1,a?,b,Cardiologia\n2,c?,d\n",
         rc=2, error=r"r\.csv: line 3: row has 3 cells, the header has 4"),
    # (A)4 encodings
    Case("json_utf8_bom", "qa", "r.json", b"\xef\xbb\xbf" + json.dumps([q(1), q(2)]).encode(), out_total=2,
         reasons={}),
    Case("jsonl_utf8_bom", "qa", "r.jsonl", b"\xef\xbb\xbf" + jsonl([q(1), q(2)]).encode(), out_total=2,
         reasons={}),
    Case("csv_utf8_bom", "qa", "r.csv",
         b"\xef\xbb\xbfID,testo_domanda,testo_risposta_riformulata,categoria\n1,a?,b,Cardiologia\n",
         out_total=1, reasons={}),
    Case("mcqa_utf8_bom", "mcqa", "m.json", b"\xef\xbb\xbf" + json.dumps({"Cardiologia": [mcq(1)]}).encode(),
         out_total=1, reasons={}),
    Case("csv_latin1", "qa", "r.csv",
         "ID,testo_domanda,testo_risposta_riformulata,categoria\n1,perché?,è così,Cardiologia\n".encode("latin-1"),
         rc=2, error=r"r\.csv: .*not UTF-8 text"),
    Case("jsonl_latin1", "qa", "r.jsonl", jsonl([q(1, testo_domanda="perché?")]).encode("latin-1"),
         rc=2, error=r"r\.jsonl: line 1: not UTF-8 text"),
    Case("json_latin1", "qa", "r.json", json.dumps([q(1, testo_domanda="perché?")], ensure_ascii=False)
         .encode("latin-1"), rc=2, error=r"r\.json: .*not UTF-8 text"),
    Case("json_utf16", "qa", "r.json", json.dumps([q(1)]).encode("utf-16"), rc=2, error=r"r\.json: file is UTF-16"),
    # (A)4, (A)5 output folders
    Case("out_is_a_file", "qa", "r.json", json.dumps([q(1)]), rc=2, error=r"exists and is not a folder",
         setup=_out_is_a_file, keep=("out",)),
    Case("out_is_a_user_folder", "qa", "r.json", json.dumps([q(1)]), rc=2, error=r"not written by this command",
         setup=_user_folder, keep=("out/thesis.tex", "out/src/main.py", "out/report.json")),
    Case("out_build_plus_user_file", "qa", "r.json", json.dumps([q(1)]), rc=2,
         error=r"holds files this command did not write \(notes\.txt\)",
         setup=_previous_build_plus_user_file, keep=("out/notes.txt", "out/report.json")),
    Case("raw_inside_out", "qa", "out/r.json", json.dumps([q(1)]), rc=2, error=r"--out .*out: holds the input --raw",
         setup=_previous_build_with_raw_inside, keep=("out/r.json", "out/report.json")),
    Case("legacy_build_is_replaced", "qa", "r.json", json.dumps([q(1)]), out_total=1, reasons={},
         setup=_legacy_build),
    Case("legacy_build_of_the_other_dataset", "qa", "r.json", json.dumps([q(1)]), rc=2,
         error=r"not written by this command", setup=_legacy_mcqa_build, keep=("out/report.json",)),
    Case("rebuild_over_own_build", "qa", "r.json", json.dumps([q(1), q(2)]), out_total=2, reasons={},
         setup=_previous_build_with_raw_inside),
    # Records read as written (issue 19): string ids compared as written, MCQA options and percentages
    Case("string_ids_101_and_101_0_are_two", "qa", "r.jsonl", jsonl([q("101"), q("101.0", testo_domanda="Altra?")]),
         reasons={}, out_total=2, check=lambda out, report: _ids(out) == {"101", "101.0"}),
    Case("mcqa_categories_that_fold_alike_keep_their_own_ids", "mcqa", "m.json",
         json.dumps({"Chirurgia generale": [mcq(1), mcq(2)], "Chirurgia-Generale": [mcq(1, Question="Terza?")],
                     "chirurgia generale ": [mcq(1, Question="Quarta?"), mcq(2, Question="Quinta?")]}),
         reasons={}, out_total=5,
         check=lambda out, report: len(_ids(out)) == 5 and len(report["conventions"]["category_spellings_kept_apart"]) == 3
         and any("kept apart" in w for w in report["warnings"])),
    Case("mcqa_six_options_are_refused_as_such", "mcqa", "m.json",
         json.dumps({"Cardiologia": [mcq(1), mcq(2, AnswerE="cinque", AnswerF="sei", **{"Correct Answer": "sei"})]}),
         reasons={"too_many_options": 1}, out_total=1,
         check=lambda out, report: "6 options (A to F)" in (out / "quarantine.jsonl").read_text()),
    Case("mcqa_a_letter_that_is_also_an_option_text", "mcqa", "m.json",
         json.dumps({"Ematologia": [mcq(1), mcq(2, AnswerA="B", AnswerB="A", AnswerC="AB", AnswerD="0",
                                                **{"Correct Answer": "A"}),
                                    mcq(3, AnswerA="A", AnswerB="B", AnswerC="AB", AnswerD="0",
                                        **{"Correct Answer": "A"})]}),
         reasons={"ambiguous_correct_answer": 1}, out_total=2),
    Case("mcqa_identical_options", "mcqa", "m.json",
         json.dumps({"Cardiologia": [mcq(1), mcq(2, AnswerD="uno")]}), reasons={"duplicate_options": 1}, out_total=1),
    Case("mcqa_percent_scale_is_decided_once_per_file", "mcqa", "m.json",
         json.dumps({"Cardiologia": [mcq(1, **{"Percentage Correct": 1}), mcq(2, **{"Percentage Correct": "1"}),
                                     mcq(3, **{"Percentage Correct": "1%"}), mcq(4, **{"Percentage Correct": "0,5"}),
                                     mcq(5, **{"Percentage Correct": 49})]}),
         reasons={}, out_total=5,
         check=lambda out, report: _percentages(out) == {"1": 0.01, "2": 0.01, "3": 0.01, "4": 0.005, "5": 0.49}
         and report["conventions"]["percentage_mixed"] == {"percent_values": 2, "share_like_values": 1}),
    Case("mcqa_shares_stay_shares", "mcqa", "m.json",
         json.dumps({"Cardiologia": [mcq(1, **{"Percentage Correct": 0.49}), mcq(2, **{"Percentage Correct": 1}),
                                     mcq(3, **{"Percentage Correct": "0,5"})]}),
         reasons={}, out_total=3,
         check=lambda out, report: _percentages(out) == {"1": 0.49, "2": 1.0, "3": 0.5}
         and report["conventions"] == {"percentage_scale": "share"}),
    Case("an_empty_split_is_still_a_build", "mcqa", "m.json", json.dumps({"Cardiologia": [mcq(1), mcq(2)]}),
         reasons={}, out_total=2, extra_args=("--dev-fraction", "0"),
         check=lambda out, report: _empty_split_is_a_build(out)),
    # Issue 18: one reader per format, the one users' files are written for
    Case("csv_stray_quote_then_quoted_multiline_field_reads_as_python_csv", "qa", "r.csv",
         'ID,testo_domanda,testo_risposta_riformulata,categoria\n'
         '1,Ho un "dolore forte al petto da giorni,Serve un ECG.,Cardiologia\n'
         '2,"Domanda su\ndue righe, con virgola",Risposta due.,Cardiologia\n',
         reasons={}, out_total=2,
         check=lambda out, report: _questions(out) == {'Ho un "dolore forte al petto da giorni',
                                                        "Domanda su\ndue righe, con virgola"}),
    Case("jsonl_null_line_is_one_line", "qa", "r.jsonl", jsonl([q(1)]) + "null\n" + jsonl([q(2)]),
         rc=2, error=r"r\.jsonl: line 2: expected an object"),
    Case("json_null_record_is_one_line_too", "qa", "r.json", "[" + json.dumps(q(1)) + ", null]",
         rc=2, error=r"r\.json: record 1: expected an object"),
    # Issue 18: never-publish by allow-list. quarantine.jsonl keeps only published fields
    # (under their published names), whatever the raw spelling of a private one.
    Case("qa_quarantine_keeps_no_private_field_whatever_its_spelling", "qa", "r.jsonl",
         jsonl([q(1, **PRIVATE), q(2, testo_risposta_riformulata="", **PRIVATE),
                q(3, categoria="Astrologia medica", **PRIVATE), q(1, testo_domanda="Altra?", **PRIVATE)]),
         reasons={"empty_answer": 1, "unknown_category": 1, "id_conflict": 1}, out_total=1,
         check=lambda out, report: _no_private_value(out, "qa")),
    Case("mcqa_quarantine_keeps_no_private_field_whatever_its_spelling", "mcqa", "m.json",
         json.dumps({"Cardiologia": [mcq(1, **PRIVATE), mcq(2, AnswerD="uno", **PRIVATE),
                                     mcq(3, **{"Correct Answer": "sei"}, **PRIVATE)]}),
         reasons={"duplicate_options": 1, "answer_matches_no_option": 1}, out_total=1,
         check=lambda out, report: _no_private_value(out, "mcqa")),
]



def _questions(out) -> set:
    import pyarrow.parquet as pq

    return {r for files in built_split_files(out).values() for f in files
            for r in pq.read_table(f)["question"].to_pylist()}


def _no_private_value(out, kind: str) -> bool:
    """Every quarantined record holds only the dataset's published features; no private value anywhere."""
    from imb_tools.data.schema import MCQA_FEATURES, QA_FEATURES

    published = set(QA_FEATURES if kind == "qa" else MCQA_FEATURES)
    entries = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert entries and all(set(e["record"]) <= published for e in entries), entries
    files = [p for p in out.rglob("*") if p.is_file()]
    leaked = [p.name for p in files if b"SEGRETO" in p.read_bytes()]
    assert leaked == [], leaked
    return True


def _ids(out) -> set:
    import pyarrow.parquet as pq

    return {r for files in built_split_files(out).values() for f in files for r in pq.read_table(f)["id"].to_pylist()}


def _percentages(out) -> dict:
    import pyarrow.parquet as pq

    rows = [r for files in built_split_files(out).values() for f in files for r in pq.read_table(f).to_pylist()]
    return {r["source_id"]: round(r["percentage_correct"], 6) for r in rows}


def _empty_split_is_a_build(out) -> bool:
    import imb_mcqa
    from imb_tools.data.built import read_build

    build = read_build(out)
    dsd = imb_mcqa.load(out)
    return build.splits == {"dev": 0, "test": 2} and set(dsd) == {"dev", "test"} and len(dsd["dev"]) == 0


def _fault(case: Case) -> Fault:
    """The build case as a case of the one fault harness (tests/cli_faults.py)."""
    out = "out"
    has_fraction = any(a.endswith("-fraction") for a in case.extra_args)
    fractions = [] if has_fraction else (["--dev-fraction", "0.2"] if case.kind == "mcqa" else ["--test-fraction", "0.2"])

    def check(tmp, result):
        if result.rc == 0:
            folder = tmp / out
            report = json.loads((folder / "report.json").read_text())
            assert report["counts_add_up"]
            if case.reasons is not None:
                assert report["quarantined"] == case.reasons
            if case.out_total is not None:
                assert report["records_out_total"] == case.out_total
            assert {p.name for p in folder.iterdir()} == {".imb-build.json", "README.md", "report.json",
                                                          "quarantine.jsonl", "data"}
            for line in (folder / "quarantine.jsonl").read_text().splitlines():
                entry = json.loads(line)
                assert entry["reason"] and entry["detail"]
            if case.check is not None:
                assert case.check(folder, report), case.name
        # nothing left beside the output
        assert not [p.name for p in tmp.iterdir() if ".partial-" in p.name or ".old-" in p.name]

    setup = (lambda tmp: case.setup(tmp, tmp / out)) if case.setup else None
    return Fault(case.name, ["build", case.kind, "--raw", case.raw_name, "--out", out, "--no-progress", *fractions,
                             *case.extra_args],
                 case.rc, case.error, files={case.raw_name: case.raw}, setup=setup, exists=case.keep, check=check)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(tmp_path, case, capfd, monkeypatch):
    run_fault(_fault(case), tmp_path, capfd, monkeypatch)


def _run(tmp_path, case: Case, capfd, monkeypatch):
    run_fault(_fault(case), tmp_path, capfd, monkeypatch)
    return tmp_path / "out"


def test_bad_types_are_named_in_quarantine(tmp_path, capfd, monkeypatch):
    case = next(c for c in CASES if c.name == "question_list")
    out = _run(tmp_path, case, capfd, monkeypatch)
    (entry,) = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    assert entry["reason"] == "bad_type" and "'question' is a list" in entry["detail"]
    # Under its published name, described, never stringified and never copied (a list may hold anything)
    assert entry["record"]["question"] == "<a list of 2 values>" and "testo_domanda" not in entry["record"]


def test_mcqa_ids_are_unique_with_source_id(tmp_path, capfd, monkeypatch):
    case = next(c for c in CASES if c.name == "mcqa_ids_per_category")
    out = _run(tmp_path, case, capfd, monkeypatch)
    import imb_mcqa

    rows = [r for ds in imb_mcqa.load(out).values() for r in ds]
    assert len({r["id"] for r in rows}) == 100
    assert {r["source_id"] for r in rows} == {str(i) for i in range(1, 21)}
    assert all(r["id"] == f"{r['category'].lower().replace(' ', '-')}-{r['source_id']}" for r in rows)


def test_full_disk_keeps_the_previous_build(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(["build", "qa", "--raw", "sample", "--out", str(out), "--no-progress"]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    from imb_tools.data import io

    def full(self, split, table):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.ParquetSink, "write", full)
    capsys.readouterr()
    rc = main(["build", "qa", "--raw", "sample", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "no space left on device" in err
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_leftovers_are_removed_live_ones_kept(tmp_path, capsys):
    from imb_tools.infra.ownership import PARTIAL_MARKER

    out = tmp_path / "out"
    dead, alive_proc = _dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".out.partial-{dead}-abc"
        live = tmp_path / f".out.partial-{alive_proc.pid}-def"
        foreign = tmp_path / f".out.partial-{dead}-ghi"  # no marker, not empty: not ours
        for d in (stale, live, foreign):
            d.mkdir()
        (stale / PARTIAL_MARKER).write_text("{}")
        (stale / "big.arrows").write_bytes(b"x" * 1000)
        (live / PARTIAL_MARKER).write_text("{}")
        (foreign / "user.txt").write_text("mine")
        assert main(["build", "qa", "--raw", "sample", "--out", str(out), "--no-progress"]) == 0
        assert not stale.exists() and live.exists() and (foreign / "user.txt").exists()
    finally:
        alive_proc.kill()
        alive_proc.wait()


def test_builder_used_directly_gives_every_split_and_leaves_nothing(tmp_path, sample_qa_raw, monkeypatch):
    import tempfile

    import imb_qa

    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)
    dead = _dead_pid()
    stale = tmp_path / "tmp" / f"imb-work-{dead}-x"
    stale.mkdir()
    (stale / ".imb-partial").write_text("{}")
    builder = imb_qa.ImbQa(cache_dir=str(tmp_path / "cache"), raw_path=str(sample_qa_raw), progress=False)
    builder.download_and_prepare()
    dsd = builder.as_dataset()
    assert set(dsd) == {"train", "validation", "test"}  # default fractions: tiny test/validation, still there
    assert sum(len(d) for d in dsd.values()) == builder.build_report["records_out_total"]
    assert list((tmp_path / "tmp").iterdir()) == []  # stale work removed, own work cleaned


def test_no_lock_or_foreign_files_in_a_build(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["build", "mcqa", "--raw", "sample", "--out", str(out), "--no-progress",
                 "--dev-fraction", "0.25"]) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [".imb-build.json", "README.md", "data/dev-00000-of-00001.parquet",
                     "data/test-00000-of-00001.parquet", "quarantine.jsonl", "report.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# --- order-independent deduplication -------------------------------------------------------------

def test_duplicate_decision_ignores_order():
    from imb_tools.data.prepare import decide_duplicates

    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        idh = rng.integers(0, 12, n).astype(np.uint64)
        ck = rng.integers(0, 12, n).astype(np.uint64)

        def survivors(i, c):
            st = decide_duplicates(i, c)
            return sorted(zip(i[st == 0].tolist(), c[st == 0].tolist())), np.bincount(st, minlength=4)

        base, counts = survivors(idh, ck)
        perm = rng.permutation(n)
        shuffled, shuffled_counts = survivors(idh[perm], ck[perm])
        assert shuffled == base and shuffled_counts.tolist() == counts.tolist()
        # adding copies of existing records never changes the survivors
        extra = rng.integers(0, n, 5)
        more, _ = survivors(np.r_[idh, idh[extra]], np.r_[ck, ck[extra]])
        assert more == base
        assert len({i for i, _ in base}) == len(base)  # one record per id
        assert len({c for _, c in base}) == len(base)  # one record per content


def _where(folder) -> dict:
    """question text -> the split it is published in (and every question is in one split only)."""
    import pyarrow.parquet as pq

    from imb_tools.data.splits import question_key

    where: dict = {}
    for split, files in built_split_files(folder).items():
        for f in files:
            for question in pq.read_table(f)["question"].to_pylist():
                assert where.setdefault(question_key(question), split) == split, question  # never in two splits
    return where


def test_appending_duplicates_under_new_ids_moves_no_question(tmp_path):
    """Property: whatever is appended (new records, old content under new ids placed first or
    last, copies, the same question with other spacing and case) and however the file is
    ordered, every question keeps its split, and no question is in two splits. Every build
    goes through the real CLI (`imb build qa`), as the issue's re-crawl did."""
    rng = random.Random(19)
    base = [q(i, testo_domanda=f"Domanda {i}: ho un dolore al petto da {i} giorni?",
              testo_risposta_riformulata=f"Risposta {i}.") for i in range(1, 200)]

    def build(rows, name):
        raw = tmp_path / f"{name}.jsonl"
        raw.write_text(jsonl(rows))
        assert main(["build", "qa", "--raw", str(raw), "--out", str(tmp_path / name), "--no-progress",
                     "--test-fraction", "0.3", "--validation-fraction", "0.2"]) == 0
        return _where(tmp_path / name)

    before = build(base, "base")
    # The issue's shape: the same 199 records plus 60 of them again under new ids, placed first.
    recrawl = [{**r, "ID": 10_000 + j} for j, r in enumerate(rng.sample(base, 60))]
    assert build(recrawl + base, "recrawl") == before
    for trial in range(6):
        new = [q(1000 + trial * 100 + j, testo_domanda=f"Nuova {trial}-{j}?") for j in range(rng.randint(0, 30))]
        dupes = [{**r, "ID": 20_000 + trial * 1000 + j,
                  "testo_domanda": rng.choice([r["testo_domanda"], r["testo_domanda"].upper(),
                                               "  " + r["testo_domanda"].replace(" ", "   ") + " ",
                                               # a re-crawl that adds markup: entities and tags
                                               r["testo_domanda"].replace("o", "&#111;") + "<br>",
                                               "<p>" + r["testo_domanda"].replace(" ", "&nbsp;") + "</p>"]),
                  "testo_risposta_riformulata": rng.choice([r["testo_risposta_riformulata"], "Un'altra risposta."])}
                 for j, r in enumerate(rng.sample(base, rng.randint(1, 80)))]
        rows = base + new + dupes + rng.sample(base, 10)
        rng.shuffle(rows)
        after = build(rows, f"t{trial}")
        assert {k: v for k, v in after.items() if k in before} == before


# --- kill -9 during a build ----------------------------------------------------------------------

def test_kill_9_leaves_previous_build_and_next_run_cleans(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from build_qa import generate

    raw = tmp_path / "big.json"
    generate(raw, 6000)
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "imb_tools.cli", "build", "qa", "--raw", str(raw), "--out", str(out),
           "--no-progress"]
    small = tmp_path / "small.json"
    small.write_text(json.dumps([q(1), q(2), q(3)]))
    subprocess.run([*cmd[:6], str(small), *cmd[7:]], check=True, env=env, capture_output=True)
    before = json.loads((out / "report.json").read_text())
    rng = random.Random(int(time.time()))
    for _ in range(2):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # the previous build (or, if the kill came after the swap, the new one) is whole
        report = json.loads((out / "report.json").read_text())
        assert report in (before,) or report["records_in"] == 6000
        assert sum(len(v) for v in built_split_files(out).values()) >= 1
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []
    assert json.loads((out / "report.json").read_text())["records_in"] == 6000
