"""Texts per second of `imb reformulate`'s generation paths against one-at-a-time generation.

Texts: the bundled sample's original answers (`testo_risposta`), cycled to
`--size`. Everything goes through `Reformulator` with a fresh on-disk cache
(fsync per record included), so the numbers are the real path's.

1. Server: an OpenAI-compatible echo server on 127.0.0.1 that takes
   `--latency` seconds per request (a stand-in for vLLM's per-request time).
   Ours: `--concurrency` requests in flight. Baseline: one request at a time.
2. Local transformers, the tiny Llama (so the model's speed is not what is
   measured): ours batched (`--batch-size`), baseline batch size 1.

Last line: one JSON object; `ratio` is ours over baseline for the server path
(texts per second, above 1 means faster), `ratio_local` for the local one.

    python benchmarks/reformulate.py --size 200
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sample_answers(size: int) -> list[str]:
    from imb_tools.sample_data import QA_SAMPLE

    answers = [r["testo_risposta"] for r in json.loads(QA_SAMPLE.read_text("utf-8")) if r.get("testo_risposta")]
    # A suffix keeps every text distinct, so the cache never short-cuts a repeat.
    return [f"{answers[i % len(answers)]} ({i})" for i in range(size)]


def texts_per_second(backend, texts: list[str], max_new_tokens: int) -> float:
    from imb_tools.llm.cache import GenerationCache
    from imb_tools.preprocess.reformulate import Reformulator

    with tempfile.TemporaryDirectory() as tmp, GenerationCache(Path(tmp) / "cache.jsonl") as cache:
        ref = Reformulator(backend, cache, max_new_tokens=max_new_tokens, progress=False)
        start = time.perf_counter()
        ref(texts)
        elapsed = time.perf_counter() - start
    assert ref.stats["generated"] == len(texts)
    return len(texts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="texts per run (default: %(default)s)")
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per request")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (ours)")
    parser.add_argument("--batch-size", type=int, default=8, help="local batch size (ours)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()

    from imb_tools.llm import make_backend
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the test fixture server
    from echo_server import EchoServer
    from imb_tools.tiny_model import make_tiny_llama

    texts = sample_answers(args.size)
    with EchoServer(delay=args.latency) as server:
        spec = f"openai:echo@{server.url}"
        ours = texts_per_second(make_backend(spec, max_concurrency=args.concurrency), texts, args.max_new_tokens)
        base = texts_per_second(make_backend(spec, max_concurrency=1), texts, args.max_new_tokens)
        in_flight = server.max_in_flight

    local_texts = texts[: max(8, args.size // 4)]
    with tempfile.TemporaryDirectory() as tmp:
        tiny = str(make_tiny_llama(Path(tmp) / "tiny"))
        local = texts_per_second(make_backend(tiny, batch_size=args.batch_size), local_texts, args.max_new_tokens)
        local_base = texts_per_second(make_backend(tiny, batch_size=1), local_texts, args.max_new_tokens)

    print(f"server ({args.latency * 1000:.0f} ms/request): {ours:.1f} texts/s with {args.concurrency} in flight "
          f"(max seen {in_flight}), {base:.1f} texts/s one at a time")
    print(f"local tiny Llama, {len(local_texts)} texts: {local:.1f} texts/s batched x{args.batch_size}, "
          f"{local_base:.1f} texts/s unbatched")
    print(json.dumps({
        "size": args.size, "latency_s": args.latency, "concurrency": args.concurrency,
        "server_texts_per_s": round(ours, 2), "server_sequential_texts_per_s": round(base, 2),
        "local_batched_texts_per_s": round(local, 2), "local_unbatched_texts_per_s": round(local_base, 2),
        "ratio": round(ours / base, 2), "ratio_local": round(local / local_base, 2),
    }))


if __name__ == "__main__":
    main()
