"""The batch path: worker processes, one process and the per-record path give byte-identical builds."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

import imb_qa
from imb_tools.data import kinds, readers
from imb_tools.data.io import built_split_files

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from build_qa import generate  # noqa: E402

FRACTIONS = {"test": 0.2, "validation": 0.1}


def _digest(out: Path):
    files = {s: [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in fs]
             for s, fs in built_split_files(out).items()}
    return files, (out / "quarantine.jsonl").read_text(), (out / "report.json").read_text()


def _with_faults(raw: Path, fmt: str) -> None:
    """Append bad and duplicated rows in the middle and at the end of a generated file."""
    if fmt == "csv":
        with raw.open("a", encoding="utf-8") as f:
            f.write('1,https://www.medicitalia.it/x,,,,,"Un\'altra domanda, stesso ID",,risposta,Cardiologia\n')
            f.write('77777,,,,,,"\u200b\u200b",,risposta,Cardiologia\n')
            f.write('77778,,,,,,"domanda\nsu due righe",,"risposta ""citata""",Categoria inventata\n')
        return
    bad = [
        {"ID": 1, "testo_domanda": "Un'altra domanda, stesso ID", "testo_risposta_riformulata": "r",
         "categoria": "Cardiologia"},
        {"ID": 77777, "testo_domanda": ["lista"], "testo_risposta_riformulata": "r", "categoria": "Cardiologia"},
        {"ID": True, "testo_domanda": "d", "testo_risposta_riformulata": "r", "categoria": "Cardiologia"},
        {"ID": 77779, "testo_domanda": "\u200b\ufeff", "testo_risposta_riformulata": "r", "categoria": "Cardiologia"},
        {"ID": 77780, "testo_domanda": "e\u0301 decomposta", "testo_risposta_riformulata": "r",
         "categoria": "ITA: Cardiologia - ENG: Cardiology"},
    ]
    if fmt == "jsonl":
        lines = raw.read_text(encoding="utf-8").splitlines(keepends=True)
        middle = len(lines) // 2
        lines[middle:middle] = [json.dumps(b) + "\n" for b in bad]
        lines += [lines[3], lines[10]]  # exact duplicates
        raw.write_text("".join(lines), encoding="utf-8")
    else:
        rows = json.loads(raw.read_text(encoding="utf-8"))
        rows[len(rows) // 2:len(rows) // 2] = bad
        rows += [rows[3], {**rows[10], "ID": 99999}]  # a duplicate, and a copy under another id
        raw.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_workers_one_process_and_per_record_path_are_byte_identical(tmp_path, monkeypatch, fmt):
    raw = tmp_path / f"raw.{fmt}"
    generate(raw, 1500, fmt=fmt)
    _with_faults(raw, fmt)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 150_000)  # many blocks, and workers even for a small file
    digests = {}
    for label, workers in (("parallel", 2), ("one", 1)):
        imb_qa.build(str(raw), tmp_path / label, FRACTIONS, progress=False, workers=workers)
        digests[label] = _digest(tmp_path / label)
    monkeypatch.setattr(kinds.QA_KIND, "iter_results", None)  # the record-by-record path
    imb_qa.build(str(raw), tmp_path / "records", FRACTIONS, progress=False)
    digests["records"] = _digest(tmp_path / "records")
    assert digests["parallel"] == digests["one"] == digests["records"]
    report = json.loads(digests["one"][2])
    assert report["counts_add_up"] and report["records_in"] >= 1500
    if fmt != "csv":
        assert report["quarantined"].get("bad_type") == 2  # a list, a boolean id
        assert report["quarantined"].get("empty_question") == 1
    assert report["quarantined"].get("id_conflict") == 1
    assert report["duplicates_collapsed_total"] >= (0 if fmt == "csv" else 2)
    # no work files left beside the output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([raw.name, "parallel", "one", "records"])


def test_pretty_printed_array_with_tricky_strings(tmp_path, monkeypatch):
    """Brackets, commas, quotes and backslashes inside strings never cut a record."""
    rows = [{"ID": i, "testo_domanda": f'domanda {i}: "[{{,}}]" \\\\ fine\\\\',
             "testo_risposta_riformulata": "r" + "\\" * (i % 3) + '"', "categoria": "Cardiologia",
             "extra": {"nested": [1, {"a": "}]"}]}} for i in range(300)]
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps(rows, indent=4), encoding="utf-8")
    monkeypatch.setattr(readers, "BLOCK_BYTES", 4096)
    report = imb_qa.build(str(raw), tmp_path / "a", FRACTIONS, progress=False, workers=1)
    assert report["records_in"] == 300 and report["records_out_total"] == 300
    monkeypatch.setattr(kinds.QA_KIND, "iter_results", None)
    imb_qa.build(str(raw), tmp_path / "b", FRACTIONS, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_types_pyarrow_would_infer_stay_as_written(tmp_path, monkeypatch, fmt):
    """pyarrow reads a date-like string as a timestamp: the build must not."""
    rows = [{"ID": 1, "testo_domanda": "2023-05-01", "testo_risposta_riformulata": "2023-05-02",
             "categoria": "Cardiologia", "data_visita": "2023-01-01"},
            {"ID": 2, "testo_domanda": "", "testo_risposta_riformulata": "r", "categoria": "Cardiologia",
             "codice_esame": "2023-01-02T10:00:00", "data_visita": "2023-01-02", "peso": 1.5}]
    raw = tmp_path / f"raw.{fmt}"
    raw.write_text(json.dumps(rows) if fmt == "json" else "".join(json.dumps(r) + "\n" for r in rows))
    report = imb_qa.build(str(raw), tmp_path / "batch", FRACTIONS, progress=False, workers=1)
    assert report["records_out_total"] == 1 and report["quarantined"] == {"empty_question": 1}
    (entry,) = [json.loads(x) for x in (tmp_path / "batch" / "quarantine.jsonl").read_text().splitlines()]
    assert entry["record"]["codice_esame"] == "2023-01-02T10:00:00"  # a date-like string stays a string
    assert "data_visita" not in entry["record"]  # a date tied to a person never reaches the quarantine
    import imb_qa as q

    (row,) = [r for d in q.load(tmp_path / "batch").values() for r in d]
    assert row["question"] == "2023-05-01"
    monkeypatch.setattr(kinds.QA_KIND, "iter_results", None)
    imb_qa.build(str(raw), tmp_path / "records", FRACTIONS, progress=False)
    assert _digest(tmp_path / "batch") == _digest(tmp_path / "records")
