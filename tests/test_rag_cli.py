"""`imb rag ...` on the dataset built from the bundled sample, and generation (the lm-eval task
imb_qa_rag is tested in test_rag_task.py)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("faiss")
pytest.importorskip("bm25s")


@pytest.fixture(scope="module")
def rag_env(tmp_path_factory, built_qa, minilm_path):
    """An index built by the CLI from the built sample, and its embedding cache."""
    from imb_tools.cli import main

    base = tmp_path_factory.mktemp("ragcli")
    cache = base / "cache"
    assert (
        main(
            [
                "rag",
                "index",
                "--data",
                str(built_qa),
                "--out",
                str(base / "index"),
                "--model",
                str(minilm_path),
                "--size",
                "30",
                "--cache-dir",
                str(cache),
            ]
        )
        == 0
    )
    return base / "index", cache


def test_cli_index_and_eval(rag_env, built_qa, tmp_path, capsys):
    from imb_tools.cli import main
    from imb_tools.data.io import load_built

    index, cache = rag_env
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["count"] == 30 and manifest["requested"] == 30
    assert manifest["leakage"]["removed_total"] == sum(manifest["leakage"]["removed"].values())
    assert sum(manifest["per_macro_category"].values()) == 30
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "rag",
                "eval",
                "--data",
                str(built_qa),
                "--index",
                str(index),
                "--cache-dir",
                str(cache),
                "--per-macro",
                "2",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    dsd = load_built(built_qa)
    heldout_ids = set(dsd["validation"]["id"]) | set(dsd["test"]["id"])
    assert not heldout_ids & {json.loads(line)["id"] for line in open(index / "passages.jsonl")}
    assert set(report["overall"]) == {"dense", "bm25", "hybrid"}
    for metrics in report["overall"].values():
        assert 0.0 <= metrics["recall@1"] <= metrics["recall@5"] <= metrics["recall@10"] <= 1.0
    assert report["overall"]["bm25"]["recall@10"] > 0.5  # the sample's pairs share their topic words
    assert "| **All** |" in capsys.readouterr().out


def test_cli_query_and_bad_input(rag_env, built_qa, tmp_path, capsys):
    from imb_tools.cli import main

    index, cache = rag_env
    assert (
        main(
            [
                "rag",
                "query",
                "dolore al petto",
                "--index",
                str(index),
                "--cache-dir",
                str(cache),
                "-k",
                "3",
                "--mode",
                "hybrid",
                "--json",
            ]
        )
        == 0
    )
    hits = json.loads(capsys.readouterr().out)
    assert [h["rank"] for h in hits] == [1, 2, 3] and all(h["macro_category"] for h in hits)
    assert main(["rag", "eval", "--data", str(built_qa), "--index", str(tmp_path)]) == 2
    assert main(["rag", "eval", "--data", str(built_qa), "--index", str(index), "--mode", "sparse"]) == 2
    assert "imb: error:" in capsys.readouterr().err


def test_cli_answer_with_tiny_generator(rag_env, tiny_llama, tmp_path):
    from imb_tools.cli import main

    index, cache = rag_env
    out = tmp_path / "answers.jsonl"
    assert (
        main(
            [
                "rag",
                "answer",
                "Ho un dolore al petto, cosa faccio?",
                "--index",
                str(index),
                "--cache-dir",
                str(cache),
                "--model",
                str(tiny_llama),
                "--max-new-tokens",
                "4",
                "-k",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    (rec,) = [json.loads(line) for line in out.open()]
    assert len(rec["passages"]) == 2 and "Contesto:\n[1] " in rec["prompt"] and "[2] " in rec["prompt"]
    assert rec["prompt"].endswith("Domanda: Ho un dolore al petto, cosa faccio?\nRisposta:")
    assert isinstance(rec["answer"], str)


class EchoBackend:
    """A generator that repeats the first context passage (or says nothing useful without one)."""

    def __init__(self, name="echo"):
        self.calls = 0
        self.name = name

    def complete(self, prompts, max_new_tokens=256, temperature=0.0, on_result=None):
        from imb_tools.llm import Completion

        out = []
        for i, p in enumerate(prompts):
            self.calls += 1
            text = p.split("[1] ", 1)[1].split("\n\n")[0] if "[1] " in p else "Non so."
            out.append(Completion(text))
            on_result(i, out[-1])
        return out


def test_compare_table_and_resume(rag_env, built_qa, minilm_path, tmp_path):
    from imb_tools.data.io import load_built
    from imb_tools.rag.compare import format_table, generate_conditions, score_table, test_items
    from imb_tools.rag.embed import Embedder
    from imb_tools.rag.index import load_index
    from imb_tools.rag.retrieve import Retriever

    index, cache = rag_env
    idx = load_index(index)
    retriever = Retriever.from_index(idx, Embedder(idx.model, cache_dir=cache, show_progress=False))
    items = test_items(load_built(built_qa), per_macro=1)
    backend = EchoBackend()
    answers = generate_conditions(backend, retriever, items, tmp_path, 3, "dense", 16, None)
    assert backend.calls == 2 * len(items)
    again = generate_conditions(backend, retriever, items, tmp_path, 3, "dense", 16, None)
    assert backend.calls == 2 * len(items) and again == answers  # resumed: nothing regenerated
    assert len((tmp_path / "generations.jsonl").read_text().splitlines()) == 2 * len(items)
    # other settings never reuse an answer: fewer passages change every with-RAG prompt ...
    generate_conditions(backend, retriever, items, tmp_path, 1, "dense", 16, None)
    assert backend.calls == 3 * len(items)
    # ... and another model redoes both conditions
    other = EchoBackend("another-model")
    generate_conditions(other, retriever, items, tmp_path, 3, "dense", 16, None)
    assert other.calls == 2 * len(items)
    table = score_table(items, answers, str(minilm_path), 6)
    assert table["All"]["n"] == len(items)
    assert table["All"]["with_rag"] > table["All"]["without_rag"]  # a real passage beats "Non so."
    assert "| All |" in format_table(table) and "BERTScore P" in format_table(table)


# --- Integrity (issue 19) and one-line errors (issue 18), through the CLI -----------------------

def _err(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("imb: error:")]


def _index_copy(index, tmp_path, name="copy", **manifest_changes):
    """A copy of an index folder with some manifest entries changed (None: removed)."""
    import shutil

    copy = tmp_path / name
    shutil.copytree(index, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for key, value in manifest_changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_eval_and_compare_refuse_an_index_of_another_build(rag_env, built_qa, sample_qa_raw, tiny_llama,
                                                           tmp_path, capsys):
    """Issue 19's shape: an index of a build with tiny test/validation fractions, scored on a
    build with larger ones, is refused in one line naming both; its knowledge base holds
    test items of the other build, which no flag lets through. The index of the same build
    is scored, and the report records the provenance."""
    from imb_tools.cli import main
    from imb_tools.data.built import require_build

    index, cache = rag_env
    small = tmp_path / "small"
    assert main(["build", "qa", "--raw", str(sample_qa_raw), "--out", str(small), "--no-progress",
                 "--test-fraction", "0.02", "--validation-fraction", "0.02"]) == 0
    small_index = tmp_path / "small-index"
    assert main(["rag", "index", "--data", str(small), "--out", str(small_index), "--size", "40",
                 "--cache-dir", str(cache), "--no-embedding-guard"]) == 0
    made = json.loads((small_index / "manifest.json").read_text())["build"]
    assert made == {"dataset": "imb-qa", "fingerprint": require_build(small, "qa").fingerprint,
                    "kb_splits": ["train"]}
    capsys.readouterr()
    other = require_build(built_qa, "qa").fingerprint
    assert main(["rag", "eval", "--data", str(built_qa), "--index", str(small_index),
                 "--cache-dir", str(cache)]) == 2
    (line,) = _err(capsys)
    assert made["fingerprint"] in line and other in line and "--allow-other-build" in line
    assert main(["rag", "eval", "--data", str(built_qa), "--index", str(small_index),
                 "--cache-dir", str(cache), "--allow-other-build"]) == 2
    (line,) = _err(capsys)
    assert "item(s) of --data" in line and "by id" in line and str(built_qa) in line
    out = tmp_path / "compare"
    assert main(["rag", "compare", "--data", str(built_qa), "--index", str(small_index), "--model",
                 str(tiny_llama), "--out", str(out), "--cache-dir", str(cache)]) == 2
    (line,) = _err(capsys)
    assert "--allow-other-build" in line and not out.exists()  # refused before anything was written

    report = tmp_path / "eval.json"
    assert main(["rag", "eval", "--data", str(built_qa), "--index", str(index), "--cache-dir", str(cache),
                 "--per-macro", "1", "--mode", "bm25", "--json", str(report)]) == 0
    provenance = json.loads(report.read_text())["provenance"]
    assert provenance["index_build"]["fingerprint"] == provenance["data_build"]["fingerprint"] == other
    assert provenance["other_build_allowed"] is False and provenance["overlap"] == {"by_id": 0, "by_answer_text": 0}


def test_an_index_without_provenance_needs_the_flag_which_the_report_records(rag_env, built_qa, tmp_path, capsys):
    from imb_tools.cli import main

    index, cache = rag_env
    args = ["--data", str(built_qa), "--cache-dir", str(cache), "--per-macro", "1", "--mode", "bm25"]
    old = _index_copy(index, tmp_path, "old", build=None)
    assert main(["rag", "eval", "--index", str(old), *args]) == 2
    (line,) = _err(capsys)
    assert "does not record the build" in line and "rebuild it" in line
    moved = _index_copy(index, tmp_path, "other", build={"dataset": "imb-qa", "fingerprint": "content-0000000000000000",
                                                           "kb_splits": ["train"]})
    assert main(["rag", "eval", "--index", str(moved), *args]) == 2
    (line,) = _err(capsys)
    assert "content-0000000000000000" in line
    for folder in (old, moved):
        report = tmp_path / f"{folder.name}.json"
        assert main(["rag", "eval", "--index", str(folder), *args, "--allow-other-build", "--json", str(report)]) == 0
        assert json.loads(report.read_text())["provenance"]["other_build_allowed"] is True
        assert "--allow-other-build" in capsys.readouterr().err  # the warning says so too
    # An index whose knowledge base holds a test answer (here planted by hand) is refused even so.
    from imb_tools.data.io import load_built

    test = load_built(built_qa, "test")
    leaked = _index_copy(index, tmp_path, "leaked")
    lines = (leaked / "passages.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["text"] = "  " + test[0]["answer"].upper() + " "  # the same answer text, not the same id
    (leaked / "passages.jsonl").write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    assert main(["rag", "eval", "--index", str(leaked), *args, "--allow-other-build"]) == 2
    (line,) = _err(capsys)
    assert "1 by answer text" in line and first["id"] in line


def _planted_raw(sample_qa_raw, built_qa, out):
    """The bundled sample plus train-looking records whose answers contain the built demo's test
    answers (each issue-19 shape), and clean ones that share only stock phrases with them."""
    from imb_tools.data.io import load_built

    records = json.loads(sample_qa_raw.read_text(encoding="utf-8"))
    template = next(r for r in records if r.get("testo_risposta_riformulata") and r.get("categoria"))
    test_split = load_built(built_qa, "test")
    test = [(i, a) for i, a in zip(test_split["id"], test_split["answer"]) if len(a.split()) >= 24][:4]
    assert len(test) >= 3
    pad = ("Scrivo per chiedere un parere sul percorso che sto seguendo da mesi con diversi specialisti, "
           "tra visite private ed esami in ospedale, senza che nessuno mi abbia spiegato con chiarezza "
           "quale sia la strada migliore da prendere per stare bene")
    own = [  # texts of their own, one per clean passage (two would contain each other)
        "Mi rivolgo a voi perché in famiglia ci sono pareri diversi e vorrei capire meglio",
        "Da quando ho cambiato lavoro dormo poco e mangio male, lo ammetto, però",
        "Mia madre ha settantotto anni e vive da sola in campagna, quindi mi preoccupo se",
        "Ho letto molto su internet e sui forum ma ogni pagina dice una cosa diversa:",
    ]
    planted = {}
    for i, (test_id, answer) in enumerate(test):
        words = answer.split()
        half = " ".join(words[: len(words) // 2])
        shapes = {"pad_before": f"{pad} {answer}", "pad_after": f"{answer} {pad}", "first_half": half,
                  "html": f"<div><p>{answer}</p></div>",
                  # clean: two five-word phrases of the answer in a text of its own
                  "clean": f"{own[i]} {' '.join(words[2:7])}, e poi {' '.join(words[-6:-1])}."}
        for n, (shape, text) in enumerate(shapes.items()):
            rid = 90000 + 10 * i + n
            planted[str(rid)] = (shape, test_id)
            records.append(dict(template, ID=rid, URL=None, testo_risposta=text, testo_risposta_riformulata=text,
                                testo_domanda=f"Domanda di prova {rid}: {shape} con parole tutte sue {i} {n}."))
    out.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return planted


def test_index_removes_passages_that_contain_a_test_answer(rag_env, built_qa, sample_qa_raw, tmp_path, capsys):
    """`imb rag index` on a build whose train split holds the shapes of issue 19: every
    planted passage that landed in train is removed as contains_heldout (or exact_text once
    the markup is dropped), the clean ones stay, and the counts per reason are in the manifest
    and the command's output."""
    from imb_tools.cli import main
    from imb_tools.data.io import load_built

    _, cache = rag_env
    raw = tmp_path / "planted.json"
    planted = _planted_raw(sample_qa_raw, built_qa, raw)
    data = tmp_path / "planted"
    assert main(["build", "qa", "--raw", str(raw), "--out", str(data), "--no-progress",
                 "--test-fraction", "0.3", "--validation-fraction", "0.1"]) == 0
    train = set(load_built(data, "train")["id"])
    in_train = {rid: sv for rid, sv in planted.items() if any(i.endswith(rid) for i in train)}
    assert len([s for s, _ in in_train.values() if s != "clean"]) >= 8 and "clean" in dict(in_train.values())
    index = tmp_path / "index"
    capsys.readouterr()
    assert main(["rag", "index", "--data", str(data), "--out", str(index), "--cache-dir", str(cache)]) == 0
    printed = capsys.readouterr().out
    removed = {r["id"]: r for r in map(json.loads, (index / "removed.jsonl").read_text().splitlines())}
    by_containment = 0
    for rid, (shape, test_id) in in_train.items():
        (hit,) = [r for i, r in removed.items() if i.endswith(rid)] or [None]
        if shape == "clean":
            assert hit is None, (rid, hit)
            continue
        assert hit is not None, (rid, shape)
        if hit["match"] == test_id and shape != "html":  # (a planted sibling may have landed in test too)
            assert hit["reason"] == "contains_heldout", (rid, shape, hit)
            by_containment += 1
    # how many land in train depends on the split draw of the planted questions: most of them
    planted_in_train = len([s for s, _ in in_train.values() if s not in ("clean", "html")])
    assert by_containment >= max(1, planted_in_train // 2), (by_containment, planted_in_train)
    counts = json.loads((index / "manifest.json").read_text())["leakage"]["removed"]
    assert counts["contains_heldout"] >= by_containment and sum(counts.values()) == len(removed)
    assert f"contains_heldout {counts['contains_heldout']}" in printed
    # No legitimate sample answer was removed: every removal is one of the planted passages.
    assert all(any(i.endswith(rid) for rid in planted) for i in removed), removed


def test_damaged_index_files_are_one_line_errors(rag_env, tmp_path, capsys):
    from imb_tools.cli import main

    index, cache = rag_env
    query = ["rag", "query", "dolore al petto", "--cache-dir", str(cache), "--index"]
    garbage = _index_copy(index, tmp_path, "garbage")
    (garbage / "index.faiss").write_bytes(b"\x00garbage" * 100)
    cut = _index_copy(index, tmp_path, "cut")
    text = (cut / "passages.jsonl").read_text()
    (cut / "passages.jsonl").write_text(text[: len(text) // 2])
    listed = _index_copy(index, tmp_path, "listed")
    (listed / "manifest.json").write_text("[1, 2, 3]")
    bm25 = _index_copy(index, tmp_path, "bm25")
    for f in (bm25 / "bm25").iterdir():
        f.write_bytes(b"{")
    for folder, words in ((garbage, "not a FAISS index"), (cut, "not a passage"), (listed, "not a JSON object"),
                          (bm25, "BM25 index does not load")):
        mode = ["--mode", "bm25"] if folder is bm25 else []
        assert main([*query, str(folder), *mode]) == 2, folder
        (line,) = _err(capsys)
        assert words in line and "rebuild" in line, line
    assert main([*query, str(index), "--cache-dir", str(index / "manifest.json")]) == 2
    (line,) = _err(capsys)
    assert "lies inside the input --index" in line  # the one output-vs-input rule comes first
    a_file = index.parent / "a-file.txt"
    a_file.write_text("not a cache")
    assert main([*query, str(index), "--cache-dir", str(a_file)]) == 2
    (line,) = _err(capsys)
    assert "not a folder" in line


def test_a_damaged_shard_in_data_is_one_line(built_qa, rag_env, tmp_path, capsys):
    import shutil

    from imb_tools.cli import main

    index, cache = rag_env
    data = tmp_path / "qa"
    shutil.copytree(built_qa, data)
    (shard,) = (data / "data").glob("test-*.parquet")
    shard.write_bytes(shard.read_bytes()[:300])
    for argv in (["rag", "eval", "--index", str(index)], ["rag", "index", "--out", str(tmp_path / "i")]):
        assert main([*argv, "--data", str(data), "--cache-dir", str(cache)]) == 2
        (line,) = _err(capsys)
        assert str(data) in line and "Parquet" in line and "imb build" in line
    assert not (tmp_path / "i").exists()


def test_blank_questions_are_refused(rag_env, capsys):
    from imb_tools.cli import main

    index, _ = rag_env
    assert main(["rag", "query", "  ", "--index", str(index)]) == 2  # refused by its type, before any work
    assert "argument text: must not be empty" in capsys.readouterr().err
    assert main(["rag", "answer", "", "--index", str(index), "--model", "x"]) == 2
    (line,) = _err(capsys)
    assert "argument questions: must not be empty" in line


def test_a_damaged_embedding_cache_is_set_aside_and_rebuilt(rag_env, tmp_path, capsys):
    """The shared cache must never break a command: a damaged file is moved aside, with a
    warning, and the query runs on a fresh one."""
    import logging

    index, cache = rag_env
    warnings = []
    handler = logging.Handler()
    handler.emit = warnings.append  # the CLI's own handler prints them; main() keeps them from the root
    logging.getLogger("imb_tools.rag.embed").addHandler(handler)
    try:
        _damaged_cache_runs(index, cache, tmp_path, capsys, warnings)
    finally:
        logging.getLogger("imb_tools.rag.embed").removeHandler(handler)


def _damaged_cache_runs(index, cache, tmp_path, capsys, warnings):
    import shutil
    import sqlite3

    from imb_tools.cli import main

    damaged = tmp_path / "cache"
    shutil.copytree(cache, damaged)
    (sqlite,) = damaged.glob("*.sqlite")
    sqlite.write_bytes(b"this is not a database" * 200)
    args = ["rag", "query", "dolore al petto", "--index", str(index), "--cache-dir", str(damaged), "--json"]
    assert main(args) == 0
    assert len(json.loads(capsys.readouterr().out)) == 5
    assert [p.name.split(".corrupt-")[0] for p in damaged.glob("*.corrupt-*")] == [sqlite.name]
    (warning,) = [r.getMessage() for r in warnings]
    assert "damaged" in warning and str(sqlite) in warning and "moved aside" in warning
    assert main(args) == 0  # the rebuilt cache works as a cache
    # A page damaged inside a real database (not its header): the read fails, the file goes aside.
    db = sqlite3.connect(sqlite)
    assert db.execute("SELECT count(*) FROM emb").fetchone()[0] >= 1
    db.close()
    data = bytearray(sqlite.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)
    sqlite.write_bytes(bytes(data))
    assert main(args) == 0
    assert len(list(damaged.glob("*.corrupt-*"))) == 2 and len(warnings) == 2


def test_a_full_disk_during_rag_index_is_one_line_and_keeps_the_old_index(rag_env, built_qa, tmp_path):
    """RLIMIT_FSIZE makes writes fail as a full disk would (EFBIG; Python ignores SIGXFSZ): the
    rebuild stops in one line, and the index it was replacing is still there, whole."""
    import resource
    import shutil
    import subprocess
    import sys

    index, cache = rag_env
    out = tmp_path / "index"
    shutil.copytree(index, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    warm = tmp_path / "cache"
    shutil.copytree(cache, warm)  # the vectors are cached: the index file is the first large write
    limit = (index / "index.faiss").stat().st_size // 2

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, "-m", "imb_tools.cli", "rag", "index", "--data", str(built_qa),
                             "--out", str(out), "--size", "30", "--cache-dir", str(warm)],
                            capture_output=True, text=True, timeout=300, preexec_fn=small_files)
    errors = [line for line in result.stderr.splitlines() if line.startswith("imb: error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
    assert "too large" in errors[0].lower() and str(out) in errors[0]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "index"]  # no temporary folder left


def test_a_hub_repo_is_recorded_and_loaded_at_one_commit(built_qa, monkeypatch):
    """--data ORG/NAME: the fingerprint is hub:ORG/NAME@<commit>, asked of the Hub (here a
    stand-in for HfApi.dataset_info) or, offline, read from the local cache; and the rows are
    loaded at that very commit."""
    from types import SimpleNamespace

    import datasets
    import huggingface_hub

    from imb_tools.data.io import load_built
    from imb_tools.data.provenance import open_build
    from imb_tools.infra import locate

    sha = "0123456789abcdef0123456789abcdef01234567"
    asked = []
    rows = load_built(built_qa)  # the Hub repo's content, as datasets would return it
    monkeypatch.setattr(datasets, "load_dataset", lambda repo, revision=None: asked.append((repo, revision)) or rows)
    monkeypatch.setattr(locate, "hub_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", lambda self, repo: SimpleNamespace(sha=sha))
    dsd, source = open_build("org/imb-qa", "qa")
    assert source.record() == {"dataset": "imb-qa", "fingerprint": f"hub:org/imb-qa@{sha}"}
    assert asked == [("org/imb-qa", sha)] and dsd is rows

    cached = SimpleNamespace(repos=[SimpleNamespace(repo_id="org/imb-qa", repo_type="dataset", revisions=[
        SimpleNamespace(refs={"main"}, commit_hash="f" * 40)])])
    monkeypatch.setattr(locate, "hub_offline", lambda: True)
    monkeypatch.setattr(locate, "in_hub_cache", lambda repo, repo_type="model": True)
    monkeypatch.setattr(huggingface_hub, "scan_cache_dir", lambda: cached)
    _, source = open_build("org/imb-qa", "qa")
    assert source.fingerprint == "hub:org/imb-qa@" + "f" * 40 and asked[-1] == ("org/imb-qa", "f" * 40)
