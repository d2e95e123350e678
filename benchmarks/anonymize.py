"""Answers per second of `imb anonymize`'s default path against Presidio's pattern recognizers.

Texts: the bundled sample's original answers (`testo_risposta`, forum length,
about 350-600 characters), cycled to `--size` texts. Ours: the default
detector (Presidio's Italian recognizers plus the project's, no NER model,
no LLM check) and placeholder replacement. Baseline: Presidio's analyzer on
the same blank Italian spaCy pipeline with only its predefined pattern
recognizers for Italian (detection only, so the baseline does less work).
Also printed: each detector's share of our time (spaCy tokenization, each
recognizer, replacement). Last line: one JSON object; `ratio` is ours over
baseline in answers per second (above 1 means faster).

Beside speed, quality on the synthetic held-out evaluation set
(`imb_tools.preprocess.anonymize_eval`, `--eval-size` answers, seed 2026,
a seed not looked at while the detector was written), under the place
policy `--places` (replace, the default, or care): share of answers with
a person's name left, with any PII left, recall per type and per shape
(issue 21's shapes: lower-case signatures, unknown surnames, half names,
each title, greetings, each place form), greetings that name nobody kept,
and the share of clean answers left byte-identical; measured from the
generator's ground truth, not by the detector. And the process's peak
memory (max RSS).

    python benchmarks/anonymize.py --size 400 --eval-size 20000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections import defaultdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def forum_texts(size: int) -> list[str]:
    from imb_tools.sample_data import QA_SAMPLE

    answers = [r["testo_risposta"] for r in json.loads(QA_SAMPLE.read_text("utf-8")) if r.get("testo_risposta")]
    forum = [a for a in answers if 350 <= len(a) <= 600] or answers
    return [forum[i % len(forum)] for i in range(size)]


def baseline_analyzer():
    """Presidio's analyzer with only its predefined pattern recognizers for Italian."""
    from presidio_analyzer import AnalyzerEngine, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    from imb_tools.preprocess.anonymize import _blank_italian_engine
    from imb_tools.preprocess.anonymize_recognizers import OfflineEmailRecognizer

    engine = _blank_italian_engine()
    registry = RecognizerRegistry(supported_languages=["it"])
    registry.load_predefined_recognizers(languages=["it"], nlp_engine=engine)
    kept = []
    for r in registry.recognizers:
        if not isinstance(r, PatternRecognizer):
            continue
        # same recognizer, but tldextract reads its bundled suffix list instead of the network
        kept.append(OfflineEmailRecognizer(supported_language="it") if isinstance(r, EmailRecognizer) else r)
    registry.recognizers = kept
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["it"]), [r.name for r in kept]


def rates(systems: dict, texts: list[str], repeats: int) -> dict[str, float]:
    """Best answers/second per system; runs alternate between systems so load changes on a
    shared machine hit both alike."""
    best = {name: float("inf") for name in systems}
    for _ in range(repeats):
        for name, fn in systems.items():
            start = time.perf_counter()
            fn(texts)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(texts) / seconds for name, seconds in best.items()}


def detector_shares(anonymizer, texts: list[str]) -> dict[str, float]:
    """Share of our time per step, timed inside a real run: tokenization, each recognizer,
    the rest of the analyzer (context scoring, overlaps), replacement."""
    analyzer = anonymizer.analyzer
    times: dict[str, float] = defaultdict(float)

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times[name] += time.perf_counter() - t0

        return wrapper

    originals = [(rec, rec.analyze) for rec in analyzer.registry.recognizers]
    for rec, fn in originals:
        rec.analyze = timed(rec.name, fn)
    engine_fn, replace_fn = analyzer.nlp_engine.process_text, anonymizer.replace
    analyzer.nlp_engine.process_text = timed("spacy_tokenizer", engine_fn)
    anonymizer.replace = timed("replacement", replace_fn)
    try:
        start = time.perf_counter()
        anonymizer.anonymize_batch(texts)
        total = time.perf_counter() - start
    finally:
        for rec, fn in originals:
            rec.analyze = fn
        analyzer.nlp_engine.process_text, anonymizer.replace = engine_fn, replace_fn
    times["analyzer_rest"] = max(0.0, total - sum(times.values()))
    return {k: round(v / total, 4) for k, v in sorted(times.items(), key=lambda kv: -kv[1])}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400, help="number of answers (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per system, alternated; the best counts")
    parser.add_argument("--eval-size", type=int, default=2000, help="synthetic held-out answers for recall (0: skip)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the synthetic set (default: %(default)s)")
    parser.add_argument("--places", choices=("replace", "care"), default="replace", help="place policy (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

    from imb_tools.preprocess.anonymize import Anonymizer

    texts = forum_texts(args.size)
    ours = Anonymizer(place_policy=args.places)
    base, base_names = baseline_analyzer()
    ours.anonymize_batch(texts[:20])  # warm-up: tldextract snapshot, spaCy vocabulary
    for t in texts[:20]:
        base.analyze(t, language="it")

    measured = rates(
        {"ours": ours.anonymize_batch, "baseline": lambda ts: [base.analyze(t, language="it") for t in ts]},
        texts,
        args.repeats,
    )
    ours_rate, base_rate = measured["ours"], measured["baseline"]
    shares = detector_shares(ours, texts[: min(len(texts), 200)])
    found = sum(1 for r in ours.anonymize_batch(texts) if r.found)
    quality = {}
    if args.eval_size:
        from imb_tools.preprocess.anonymize_eval import evaluate, generate
        from imb_tools.preprocess.anonymize_gazetteer import measuring_without_heldout

        cases = generate(args.eval_size, seed=args.seed)
        start = time.perf_counter()
        with measuring_without_heldout():  # the detector without the entries the set is drawn from
            quality = evaluate(ours, cases, place_policy=args.places)
        quality["answers_per_s"] = round(len(cases) / (time.perf_counter() - start), 1)
        quality["seed"] = args.seed
        quality["misses"] = [{k: v for k, v in m.items() if k != "output"} for m in quality["misses"][:5]]
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "benchmark": "anonymize",
        "texts": len(texts),
        "avg_chars": round(sum(map(len, texts)) / len(texts), 1),
        "ours_answers_per_s": round(ours_rate, 1),
        "baseline_answers_per_s": round(base_rate, 1),
        "ratio": round(ours_rate / base_rate, 3),
        "target_answers_per_s": 200,
        "meets_target": ours_rate >= 200,
        "texts_with_pii_share": round(found / len(texts), 4),
        "place_policy": args.places,
        "synthetic_heldout": quality,
        "peak_rss_mb": round(peak_mb, 1),
        "baseline_recognizers": base_names,
        "detector_time_share": shares,
        "cpu_count": os.cpu_count(),
    }
    print(f"ours (default path, detect + replace): {ours_rate:.1f} answers/s")
    print(f"baseline (Presidio pattern recognizers, detect only): {base_rate:.1f} answers/s")
    for name, share in shares.items():
        print(f"  {name:28s} {share:6.1%}")
    if quality:
        print(f"synthetic held-out set ({quality['answers']} answers, {quality['answers_with_pii']} with PII, seed {args.seed}, "
              f"places: {args.places}): a person's name left in {quality['name_residual']:.2%} of "
              f"{quality['answers_with_name']} answers with one; any PII left in {quality['answer_residual']:.2%}; "
              f"recall {quality['recall_per_type']}; clean answers unchanged {quality['clean_precision']:.2%} "
              f"({quality['clean_changed']} of {quality['clean_answers']} changed); greetings without a name kept "
              f"{quality['greetings_without_name_kept']:.2%}")
        for shape, recall in quality["recall_per_shape"].items():
            print(f"  {shape:24s} recall {recall:7.2%}  ({quality['items_per_shape'][shape]} items)")
        for shape, kept in quality["kept_per_shape"].items():
            print(f"  {shape:24s} kept   {kept:7.2%}")
        if args.places == "care":
            print(f"  care-context towns kept {quality['care_places_kept']:.2%} of {quality['care_places']}")
    print(f"peak memory (max RSS, both systems loaded): {peak_mb:.0f} MB")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
