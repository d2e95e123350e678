"""Turn one raw record into a released record, or say why it is rejected.

Each normalizer returns (record, None) or (None, Rejection). A rejection is a
reason code (counted in the report) and a human detail (kept in quarantine).
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from xxhash import xxh3_64_intdigest  # a dependency of datasets

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
INVISIBLE_RANGES = (
    (0x00, 0x20), (0x7F, 0xA0), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD),
    (0x70F, 0x70F), (0x8E2, 0x8E2), (0x1680, 0x1680), (0x180E, 0x180E), (0x2000, 0x200F),
    (0x2028, 0x202F), (0x205F, 0x2064), (0x2066, 0x206F), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)
_VISIBLE = re.compile("[^" + "".join(
    f"\\U{a:08x}-\\U{b:08x}" for a, b in INVISIBLE_RANGES) + "]")


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
    """A 64-bit key of the content, for duplicate detection: XXH3-64 (a fixed, documented
    algorithm, so the smallest-key rule picks the same content on every machine), about
    20 times cheaper than BLAKE2b on IMB's 1.4 kB records. Splits use BLAKE2b of the question."""
    return xxh3_64_intdigest("\x1f".join(parts).encode("utf-8"))


def _id_text(value) -> str:
    """An id as written: a string as it is (trimmed), a number by as_text's one rule
    (101 and 101.0 read as numbers are both '101'; the strings '101' and '101.0' are two ids)."""
    return visible_or_empty(clean_text(value, "id"))


# The order in which one content under several ids picks its id: the smallest upstream
# number first (a re-crawl gives old content new, larger numbers), then other ids by hash.
_NUMBER_IDS = 1 << 63


def id_order_key(record_id: str | None, fallback: int) -> int:
    """A 64-bit key: a numeric id of up to 18 digits is its value; anything else comes after."""
    if record_id and record_id.isascii() and record_id.isdigit() and len(record_id) <= 18:
        return int(record_id)
    return _NUMBER_IDS | (fallback >> 1)


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
    rec_id = _id_text(pick(raw, QA_ALIASES["id"]))  # type-checked before any other rejection
    if not question:
        return None, Rejection("empty_question", "the question is empty")
    if not answer:
        return None, Rejection("empty_answer", "the reformulated answer is empty")
    category = canonical_qa_category(category_raw)
    if category is None:
        return None, Rejection("unknown_category", f"category {category_raw!r} is not one of the 77")
    record = {
        "id": rec_id or "h" + content_hash(question, answer, category)[:16],
        "question": question,
        "answer": answer,
        "category": category,
        "macro_category": CATEGORY_TO_MACRO[category],
        "source": source_from_url(url),
        "url": url,
    }
    return record, None


def _percentage_number(value) -> tuple[float, bool] | None:
    """(number, written with %) of a raw percentage; None when absent; ValueError when not a number."""
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
    return number, had_sign


def parse_percentage(value, percent_scale: bool | None = None) -> float | None:
    """A raw percentage as a share in [0, 1]; None when absent; ValueError when it is not one.

    percent_scale: the file's convention, decided once for the whole file (McqaConventions):
    True, every value is in percent ('49', '49%', '1' is 1%); False, every value is a share
    ('0.49'). None decides from the value alone ('49%' and 49 are percent, 0.49 a share),
    for a lone value.
    """
    parsed = _percentage_number(value)
    if parsed is None:
        return None
    number, had_sign = parsed
    if percent_scale is None:
        percent_scale = had_sign or number > 1.0
    if had_sign and not percent_scale:
        raise ValueError(f"{value!r} is written in percent in a file of shares")
    if percent_scale:
        number /= 100.0
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{value!r} is not a percentage between 0 and 100")
    return number


@dataclass
class McqaConventions:
    """What is decided once per IMB-MCQA file, before any record is normalized.

    percent_scale: a value written with '%' or above 1 anywhere means the whole file is in
    percent, so '1' is 1% and never 100% next to '1%'. shares_in_percent_file: values that
    look like shares (a fraction below 1, '0.49') in a file in percent: a file mixing
    conventions, reported. shared_slugs: category spellings of this file that fold to the
    same id prefix ("Chirurgia generale", "chirurgia-generale "): each keeps its own
    category and gets its own id space (the slug plus a hash of the exact spelling).
    """

    percent_scale: bool = False
    shares_in_percent_file: int = 0
    percent_values: int = 0
    share_values: int = 0
    shared_slugs: dict = field(default_factory=dict)  # spelling -> questions, for spellings sharing a slug

    def report(self) -> dict:
        out = {"percentage_scale": "percent" if self.percent_scale else "share"}
        if self.percent_scale and self.shares_in_percent_file:
            out["percentage_mixed"] = {"percent_values": self.percent_values,
                                       "share_like_values": self.shares_in_percent_file}
        if self.shared_slugs:
            out["category_spellings_kept_apart"] = dict(sorted(self.shared_slugs.items()))
        return out

    def warnings(self) -> list[str]:
        out = []
        if self.percent_scale and self.shares_in_percent_file:
            out.append(f"percentages mix conventions: the file is read in percent (values with % or above 1), "
                       f"but {self.shares_in_percent_file} values look like shares (0.49): they are read as "
                       f"percent too (0.49%); check the raw file")
        if self.shared_slugs:
            shown = ", ".join(repr(s) for s in sorted(self.shared_slugs))
            out.append(f"categories that differ only in case, spacing or punctuation are kept apart, each with "
                       f"its own ids: {shown}; merge them in the raw file if they are one category")
        return out


def survey_mcqa(items) -> McqaConventions:
    """McqaConventions from one read of the (category, record) pairs."""
    conventions = McqaConventions()
    spellings: dict[str, dict[str, int]] = {}
    for category, raw in items:
        try:
            name = visible_or_empty(clean_text(category, "category"))
        except BadValue:
            continue
        spellings.setdefault(_slug(name), {}).setdefault(name, 0)
        spellings[_slug(name)][name] += 1
        try:
            parsed = _percentage_number(pick(raw, MCQA_ALIASES["percentage"]))
        except (ValueError, BadValue):
            continue
        if parsed is None:
            continue
        number, had_sign = parsed
        if had_sign or number > 1.0:
            conventions.percent_values += 1
        elif not number.is_integer():
            conventions.share_values += 1
    conventions.percent_scale = conventions.percent_values > 0
    conventions.shares_in_percent_file = conventions.share_values if conventions.percent_scale else 0
    for names in spellings.values():
        if len(names) > 1:
            conventions.shared_slugs.update(names)
    return conventions


def _slug(category: str) -> str:
    from imb_tools.data.categories import fold_text

    return fold_text(category).replace(" ", "-") or "c" + content_hash(category)[:8]


def category_slug(category: str, conventions: McqaConventions | None = None) -> str:
    """The category part of an IMB-MCQA id: ascii lower case, words joined by dashes; for a
    spelling that shares its slug with another spelling of the file, plus a hash of it."""
    slug = _slug(category)
    if conventions is not None and category in conventions.shared_slugs:
        slug += "-" + content_hash(category)[:6]
    return slug


def normalize_mcqa(category: str, raw: dict, conventions: McqaConventions | None = None):
    try:
        return _normalize_mcqa(category, raw, conventions or McqaConventions())
    except BadValue as exc:
        return None, Rejection("bad_type", str(exc))


def _normalize_mcqa(category: str, raw: dict, conventions: McqaConventions):
    question = visible_or_empty(clean_text(pick(raw, MCQA_ALIASES["question"]), "question"))
    source_id = _id_text(pick(raw, MCQA_ALIASES["id"])) or None
    if not question:
        return None, Rejection("empty_question", "the question is empty")
    options: list[str] = []
    letters: list[str] = []
    missing_before = None
    for letter, aliases in MCQA_OPTION_ALIASES.items():  # A to Z: IMB has 4 or 5, more are read to be refused
        text = visible_or_empty(clean_text(pick(raw, aliases), f"Answer{letter}"))
        if not text:
            missing_before = missing_before or letter
            continue
        if missing_before:
            return None, Rejection("bad_options", f"option {letter} present but {missing_before} missing")
        options.append(text)
        letters.append(letter)
    if len(options) > len(LETTERS):
        return None, Rejection("too_many_options", f"{len(options)} options (A to {letters[-1]}); "
                                                   f"IMB-MCQA questions have 4 or 5 (A to E)")
    if len(options) < 4:
        return None, Rejection("bad_option_count", f"{len(options)} options, expected 4 or 5")
    keys = [match_key(o) for o in options]
    repeated = sorted({LETTERS[i] for i, k in enumerate(keys) if keys.count(k) > 1})
    if repeated:
        return None, Rejection("duplicate_options", f"options {', '.join(repeated)} have the same text")
    correct = visible_or_empty(clean_text(pick(raw, MCQA_ALIASES["correct"]), "correct answer"))
    if not correct:
        return None, Rejection("empty_correct_answer", "the correct answer is empty")
    key = match_key(correct)
    hits = [i for i, k in enumerate(keys) if k == key]
    as_letter = LETTERS.index(correct.upper()) if len(correct) == 1 and correct.upper() in LETTERS[: len(options)] else None
    if hits and as_letter is not None and hits != [as_letter]:  # options such as A, B, AB, 0 (blood groups)
        return None, Rejection("ambiguous_correct_answer",
                               f"correct answer {correct!r} is the text of option {LETTERS[hits[0]]} and the "
                               f"letter of option {LETTERS[as_letter]}")
    if not hits and as_letter is not None:
        hits = [as_letter]  # a letter instead of the text
    if not hits:
        return None, Rejection("answer_matches_no_option", f"correct answer {correct[:80]!r} matches no option")
    try:
        percentage = parse_percentage(pick(raw, MCQA_ALIASES["percentage"]), conventions.percent_scale)
    except ValueError as exc:
        return None, Rejection("bad_percentage", str(exc))
    category = visible_or_empty(clean_text(category, "category"))
    if not category:
        return None, Rejection("empty_category", "the category name is empty")
    # Upstream IDs are numbered within each category: the published id carries the category.
    local = source_id or "h" + content_hash(category, question, *options)[:16]
    record = {
        "id": f"{category_slug(category, conventions)}-{local}",
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


# --- What the quarantine keeps of a rejected record: an allow-list -------------------------------
# Only the fields the dataset would publish, under their published names, as scalars: never a raw
# field outside the schema (an author, the original answer, a date under any spelling), and never
# a list or object found where text belongs (it could hold anything), only its kind.

def _shown(value):
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list):
        return f"<a list of {len(value)} value{'' if len(value) == 1 else 's'}>"
    if isinstance(value, dict):
        return f"<an object of {len(value)} field{'' if len(value) == 1 else 's'}>"
    return f"<{type(value).__name__}>"


def qa_quarantine_view(raw: dict) -> dict:
    return {name: _shown(pick(raw, QA_ALIASES[name])) for name in ("id", "question", "answer", "category", "url")}


def mcqa_quarantine_view(category, raw: dict) -> dict:
    options = [pick(raw, aliases) for aliases in MCQA_OPTION_ALIASES.values()]
    while options and options[-1] is None:
        options.pop()
    return {
        "id": _shown(pick(raw, MCQA_ALIASES["id"])),
        "category": _shown(category),
        "question": _shown(pick(raw, MCQA_ALIASES["question"])),
        "options": [_shown(o) for o in options],
        "answer": _shown(pick(raw, MCQA_ALIASES["correct"])),
        "percentage_correct": _shown(pick(raw, MCQA_ALIASES["percentage"])),
    }
