"""The `imb` command: help, one-line errors with exit code 2, publish dry run, stats."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import yaml

from imb_tools.data.schema import QA_FORBIDDEN


def imb(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "imb_tools.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("imb: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_help_lists_commands():
    result = imb("--help")
    assert result.returncode == 0
    for command in ("build", "demo", "stats", "publish"):
        assert command in result.stdout
    assert imb("build", "qa", "--help").returncode == 0


def test_missing_file(tmp_path):
    assert_one_line_error(imb("build", "qa", "--raw", tmp_path / "nope.json", "--out", tmp_path / "o"),
                          "nope.json", "not found")


def test_invalid_json(tmp_path):
    raw = tmp_path / "broken.json"
    raw.write_text('[{"ID": 1, "testo_domanda": "a", "testo_risposta_riformulata": "b", '
                   '"categoria": "Cardiologia"}, {"ID": 2, "testo_domanda": ')
    assert_one_line_error(imb("build", "qa", "--raw", raw, "--out", tmp_path / "o"),
                          "broken.json", "invalid JSON", "after record 1")
    assert not (tmp_path / "o").exists()


def test_invalid_jsonl_names_the_line(tmp_path):
    raw = tmp_path / "broken.jsonl"
    raw.write_text('{"ID": 1}\n{"ID": \n')
    assert_one_line_error(imb("build", "qa", "--raw", raw, "--out", tmp_path / "o"), "broken.jsonl", "line 2")


def test_required_field_absent_from_every_record(tmp_path):
    raw = tmp_path / "original-only.json"
    raw.write_text(json.dumps([{"ID": 1, "testo_domanda": "domanda", "testo_risposta": "originale",
                                "categoria": "Cardiologia"}]))
    assert_one_line_error(imb("build", "qa", "--raw", raw, "--out", tmp_path / "o"),
                          "original-only.json", "record 0", "'answer'", "testo_risposta_riformulata",
                          "fields found: ID, categoria, testo_domanda, testo_risposta")


def test_mcqa_wrong_shape(tmp_path):
    raw = tmp_path / "list.json"
    raw.write_text("[]")
    assert_one_line_error(imb("build", "mcqa", "--raw", raw, "--out", tmp_path / "o"),
                          "list.json", "keyed by category")


def test_hub_raw_offline_gives_one_line(tmp_path):
    env_home = tmp_path / "hf"
    result = subprocess.run(
        [sys.executable, "-m", "imb_tools.cli", "build", "qa", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(env_home)},
    )
    assert_one_line_error(result, "IMB-QA.json", "--raw PATH")


def test_demo_and_stats(tmp_path):
    result = imb("demo", "--out", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    assert "imb-qa:" in result.stdout and "imb-mcqa:" in result.stdout
    stats = imb("stats", "--data", tmp_path / "demo" / "qa", "--json", tmp_path / "stats.json")
    assert stats.returncode == 0, stats.stderr
    assert "Table 4" in stats.stdout and "Table 5" in stats.stdout
    figures = json.loads((tmp_path / "stats.json").read_text())
    report = json.loads((tmp_path / "demo" / "qa" / "report.json").read_text())
    assert figures["records"] == report["records_out_total"]
    assert figures["question"]["total_tokens"] > figures["records"]
    assert 0 < figures["answer"]["avg_length_chars"] <= figures["answer"]["max_length_chars"]
    assert sum(figures["records_per_macro_category"].values()) == figures["records"]


def test_publish_dry_run(built_qa, tmp_path):
    staged = tmp_path / "staged"
    result = imb("publish", "--data", built_qa, "--repo-id", "imb-org/imb-qa", "--dry-run", staged, "--allow-sample")
    assert result.returncode == 0, result.stderr
    files = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
    assert "README.md" in files and "report.json" in files
    assert "quarantine.jsonl" not in files
    text = (staged / "README.md").read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["license"] == "cc-by-nc-nd-4.0" and meta["language"] == ["it"]
    data_files = meta["configs"][0]["data_files"]
    assert {d["split"] for d in data_files} == {"train", "validation", "test"}
    for entry in data_files:
        matches = list(staged.glob(entry["path"]))
        assert len(matches) == 1
        names = set(pq.read_schema(matches[0]).names)
        assert not names & set(QA_FORBIDDEN)
    assert 'load_dataset("imb-org/imb-qa")' in body
    assert "NOT IMB data" in body


def test_publish_refuses_forbidden_columns(built_qa, tmp_path):
    import shutil

    import pyarrow as pa

    bad = tmp_path / "bad"
    shutil.copytree(built_qa, bad)
    path = next((bad / "data").glob("train-*.parquet"))
    table = pq.read_table(path)
    pq.write_table(table.append_column("autore_risposta", pa.array(["Dott. X"] * len(table))), path)
    assert_one_line_error(imb("publish", "--data", bad, "--repo-id", "o/n", "--dry-run", tmp_path / "s", "--allow-sample"), "autore_risposta")


def test_publish_bad_repo_id(built_qa, tmp_path):
    assert_one_line_error(imb("publish", "--data", built_qa, "--repo-id", "no-slash", "--dry-run", tmp_path / "s"),
                          "ORG/NAME")
