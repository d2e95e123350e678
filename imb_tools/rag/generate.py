"""Answers with retrieved context: `imb rag answer` and the with-RAG half of `imb rag compare`.

The prompt is the IMB-QA task's own (lm_eval_tasks/imb_qa/utils.format_prompt)
with the top-k passages as its context, so `imb rag answer`, `imb rag
compare` and the lm-eval task `imb_qa_rag` ask the model the same thing.
Passages are cut to fit the model's context: a prompt that overflows would
be truncated from the left by the backend and lose the instruction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

DEFAULT_CONTEXT_TOKENS = 1500
CHARS_PER_TOKEN = 4  # the estimate used when the model's tokenizer is not at hand
MIN_CUT_TOKENS = 32  # a shorter tail of a passage says nothing useful


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def fit_context(
    passages: Sequence[str], max_tokens: int, count: Callable[[str], int] = estimate_tokens
) -> str:
    """Numbered passages, best first, within `max_tokens`; the last one that overflows is cut."""
    blocks: list[str] = []
    used = 0
    for i, text in enumerate(passages, 1):
        block = f"[{i}] {' '.join(text.split())}"
        n = count(block)
        if used + n <= max_tokens:
            blocks.append(block)
            used += n
            continue
        room = max_tokens - used
        if room >= MIN_CUT_TOKENS:
            cut = int(len(block) * room / n)
            while cut > 0 and count(block[:cut] + " …") > room:
                cut = int(cut * 0.9)
            if cut > 0:
                blocks.append(block[:cut].rstrip() + " …")
        break
    return "\n\n".join(blocks)


def rag_prompt(
    question: str,
    passages: Sequence[str],
    max_tokens: int = DEFAULT_CONTEXT_TOKENS,
    count: Callable[[str], int] = estimate_tokens,
) -> str:
    from lm_eval_tasks.imb_qa.utils import format_prompt

    context = fit_context(passages, max_tokens, count) if passages else None
    return format_prompt(question, context)


def context_budget(
    tokenizer=None, limit: int | None = None, max_new_tokens: int = 256, requested: int | None = None
) -> tuple[int, Callable[[str], int]]:
    """Tokens left for passages, and how to count them.

    With the model's tokenizer: exact counts, and when its context length is
    known, at most half of what the answer leaves (the rest is for the
    instruction and the question). Without: the requested budget, counted by
    the character estimate.
    """
    budget = requested or DEFAULT_CONTEXT_TOKENS
    if tokenizer is None:
        return budget, estimate_tokens
    if limit is None and getattr(tokenizer, "model_max_length", 0) and tokenizer.model_max_length < 1e6:
        limit = int(tokenizer.model_max_length)
    if limit:
        budget = min(budget, max(0, (limit - max_new_tokens) // 2))

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return budget, count


def backend_budget(backend, max_new_tokens: int, requested: int | None = None):
    """context_budget for an imb_tools.llm backend: a local model's tokenizer and length, else estimates."""
    config = getattr(getattr(backend, "model", None), "config", None)
    return context_budget(
        getattr(backend, "tokenizer", None),
        getattr(config, "max_position_embeddings", None),
        max_new_tokens,
        requested,
    )


def answer_with_rag(
    backend,
    retriever,
    questions: Sequence[str],
    k: int = 5,
    mode: str = "dense",
    max_new_tokens: int = 256,
    context_tokens: int | None = None,
) -> list[dict]:
    """Retrieve, build prompts, generate: one record per question with its passages and answer."""
    budget, count = backend_budget(backend, max_new_tokens, context_tokens)
    hits = retriever.search(list(questions), k=k, mode=mode) if k > 0 else [[] for _ in questions]
    prompts = [rag_prompt(q, [h.passage.text for h in hs], budget, count) for q, hs in zip(questions, hits)]
    answers = backend.generate(prompts, max_new_tokens=max_new_tokens, temperature=0.0)
    return [
        {
            "question": q,
            "answer": a,
            "prompt": p,
            "passages": [
                {"id": h.passage.id, "score": round(h.score, 4), "macro_category": h.passage.macro_category}
                for h in hs
            ],
        }
        for q, a, p, hs in zip(questions, answers, prompts, hits)
    ]
