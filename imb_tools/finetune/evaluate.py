"""Base vs fine-tuned answers on the held-out 20%, scored like the paper's Table 8.

One model load: the base answers come from the same PeftModel with its
adapter disabled, so both rows see identical weights, prompts and decoding.
Generation is `imb_tools.llm`'s (the IMB-QA prompt of `evaluation.prompts` in
the model's chat template), and every answer goes to `imb_tools.llm.cache`'s
fsynced cache as it comes, so a killed run resumes where it stopped. Metrics
are `imb_tools.metrics` (the code the lm-eval tasks use), never a copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from imb_tools.infra.atomic import write_json_atomic
from imb_tools.infra.errors import ImbError
from imb_tools.finetune.artifacts import RUN_FILE, base_model_of, resolve_adapter
from imb_tools.metrics.bertscore import DEFAULT_MODEL as BERTSCORE_MODEL

COLUMNS = [  # (key, Table 8 header)
    ("rouge1", "ROUGE-1"), ("rouge2", "ROUGE-2"), ("rougeL", "ROUGE-L"), ("bleu", "BLEU"),
    ("meteor", "METEOR"), ("bertscore_precision", "BERTScore P"), ("bertscore_recall", "BERTScore R"),
    ("bertscore_f1", "BERTScore F1"),
]
ROWS = [("base", "No"), ("finetuned", "Yes")]  # (key, Table 8 "Fine-Tuned")


def score(preds: list[str], refs: list[str], bertscore_model: str, bertscore_layers: int | None) -> dict:
    """The eight Table 8 columns for one model's answers."""
    from imb_tools.metrics import bertscore, text

    out = {**text.rouge(preds, refs), **text.bleu(preds, refs), **text.meteor(preds, refs)}
    bs = bertscore.score(preds, refs, model=bertscore_model, num_layers=bertscore_layers)
    out.update(bertscore_precision=bs["precision"], bertscore_recall=bs["recall"], bertscore_f1=bs["f1"])
    return out


def format_table(scores: dict[str, dict], model_name: str) -> str:
    """A plain-text table with Table 8's columns, one row per model (base first)."""
    headers = ["Model", "Fine-Tuned"] + [h for _, h in COLUMNS]
    rows = [[model_name if i == 0 else "", flag] + [f"{scores[key][k]:.4f}" for k, _ in COLUMNS]
            for i, (key, flag) in enumerate(ROWS)]
    widths = [max(len(r[c]) for r in [headers] + rows) for c in range(len(headers))]
    line = lambda r: "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _fingerprint(*parts) -> str:
    return hashlib.blake2b(json.dumps(parts, default=str).encode(), digest_size=8).hexdigest()


def _check_build(trained_on: dict | None, source, adapter_dir: Path, allow: bool) -> dict:
    """The adapter's training build against --data: refused when they differ, unless allowed."""
    record = {"trained_on": trained_on, "data": source.location, "data_build": source.record(),
              "other_build_allowed": False}
    same = isinstance(trained_on, dict) and trained_on.get("fingerprint") == source.fingerprint
    if not same:
        what = (f"was trained on build {trained_on.get('fingerprint')}" if isinstance(trained_on, dict)
                else "records no build it was trained on (an adapter older than this check)")
        if not allow:
            raise ImbError(f"adapter {adapter_dir} {what}, not on --data {source.location} ({source.fingerprint}): "
                           f"the held-out side of another build may hold training items; pass the build it "
                           f"was trained on, or --allow-other-build")
        record["other_build_allowed"] = True
    return record


def evaluate(
    adapter: str,
    data: str,
    model: str | None = None,
    limit: int | None = 200,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    bertscore_model: str = BERTSCORE_MODEL,
    bertscore_layers: int | None = None,
    report: str | None = None,
    dataset=None,
    allow_other_build: bool = False,
) -> dict:
    """Generate with base and fine-tuned model on the eval side, score both, write the report.

    The eval side is a function of the ids of the build's train split: on another build it
    may hold records the adapter was trained on, so a build other than the one run.json
    records is refused unless `allow_other_build` (the report then says so).
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from imb_tools.data.provenance import DataSource, rows_fingerprint
    from imb_tools.finetune.data import EVAL_FRACTION, open_train_split, train_eval_split

    adapter_dir = resolve_adapter(adapter)
    base = model or base_model_of(adapter_dir)
    run_file = adapter_dir / RUN_FILE
    run = json.loads(run_file.read_text(encoding="utf-8")) if run_file.is_file() else {}
    fraction = run.get("config", {}).get("eval_fraction", EVAL_FRACTION)
    if dataset is None:
        dataset, source = open_train_split(data)
    else:
        source = DataSource("imb-qa", rows_fingerprint(dataset), "in-memory rows")
    provenance = _check_build(run.get("build"), source, adapter_dir, allow_other_build)
    eval_ds = train_eval_split(dataset, fraction)["eval"]
    if limit is not None:
        eval_ds = eval_ds.select(range(min(limit, len(eval_ds))))
    if len(eval_ds) == 0:
        raise ImbError(f"{data}: the fine-tuning eval side ({fraction:.0%} of train by id hash) is empty")
    ids, questions, refs = list(eval_ds["id"]), list(eval_ds["question"]), list(eval_ds["answer"])

    # What the end needs is checked before the first generation: the BERTScore model and
    # layer (loaded now, reused when scoring) and a writable report folder.
    report_path = Path(report) if report else adapter_dir.parent / "eval_table8.json"
    try:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        probe = report_path.parent / f".{report_path.name}.write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ImbError(f"{report_path.parent}: cannot write the report there ({exc.strerror})") from None
    from imb_tools.metrics import bertscore

    bertscore.get_scorer(bertscore_model, bertscore_layers)

    from imb_tools.infra.locate import check_reference

    check_reference(base, "base model", "--model")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.float32
    try:
        tok = AutoTokenizer.from_pretrained(adapter_dir)
        base_model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype).to(device)
    except OSError as exc:
        raise ImbError(f"cannot load '{base}' / '{adapter_dir}': {str(exc).splitlines()[0]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    peft_model = PeftModel.from_pretrained(base_model, adapter_dir).eval()

    weights = adapter_dir / "adapter_model.safetensors"
    stamp = weights.stat().st_mtime_ns if weights.is_file() else None
    fingerprint = _fingerprint(base, str(adapter_dir), stamp, max_new_tokens)

    from imb_tools.evaluation.prompts import format_prompt
    from imb_tools.llm.cache import GenerationCache, cache_key
    from imb_tools.llm.transformers_backend import TransformersBackend

    backend = TransformersBackend.from_loaded(peft_model, tok, name=base, batch_size=batch_size)
    preds: dict[str, list[str]] = {}
    with GenerationCache(report_path.with_suffix(".generations.jsonl")) as cache:
        for key, _ in ROWS:
            keys = [cache_key(f"{key}:{fingerprint}", "imb-qa-prompt", f"{rid}\x00{q}")
                    for rid, q in zip(ids, questions)]
            todo = [i for i, k in enumerate(keys) if k not in cache]
            if todo:
                def keep(j, completion, todo=todo, keys=keys, key=key):
                    cache.put(keys[todo[j]], {"row": key, "id": ids[todo[j]], "prediction": completion.text})

                with peft_model.disable_adapter() if key == "base" else contextlib.nullcontext():
                    backend.name = f"{key}: {base}"
                    backend.complete([format_prompt(questions[i]) for i in todo], max_new_tokens=max_new_tokens,
                                     on_result=keep)
            preds[key] = [cache.get(k)["prediction"] for k in keys]

    scores = {key: score(preds[key], refs, bertscore_model, bertscore_layers) for key, _ in ROWS}
    result = {
        "base_model": base, "adapter": str(adapter_dir), "items": len(ids),
        "bertscore_model": bertscore_model, "bertscore_layers": bertscore_layers,
        "max_new_tokens": max_new_tokens, "provenance": provenance, "scores": scores,
        "table": format_table(scores, Path(base).name),
        "examples": [{"id": ids[i], "question": questions[i], "reference": refs[i],
                      **{k: preds[k][i] for k, _ in ROWS}} for i in range(min(5, len(ids)))],
    }
    write_json_atomic(report_path, result)
    result["report"] = str(report_path)
    return result
