"""`imb preprocess`: clean -> anonymize -> reformulate -> categorize, before `imb build`.

Each step is optional and calls the step's own public functions, so the chain
and the single commands never disagree. Cleaning and anonymization run as
`datasets.map` (batched, `num_proc` worker processes: they are CPU-bound
pure functions of a batch). Reformulation runs as a batched `map` in this
process, because the LLM backend does its own batching (local model) or
bounded concurrency (server), and its cache is one locked file.
Categorization fits one topic model on the whole corpus, so it is not a map.

Order, deliberately not the paper's: the paper reformulated with an LLM and
then anonymized (27% -> 7% -> 1% of answers with PII); here anonymization
runs before any LLM step, so no personal data is ever sent to an LLM server
(a hosted vLLM or any OpenAI-compatible endpoint). The report's
`pii_by_step` gives the share of answers with PII after each step (original,
anonymized, reformulated), counted by the anonymizer's detector, beside that
detector's recall on the synthetic held-out set. Cleaning quarantines
records (with a reason); the report's counts add up: records in = records
out + quarantined.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from imb_tools.infra.errors import ImbError

_ROW = "__imb_row"
_REASON = "__imb_clean_reason"
_REPORT = "__imb_step_report"


def _sum_reports(reports: list[dict]) -> dict:
    """Add up per-batch reports: numbers are summed, anything else is taken from the first."""
    total: dict = {}
    for rep in reports:
        for key, value in rep.items():
            if isinstance(value, dict):
                total[key] = _sum_reports([total.get(key, {}), value])
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and key != "min_words":
                total[key] = total.get(key, 0) + value
            else:
                total.setdefault(key, value)
    return total


def _clean_batch(batch: dict, q_col: str, a_col: str, min_words: int) -> dict:
    """Clean one batch with `clean.clean_records`; keep row order; mark quarantined rows."""
    from imb_tools.preprocess.clean import clean_records

    keys = list(batch)
    records = [dict(zip(keys, values)) for values in zip(*(batch[k] for k in keys))]
    kept, quarantined, report = clean_records(records, q_col, a_col, min_words)
    rows = [(r, None) for r in kept] + [(r, r.pop("reason")) for r in quarantined]
    rows.sort(key=lambda item: item[0][_ROW])
    out = {k: [r[k] for r, _ in rows] for k in keys}
    out[_REASON] = [reason for _, reason in rows]
    out[_REPORT] = [json.dumps(report)] + [None] * (len(rows) - 1)
    return out


_ANONYMIZERS: dict = {}


def _anonymize_batch(batch: dict, columns: list[str], mode: str, ner_model, llm_check) -> dict:
    """Anonymize `columns` of one batch; one Anonymizer per worker process, built on first use."""
    from imb_tools.preprocess.anonymize import Anonymizer, pii_summary

    key = (mode, ner_model, llm_check)
    if key not in _ANONYMIZERS:
        _ANONYMIZERS[key] = Anonymizer(mode=mode, ner_model=ner_model, llm_check=llm_check)
    anonymizer = _ANONYMIZERS[key]
    out: dict = {}
    report: dict = {}
    for col in columns:
        texts = batch[col]
        bad = next((t for t in texts if t is not None and not isinstance(t, str)), None)
        if bad is not None:
            raise ImbError(f"column {col!r}: expected text, got {type(bad).__name__}")
        results = anonymizer.anonymize_batch(texts)
        out[col] = [r.text for r in results]
        before = [r.found for r in results]
        after = [anonymizer.remaining(r) for r in results]
        report[col] = {"texts": len(texts), "before": pii_summary(before), "after": pii_summary(after)}
    out[_REPORT] = [json.dumps(report)] + [None] * (len(batch[columns[0]]) - 1)
    return out


def _pii_batch(batch: dict, column: str, mode: str, ner_model) -> dict:
    """Count PII in `column` without changing it (the reformulated answers, after the LLM)."""
    from imb_tools.preprocess.anonymize import Anonymizer, pii_summary

    key = (mode, ner_model, None)
    if key not in _ANONYMIZERS:
        _ANONYMIZERS[key] = Anonymizer(mode=mode, ner_model=ner_model)
    anonymizer = _ANONYMIZERS[key]
    texts = batch[column]
    spans = [anonymizer.detect(t) if isinstance(t, str) else [] for t in texts]
    report = {column: {"texts": len(texts), "before": pii_summary(spans), "after": pii_summary([])}}
    return {_REPORT: [json.dumps(report)] + [None] * (len(texts) - 1)}


def _pii_totals(batch_reports: list[dict]) -> dict:
    """Per column: PII counts summed over batches, shares recomputed over all texts."""
    summed = _sum_reports(batch_reports)
    for col_report in summed.values():
        n = col_report["texts"]
        for when in ("before", "after"):
            part = col_report[when]
            part["share"] = round(part["texts_with_pii"] / n, 4) if n else 0.0
            for per in part.get("per_type", {}).values():
                per["share"] = round(per["texts"] / n, 4) if n else 0.0
    return summed


def _with_text_columns(features, *names):
    """The map's output features: the input's, plus helper columns that are strings (or null)."""
    import datasets

    out = datasets.Features(dict(features))
    for name in names:
        out[name] = datasets.Value("string")
    return out


def _pop_reports(ds):
    reports = [json.loads(r) for r in ds[_REPORT] if r is not None]
    return ds.remove_columns(_REPORT), reports


def preprocess(
    in_path,
    out_path,
    report_dir=None,
    question_column: str = "testo_domanda",
    answer_column: str = "testo_risposta",
    clean: bool = True,
    min_words: int = 5,
    anonymize: bool = True,
    anonymize_columns: list[str] | None = None,
    anonymize_mode: str = "placeholder",
    ner_model: str | None = None,
    llm_check: str | None = None,
    reformulate_model: str | None = None,
    backend_kwargs: dict | None = None,
    cache_path=None,
    max_new_tokens: int = 512,
    categorize: bool = False,
    embedding_model: str | None = None,
    category_column: str | None = None,
    num_proc: int = 1,
    batch_size: int = 64,
    quarantine_path=None,
    progress: bool = True,
    replace_column: bool = False,
) -> dict:
    """Run the chosen steps on a JSONL/JSON/CSV/Parquet table; write table, quarantine, report."""
    from imb_tools.infra.tables import (
        read_table, require_columns, write_jsonl_records, write_table,
    )
    from imb_tools.infra.atomic import write_json_atomic

    if num_proc < 1 or batch_size < 1:
        raise ImbError("--num-proc and --batch-size must be at least 1")
    out_path = Path(out_path)
    report_dir = Path(report_dir) if report_dir else out_path.with_name(out_path.stem + ".report")
    quarantine_path = Path(quarantine_path) if quarantine_path else out_path.with_name(
        out_path.stem + ".quarantine.jsonl")
    cache_path = Path(cache_path) if cache_path else out_path.with_name(out_path.name + ".cache.jsonl")
    from imb_tools.infra.ownership import refuse_overwriting_input

    # never write over the only copy of the data, nor one output over another (defaults included)
    refuse_overwriting_input(in_path, out_path, quarantine_path, report_dir,
                             cache_path if reformulate_model else None)
    ds = read_table(in_path)
    if reformulate_model:  # before any step runs: an existing reformulated column is never lost silently
        from imb_tools.preprocess.reformulate import refuse_filled_column

        refuse_filled_column(ds, f"{answer_column}_riformulata", in_path, replace_column)
    needed = [question_column, answer_column] if (clean or reformulate_model) else []
    anonymize_columns = anonymize_columns or [question_column, answer_column]
    require_columns(ds, needed + (anonymize_columns if anonymize else []), in_path)
    workers = num_proc if len(ds) >= 2 * num_proc else None
    report: dict = {"input": str(in_path), "output": str(out_path), "records_in": len(ds), "steps": []}
    quarantined: list[dict] = []

    if clean:
        ds = ds.add_column(_ROW, list(range(len(ds))))
        ds = ds.map(_clean_batch, batched=True, batch_size=batch_size, num_proc=workers,
                    fn_kwargs={"q_col": question_column, "a_col": answer_column, "min_words": min_words},
                    features=_with_text_columns(ds.features, question_column, answer_column, _REASON, _REPORT),
                    desc="clean")
        ds, reports = _pop_reports(ds)
        bad = ds.filter(lambda r: r is not None, input_columns=[_REASON])
        quarantined = [{**{k: v for k, v in row.items() if k not in (_ROW, _REASON)}, "reason": row[_REASON]}
                       for row in bad]
        ds = ds.filter(lambda r: r is None, input_columns=[_REASON]).remove_columns([_ROW, _REASON])
        clean_report = _sum_reports(reports)
        clean_report.update(records_in=report["records_in"], records_out=len(ds),
                            quarantined=len(quarantined), min_words=min_words)
        report["clean"] = clean_report
        report["steps"].append("clean")

    if anonymize and len(ds):
        ds = ds.map(_anonymize_batch, batched=True, batch_size=batch_size, num_proc=workers,
                    fn_kwargs={"columns": anonymize_columns, "mode": anonymize_mode,
                               "ner_model": ner_model, "llm_check": llm_check},
                    features=_with_text_columns(ds.features, *anonymize_columns, _REPORT),
                    desc="anonymize")
        ds, reports = _pop_reports(ds)
        report["anonymize"] = {"mode": anonymize_mode, "ner_model": ner_model,
                               "llm_check": bool(llm_check), "columns": _pii_totals(reports)}
        report["steps"].append("anonymize")
        report["pii_by_step"] = {"column": answer_column, "measured_by": None}
        if answer_column in report["anonymize"]["columns"]:
            col = report["anonymize"]["columns"][answer_column]
            report["pii_by_step"].update(original=col["before"]["share"], anonymized=col["after"]["share"])

    if reformulate_model and len(ds):
        ds, report["reformulate"] = _reformulate(ds, answer_column, reformulate_model, backend_kwargs,
                                                 cache_path,
                                                 max_new_tokens)
        report["steps"].append("reformulate")
        out_col = report["reformulate"]["output_column"]
        counted = ds.map(_pii_batch, batched=True, batch_size=batch_size, num_proc=workers,
                         fn_kwargs={"column": out_col, "mode": anonymize_mode, "ner_model": ner_model},
                         remove_columns=ds.column_names, desc="count PII after reformulation")
        reformulated = _pii_totals([json.loads(r) for r in counted[_REPORT] if r is not None])[out_col]["before"]
        report["reformulate"]["pii"] = reformulated
        report.setdefault("pii_by_step", {"column": answer_column, "measured_by": None})["reformulated"] = reformulated["share"]

    if categorize and len(ds):
        from imb_tools.analysis.categorize import DEFAULT_EMBEDDING_MODEL, categorize_dataset

        ds, report["categorize"] = categorize_dataset(
            ds, report_dir / "categorize", column=question_column, category_column=category_column,
            model=embedding_model or DEFAULT_EMBEDDING_MODEL, progress=progress, source=in_path)
        report["steps"].append("categorize")

    if "pii_by_step" in report:
        from imb_tools.preprocess.anonymize import MEASURED_BY, Anonymizer, detector_recall

        report["pii_by_step"]["order"] = (
            "clean -> anonymize -> reformulate: anonymization comes before any LLM step, so no personal data reaches "
            "an LLM server (the paper reformulated first: 27% -> 7% -> 1%)")
        report["pii_by_step"]["measured_by"] = MEASURED_BY
        report["pii_by_step"]["detector_recall"] = detector_recall(Anonymizer(mode=anonymize_mode, ner_model=ner_model))
    report["records_out"] = len(ds)
    report["quarantined"] = len(quarantined)
    report["quarantine"] = str(quarantine_path)
    write_table(ds, out_path)
    write_jsonl_records(quarantined, quarantine_path)
    report_dir.mkdir(parents=True, exist_ok=True)
    report["report"] = str(write_json_atomic(report_dir / "preprocess.json", report))
    return report


def _reformulate(ds, column, model, backend_kwargs, cache_path, max_new_tokens):
    """Add `<column>_riformulata` and its flag column with a batched map in this process."""
    from imb_tools.llm import make_backend
    from imb_tools.llm.cache import GenerationCache
    from imb_tools.preprocess.reformulate import PROMPT_VERSION, Reformulator

    out_col, flag_col = f"{column}_riformulata", f"{column}_riformulata_flag"
    ds = ds.remove_columns([c for c in (out_col, flag_col) if c in ds.column_names])
    backend = make_backend(model, **(backend_kwargs or {}))
    with GenerationCache(cache_path) as cache:
        # datasets.map shows the progress bar; one per batch inside it would only add noise.
        ref = Reformulator(backend, cache, max_new_tokens=max_new_tokens, progress=False)

        def step(texts):
            results = ref(texts)
            return {out_col: [r.accepted for r in results], flag_col: [r.flag for r in results]}

        # The closure holds a model and a file lock: give datasets a fingerprint
        # instead of letting it hash (pickle) them.
        ds = ds.map(step, batched=True, batch_size=max(64, backend.batch_size * 8),
                    input_columns=[column], new_fingerprint=uuid.uuid4().hex, desc="reformulate")
    return ds, {"model": backend.name, "prompt_version": PROMPT_VERSION, "cache": str(cache_path),
                "column": column, "output_column": out_col, **dict(sorted(ref.stats.items()))}
