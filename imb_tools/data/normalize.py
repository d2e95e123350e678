"""Turn one raw record into a released record, or say why it is rejected.

Each normalizer returns (record, None) or (None, Rejection). A rejection is a
reason code (counted in the report) and a human detail (kept in quarantine).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from imb_tools.data.categories import CATEGORY_TO_MACRO, canonical_qa_category
from imb_tools.data.schema import (
    LETTERS, MCQA_ALIASES, MCQA_OPTION_ALIASES, QA_ALIASES, pick,
)

_WS = re.compile(r"\s+")
# The paper's tables show bilingual values such as "ITA: Psicoterapia - ENG: Psychotherapy".
_BILINGUAL = re.compile(r"^\s*ITA:\s*(.*?)\s*(?:-\s*)?ENG:.*$", re.S)


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str


def clean_text(value) -> str:
    """NFC-normalized text with surrounding whitespace removed; None becomes ''."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if not unicodedata.is_normalized("NFC", text):  # the check is much cheaper than normalizing
        text = unicodedata.normalize("NFC", text)
    return text.strip()


def match_key(text: str) -> str:
    """Comparison key for option texts: whitespace collapsed, case folded."""
    return _WS.sub(" ", text).strip().casefold()


def content_hash(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=10).hexdigest()


def content_key(*parts: str) -> int:
    """A 64-bit key of the content, for duplicate detection."""
    return int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest(), "big")


def _id(value, *content: str) -> str:
    text = clean_text(value)
    if text.endswith(".0") and text[:-2].isdigit():  # an integer read as a float
        text = text[:-2]
    return text or "h" + content_hash(*content)[:16]


_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#]+)")


def source_from_url(url: str | None) -> str:
    match = _HOST.match(url) if url else None
    return _source_from_host(match.group(1).lower() if match else "")


@lru_cache(maxsize=1024)
def _source_from_host(host: str) -> str:
    for site in ("medicitalia", "dica33"):
        if host == f"{site}.it" or host.endswith(f".{site}.it"):
            return site
    return "unknown"


def normalize_qa(raw: dict):
    question = clean_text(pick(raw, QA_ALIASES["question"]))
    answer = clean_text(pick(raw, QA_ALIASES["answer"]))
    category_raw = clean_text(pick(raw, QA_ALIASES["category"]))
    bilingual = _BILINGUAL.match(category_raw)
    if bilingual:
        category_raw = bilingual.group(1)
    url = clean_text(pick(raw, QA_ALIASES["url"])) or None
    if not question:
        return None, Rejection("empty_question", "the question is empty")
    if not answer:
        return None, Rejection("empty_answer", "the reformulated answer is empty")
    category = canonical_qa_category(category_raw)
    if category is None:
        return None, Rejection("unknown_category", f"category {category_raw!r} is not one of the 77")
    record = {
        "id": _id(pick(raw, QA_ALIASES["id"]), question, answer, category),
        "question": question,
        "answer": answer,
        "category": category,
        "macro_category": CATEGORY_TO_MACRO[category],
        "source": source_from_url(url),
        "url": url,
    }
    return record, None


def parse_percentage(value) -> float | None:
    """'49%' -> 0.49; 49 -> 0.49; 0.49 -> 0.49; None or '' -> None; else ValueError."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number, had_sign = float(value), False
    else:
        text = clean_text(value).replace(",", ".")
        if not text:
            return None
        had_sign = text.endswith("%")
        number = float(text.rstrip("%").strip())
    if had_sign or number > 1.0:
        number /= 100.0
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{value!r} is not a percentage between 0 and 100")
    return number


def normalize_mcqa(category: str, raw: dict):
    question = clean_text(pick(raw, MCQA_ALIASES["question"]))
    if not question:
        return None, Rejection("empty_question", "the question is empty")
    options: list[str] = []
    missing_before = None
    for letter in LETTERS:
        text = clean_text(pick(raw, MCQA_OPTION_ALIASES[letter]))
        if not text:
            missing_before = missing_before or letter
            continue
        if missing_before:
            return None, Rejection("bad_options", f"option {letter} present but {missing_before} missing")
        options.append(text)
    if not 4 <= len(options) <= 5:
        return None, Rejection("bad_option_count", f"{len(options)} options, expected 4 or 5")
    correct = clean_text(pick(raw, MCQA_ALIASES["correct"]))
    if not correct:
        return None, Rejection("empty_correct_answer", "the correct answer is empty")
    key = match_key(correct)
    hits = [i for i, opt in enumerate(options) if match_key(opt) == key]
    if not hits and len(correct) == 1 and correct.upper() in LETTERS[: len(options)]:
        hits = [LETTERS.index(correct.upper())]  # a letter instead of the text
    if not hits:
        return None, Rejection("answer_matches_no_option", f"correct answer {correct[:80]!r} matches no option")
    if len(hits) > 1:
        letters = ", ".join(LETTERS[i] for i in hits)
        return None, Rejection("answer_matches_several_options", f"correct answer matches options {letters}")
    try:
        percentage = parse_percentage(pick(raw, MCQA_ALIASES["percentage"]))
    except ValueError as exc:
        return None, Rejection("bad_percentage", str(exc))
    category = clean_text(category)
    if not category:
        return None, Rejection("empty_category", "the category name is empty")
    record = {
        "id": _id(pick(raw, MCQA_ALIASES["id"]), category, question, *options),
        "category": category,
        "question": question,
        "options": options,
        "answer": LETTERS[hits[0]],
        "answer_index": hits[0],
        "percentage_correct": percentage,
    }
    return record, None


def qa_content_key(record: dict) -> int:
    return content_key(record["question"], record["answer"], record["category"], record["url"] or "")


def mcqa_content_key(record: dict) -> int:
    return content_key(record["category"], record["question"], *record["options"], record["answer"],
                        repr(record["percentage_correct"]))
