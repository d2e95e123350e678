"""`imb rag ...` on the dataset built from the bundled sample, generation and the lm-eval loader."""

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
    assert main(["rag", "eval", "--data", str(built_qa), "--index", str(index), "--modes", "sparse"]) == 2
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


def test_lm_eval_loader_adds_context(rag_env, built_qa, monkeypatch):
    from lm_eval_tasks.imb_qa_rag import utils

    index, cache = rag_env
    monkeypatch.setenv("IMB_CACHE", str(cache.parent))
    monkeypatch.setattr("imb_tools.rag.embed.default_cache_dir", lambda: cache)
    dsd = utils.load_qa_rag(
        macro_category="Cardiology, circulatory system and hematology",
        rag_index=str(index),
        data_dir=str(built_qa),
        rag_k=2,
        rag_fewshot_items=1,
    )
    assert len(dsd["validation"]) <= 1 and len(dsd["test"]) > 0
    doc = dsd["test"][0]
    assert doc["rag_context"].startswith("[1] ") and "[3] " not in doc["rag_context"]
    text = utils.doc_to_text(doc)
    assert "Contesto:\n[1] " in text and text.endswith("Risposta:")
    with pytest.raises(Exception, match="rag_index"):
        utils.load_qa_rag(macro_category="Neurology", data_dir=str(built_qa))


def test_imb_qa_rag_end_to_end_with_tiny_llama(rag_env, demo_dir, tiny_llama, minilm_path, tmp_path, monkeypatch):
    """`imb eval --tasks imb_qa_rag` on the built sample: the task set generated for it has one
    subtask per macro-category of its test split, each runs, and each prompt holds the
    passages the retriever ranks first for that question."""
    from imb_tools.evaluation import tasks as tasks_gen
    from imb_tools.cli import main
    from imb_tools.data.categories import MACRO_SLUGS
    from imb_tools.rag.embed import Embedder
    from imb_tools.rag.index import load_index
    from imb_tools.rag.retrieve import Retriever

    index, cache = rag_env
    monkeypatch.setenv("IMB_CACHE_DIR", str(tmp_path / "imb-cache"))
    monkeypatch.setattr("imb_tools.rag.embed.default_cache_dir", lambda: cache)
    out = tmp_path / "eval"
    metadata = {"rag_index": str(index), "rag_k": 2, "rag_fewshot_items": 1}
    rc = main(["eval", "--model", "hf", "--model-args", f"pretrained={tiny_llama}", "--device", "cpu",
               "--tasks", "imb_qa_rag", "--data-dir", str(demo_dir), "--output", str(out),
               "--gen-kwargs", "max_gen_toks=2", "--qa-max-items", "1", "--bertscore-model",
               str(minilm_path), "--bertscore-layers", "6", "--metadata", json.dumps(metadata)])
    assert rc == 0
    (results,) = out.glob("*/results_*.json")
    res = json.loads(results.read_text())
    expected = {"imb_qa_rag"}  # one complete task over every macro-category
    assert set(res["results"]) == expected
    n_macros = len(tasks_gen.dataset_categories(demo_dir)["qa"])
    idx = load_index(index)
    retriever = Retriever.from_index(idx, Embedder(idx.model, cache_dir=cache, show_progress=False))
    for task in expected:
        assert res["n-samples"][task]["effective"] == n_macros  # one item per macro-category
        assert 0.0 <= res["results"][task]["bertscore_f1,none"] <= 1.0
        (samples,) = out.glob(f"*/samples_{task}_*.jsonl")
        for line in samples.read_text().splitlines():
            sample = json.loads(line)
            prompt = sample["arguments"]["gen_args_0"]["arg_0"]
            first, second = retriever.search([sample["doc"]["question"]], k=2)[0]
            assert f"Contesto:\n[1] {' '.join(first.passage.text.split())[:80]}" in prompt
            assert f"\n\n[2] {' '.join(second.passage.text.split())[:40]}" in prompt
            assert sample["doc"]["rag_context"] in prompt
            assert prompt.endswith(f"Domanda: {sample['doc']['question'].strip()}\nRisposta:")
