"""Answers with retrieved context: `imb rag answer` and the with-RAG half of `imb rag compare`.

The prompt is the IMB-QA task's own (imb_tools.evaluation.prompts.format_prompt)
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
SEPARATOR = "\n\n"  # between numbered passages
ELLIPSIS = " …"  # ends a passage that was cut


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def fit_context(
    passages: Sequence[str], max_tokens: int, count: Callable[[str], int] = estimate_tokens
) -> str:
    """Numbered passages, best first, whose joined text counts at most `max_tokens`.

    The joined text is what is counted (separators included, and a tokenizer
    may merge across a boundary), so the budget is exact; the first passage
    that does not fit whole is cut at the longest prefix that fits, or
    dropped when less than MIN_CUT_TOKENS would be left of it.
    """
    context = ""
    for i, text in enumerate(passages, 1):
        block = f"[{i}] {' '.join(text.split())}"
        prefix = context + SEPARATOR if context else ""
        if count(prefix + block) <= max_tokens:
            context = prefix + block
            continue
        if max_tokens - count(prefix) >= MIN_CUT_TOKENS:
            context = _cut_to_fit(prefix, block, max_tokens, count) or context
        break
    return context


def _cut_to_fit(prefix: str, block: str, max_tokens: int, count: Callable[[str], int]) -> str | None:
    """prefix + the longest head of `block` (cut at a space, ellipsis added) within max_tokens."""

    def fits(cut: int) -> bool:
        return count(prefix + block[:cut].rstrip() + ELLIPSIS) <= max_tokens

    lo, hi = 0, len(block)  # fits(lo) or lo == 0; not fits(hi), since the whole block did not fit
    while hi - lo > 1:  # token counts grow with the text, so fitting heads form a prefix range
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    cut = block.rfind(" ", 0, lo + 1)  # do not end inside a word
    cut = cut if cut > len(block.split(" ", 1)[0]) else lo
    while cut > 0 and not fits(cut):  # a tokenizer is not quite monotone: make sure
        cut -= 1
    return prefix + block[:cut].rstrip() + ELLIPSIS if cut > 0 else None


def rag_prompt(
    question: str,
    passages: Sequence[str],
    max_tokens: int = DEFAULT_CONTEXT_TOKENS,
    count: Callable[[str], int] = estimate_tokens,
) -> str:
    from imb_tools.evaluation.prompts import format_prompt

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
