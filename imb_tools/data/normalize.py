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
    """A 64-bit key of the content, for duplicate detection: XXH3-64 (a fixed, documented
    algorithm, so the smallest-key rule picks the same content on every machine), about
    20 times cheaper than BLAKE2b on IMB's 1.4 kB records. Splits use BLAKE2b of the id."""
    return xxh3_64_intdigest("\x1f".join(parts).encode("utf-8"))


def _id_text(value) -> str:
    text = clean_text(value, "id")
    if text.endswith(".0") and text[:-2].isdigit():  # an integer read as a float
        text = text[:-2]
    return visible_or_empty(text)


def _id(value, *content: str) -> str:
    return _id_text(value) or "h" + content_hash(*content)[:16]


def category_slug(category: str) -> str:
    """The category part of an IMB-MCQA id: ascii lower case, words joined by dashes."""
    from imb_tools.data.categories import fold_text

    slug = fold_text(category).replace(" ", "-")
    return slug or "c" + content_hash(category)[:8]


_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#]+)")
HOST_RE2 = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(?P<h>[^/:?#]+)"  # the same, for pyarrow


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


# --- IMB-QA over whole Arrow columns ---------------------------------------------------------------
# The same rules as normalize_qa, column by column with pyarrow compute; Python only for what
# needs it (non-NFC text, odd ids, missing ids, one call per distinct category or host).
# Returns None when a column has a type the batch path does not take (a number or a list where
# text belongs): the caller then runs the chunk through normalize_qa, record by record.

_ID_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _column(table, aliases, allow_int: bool = False):
    import pyarrow as pa
    import pyarrow.compute as pc

    present = []
    for name in aliases:
        if name not in table.column_names:
            continue
        col = table.column(name)
        t = col.type
        if pa.types.is_null(t):
            continue
        if pa.types.is_large_string(t):
            col = col.cast(pa.string())
        elif allow_int and str(t) in _ID_TYPES:
            col = pc.cast(col, pa.string())
        elif not pa.types.is_string(t):
            return False
        present.append(col)
    if not present:
        return pa.nulls(table.num_rows, pa.string())
    col = present[0] if len(present) == 1 else pc.coalesce(*present)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _utf8_view(arr):
    """The text of all values of a StringArray, concatenated (no copy of the buffer)."""
    import numpy as np

    if len(arr) == 0 or arr.buffers()[2] is None:
        return b""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1 + arr.offset)
    return memoryview(arr.buffers()[2])[offsets[arr.offset]:offsets[-1]]


def _all_nfc(arr) -> bool:
    # NFC of a concatenation holds only if it holds for every piece: one check per column.
    # Every character below U+0300 is NFC whatever surrounds it, and in UTF-8 they are exactly
    # those whose bytes are all below 0xCC: one numpy max decides most columns.
    import numpy as np

    data = _utf8_view(arr)
    if not len(data) or np.frombuffer(data, dtype=np.uint8).max() < 0xCC:
        return True
    return unicodedata.is_normalized("NFC", str(data, "utf-8"))


def clean_column(col):
    """(cleaned text, has-visible mask) for a string column: clean_text + visible_or_empty."""
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(col)
    if not _all_nfc(trimmed):
        trimmed = pa.array([None if v is None else clean_text(v) for v in col.to_pylist()], pa.string())
    visible = pc.fill_null(pc.match_substring_regex(trimmed, VISIBLE_RE2), False)
    return trimmed, visible


def _lookup(col, fn, out_dtype):
    """fn over the distinct values of a column, spread back to every row (nulls -> fn(None))."""
    import numpy as np
    import pyarrow.compute as pc

    uniq = pc.unique(col)
    values = uniq.to_pylist()
    mapped = [fn(v) for v in values]
    table = np.array(mapped + [fn(None)], dtype=out_dtype)
    idx = pc.fill_null(pc.index_in(col, value_set=uniq), len(values)).to_numpy(zero_copy_only=False)
    return table[idx], values, mapped


def qa_table(table, start: int, features, id_hash_fn, required: dict, raw_rows=None):
    """pass 1 over a chunk as an Arrow table -> (valid table with _pos/_idh/_ck, rejects, seen) or None."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from imb_tools.data.categories import MACRO_NAMES, QA_CATEGORIES
    from imb_tools.data.schema import QA_SOURCES, without_forbidden

    n = table.num_rows
    cols = {}
    for fname in ("question", "answer", "category", "url", "id"):
        col = _column(table, QA_ALIASES[fname], allow_int=(fname == "id"))
        if col is False:
            return None
        cols[fname] = col
    reason = np.zeros(n, dtype=np.int8)  # 0 ok; else index into REASONS
    reasons = ["", *(f"missing_{f}" for f in required), "empty_question", "empty_answer", "unknown_category"]
    seen = set()
    for i, fname in enumerate(required, start=1):
        null = cols[fname].is_null().to_numpy(zero_copy_only=False)
        if not null.all():
            seen.add(fname)
        reason[(reason == 0) & null] = i
    question, q_vis = clean_column(cols["question"])
    answer, a_vis = clean_column(cols["answer"])
    base = len(required) + 1
    reason[(reason == 0) & ~q_vis.to_numpy(zero_copy_only=False)] = base
    reason[(reason == 0) & ~a_vis.to_numpy(zero_copy_only=False)] = base + 1

    cat_index = {c: i for i, c in enumerate(QA_CATEGORIES)}

    def category_of(value):
        if value is None:
            return -1
        canonical = canonical_qa_category(split_bilingual(clean_text(value, "category")))
        return -1 if canonical is None else cat_index[canonical]

    cat, cat_values, cat_mapped = _lookup(cols["category"], category_of, np.int64)
    reason[(reason == 0) & (cat < 0)] = base + 2

    url, u_vis = clean_column(cols["url"])
    url = pc.if_else(u_vis, url, pa.scalar(None, pa.string()))
    macro_of = np.array([MACRO_NAMES.index(CATEGORY_TO_MACRO[c]) for c in QA_CATEGORIES], dtype=np.int64)
    host = pc.struct_field(pc.extract_regex(url, HOST_RE2), "h")
    src_index = {s: i for i, s in enumerate(QA_SOURCES)}
    source, _, _ = _lookup(pc.utf8_lower(host), lambda h: src_index[_source_from_host(h or "")], np.int64)

    ok = np.flatnonzero(reason == 0)
    rejects = []
    if len(ok) < n:
        bad = np.flatnonzero(reason != 0)
        if raw_rows is not None:
            raws = raw_rows(bad.tolist())
        else:
            raws = [{k: v for k, v in r.items() if v is not None} for r in table.take(pa.array(bad)).to_pylist()]
        for row_i, raw in zip(bad.tolist(), raws):
            r = reasons[reason[row_i]]
            if r.startswith("missing_"):
                detail = f"field '{r[8:]}' is absent"
            elif r == "empty_question":
                detail = "the question is empty"
            elif r == "empty_answer":
                detail = "the reformulated answer is empty"
            else:
                shown = split_bilingual(clean_text(cols["category"][row_i].as_py(), "category"))
                detail = f"category {shown!r} is not one of the 77"
            rejects.append((start + row_i, r, detail, without_forbidden(raw)))
    sel = pa.array(ok)
    question, answer, url = question.take(sel), answer.take(sel), url.take(sel)
    cat_ok = cat[ok]
    ids = _clean_ids(cols["id"].take(sel))
    names = np.array(QA_CATEGORIES, dtype=object)[cat_ok]
    missing_id = ids.is_null().to_numpy(zero_copy_only=False)
    if missing_id.any():
        id_list = ids.to_pylist()
        q_list, a_list = question.to_pylist(), answer.to_pylist()
        for i in np.flatnonzero(missing_id).tolist():
            id_list[i] = "h" + content_hash(q_list[i], a_list[i], names[i])[:16]
        ids = pa.array(id_list, pa.string())
    idh = np.fromiter((id_hash_fn(s) for s in ids.to_pylist()), dtype=np.uint64, count=len(ok))
    joined = pc.binary_join_element_wise(question, answer, pa.array(names.tolist(), pa.string()),
                                         pc.fill_null(url, ""), "\x1f")
    ck = _content_keys(joined)
    out = pa.table({
        "id": ids, "question": question, "answer": answer,
        "category": pa.array(cat_ok, pa.int64()), "macro_category": pa.array(macro_of[cat_ok], pa.int64()),
        "source": pa.array(source[ok], pa.int64()), "url": url,
        "_pos": pa.array(ok + start, pa.int64()), "_idh": pa.array(idh, pa.uint64()),
        "_ck": pa.array(ck, pa.uint64()),
    })
    return out, rejects, seen


def _clean_ids(col):
    """_id_text over a column: null where there is no usable id."""
    import pyarrow as pa
    import pyarrow.compute as pc

    data = _utf8_view(col)
    if bytes(data).isascii():
        trimmed = pc.utf8_trim_whitespace(col)
        dotzero = pc.fill_null(pc.match_substring_regex(trimmed, r"^[0-9]+\.0$"), False)
        trimmed = pc.if_else(dotzero, pc.utf8_slice_codeunits(trimmed, 0, -2), trimmed)
        visible = pc.fill_null(pc.match_substring_regex(trimmed, VISIBLE_RE2), False)
        return pc.if_else(visible, trimmed, pa.scalar(None, pa.string()))
    return pa.array([None if v is None else (_id_text(v) or None) for v in col.to_pylist()], pa.string())


def _content_keys(joined):
    """content_key for every value of a string array (XXH3-64 of its UTF-8 bytes)."""
    import numpy as np

    arr = joined
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1 + arr.offset)[arr.offset:]
    data = memoryview(arr.buffers()[2]) if arr.buffers()[2] is not None else memoryview(b"")
    o = offsets.tolist()
    h = xxh3_64_intdigest
    return np.fromiter((h(data[o[i]:o[i + 1]]) for i in range(len(arr))), dtype=np.uint64, count=len(arr))
