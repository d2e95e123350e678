"""The imb_qa_rag tasks' functions: IMB-QA with retrieved context, the same data, prompt
and metrics (imb_tools.evaluation.task_api) plus top-k passages, so the two tasks differ
only in the context. The one public module `lm_eval_tasks/imb_qa_rag/utils.py` imports:
the metrics are re-exported here. The loader retrieves once per split in
a batch (never per document) and stores the fitted context in a column,
`rag_context`. Settings come from `--metadata`:

    rag_index            index folder from `imb rag index` (required)
    rag_k                passages per question (default 5)
    rag_mode             dense | bm25 | hybrid (default dense)
    rag_context_tokens   token budget for the passages (default 1500)
    rag_embed_backend    embedding backend for queries (default: the index's)
    rag_fewshot_items    validation items given context, for few-shot (default 10)

With `--model hf --model_args pretrained=...`, lm-eval passes the model args
as metadata too: the passages are then counted with the model's tokenizer
and fitted to its context length; otherwise by a 4-characters-per-token
estimate.
"""

from __future__ import annotations

import functools

from imb_tools.evaluation.prompts import format_prompt
from imb_tools.evaluation.tasks import QA_MAX_GEN_TOKS
from imb_tools.evaluation.task_api import (  # noqa: F401  (the task folder takes the metrics from here too)
    agg_bertscore_f1,
    agg_bertscore_precision,
    agg_bertscore_recall,
    agg_bleu,
    doc_to_target,
    load_qa,
    process_results,
)


DEFAULT_FEWSHOT_ITEMS = 10


@functools.lru_cache(maxsize=2)
def _retriever(index_dir: str, backend: str | None):
    """One loaded index and query embedder per process, shared by the ten subtasks."""
    from imb_tools.rag.index import load_index
    from imb_tools.rag.retrieve import Retriever

    index = load_index(index_dir)
    return Retriever.from_index(index, index.query_embedder(backend, show_progress=False))


@functools.lru_cache(maxsize=2)
def _budget(pretrained: str | None, requested: int | None):
    from imb_tools.rag.generate import context_budget

    if not pretrained:
        return context_budget(requested=requested)
    try:
        import transformers

        tokenizer = transformers.AutoTokenizer.from_pretrained(pretrained)
        limit = getattr(transformers.AutoConfig.from_pretrained(pretrained), "max_position_embeddings", None)
    except (OSError, ValueError):  # e.g. an API model name: fall back to the estimate
        return context_budget(requested=requested)
    return context_budget(tokenizer, limit, QA_MAX_GEN_TOKS, requested)


def _with_context(ds, metadata: dict):
    from imb_tools.rag.generate import fit_context

    retriever = _retriever(str(metadata["rag_index"]), metadata.get("rag_embed_backend"))
    k = int(metadata.get("rag_k") or 5)
    requested = int(metadata["rag_context_tokens"]) if metadata.get("rag_context_tokens") else None
    budget, count = _budget(metadata.get("pretrained"), requested)
    hits = (
        retriever.search(list(ds["question"]), k=k, mode=str(metadata.get("rag_mode") or "dense"))
        if len(ds)
        else []
    )
    contexts = [fit_context([h.passage.text for h in hs], budget, count) for hs in hits]
    return ds.add_column("rag_context", contexts)


def load_qa_rag(task_dir, macro_category: str | None = None, categories_file: str | None = None, **metadata):
    """`custom_dataset`: imb_qa's data with `rag_context` added to test and few-shot items."""
    from imb_tools.infra.errors import ImbError

    if not metadata.get("rag_index"):
        raise ImbError('imb_qa_rag needs an index: --metadata \'{"rag_index": "DIR"}\' (see `imb rag index`)')
    dsd = load_qa(task_dir, macro_category, categories_file, **metadata)
    shots = int(metadata.get("rag_fewshot_items") or DEFAULT_FEWSHOT_ITEMS)
    dsd["validation"] = dsd["validation"].select(range(min(shots, len(dsd["validation"]))))
    for split in ("test", "validation"):
        dsd[split] = _with_context(dsd[split], metadata)
    return dsd


def qa_rag_doc_to_text(doc) -> str:
    return format_prompt(doc["question"], doc.get("rag_context") or None)
