"""Turn one raw record into a released record, or say why it is rejected.

Each normalizer returns (record, None) or (None, Rejection). A rejection is a
reason code (counted in the report) and a human detail (kept in quarantine).
"""

from __future__ import annotations

import hashlib
import math
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


class BadValue(ValueError):
    """A raw value of the wrong type (a list, an object, a boolean, NaN, an infinity)."""

    def __init__(self, field: str, value):
        kind = {list: "a list", dict: "an object", bool: "a boolean"}.get(type(value))
        if kind is None:
            kind = repr(value)  # nan, inf, -inf
        super().__init__(f"field '{field}' is {kind}, expected text")
        self.field = field


# Characters that do not make a text non-empty: controls (Cc), format characters (Cf:
# zero-width spaces and joiners, bidi marks, BOM, soft hyphen...) and every kind of space.
# One table, compiled for Python's `re` and for RE2 (pyarrow compute) so both paths agree.
INVISIBLE_RANGES = (
    (0x00, 0x20), (0x7F, 0xA0), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD),
    (0x70F, 0x70F), (0x8E2, 0x8E2), (0x1680, 0x1680), (0x180E, 0x180E), (0x2000, 0x200F),
    (0x2028, 0x202F), (0x205F, 0x2064), (0x2066, 0x206F), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)
_VISIBLE = re.compile("[^" + "".join(
    f"\\U{a:08x}-\\U{b:08x}" for a, b in INVISIBLE_RANGES) + "]")
VISIBLE_RE2 = "[^" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in INVISIBLE_RANGES) + "]"


def has_visible(text: str) -> bool:
    """True when the text holds at least one character that is not a control, format or space."""
    return _VISIBLE.search(text) is not None


def as_text(value, field: str) -> str:
    """A raw scalar as text: strings as they are, None as '', numbers by one rule.

    Numbers: an integer (or an integral float such as 101.0) is written in decimal
    without a fraction ('101'); another finite float as Python's shortest repr ('0.49').
    Lists, objects, booleans, NaN and infinities raise BadValue: never stringified.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise BadValue(field, value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadValue(field, value)
        return str(int(value)) if value.is_integer() else repr(value)
    raise BadValue(field, value)


def clean_text(value, field: str = "value") -> str:
    """NFC-normalized text with surrounding whitespace removed; None becomes ''."""
    text = as_text(value, field)
    if not unicodedata.is_normalized("NFC", text):  # the check is much cheaper than normalizing
        text = unicodedata.normalize("NFC", text)
    return text.strip()


def visible_or_empty(text: str) -> str:
    """The text, or '' when it holds only controls, zero-width characters, BOMs and spaces."""
    return text if text and has_visible(text) else ""


def match_key(text: str) -> str:
    """Comparison key for option texts: whitespace collapsed, case folded."""
    return _WS.sub(" ", text).strip().casefold()


def content_hash(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=10).hexdigest()


def content_key(*parts: str) -> int:
    """A 64-bit key of the content, for duplicate detection."""
    return int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest(), "big")


def _id_text(value) -> str:
    text = clean_text(value, "id")
    if text.endswith(".0") and text[:-2].isdigit():  # an integer read as a float
        text = text[:-2]
    return visible_or_empty(text)


def _id(value, *content: str) -> str:
    return _id_text(value) or "h" + content_hash(*content)[:16]


def category_slug(category: str) -> str:
    """The category part of an IMB-MCQA id: ascii lower case, words joined by dashes."""
    text = unicodedata.normalize("NFKD", category)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return slug or "c" + content_hash(category)[:8]


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


def split_bilingual(category_raw: str) -> str:
    bilingual = _BILINGUAL.match(category_raw)
    return bilingual.group(1) if bilingual else category_raw


def normalize_qa(raw: dict):
    try:
        return _normalize_qa(raw)
    except BadValue as exc:
        return None, Rejection("bad_type", str(exc))


def _normalize_qa(raw: dict):
    question = visible_or_empty(clean_text(pick(raw, QA_ALIASES["question"]), "question"))
    answer = visible_or_empty(clean_text(pick(raw, QA_ALIASES["answer"]), "answer"))
    category_raw = split_bilingual(clean_text(pick(raw, QA_ALIASES["category"]), "category"))
    url = visible_or_empty(clean_text(pick(raw, QA_ALIASES["url"]), "url")) or None
    rec_id = pick(raw, QA_ALIASES["id"])
    _id_text(rec_id)  # type check before any other rejection, so the reason names the real fault
    if not question:
        return None, Rejection("empty_question", "the question is empty")
    if not answer:
        return None, Rejection("empty_answer", "the reformulated answer is empty")
    category = canonical_qa_category(category_raw)
    if category is None:
        return None, Rejection("unknown_category", f"category {category_raw!r} is not one of the 77")
    record = {
        "id": _id(rec_id, question, answer, category),
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
    elif isinstance(value, str):
        text = clean_text(value).replace(",", ".")
        if not text:
            return None
        had_sign = text.endswith("%")
        number = float(text.rstrip("%").strip())
    else:
        raise ValueError(f"{value!r} is not a percentage")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a percentage between 0 and 100")
    if had_sign or number > 1.0:
        number /= 100.0
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{value!r} is not a percentage between 0 and 100")
    return number


def normalize_mcqa(category: str, raw: dict):
    try:
        return _normalize_mcqa(category, raw)
    except BadValue as exc:
        return None, Rejection("bad_type", str(exc))


def _normalize_mcqa(category: str, raw: dict):
    question = visible_or_empty(clean_text(pick(raw, MCQA_ALIASES["question"]), "question"))
    source_id = _id_text(pick(raw, MCQA_ALIASES["id"])) or None
    if not question:
        return None, Rejection("empty_question", "the question is empty")
    options: list[str] = []
    missing_before = None
    for letter in LETTERS:
        text = visible_or_empty(clean_text(pick(raw, MCQA_OPTION_ALIASES[letter]), f"Answer{letter}"))
        if not text:
            missing_before = missing_before or letter
            continue
        if missing_before:
            return None, Rejection("bad_options", f"option {letter} present but {missing_before} missing")
        options.append(text)
    if not 4 <= len(options) <= 5:
        return None, Rejection("bad_option_count", f"{len(options)} options, expected 4 or 5")
    correct = visible_or_empty(clean_text(pick(raw, MCQA_ALIASES["correct"]), "correct answer"))
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
    category = visible_or_empty(clean_text(category, "category"))
    if not category:
        return None, Rejection("empty_category", "the category name is empty")
    # Upstream IDs are numbered within each category: the published id carries the category.
    local = source_id or "h" + content_hash(category, question, *options)[:16]
    record = {
        "id": f"{category_slug(category)}-{local}",
        "source_id": source_id,
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
