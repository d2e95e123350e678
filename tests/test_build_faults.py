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
    Case("raw_inside_out", "qa", "out/r.json", json.dumps([q(1)]), rc=2, error=r"holds the raw file",
         setup=_previous_build_with_raw_inside, keep=("out/r.json", "out/report.json")),
    Case("legacy_build_is_replaced", "qa", "r.json", json.dumps([q(1)]), out_total=1, reasons={},
         setup=_legacy_build),
    Case("legacy_build_of_the_other_dataset", "qa", "r.json", json.dumps([q(1)]), rc=2,
         error=r"not written by this command", setup=_legacy_mcqa_build, keep=("out/report.json",)),
    Case("rebuild_over_own_build", "qa", "r.json", json.dumps([q(1), q(2)]), out_total=2, reasons={},
         setup=_previous_build_with_raw_inside),
]


def _run(tmp_path, case: Case, capsys):
    out = tmp_path / "out"
    if case.setup:
        case.setup(tmp_path, out)
    raw = tmp_path / case.raw_name
    raw.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(case.raw, str):
        raw.write_text(case.raw, encoding="utf-8")
    else:
        raw.write_bytes(case.raw)
    capsys.readouterr()
    fractions = ["--dev-fraction", "0.2"] if case.kind == "mcqa" else ["--test-fraction", "0.2"]
    rc = main(["build", case.kind, "--raw", str(raw), "--out", str(out), "--no-progress", *fractions,
               *case.extra_args])
    return rc, capsys.readouterr(), out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(tmp_path, case, capsys):
    rc, captured, out = _run(tmp_path, case, capsys)
    assert rc == case.rc, captured.err
    if case.error:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, captured.err  # one line, no traceback
        assert lines[0].startswith("imb: error: ")
        import re

        assert re.search(case.error, lines[0]), lines[0]
    if rc == 0:
        report = json.loads((out / "report.json").read_text())
        assert report["counts_add_up"]
        if case.reasons is not None:
            assert report["quarantined"] == case.reasons
        if case.out_total is not None:
            assert report["records_out_total"] == case.out_total
        assert {p.name for p in out.iterdir()} == {".imb-build.json", "README.md", "report.json",
                                                   "quarantine.jsonl", "data"}
        for line in (out / "quarantine.jsonl").read_text().splitlines():
            entry = json.loads(line)
            assert entry["reason"] and entry["detail"]
    for rel in case.keep:
        assert (tmp_path / rel).exists(), rel
    # nothing left beside the output
    assert not [p.name for p in tmp_path.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def test_bad_types_are_named_in_quarantine(tmp_path, capsys):
    case = next(c for c in CASES if c.name == "question_list")
    rc, _, out = _run(tmp_path, case, capsys)
    assert rc == 0
    (entry,) = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    assert entry["reason"] == "bad_type" and "'question' is a list" in entry["detail"]
    # Under its published name, described, never stringified and never copied (a list may hold anything)
    assert entry["record"]["question"] == "<a list of 2 values>" and "testo_domanda" not in entry["record"]


def test_mcqa_ids_are_unique_with_source_id(tmp_path, capsys):
    case = next(c for c in CASES if c.name == "mcqa_ids_per_category")
    rc, _, out = _run(tmp_path, case, capsys)
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


def test_reordered_and_recrawled_file_keeps_every_split(tmp_path):
    import imb_qa

    rng = random.Random(1)
    contents = [dict(testo_domanda=f"Domanda {k}?", testo_risposta_riformulata=f"Risposta {k}.",
                     categoria="Cardiologia") for k in range(40)]
    rows = [{"ID": i, **contents[rng.randrange(40)]} for i in range(1, 81)]
    fractions = {"test": 0.3, "validation": 0.2}

    def build(rows, name):
        raw = tmp_path / f"{name}.json"
        raw.write_text(json.dumps(rows))
        report = imb_qa.build(str(raw), tmp_path / name, fractions, progress=False)
        where = {}
        for split, files in built_split_files(tmp_path / name).items():
            import pyarrow.parquet as pq

            for f in files:
                for r in pq.read_table(f).to_pylist():
                    where[r["id"]] = (split, r["question"])
        return report, where

    report, base = build(rows, "base")
    assert report["duplicates_collapsed"]
    for trial in range(3):
        shuffled = rows[:]
        rng.shuffle(shuffled)
        # a re-crawl: the same contents first under new ids, plus copies
        recrawl = [{**r, "ID": 1000 + trial * 100 + j} for j, r in enumerate(rng.sample(rows, 10))]
        _, other = build(recrawl + shuffled + rng.sample(rows, 5), f"t{trial}")
        for rec_id, (split, question) in base.items():
            if rec_id in other:
                assert other[rec_id] == (split, question)
        _, same = build(shuffled, f"s{trial}")
        assert same == base


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
