"""Benchmark: `imb build qa` against `datasets.load_dataset("json")` + `to_parquet`.

Generates a synthetic raw IMB-QA file with the paper's length distribution
(Table 4: question 1,056.77 characters on average, max 13,390; answer 352.05,
max 9,817) as a JSON array, JSON Lines or CSV, then times both pipelines on the
same file, each in its own subprocess; peak memory is the largest sum of the
resident sets of the process and its descendants (the build's workers). Runs at
N/4 and N, to show that memory stays flat. The last line is one JSON object;
`ratio` is our throughput over the baseline's at N (above 1 means faster).

    python benchmarks/build_qa.py --rows 20000       # a minute
    python benchmarks/build_qa.py                     # full size, 782,644 rows (~1 GB)
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("dolore paziente medico visita esame sangue pressione farmaco terapia cuore "
         "stomaco testa febbre tosse giorni settimane anni controllo specialista ecografia "
         "risonanza analisi valori sintomi diagnosi cura effetti collaterali dosaggio "
         "è più già perché così però città età attività").split()


def lognormal_lengths(rng, n: int, mean: float, maximum: int):
    sigma = 0.8
    mu = math.log(mean) - sigma**2 / 2
    return [max(20, min(maximum, int(rng.lognormvariate(mu, sigma)))) for _ in range(n)]


def make_text(rng, length: int) -> str:
    words = []
    size = 0
    while size < length:
        w = rng.choice(WORDS)
        words.append(w)
        size += len(w) + 1
    return (" ".join(words))[:length].strip() + "."


FORMATS = ("json", "jsonl", "csv")
FIELDS = ["ID", "URL", "data_domanda", "data_risposta", "autore_domanda", "autore_risposta",
          "testo_domanda", "testo_risposta", "testo_risposta_riformulata", "categoria"]


def generate(path: Path, rows: int, seed: int = 0, fmt: str = "json") -> None:
    """The same synthetic rows as a JSON array (one record a line), JSON Lines or CSV."""
    import csv
    import random

    from imb_tools.data.categories import QA_CATEGORIES

    rng = random.Random(seed)
    q_len = lognormal_lengths(rng, rows, 1056.77, 13_390)
    a_len = lognormal_lengths(rng, rows, 352.05, 9_817)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f) if fmt == "csv" else None
        if fmt == "json":
            f.write("[\n")
        elif fmt == "csv":
            writer.writerow(FIELDS)
        for i in range(rows):
            cat = QA_CATEGORIES[i % len(QA_CATEGORIES)]
            rec = {
                "ID": i + 1,
                "URL": f"https://www.medicitalia.it/consulti/{cat.lower().replace(' ', '-')}/{i + 1}-x.html",
                "data_domanda": "2023-01-01", "data_risposta": "2023-01-02",
                "autore_domanda": "utente", "autore_risposta": "Dott. Nome Cognome",
                "testo_domanda": make_text(rng, q_len[i]),
                "testo_risposta": make_text(rng, a_len[i]),
                "testo_risposta_riformulata": make_text(rng, a_len[i]),
                "categoria": cat,
            }
            if fmt == "json":
                f.write(("," if i else "") + json.dumps(rec, ensure_ascii=False) + "\n")
            elif fmt == "jsonl":
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            else:
                writer.writerow([rec[k] for k in FIELDS])
        if fmt == "json":
            f.write("]\n")


OURS = """
import sys, imb_qa
imb_qa.build(sys.argv[1], sys.argv[2], progress=False)
"""
BASELINE = """
import sys, datasets
datasets.disable_progress_bars()
loader = "csv" if sys.argv[1].endswith(".csv") else "json"
ds = datasets.load_dataset(loader, data_files=sys.argv[1], split="train", cache_dir=sys.argv[3])
ds.to_parquet(sys.argv[2] + ".parquet")
"""


def measure(code: str, raw: Path, out: Path, cache: Path) -> dict:
    """Wall time and peak memory of one run in a child process. The peak is the largest sum of
    the proportional set sizes (PSS: a page shared by n processes counts 1/n in each) of the
    child and all its descendants (the build's forked workers share the parent's libraries),
    sampled every 50 ms with psutil."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, str(raw), str(out), str(cache)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_full_info().pss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"run failed: {proc.stderr.read()[-2000:]}")
    return {"seconds": seconds, "peak_rss_mib": peak / 2**20}  # PSS sum, see above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=782_644, help="rows at full size N (default: the paper's)")
    parser.add_argument("--format", choices=[*FORMATS, "all"], default="all",
                        help="raw format to benchmark (default: all three)")
    parser.add_argument("--no-quarter", action="store_true", help="skip the N/4 run (memory flatness)")
    parser.add_argument("--workdir", help="where to write the synthetic files (default: a temp folder)")
    args = parser.parse_args()
    formats = FORMATS if args.format == "all" else (args.format,)
    sizes = [("full", args.rows)] if args.no_quarter else [("quarter", max(1, args.rows // 4)), ("full", args.rows)]
    results: dict = {f: {} for f in formats}
    with tempfile.TemporaryDirectory(prefix="imb-bench-", dir=args.workdir) as tmp:
        tmp = Path(tmp)
        for fmt in formats:
            for label, rows in sizes:
                raw = tmp / f"IMB-QA.{rows}.{fmt}"
                t0 = time.perf_counter()
                generate(raw, rows, fmt=fmt)
                size_mb = raw.stat().st_size / 1e6
                print(f"[{fmt} {label}] generated {rows:,} rows, {size_mb:,.0f} MB in "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)
                ours = measure(OURS, raw, tmp / f"ours-{fmt}-{rows}", tmp / "cache-ours")
                base = measure(BASELINE, raw, tmp / f"base-{fmt}-{rows}", tmp / f"cache-base-{fmt}-{rows}")
                for name, r in (("imb build", ours), ("load_dataset+to_parquet", base)):
                    r["rows_per_s"] = round(rows / r["seconds"], 1)
                    print(f"[{fmt} {label}] {name:<24} {r['seconds']:8.1f} s  {r['rows_per_s']:>10,.0f} rows/s  "
                          f"peak {r['peak_rss_mib']:,.0f} MiB", flush=True)
                results[fmt][label] = {"rows": rows, "mb": round(size_mb, 1), "ours": ours, "baseline": base}
                raw.unlink()
                for p in tmp.iterdir():  # free the disk between runs
                    if p.is_dir():
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        p.unlink()
    summary = {"benchmark": "build_qa", "rows": args.rows, "formats": {}}
    for fmt, by_size in results.items():
        full = by_size["full"]
        summary["formats"][fmt] = {
            "mb": full["mb"],
            "ours_rows_per_s": full["ours"]["rows_per_s"],
            "baseline_rows_per_s": full["baseline"]["rows_per_s"],
            "ours_peak_mib": {k: round(v["ours"]["peak_rss_mib"]) for k, v in by_size.items()},
            "baseline_peak_mib": {k: round(v["baseline"]["peak_rss_mib"]) for k, v in by_size.items()},
            "ratio": round(full["ours"]["rows_per_s"] / full["baseline"]["rows_per_s"], 3),
        }
    summary["ratio"] = {fmt: v["ratio"] for fmt, v in summary["formats"].items()}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
