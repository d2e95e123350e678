"""The lm-eval task imb_qa_rag: retrieved passages in the prompt, and an index whose provenance
is checked against the data being scored (issue 19): its knowledge base holds no item of the
evaluated split (by id, by normalized answer text) and comes from the same build, unless
`rag_allow_other_build: true` (then recorded in the results)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import os
from pathlib import Path

import pytest

pytest.importorskip("faiss")
pytest.importorskip("bm25s")


def _fingerprint(build: Path) -> str:
    return json.loads((build / ".imb-build.json").read_text())["fingerprint"]


def _make_index(build: Path, out: Path, minilm_path, cache: Path, size: int = 30) -> Path:
    """`imb rag index` on `build`. The manifest's `build` entry is the contract with `imb rag
    index` ({"dataset", "fingerprint", "kb_splits"}); an index builder from before it gets the
    entry written here, as that builder will write it."""
    from imb_tools.cli import main

    assert main(["rag", "index", "--data", str(build), "--out", str(out), "--model", str(minilm_path),
                 "--size", str(size), "--cache-dir", str(cache)]) == 0
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if "build" not in manifest:
        manifest["build"] = {"dataset": "imb-qa", "fingerprint": _fingerprint(build), "kb_splits": ["train"]}
        manifest_path.write_text(json.dumps(manifest, indent=2))
    assert manifest["build"] == {"dataset": "imb-qa", "fingerprint": _fingerprint(build), "kb_splits": ["train"]}
    return out


@pytest.fixture(scope="module")
def rag_env(tmp_path_factory, built_qa, minilm_path):
    base = tmp_path_factory.mktemp("ragtask")
    return _make_index(built_qa, base / "index", minilm_path, base / "cache"), base / "cache"


def _variant(index: Path, tmp_path: Path, name: str, manifest=None, passages=None) -> Path:
    """A copy of the index with its manifest's build entry or passages changed."""
    out = tmp_path / name
    shutil.copytree(index, out)
    if manifest is not None:
        value = json.loads((out / "manifest.json").read_text())
        manifest(value)
        (out / "manifest.json").write_text(json.dumps(value))
    if passages is not None:
        rows = [json.loads(line) for line in (out / "passages.jsonl").read_text().splitlines()]
        passages(rows)
        (out / "passages.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return out


def _load(index: Path, data: Path, **metadata):
    from lm_eval_tasks.imb_qa_rag import utils

    return utils.load_qa_rag(rag_index=str(index), data_dir=str(data), rag_k=2, rag_fewshot_items=1,
                             **metadata)


def test_lm_eval_loader_adds_context(rag_env, built_qa):
    from lm_eval_tasks.imb_qa_rag import utils

    index, _ = rag_env
    dsd = _load(index, built_qa, macro_category="Cardiology, circulatory system and hematology")
    assert len(dsd["validation"]) <= 1 and len(dsd["test"]) > 0
    doc = dsd["test"][0]
    assert doc["rag_context"].startswith("[1] ") and "[3] " not in doc["rag_context"]
    text = utils.doc_to_text(doc)
    assert "Contesto:\n[1] " in text and text.endswith("Risposta:")
    with pytest.raises(ValueError, match="rag_index"):
        utils.load_qa_rag(macro_category="Neurology", data_dir=str(built_qa))


def test_index_provenance_is_checked_against_the_evaluated_split(rag_env, built_qa, tmp_path):
    from imb_tools.data.io import load_built

    index, _ = rag_env
    test = load_built(built_qa, split="test")
    first_id, first_answer = test[0]["id"], test[0]["answer"]
    where = f"rag_index {tmp_path}"
    cases = {
        "no-build": (dict(manifest=lambda m: m.pop("build")), "does not record the build it was made from"),
        "other-build": (dict(manifest=lambda m: m["build"].update(fingerprint="content-0000000000000000")),
                        "was made from build content-0000000000000000, not from"),
        "mcqa": (dict(manifest=lambda m: m["build"].update(dataset="imb-mcqa")), "was made from imb-mcqa"),
        "kb-test": (dict(manifest=lambda m: m["build"].update(kb_splits=["train", "test"])),
                    "drew its knowledge base from the test split"),
        "by-id": (dict(passages=lambda rows: rows[0].update(id=first_id)), f"(1 by id, 0 by answer text; first: {first_id})"),
        # the same answer with other case, spacing and punctuation is the same answer
        "by-text": (dict(passages=lambda rows: rows[1].update(text="  " + first_answer.upper().replace(".", " !"))),
                    "(0 by id, 1 by answer text;"),
    }
    for name, (change, expected) in cases.items():
        bad = _variant(index, tmp_path, name, **change)
        with pytest.raises(ValueError) as err:
            _load(bad, built_qa)
        message = str(err.value)
        assert expected in message and "\n" not in message, (name, message)
        assert f"{where}/{name}" in message and str(built_qa) in message, (name, message)  # names both
    # the flag waives the build check only: never an index holding evaluated items
    for name in ("no-build", "other-build"):
        assert len(_load(tmp_path / name, built_qa, rag_allow_other_build=True)["test"]) > 0
    for name in ("by-id", "by-text"):
        with pytest.raises(ValueError, match="item"):
            _load(tmp_path / name, built_qa, rag_allow_other_build=True)
    with pytest.raises(ValueError, match="rag_allow_other_build must be true or false"):
        _load(index, built_qa, rag_allow_other_build="maybe")


def _two_builds_and_the_small_ones_index(tmp_path, minilm_path):
    """Issue 19's shape: the sample built with a 2% and with a 30% test split, and an index of the first."""
    from imb_tools.cli import main

    small, large = tmp_path / "small", tmp_path / "large"
    assert main(["build", "qa", "--raw", "sample", "--out", str(small), "--no-progress",
                 "--test-fraction", "0.02", "--validation-fraction", "0.02"]) == 0
    assert main(["build", "qa", "--raw", "sample", "--out", str(large), "--no-progress",
                 "--test-fraction", "0.3", "--validation-fraction", "0.1"]) == 0
    return small, large, _make_index(small, tmp_path / "index", minilm_path, tmp_path / "cache", size=100)


def test_an_index_of_a_build_with_a_smaller_test_split_is_refused(minilm_path, tmp_path):
    """Issue 19's shape: index a build with a 2% test split, evaluate one with 30%: refused as
    another build, and with the flag still refused, since the evaluated test items sit in the
    first build's train split (the knowledge base)."""
    small, large, index = _two_builds_and_the_small_ones_index(tmp_path, minilm_path)
    with pytest.raises(ValueError, match=f"was made from build {_fingerprint(small)}, not from {large}"):
        _load(index, large)
    with pytest.raises(ValueError, match=r"holds \d+ item\(s\) of .* by id"):
        _load(index, large, rag_allow_other_build=True)


def test_imb_eval_refuses_an_index_of_a_build_with_a_smaller_test_split(minilm_path, tiny_llama, tmp_path):
    """The same shape through the real CLI, as the issue ran it: `imb eval --tasks imb_qa_rag`
    on the 30% build with the 2%-build's index in --metadata is one line naming both builds;
    with rag_allow_other_build it is still one line (test items in the knowledge base)."""
    from cli_faults import Fault, run_fault

    small, large, index = _two_builds_and_the_small_ones_index(tmp_path, minilm_path)

    def argv(**extra):
        return ["eval", "--model", "hf", "--model-args", f"pretrained={tiny_llama}", "--device", "cpu",
                "--tasks", "imb_qa_rag", "--data", str(large), "--out", str(tmp_path / "out"), "--limit", "4",
                "--bertscore-model", str(minilm_path), "--bertscore-layers", "6",
                "--metadata", json.dumps({"rag_index": str(index), **extra})]

    run_fault(Fault("other build", argv(), 2, re.escape(f"was made from build {_fingerprint(small)}, not from {large}"),
                    child=True, env={"IMB_CACHE_DIR": str(tmp_path / "imb-cache")}), tmp_path)
    run_fault(Fault("test items in the knowledge base", argv(rag_allow_other_build=True), 2,
                    r"holds \d+ item\(s\) of .* by id", child=True,
                    env={"IMB_CACHE_DIR": str(tmp_path / "imb-cache")}), tmp_path)
    assert not list((tmp_path / "out").rglob("results_*.json"))


def test_imb_eval_refuses_in_one_line(rag_env, demo_dir, tiny_llama, minilm_path, tmp_path):
    index, _ = rag_env
    bad = _variant(index, tmp_path, "no-build", manifest=lambda m: m.pop("build"))
    proc = subprocess.run(
        [sys.executable, "-m", "imb_tools.cli", "eval", "--model", "hf", "--model-args",
         f"pretrained={tiny_llama}", "--device", "cpu", "--tasks", "imb_qa_rag", "--data", str(demo_dir),
         "--out", str(tmp_path / "out"), "--bertscore-model", str(minilm_path), "--bertscore-layers", "6",
         "--metadata", json.dumps({"rag_index": str(bad)})],
        capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(f"imb: error: rag_index {bad} does not record the build"), lines[0]


def test_imb_qa_rag_end_to_end_with_tiny_llama(rag_env, demo_dir, tiny_llama, minilm_path, tmp_path,
                                               monkeypatch):
    """`imb eval --tasks imb_qa_rag` on the built sample: one task over every macro-category, and
    each prompt holds the passages the retriever ranks first for that question; the flag that
    waives the build check is recorded in the results."""
    from imb_tools.cli import main
    from imb_tools.data.io import load_built
    from imb_tools.rag.embed import Embedder
    from imb_tools.rag.index import load_index
    from imb_tools.rag.retrieve import Retriever

    index, cache = rag_env
    monkeypatch.setenv("IMB_CACHE_DIR", str(tmp_path / "imb-cache"))
    out = tmp_path / "eval"
    metadata = {"rag_index": str(index), "rag_k": 2, "rag_fewshot_items": 1, "rag_allow_other_build": True}
    rc = main(["eval", "--model", "hf", "--model-args", f"pretrained={tiny_llama}", "--device", "cpu",
               "--tasks", "imb_qa_rag", "--data", str(demo_dir), "--out", str(out),
               "--gen-kwargs", "max_gen_toks=2", "--qa-max-items", "1", "--bertscore-model",
               str(minilm_path), "--bertscore-layers", "6", "--metadata", json.dumps(metadata)])
    assert rc == 0
    (results,) = out.glob("*/results_*.json")
    res = json.loads(results.read_text())
    assert set(res["results"]) == {"imb_qa_rag"}  # one complete task over every macro-category
    assert res["configs"]["imb_qa_rag"]["metadata"]["rag_allow_other_build"] is True
    summary = json.loads((out / "imb_summary.json").read_text())
    assert summary["provenance"]["metadata"]["rag_allow_other_build"] is True
    test = load_built(demo_dir / "qa", split="test")
    n_macros = len(set(test["macro_category"]))
    idx = load_index(index)
    retriever = Retriever.from_index(idx, Embedder(idx.model, cache_dir=cache, show_progress=False))
    assert res["n-samples"]["imb_qa_rag"]["effective"] == n_macros  # one item per macro-category
    assert 0.0 <= res["results"]["imb_qa_rag"]["bertscore_f1,none"] <= 1.0
    (samples,) = out.glob("*/samples_imb_qa_rag_*.jsonl")
    for line in samples.read_text().splitlines():
        sample = json.loads(line)
        prompt = sample["arguments"]["gen_args_0"]["arg_0"]
        first, second = retriever.search([sample["doc"]["question"]], k=2)[0]
        assert f"Contesto:\n[1] {' '.join(first.passage.text.split())[:80]}" in prompt
        assert f"\n\n[2] {' '.join(second.passage.text.split())[:40]}" in prompt
        assert sample["doc"]["rag_context"] in prompt
        assert prompt.endswith(f"Domanda: {sample['doc']['question'].strip()}\nRisposta:")


def test_an_index_of_a_hub_build_is_compared_by_repo_offline(monkeypatch):
    """For a Hub source the manifest names `hub:ORG/NAME@<sha>`; offline (no revision to ask
    for) the repo's name must still match."""
    from lm_eval_tasks.imb_common.rag import Index, check_provenance

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    index = Index(Path("idx"), {"build": {"dataset": "imb-qa", "fingerprint": "hub:org/imb-qa@abc123",
                                          "kb_splits": ["train"]}}, None,
                  [{"id": "1", "text": "una risposta di train"}])
    evaluated = {"id": ["2"], "answer": ["una risposta di test"]}
    check_provenance(index, evaluated, "org/imb-qa", allow_other_build=False)
    with pytest.raises(ValueError, match="was made from build hub:org/imb-qa@abc123, not from other/imb-qa"):
        check_provenance(index, evaluated, "other/imb-qa", allow_other_build=False)
    check_provenance(index, evaluated, "other/imb-qa", allow_other_build=True)
