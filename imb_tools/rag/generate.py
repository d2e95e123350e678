"""Answers with retrieved context: `imb rag answer` and the with-RAG half of `imb rag compare`.

The prompt is the IMB-QA task's own (imb_tools.evaluation.prompts.format_prompt)
with the top-k passages as its context, so `imb rag answer`, `imb rag
compare` and the lm-eval task `imb_qa_rag` ask the model the same thing.
Passages are cut to fit the model's context: a prompt that overflows would
be truncated from the left by the backend and lose the instruction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# Fitting passages to a model's context is the lm-eval task's code (imb_qa_rag), one copy.
from lm_eval_tasks.imb_common.rag import (  # noqa: F401  (named here for the toolkit)
    CHARS_PER_TOKEN,
    DEFAULT_CONTEXT_TOKENS,
    ELLIPSIS,
    MIN_CUT_TOKENS,
    SEPARATOR,
    context_budget,
    estimate_tokens,
    fit_context,
)


def rag_prompt(
    question: str,
    passages: Sequence[str],
    max_tokens: int = DEFAULT_CONTEXT_TOKENS,
    count: Callable[[str], int] = estimate_tokens,
) -> str:
    from imb_tools.evaluation.prompts import format_prompt

    context = fit_context(passages, max_tokens, count) if passages else None
    return format_prompt(question, context)


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
