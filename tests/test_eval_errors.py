"""`imb eval` given a bad option ends in one `imb: error:` line (exit 2), through the real CLI,
before the model loads: counts and limits in range, a model folder that holds a model,
BERTScore layers within the model, generation overrides of the right type, an --out
outside everything the run reads."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from cli_faults import Fault, run_fault


def _imb(*args: str) -> list[str]:
    return list(args)


def _one_line(argv: list[str], *expected: str) -> str:
    """The one fault harness (tests/cli_faults.py), in a child process: exit 2, one line, each text in it."""
    pattern = "".join(f"(?=.*{re.escape(text)})" for text in expected)
    result = run_fault(Fault("imb eval", argv, 2, pattern, child=True), Path.cwd())
    return result.err.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def rag_index(tmp_path_factory):
    """A folder the run reads through --metadata (the rule needs only that it exists)."""
    folder = tmp_path_factory.mktemp("an-index")
    (folder / "manifest.json").write_text("{}")
    return folder


@pytest.fixture(scope="module")
def not_a_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("not-a-model")
    (folder / "notes.txt").write_text("a folder of notes, not a model")
    return folder


def _eval(demo_dir, tmp_path, tiny_llama, *extra: str, tasks: str = "imb_mcqa") -> list[str]:
    return ["eval", "--model", "hf", "--model-args", f"pretrained={tiny_llama}", "--device", "cpu",
            "--tasks", tasks, "--data", str(demo_dir), "--out", str(tmp_path / "out"), *extra]


@pytest.mark.parametrize("given, expected", [
    (["--limit", "0"], "--limit: must be a number above 0"),
    (["--device", "banana"], "--device: not a device: 'banana'"),
    (["--limit", "-1"], "--limit: must be a number above 0"),
    (["--limit", "abc"], "--limit: expected a number"),
    (["--num-fewshot", "-1"], "--num-fewshot: must be 0 or more"),
    (["--num_fewshot", "-1"], "--num-fewshot -1: must be 0 or more"),  # lm-eval's spelling too
    (["--gen_kwargs", "max_gen_toks=abc"], "max_gen_toks=abc: expected a whole number"),
    (["--gen-kwargs", "max_gen_toks=0"], "max_gen_toks=0: expected a whole number of at least 1"),
    (["--gen-kwargs", "temperature=hot"], "temperature=hot: expected a number"),
    (["--gen-kwargs", "temperature=nan,do_sample=True"], "temperature=nan: expected a number"),
    (["--bertscore-layers", "0"], "--bertscore-layers: must be at least 1"),
    (["--qa-max-items", "0"], "--qa-max-items: must be at least 1"),
    (["--batch-size", "-3"], "--batch-size -3"),
])
def test_bad_counts_and_generation_overrides(demo_dir, tiny_llama, tmp_path, given, expected):
    started = time.monotonic()
    _one_line(_imb(*_eval(demo_dir, tmp_path, tiny_llama, *given)), expected)
    assert not (tmp_path / "out").exists()  # refused at the door: nothing written
    assert time.monotonic() - started < 60


def test_a_folder_that_is_not_a_model(demo_dir, tiny_llama, not_a_model, tmp_path):
    cmd = _eval(demo_dir, tmp_path, tiny_llama)
    cmd[cmd.index("--model-args") + 1] = f"pretrained={not_a_model}"
    _one_line(_imb(*cmd), f"pretrained={not_a_model}: not a model (no config.json in it)")
    cmd[cmd.index("--model-args") + 1] = f"pretrained={not_a_model}/missing"
    _one_line(_imb(*cmd), "no such folder")
    cmd[cmd.index("--model-args") + 1] = f"pretrained={tiny_llama},dtype"
    _one_line(_imb(*cmd), "'dtype' has no value; expected key=value pairs")
    assert not (tmp_path / "out").exists()


def test_bertscore_layer_and_model_checked_before_the_model_loads(demo_dir, tiny_llama, minilm_path,
                                                                   not_a_model, tmp_path):
    line = _one_line(_imb(*_eval(demo_dir, tmp_path, tiny_llama, "--bertscore-model", str(minilm_path),
                                 "--bertscore-layers", "99", tasks="imb_qa")),
                     "bertscore_layers 99", "has 6 layers (give 1-6)")
    assert "Traceback" not in line
    for layers in (("--bertscore-layers", "6"), ()):  # with a layer, and without (no default to name)
        _one_line(_imb(*_eval(demo_dir, tmp_path, tiny_llama, "--bertscore-model", str(not_a_model),
                              *layers, tasks="imb_qa")),
                  f"BERTScore model '{not_a_model}': not a model (no config.json in it)")
    assert not list((tmp_path / "out").rglob("results_*.json"))


def test_out_on_inside_or_above_what_the_run_reads_is_refused(demo_dir, tiny_llama, rag_index, tmp_path):
    """The one output-vs-input rule (cli_options.check_io) sees what eval reads: the builds in
    --data, the model folder in --model-args, the RAG index in --metadata."""
    build = demo_dir / "mcqa"
    cases = ((build, "is the input --data"), (build / "eval", "lies inside the input --data"),
             (tiny_llama / "eval", "lies inside the input --model-args"), (demo_dir, "holds the input --data"),
             (rag_index / "eval", "lies inside the input --metadata"))
    for out, why in cases:
        cmd = _eval(demo_dir, tmp_path, tiny_llama, "--metadata", json.dumps({"rag_index": str(rag_index)}))
        cmd[cmd.index("--out") + 1] = str(out)
        _one_line(_imb(*cmd), f"--out {out}: {why}")
    # lm-eval's spelling of --out goes through the same rule
    cmd = _eval(demo_dir, tmp_path, tiny_llama)
    del cmd[cmd.index("--out"):cmd.index("--out") + 2]
    _one_line(_imb(*cmd, "--output_path", str(build / "lm")), f"--output_path {build / 'lm'}: lies inside the input")
    assert not (build / "eval").exists() and not (tiny_llama / "eval").exists() and not (build / "lm").exists()
    assert ".imb-eval.json" not in {p.name for p in build.iterdir()}


def test_data_that_is_no_build_is_one_line(tiny_llama, tmp_path):
    (tmp_path / "folder").mkdir()
    cmd = ["eval", "--model", "hf", "--model-args", f"pretrained={tiny_llama}", "--tasks", "imb_mcqa",
           "--data", str(tmp_path / "folder"), "--out", str(tmp_path / "out")]
    _one_line(_imb(*cmd), "not a built IMB-QA or IMB-MCQA folder")
