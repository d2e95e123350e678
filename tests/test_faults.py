"""Hostile input and machine faults for the commands around the build, as one table.

Each case: the files to lay down, the command, the exit code, a pattern the one-line
error (or the output) must match, and what must still exist afterwards. The build's own
table is tests/test_build_faults.py. Grow both with every bug found.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

RECORDS = [
    {"testo_domanda": "Ho mal di testa da giorni, cosa posso fare?", "testo_risposta": "Riposo e idratazione."},
    {"testo_domanda": "Ho la febbre alta da ieri sera, che fare?", "testo_risposta": "Paracetamolo.",
     "categoria": "Neurologia", "nota_tarda": "solo qui"},
]


def _jsonl(records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


# name: (files {relative path: bytes or str}, argv (relative paths), exit code, pattern, must exist after)
CASES = {
    "clean keeps a field that only a later record has": (
        {"in.jsonl": _jsonl(RECORDS)},
        ["clean", "--in", "in.jsonl", "--out", "out.jsonl", "--min-words", "1"], 0, r"cleaned 2 records",
        ["in.jsonl", "out.jsonl"]),
    "anonymize a table whose only column is the text": (
        {"only.jsonl": _jsonl([{"testo_risposta": "Chiamate il Dott. Mario Rossi al 333 1234567"}])},
        ["anonymize", "--in", "only.jsonl", "--column", "testo_risposta", "--out", "o.jsonl"], 0,
        r"anonymized 1 texts", ["only.jsonl", "o.jsonl"]),
    "a Latin-1 CSV": (
        {"latin.csv": "testo_domanda,testo_risposta\nperch\xe8 no,s\xec\n".encode("latin-1")},
        ["clean", "--in", "latin.csv", "--out", "o.jsonl"], 2, r"latin\.csv: near line 1: not UTF-8 text", ["latin.csv"]),
    "a CSV with a UTF-8 BOM is read": (
        {"bom.csv": b"\xef\xbb\xbftesto_domanda,testo_risposta\nHo mal di testa da giorni,Riposo\n"},
        ["clean", "--in", "bom.csv", "--out", "o.jsonl", "--min-words", "1"], 0, r"cleaned 1 records", ["o.jsonl"]),
    "a CSV header naming one column twice": (
        {"dup.csv": "testo_domanda,testo_risposta,testo_risposta\na,b,c\n"},
        ["clean", "--in", "dup.csv", "--out", "o.jsonl"], 2, r"'testo_risposta' appears twice", ["dup.csv"]),
    "a CSV row with an extra cell": (
        {"ragged.csv": "testo_domanda,testo_risposta\na,b\nc,d,e\n"},
        ["clean", "--in", "ragged.csv", "--out", "o.jsonl"], 2, r"ragged\.csv: line 3: row has 3 cells, the header has 2",
        ["ragged.csv"]),
    "a JSONL line that is not JSON": (
        {"bad.jsonl": '{"testo_domanda": "a"}\n{"testo_domanda": \n'},
        ["anonymize", "--in", "bad.jsonl", "--column", "testo_domanda", "--out", "o.jsonl"], 2,
        r"bad\.jsonl: line 2: invalid JSON", ["bad.jsonl"]),
    "an output format nobody reads": (
        {"in.jsonl": _jsonl(RECORDS)},
        ["clean", "--in", "in.jsonl", "--out", "out.xlsx"], 2, r"unsupported table format '\.xlsx'", ["in.jsonl"]),
    "rag query with -k 0": (
        {}, ["rag", "query", "q", "--index", "idx", "-k", "0"], 2, r"-k/--top-k: must be at least 1", []),
    "a negative batch size": (
        {"in.jsonl": _jsonl(RECORDS)},
        ["anonymize", "--in", "in.jsonl", "--column", "testo_risposta", "--out", "o.jsonl", "--batch-size", "-3"],
        2, r"batch", ["in.jsonl"]),
    "a missing local model folder is not looked up on the Hub": (
        {"in.jsonl": _jsonl(RECORDS)},
        ["reformulate", "--in", "in.jsonl", "--out", "o.jsonl", "--model", "./models/nope"], 2,
        r"models/nope: no such model \(a local path", ["in.jsonl"]),
    "an unknown subcommand": ({}, ["bogus"], 2, r"invalid choice: 'bogus'", []),
    "a question that is a list in a table": (
        {"lst.jsonl": _jsonl([{"testo_domanda": "Ho mal di testa da giorni"}, {"testo_domanda": ["a", "b"]}])},
        ["clean", "--in", "lst.jsonl", "--out", "o.jsonl"], 2,
        r"lst\.jsonl: field 'testo_domanda' mixes str and list values \(record 1\)", ["lst.jsonl"]),
    "an output that is a folder": (
        {"in.jsonl": _jsonl(RECORDS), "outdir/keep.txt": "keep"}, ["clean", "--in", "in.jsonl", "--out", "outdir"], 2,
        r"outdir: is a folder; give a table file", ["outdir/keep.txt"]),
    "analysis of a missing path": (
        {}, ["difficulty", "--in", "nope/x", "--report-dir", "r"], 2, r"nope/x: no such table file or built dataset folder", []),
    # Never delete or overwrite what the project did not write ({demo}: a built demo folder).
    "rag index into a user's folder": (
        {"mine/thesis.tex": "\\documentclass{article}"},
        ["rag", "index", "--data", "{demo}/qa", "--out", "mine", "--size", "10"], 2,
        r"mine: folder exists and was not written by this command", ["mine/thesis.tex"]),
    "fine-tuning into a user's folder": (
        {"mine/src/main.py": "print(1)"},
        ["finetune", "--model", "{demo}/tiny-llama", "--data", "{demo}/qa", "--out", "mine", "--max-steps", "1"], 2,
        r"mine: folder exists and was not written by this command", ["mine/src/main.py"]),
    "a merge that would replace a user's folder": (
        {"mine/notes.txt": "keep"},
        ["finetune", "merge", "--adapter", "{demo}/adapter-run", "--out", "mine"], 2,
        r"mine: folder exists and was not written by this command", ["mine/notes.txt"]),
    "a leaderboard table into a user's folder": (
        {"mine/results.csv": "my own numbers"},
        ["leaderboard", "build", "{demo}/eval", "--out", "mine"], 2,
        r"mine: folder exists and was not written by this command", ["mine/results.csv"]),
    "clean writing over its own input": (
        {"same.jsonl": _jsonl(RECORDS)}, ["clean", "--in", "same.jsonl", "--out", "same.jsonl"], 2,
        r"same\.jsonl: is the input file itself", ["same.jsonl"]),
    "anonymize writing over its own input": (
        {"same.jsonl": _jsonl(RECORDS)},
        ["anonymize", "--in", "same.jsonl", "--column", "testo_risposta", "--out", "./same.jsonl"], 2,
        r"is the input file itself", ["same.jsonl"]),
    "a difficulty report into a build folder": (
        {}, ["difficulty", "--in", "{demo}/qa", "--report-dir", "{demo}/qa"], 2,
        r"qa: folder exists and was not written by this command", []),
    "an eval run into a build folder": (
        {}, ["eval", "--model", "hf", "--model-args", "pretrained={demo}/tiny-llama", "--tasks", "imb_mcqa",
             "--data", "{demo}", "--out", "{demo}/mcqa", "--limit", "1"], 2,
        r"mcqa: folder exists and was not written by this command", []),
    "an eval run into a user's folder": (
        {"mine/thesis.tex": "keep"}, ["eval", "--model", "hf", "--model-args", "pretrained={demo}/tiny-llama",
                                      "--tasks", "imb_mcqa", "--data", "{demo}", "--out", "mine", "--limit", "1"], 2,
        r"mine: folder exists and was not written by this command", ["mine/thesis.tex"]),
    "a publish dry run into the build folder itself": (
        {}, ["publish", "--data", "{demo}/qa", "--repo-id", "me/x", "--dry-run", "{demo}/qa"], 2,
        r"must be a folder outside the build", []),
    "a publish dry run into a user's folder": (
        {"mine/keep.md": "keep"}, ["publish", "--data", "{demo}/qa", "--repo-id", "me/x", "--dry-run", "mine"], 2,
        r"mine: folder exists and was not written by this command", ["mine/keep.md"]),
}


def _run(argv, cwd: Path, fsize_limit: int | None = None):
    def limit():
        if fsize_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))

    return subprocess.run([sys.executable, "-m", "imb_tools.cli", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=300, preexec_fn=limit)


def _last_error_line(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("imb: error:")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo build, a tiny model, a fine-tuning run and an eval run, as the hostile cases' targets."""
    work = tmp_path_factory.mktemp("faults-demo")
    for argv in (["demo", "--out", str(work), "--tiny-model"],
                 ["finetune", "--model", str(work / "tiny-llama"), "--data", str(work / "qa"),
                  "--out", str(work / "adapter-run"), "--max-steps", "1", "--batch-size", "2"],
                 ["eval", "--model", "hf", "--model-args", f"pretrained={work / 'tiny-llama'}", "--tasks", "imb_mcqa",
                  "--data", str(work), "--out", str(work / "eval"), "--limit", "2"]):
        result = _run(argv, work)
        assert result.returncode == 0, result.stderr[-2000:]
    return work


@pytest.mark.parametrize("name", list(CASES))
def test_fault_table(name, tmp_path, request):
    files, argv, code, pattern, survivors = CASES[name]
    if any("{demo}" in a for a in argv):
        demo_dir = request.getfixturevalue("demo")
        argv = [a.replace("{demo}", str(demo_dir)) for a in argv]
    for rel, content in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    before = {rel: (tmp_path / rel).read_bytes() for rel in files}
    result = _run(argv, tmp_path)
    assert result.returncode == code, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    if code == 0:
        assert re.search(pattern, result.stdout), result.stdout
    else:
        errors = _last_error_line(result.stderr)
        assert len(errors) == 1 and re.search(pattern, errors[0]), result.stderr[-2000:]
    for rel in survivors:
        assert (tmp_path / rel).exists(), rel
    for rel, content in before.items():  # inputs are never modified
        assert (tmp_path / rel).read_bytes() == content


def test_every_field_survives_each_preprocessing_step(tmp_path):
    """A field that first appears in a later record is kept by clean, anonymize and the chain."""
    (tmp_path / "in.jsonl").write_text(_jsonl(RECORDS), encoding="utf-8")
    steps = [
        ["clean", "--in", "in.jsonl", "--out", "c.jsonl", "--min-words", "1"],
        ["anonymize", "--in", "c.jsonl", "--column", "testo_risposta", "--out", "a.jsonl"],
        ["preprocess", "--in", "in.jsonl", "--out", "p.jsonl", "--min-words", "1"],
    ]
    for argv in steps:
        result = _run(argv, tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
    for out in ("c.jsonl", "a.jsonl", "p.jsonl"):
        rows = [json.loads(line) for line in (tmp_path / out).read_text(encoding="utf-8").splitlines()]
        late = [r for r in rows if r.get("nota_tarda") == "solo qui"]
        assert len(late) == 1, (out, rows)
        assert all("categoria" in r for r in rows), out


def test_a_full_disk_is_one_line_and_leaves_no_partial_output(tmp_path):
    """RLIMIT_FSIZE makes writes fail as a full disk would (EFBIG; Python ignores SIGXFSZ)."""
    big = [{"testo_domanda": f"Domanda {i} " + "parola " * 40, "testo_risposta": "Risposta " * 40}
           for i in range(300)]
    (tmp_path / "in.jsonl").write_text(_jsonl(big), encoding="utf-8")
    result = _run(["clean", "--in", "in.jsonl", "--out", "out.jsonl", "--min-words", "1"], tmp_path,
                  fsize_limit=(tmp_path / "in.jsonl").stat().st_size // 4)
    errors = _last_error_line(result.stderr)
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
    assert "too large" in errors[0].lower() or "no space" in errors[0].lower()
    assert not (tmp_path / "out.jsonl").exists()  # atomic: nothing half-written under the real name
    assert not [p for p in tmp_path.iterdir() if p.name not in ("in.jsonl",) and p.suffix != ".json"]


@pytest.mark.parametrize("name", ["autore_risposta", "Autore_Risposta", " testo_risposta", "autore-risposta",
                                  "AUTORE_DOMANDA", "Autore Risposta", "Author", "nome_autore", "testoRisposta",
                                  "testo_risposta_originale", "Risposta originale", "Original Answer", "Data",
                                  "Date", "data_domanda", "created_date", "username"])
def test_never_publish_fields_are_known_by_meaning(name):
    from imb_tools.data.schema import is_forbidden, without_forbidden

    assert is_forbidden(name)
    assert without_forbidden({"ID": 1, "meta": {name: "x", "ok": 2}, name: "y"}) == {"ID": 1, "meta": {"ok": 2}}


def test_published_and_raw_fields_are_not_mistaken_for_private_ones():
    from imb_tools.data.schema import MCQA_ALIASES, MCQA_OPTION_ALIASES, QA_ALIASES, QA_FEATURES, MCQA_FEATURES, is_forbidden

    names = [a for table in (QA_ALIASES, MCQA_ALIASES, MCQA_OPTION_ALIASES) for aliases in table.values()
             for a in aliases] + list(QA_FEATURES) + list(MCQA_FEATURES) + ["testo_risposta_riformulata_flag"]
    assert [n for n in names if is_forbidden(n)] == []


def test_quarantine_is_strict_json_even_for_nan_ids(tmp_path):
    """A NaN id (JSON Lines: Python's json reads NaN) is quarantined as bad_type; the quarantine
    line stays valid JSON (no bare NaN). In a JSON array (ijson, strict JSON) NaN is one line."""
    record = ('{"ID": NaN, "testo_domanda": "Ho mal di testa da giorni e non passa", '
              '"testo_risposta_riformulata": "Riposo.", "categoria": "Neurologia"}')
    (tmp_path / "nan.json").write_text(f"[{record}]", encoding="utf-8")
    result = _run(["build", "qa", "--raw", "nan.json", "--out", "built", "--no-progress"], tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert re.search(r"nan\.json: invalid JSON after record 0", result.stderr)
    (tmp_path / "nan.jsonl").write_text(record + "\n", encoding="utf-8")
    result = _run(["build", "qa", "--raw", "nan.jsonl", "--out", "built", "--no-progress"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    lines = (tmp_path / "built" / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line, parse_constant=refuse) for line in lines]
    assert [r["reason"] for r in records] == ["bad_type"]
