"""`imb rag compare`: the paper's Table 7 for any model.

The same test questions answered without and with the top-k passages,
scored by BERTScore precision against the reference answers, per
macro-category, with the change in percent. Every answer goes to
`imb_tools.llm.cache`'s fsynced cache as it finishes, keyed by model, settings
and prompt, so an interrupted run resumes without redoing (or duplicating) any
answer, and a run with other settings never reuses one.
"""

from __future__ import annotations

from pathlib import Path

from imb_tools.data.sampling import per_group_in_hash_order
from imb_tools.infra.errors import ImbError
from imb_tools.rag.knowledge_base import passages_from_split

CONDITIONS = ("without_rag", "with_rag")
SCORED_SPLIT = "test"


def test_items(dataset, per_macro: int) -> list[dict]:
    """Test questions, at most `per_macro` per macro-category in hash order (the paper used ~2,000)."""
    if SCORED_SPLIT not in dataset:
        raise ImbError(f"the dataset has no rows in its '{SCORED_SPLIT}' split: nothing to compare")
    ds = dataset[SCORED_SPLIT]
    questions = list(ds["question"])
    passages = passages_from_split(ds)
    groups = per_group_in_hash_order([p.id for p in passages], [p.macro_category for p in passages], per_macro)
    items = [
        {"id": passages[i].id, "question": questions[i], "reference": passages[i].text, "macro_category": macro}
        for macro, rows in groups.items()
        for i in rows
    ]
    if not items:
        raise ImbError("the test split is empty: nothing to compare")
    return items


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

    from imb_tools.llm.cache import GenerationCache, cache_key

    out_dir.mkdir(parents=True, exist_ok=True)
    budget, count = backend_budget(backend, max_new_tokens, context_tokens)
    answers: dict[str, dict[str, str]] = {c: {} for c in CONDITIONS}
    # Keyed by model, settings and the exact prompt: a rerun with another model, k or
    # retrieval mode never reuses an answer that belongs to different settings.
    settings = f"rag-compare|max_new_tokens={max_new_tokens}"
    with GenerationCache(out_dir / "generations.jsonl") as cache:
        for condition in CONDITIONS:
            if condition == "with_rag":
                hits = retriever.search([it["question"] for it in items], k=k, mode=mode)
                prompts = [
                    rag_prompt(it["question"], [h.passage.text for h in hs], budget, count)
                    for it, hs in zip(items, hits)
                ]
            else:
                prompts = [rag_prompt(it["question"], []) for it in items]
            keys = [cache_key(backend.name, settings, p) for p in prompts]
            todo = [i for i, key in enumerate(keys) if key not in cache]
            if todo:
                bar = tqdm(total=len(todo), desc=f"generating ({condition})", unit=" answers")

                def keep(j, completion, todo=todo, keys=keys, condition=condition, bar=bar):
                    i = todo[j]
                    cache.put(keys[i], {"condition": condition, "id": items[i]["id"],
                                        "answer": completion.text.strip()})
                    bar.update(1)

                backend.complete([prompts[i] for i in todo], max_new_tokens=max_new_tokens, temperature=0.0,
                                 on_result=keep)
                bar.close()
            answers[condition] = {it["id"]: cache.get(key)["answer"] for it, key in zip(items, keys)}
    return answers


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
    lines = ["| Macro-category | n | BERTScore P w/o RAG | BERTScore P with RAG | Change (%) |",
             "|---|---|---|---|---|"]
    for name, row in table.items():
        change = "n/a" if row["change_pct"] is None else f"{row['change_pct']:+.2f}"
        lines.append(f"| {name} | {row['n']} | {row['without_rag']:.4f} | {row['with_rag']:.4f} | {change} |")
    return "\n".join(lines)
