"""Clean forum question/answer pairs before anonymization, as the paper did.

The paper removed incomplete or truncated questions and stripped doctors'
signatures and timestamps. The rules are listed in `ANSWER_RULES` (what is
stripped from a text, in order) and `QUESTION_CHECKS` (why a record is set
aside); each has a name that the report counts. A dropped record goes to the
quarantine file with its reason, so records in = records out + quarantined.

Text rules, applied in this order (questions, kept in the patient's own
words as in the paper, get only unknown_author, timestamp and whitespace):
  unknown_author   "Autore sconosciuto" placeholders left by the scraper
  timestamp        date + time stamps ("12/03/2019 10:32", "Inviato il ... alle 10:32",
                   ISO "2019-03-12T10:32:00"); a time alone is kept (it may be a dose time)
  salutation       opening greetings ("Gentile utente,", "Gentile signora,", "Caro Marco,",
                   "Buongiorno,", "Salve,"): up to three, each at most 5 words
  sign_off         closing formula and what follows it ("Cordiali saluti, Dott. X",
                   "Un caro saluto", "Cordialmente") at a sentence start, when in the last 250 characters
  signature        a trailing "Dott./Dr./Prof. Name ..." line after the last sentence
  whitespace       runs of spaces and blank lines left behind are collapsed
Question checks (record quarantined, first failing check is the reason):
  empty_question   no question text
  empty_answer     no answer text (after cleaning)
  truncated        the question ends in "...", "…", "[...]", "(continua)", or with a
                   dangling word ("di", "e", "che", "il", ...) and no final punctuation
  too_short        fewer than `min_words` words (default 5)
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable

from imb_tools.infra.errors import ImbError

_TITLE = r"(?:Dott(?:\.|or)?\s?(?:ssa|essa)\.?|Dott\.?|Dottor(?:e|essa)?|Dr\.?\s?ssa\.?|Dr\.?|Prof\.?\s?(?:ssa|essa)?\.?|Professor(?:e|essa)?)"
_DATE = r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2}\s+(?:gen|feb|mar|apr|mag|giu|lug|ago|set|ott|nov|dic)[a-z]*\.?\s+\d{4}"
_TIME = r"\d{1,2}[:.]\d{2}(?::\d{2})?"

ANSWER_RULES: list[tuple[str, re.Pattern, str]] = [
    ("unknown_author", re.compile(r"\(?\bautore\s+sconosciuto\b\)?[:,.]?", re.IGNORECASE), " "),
    (
        "timestamp",
        re.compile(
            rf"(?:\b(?:inviat[oa]|pubblicat[oa]|scritt[oa]|rispost[oa]|domanda|risposta)\s+(?:il|del|in data)\s+)?"
            rf"(?:\b\d{{4}}-\d{{2}}-\d{{2}}[T ]{_TIME}(?:\.\d+)?Z?|\b(?:{_DATE})\s*(?:,|-|alle|ore|h)?\s*(?:ore\s+)?{_TIME}\b)",
            re.IGNORECASE,
        ),
        " ",
    ),
    (
        "salutation",
        re.compile(
            r"^\s*(?:(?:gentil(?:e|issim[oa])|car[oa]|egregi[oa]|buongiorno|buonasera|buona\s+sera|salve|ciao)\b"
            r"(?:[ \t]+(?:(?:sig|dott|dr|prof)\.(?:ra|na|ssa)?|[^\s,.!:;]+)){0,5}[ \t]*[,.!:;]\s*){1,3}",
            re.IGNORECASE,
        ),
        "",
    ),
    (
        "sign_off",
        re.compile(
            r"(?:^|(?<=[.!?\n,;]))\s*(?:cordiali\s+saluti|distinti\s+saluti|saluti\s+cordiali|cordialmente|un\s+(?:caro|cordiale)\s+saluto|"
            r"i\s+miei\s+saluti|saluti|a\s+presto|resto\s+a\s+disposizione)\b[\s\S]{0,250}$",
            re.IGNORECASE,
        ),
        "",
    ),
    (
        "signature",
        re.compile(rf"(?:(?<=[.!?])\s+|\n\s*|^\s*){_TITLE}\s*(?:[A-ZÀ-Þ][\w'’.]*\s*){{1,4}}(?:[,\-–|(][^\n]{{0,200}})?\s*$"),
        "",
    ),
]
QUESTION_RULES = [rule for rule in ANSWER_RULES if rule[0] in ("unknown_author", "timestamp")]
_DANGLING = frozenset(
    "di a da in con su per tra fra e o ma che il lo la i gli le un uno una del della dei degli delle al alla nel nella mi ti si ci "
    "non se come quando perché perche mio mia suo sua".split()
)


def _normalize_space(text: str) -> str:
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r" *\n[ \n]*\n *", "\n\n", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\s+([,.;:!?])", r"\1", text).strip()


def clean_text(text: str, counts: Counter | None = None, rules=ANSWER_RULES) -> str:
    """Apply `rules`; count in `counts` each rule that changed the text."""
    if not text:
        return text
    changed = False
    for name, pattern, repl in rules:
        new = pattern.sub(repl, text)
        if new != text:
            if counts is not None:
                counts[name] += 1
            if name == "salutation" and new[:1].islower():
                new = new[:1].upper() + new[1:]
            text, changed = new, True
    tidy = _normalize_space(text)
    if tidy != text and not changed and counts is not None:
        counts["whitespace"] += 1
    return tidy


def truncated(question: str) -> bool:
    """The question looks cut off (see module docstring)."""
    q = question.rstrip()
    if re.search(r"(?:\.\.\.|…|\[\s*\.\.\.\s*\]|\(continua\))$", q, re.IGNORECASE):
        return True
    last = re.findall(r"[\wàèéìòù']+$", q.lower())
    return bool(last) and last[0] in _DANGLING


def question_problem(question: str | None, answer: str | None, min_words: int = 5) -> str | None:
    """The quarantine reason for a record, or None when it is kept."""
    if not question or not question.strip():
        return "empty_question"
    if not answer or not answer.strip():
        return "empty_answer"
    if truncated(question):
        return "truncated"
    if len(question.split()) < min_words:
        return "too_short"
    return None


QUESTION_CHECKS = ("empty_question", "empty_answer", "truncated", "too_short")


def clean_records(records, q_col: str, a_col: str, min_words: int = 5,
                  progress: Callable | None = None) -> tuple[list[dict], list[dict], dict]:
    """Clean records (dicts); return (kept, quarantined with `reason`, report)."""
    kept, quarantined = [], []
    q_rules, a_rules, reasons = Counter(), Counter(), Counter()
    for i, rec in enumerate(progress(records) if progress else records):
        for col in (q_col, a_col):
            if rec.get(col) is not None and not isinstance(rec[col], str):
                raise ImbError(f"record {i}, field {col!r}: expected text, got {type(rec[col]).__name__}")
        rec = dict(rec)
        rec[q_col] = clean_text(rec[q_col], q_rules, QUESTION_RULES) if rec.get(q_col) is not None else None
        rec[a_col] = clean_text(rec[a_col], a_rules) if rec.get(a_col) is not None else None
        reason = question_problem(rec[q_col], rec[a_col], min_words)
        if reason:
            reasons[reason] += 1
            quarantined.append({**rec, "reason": reason})
        else:
            kept.append(rec)
    report = {
        "records_in": len(kept) + len(quarantined),
        "records_out": len(kept),
        "quarantined": len(quarantined),
        "quarantine_reasons": {r: reasons[r] for r in QUESTION_CHECKS},
        "question_rules": {name: q_rules[name] for name, _, _ in QUESTION_RULES} | {"whitespace": q_rules["whitespace"]},
        "answer_rules": {name: a_rules[name] for name, _, _ in ANSWER_RULES} | {"whitespace": a_rules["whitespace"]},
        "min_words": min_words,
    }
    return kept, quarantined, report


def clean_table(in_path, q_col: str, a_col: str, out_path, report_path=None, quarantine_path=None,
                min_words: int = 5) -> dict:
    """Clean a JSONL/JSON/CSV/Parquet table; write kept rows, quarantine and report atomically."""
    from pathlib import Path

    from tqdm.auto import tqdm

    from imb_tools.infra.atomic import write_json_atomic
    from imb_tools.infra.tables import (
        read_table,
        require_columns,
        table_format,
        write_jsonl_records,
        write_table,
    )

    from imb_tools.infra.ownership import refuse_overwriting_input

    out_path = Path(out_path)
    quarantine_path = Path(quarantine_path) if quarantine_path else out_path.with_name(out_path.stem + ".quarantine.jsonl")
    # never write over the only copy of the data, nor one output over another (defaults included)
    refuse_overwriting_input(in_path, out_path, quarantine_path, report_path)
    table_format(out_path)  # a bad output extension fails before any work
    ds = read_table(in_path)
    require_columns(ds, [q_col, a_col], in_path)
    try:
        kept, quarantined, report = clean_records(
            ds, q_col, a_col, min_words, progress=lambda it: tqdm(it, total=len(ds), desc="clean", unit="rec")
        )
    except ImbError as exc:
        raise ImbError(f"{in_path}: {exc}") from None
    if kept:
        write_table(kept, out_path)
    else:
        write_table(ds.select([]), out_path)
    write_jsonl_records(quarantined, quarantine_path)
    report.update({"input": str(in_path), "output": str(out_path), "quarantine": str(quarantine_path)})
    if report_path:
        write_json_atomic(report_path, report)
    return report
