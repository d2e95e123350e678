"""lm-eval-shaped results of several model runs, for the ranked leaderboard view.

Each run is written as `imb eval` writes one: `results_<date>.json`, `imb_summary_<date>.json`
and `samples_<task>_<date>.jsonl` per task, modelled on a real results file made by
`imb eval` with the tiny model (its config, versions, task configs). The per-item scores
are drawn so that the true differences between models are known: the tests check that the
ranks separate the models that differ and keep the others together.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

CATEGORIES = ["Cardiologia", "Neurologia", "Pediatria", "Farmacologia"]
MACROS = ["Cardiology, circulatory system and hematology", "Mental health and neurology"]
WORDS = "il la paziente dolore terapia cuore farmaco esame sangue medico visita".split()


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_run(out: Path, template: dict, model: str, parameters: float, stamp: str,
              mcqa_acc: float, qa_precision: float, n_mcqa: int = 300, n_qa: int = 200,
              chat: bool = False, n_shot: int = 0, limit=None, is_sample: bool = False,
              seed: int = 0) -> Path:
    """Write one model run (imb_mcqa and imb_qa) under out/<model>/; returns the folder."""
    rng = random.Random(seed)
    folder = out / model.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    date = 1796000000.0 + seed * 100
    for task in ("imb_mcqa", "imb_qa"):
        samples, values = [], {}
        for i in range(n_mcqa if task == "imb_mcqa" else n_qa):
            if task == "imb_mcqa":
                doc = {"id": f"q{i}", "category": CATEGORIES[i % len(CATEGORIES)]}
                correct = float(rng.random() < mcqa_acc)
                metrics = {"acc": correct, "acc_norm": correct}
            else:
                doc = {"id": f"a{i}", "macro_category": MACROS[i % len(MACROS)]}
                ref = _sentence(rng, 12)
                pred = ref if rng.random() < qa_precision else _sentence(rng, 8)
                metrics = {"bertscore_precision": min(1.0, max(0.0, rng.gauss(qa_precision, 0.1))),
                           "rouge1": rng.random() * qa_precision, "bleu": [pred, ref]}
            samples.append({"doc_id": i, "doc": doc, "target": "", "filter": "none",
                            "metrics": list(metrics), **metrics})
            for name, value in metrics.items():
                values.setdefault(name, []).append(value)
        result = {name: sum(v) / len(v) for name, v in values.items() if name != "bleu"}
        if "bleu" in values:
            from imb_tools.metrics.text import bleu

            result["bleu"] = bleu([p for p, _ in values["bleu"]], [r for _, r in values["bleu"]])["bleu"]
        raw = copy.deepcopy(template)
        entry = {"name": task, "alias": task, "sample_len": len(samples)}
        for name, value in result.items():
            entry[f"{name},none"] = value
            entry[f"{name}_stderr,none"] = "N/A"
        raw.update({"results": {task: entry}, "group_subtasks": {}, "date": date + (task == "imb_qa"),
                    "versions": {task: 2.0}, "n-shot": {task: n_shot},
                    "higher_is_better": {task: {name: True for name in result}},
                    "n-samples": {task: {"original": len(samples), "effective": len(samples)}},
                    "chat_template": "{{ messages }}" if chat else None,
                    "model_name": model})
        raw["configs"] = {task: raw.get("configs", {}).get(task, {"task": task})}
        raw["config"] = {**raw["config"], "model_args": f"pretrained={model}",
                         "model_num_parameters": parameters, "limit": limit}
        name = f"{stamp}-{task}"
        with open(folder / f"samples_{task}_{name}.jsonl", "w", encoding="utf-8") as fh:
            for sample in samples:
                fh.write(json.dumps(sample) + "\n")
        summary = {"provenance": {"data": {k: {"data_source": f"/data/imb-{k}",
                                               "data_revision": f"content-{k}00000000000000"[:24],
                                               "is_sample": is_sample} for k in ("mcqa", "qa")},
                                  "is_sample": is_sample, "task_set_hash": "0123456789abcdef",
                                  "limit": limit, "num_fewshot": n_shot,
                                  "apply_chat_template": chat, "fewshot_as_multiturn": False},
                   "tasks": {}}
        raw["imb_provenance"] = summary["provenance"]
        (folder / f"results_{name}.json").write_text(json.dumps(raw), encoding="utf-8")
        (folder / f"imb_summary_{name}.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


def board_runs(out: Path, template_file: Path) -> Path:
    """Four model runs and a hidden one: big-model and mid-model close (not separable on 300
    items), small-model far below, a chat variant of mid-model, and a --limit run."""
    template = json.loads(Path(template_file).read_text(encoding="utf-8"))
    write_run(out, template, "org/big-model-7B", 7e9, "2026-01-01T00-00-01", 0.80, 0.70, seed=1)
    write_run(out, template, "org/mid-model-3B", 3e9, "2026-01-01T00-00-02", 0.79, 0.69, seed=2)
    write_run(out, template, "/models/small-local", 5e8, "2026-01-01T00-00-03", 0.40, 0.30, seed=3)
    write_run(out, template, "org/mid-model-3B", 3e9, "2026-01-01T00-00-04", 0.60, 0.50,
              chat=True, seed=4)
    write_run(out, template, "org/limited-model-1B", 1e9, "2026-01-01T00-00-05", 0.99, 0.90,
              limit=10, n_mcqa=10, n_qa=10, seed=5)
    return out
