"""`imb rag compare`: the paper's Table 7 for any model.

The same test questions answered without and with the top-k passages,
scored by BERTScore precision against the reference answers, per
macro-category, with the change in percent. Generations are appended to a
JSONL file as they finish, so an interrupted run resumes without redoing
(or duplicating) any answer.
"""

from __future__ import annotations

import json
from pathlib import Path

from imb_tools.data.splits import id_hash
from imb_tools.errors import ImbError
from imb_tools.rag.knowledge_base import passages_from_split

CONDITIONS = ("without_rag", "with_rag")


def test_items(dataset, per_macro: int) -> list[dict]:
    """Test questions, at most `per_macro` per macro-category in hash order (the paper used ~2,000)."""
    if "test" not in dataset:
        raise ImbError(f"the dataset has no 'test' split (splits: {', '.join(dataset)})")
    ds = dataset["test"]
    questions = dict(zip(ds["id"], ds["question"]))
    by_macro: dict[str, list] = {}
    for p in passages_from_split(ds):
        by_macro.setdefault(p.macro_category, []).append(p)
    items = []
    for macro in sorted(by_macro):
        ordered = sorted(by_macro[macro], key=lambda p: (id_hash(p.id), p.id))[:per_macro]
        items.extend(
            {"id": p.id, "question": questions[p.id], "reference": p.text, "macro_category": macro}
            for p in ordered
        )
    if not items:
        raise ImbError("the test split is empty: nothing to compare")
    return items


def _read_done(path: Path) -> dict[tuple[str, str], str]:
    done = {}
    if path.exists():
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: that answer is redone
                    continue
                done[(rec["condition"], rec["id"])] = rec["answer"]
    return done


def generate_conditions(
    backend,
    retriever,
    items: list[dict],
    out_dir: Path,
    k: int,
    mode: str,
    max_new_tokens: int,
    context_tokens: int | None,
) -> dict[str, dict[str, str]]:
    """Answers per condition and id, resuming from out_dir/generations.jsonl."""
    from tqdm.auto import tqdm

    from imb_tools.rag.generate import backend_budget, rag_prompt

    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "generations.jsonl"
    done = _read_done(log_path)
    budget, count = backend_budget(backend, max_new_tokens, context_tokens)
    with open(log_path, "a", encoding="utf-8") as log:
        for condition in CONDITIONS:
            todo = [it for it in items if (condition, it["id"]) not in done]
            if not todo:
                continue
            if condition == "with_rag":
                hits = retriever.search([it["question"] for it in todo], k=k, mode=mode)
                prompts = [
                    rag_prompt(it["question"], [h.passage.text for h in hs], budget, count)
                    for it, hs in zip(todo, hits)
                ]
            else:
                prompts = [rag_prompt(it["question"], []) for it in todo]
            bar = tqdm(total=len(todo), desc=f"generating ({condition})", unit="answer")

            def keep(i, completion, todo=todo, condition=condition, bar=bar):
                rec = {"condition": condition, "id": todo[i]["id"], "answer": completion.text.strip()}
                log.write(json.dumps(rec, ensure_ascii=False) + "\n")
                log.flush()
                done[(condition, rec["id"])] = rec["answer"]
                bar.update(1)

            backend.complete(prompts, max_new_tokens=max_new_tokens, temperature=0.0, on_result=keep)
            bar.close()
    return {c: {it["id"]: done[(c, it["id"])] for it in items} for c in CONDITIONS}


def score_table(
    items: list[dict], answers: dict[str, dict[str, str]], bertscore_model: str, bertscore_layers: int | None
) -> dict:
    """BERTScore precision per macro-category and condition, with the change in percent."""
    from imb_tools.metrics.bertscore import BertScorer

    scorer = BertScorer(bertscore_model, bertscore_layers)
    refs = [it["reference"] for it in items]
    per_item = {
        c: scorer.score([answers[c][it["id"]] for it in items], refs)["precision_items"] for c in CONDITIONS
    }
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(it["macro_category"], []).append(i)
    groups["All"] = list(range(len(items)))
    table = {}
    for name, idx in groups.items():
        without = sum(per_item["without_rag"][i] for i in idx) / len(idx)
        with_rag = sum(per_item["with_rag"][i] for i in idx) / len(idx)
        table[name] = {
            "n": len(idx),
            "without_rag": round(without, 4),
            "with_rag": round(with_rag, 4),
            "change_pct": round(100 * (with_rag - without) / without, 2) if without else None,
        }
    return table


def format_table(table: dict) -> str:
    """Markdown in the layout of the paper's Table 7."""
    lines = ["| Macro-category | n | w/o RAG | with RAG | Change (%) |", "|---|---|---|---|---|"]
    for name, row in table.items():
        change = "n/a" if row["change_pct"] is None else f"{row['change_pct']:+.2f}"
        lines.append(f"| {name} | {row['n']} | {row['without_rag']:.4f} | {row['with_rag']:.4f} | {change} |")
    return "\n".join(lines)
