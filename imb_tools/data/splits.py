"""Hash-based splits: a record's split is a function of its question text alone.

The split of a record is a 64-bit BLAKE2b hash of its *folded* question text (HTML tags and
entities dropped: `markup_free`; accents removed, lower case, only letters and digits:
`fold_text` without its spaces, `letters_key`)
compared with the fractions' thresholds. Three guarantees follow by construction:
- no normalized question text is in two splits (every copy hashes alike, whatever
  its id, answer or category), so an evaluation question can never also be a
  training question, a RAG passage's question, or a few-shot example;
- adding records, new ones or old content under new ids, never moves a surviving
  question to another split (its hash does not depend on anything else);
- reordering the input changes nothing.
An IMB-MCQA item is its stem *and* its options (many exam stems, "Quale delle seguenti
affermazioni è corretta?", recur with other options): its key is the folded stem plus
the folded options in sorted order, so the same item with shuffled options is one item.

`id_hash` is the other stable hash: the "hash order" of capped samples (sampling.py), defined
with the task folder (lm_eval_tasks/imb_common/data.py: `order_hash`), which orders its
few-shot examples and capped sets by it and must stand alone.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping, Sequence

from lm_eval_tasks.imb_common.data import fold_text, markup_free
from lm_eval_tasks.imb_common.data import order_hash as id_hash  # noqa: F401  (the one hash order)

# Default evaluation splits (the rest is IMB-QA train / IMB-MCQA test), defined once.
QA_FRACTIONS = {"test": 0.025, "validation": 0.01}
MCQA_FRACTIONS = {"dev": 0.02}

# Namespaced so that IMB's buckets do not correlate with other hash uses of the same text.
_QUESTION_SALT = b"imb-split-question-v2\x00"


def bucket(record_id: str) -> float:
    """Where the id falls in [0, 1) (fine-tuning's own eval side draws by it)."""
    return id_hash(record_id) / 2**64


def letters_key(text: str) -> bytes:
    """The letters and digits of the folded text, spaces gone: fold_text(text) without its
    spaces, as UTF-8 (ASCII). Spacing and punctuation, accents and case do not count.

    Computed in C, in the first of three ways that applies (each gives the definition's
    value where it applies; checked against it on random text in tests/test_build.py):
    1. text whose only non-ASCII characters are U+00C0..U+00FF (Italian's accented
       letters): one byte table maps each such letter's second UTF-8 byte to its base
       letter, or drops it (Æ, Ø, ß, ×... fold to separators), and drops its first;
    2. otherwise NFKD, then one byte table that drops the bytes of U+0300..U+037F (the
       combining accents, and Greek signs fold_text makes separators) and every
       continuation byte, if no other non-ASCII byte is left;
    3. otherwise the definition itself.
    """
    data = text.encode()
    if data.isascii():
        return data.translate(_LOWER, _NOT_ALNUM)
    if not data.translate(None, _ASCII_AND_LATIN1_LETTERS):
        return data.translate(_LATIN1, _LATIN1_DROP)
    data = unicodedata.normalize("NFKD", text).encode().translate(_LOWER, _DROP)
    if data.isascii():
        return data
    return fold_text(text).replace(" ", "").encode()


def _folded_letters(char: str) -> str:
    return fold_text(char).replace(" ", "")


_LOWER = bytes(c + 32 if 65 <= c <= 90 else c for c in range(256))
_NOT_ALNUM = bytes(c for c in range(128) if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122))
_DROP = _NOT_ALNUM + bytes([0xCC, 0xCD, *range(0x80, 0xC0)])
# U+00C0..U+00FF are C3 followed by 0x80..0xBF: map the second byte to the letter it folds to
_ASCII_AND_LATIN1_LETTERS = bytes([*range(128), 0xC3, *range(0x80, 0xC0)])
_LATIN1 = bytes(ord(_folded_letters(chr(0xC0 + c - 0x80)) or "?") if 0x80 <= c < 0xC0 else _LOWER[c]
                for c in range(256))
_LATIN1_DROP = _NOT_ALNUM + bytes([0xC3, *(c for c in range(0x80, 0xC0) if not _folded_letters(chr(0xC0 + c - 0x80)))])
assert all(len(_folded_letters(chr(cp))) <= 1 for cp in range(0xC0, 0x100))  # one letter or none


def question_key(question: str, options: Sequence[str] = ()) -> bytes:
    """The normalized question text a split is a function of (see the module docstring):
    markup dropped, then its letters and digits."""
    stem = letters_key(markup_free(question)) or question.encode()
    if not options:
        return stem
    return b"\x1f".join([stem, *sorted(letters_key(markup_free(o)) or o.encode() for o in options)])


def split_hash(question: str, options: Sequence[str] = ()) -> int:
    """The 64-bit hash that places a question in a split."""
    return int.from_bytes(hashlib.blake2b(_QUESTION_SALT + question_key(question, options), digest_size=8).digest(),
                          "big")


def split_of_hash(hashed: int, fractions: Mapping[str, float], rest: str) -> str:
    """Walk the evaluation splits' thresholds in order; whatever is left goes to `rest`."""
    b = hashed / 2**64
    edge = 0.0
    for name, frac in fractions.items():
        edge += frac
        if b < edge:
            return name
    return rest


def assign_split(question: str, fractions: Mapping[str, float], rest: str, options: Sequence[str] = ()) -> str:
    """The split of a question (and its options, for IMB-MCQA): e.g. test 0.025, validation 0.01, rest train."""
    return split_of_hash(split_hash(question, options), fractions, rest)


def check_fractions(fractions: Mapping[str, float]) -> None:
    import numbers

    from imb_tools.infra.errors import ImbError

    if not isinstance(fractions, Mapping):
        raise ImbError(f"fractions must map split names to shares, e.g. {{'test': 0.1}}, got {fractions!r}")
    for name, frac in fractions.items():
        if isinstance(frac, bool) or not isinstance(frac, numbers.Real):
            raise ImbError(f"split fraction for '{name}' must be a number in [0, 1], got {frac!r}")
        if not 0.0 <= frac <= 1.0:
            raise ImbError(f"split fraction for '{name}' must be in [0, 1], got {frac}")
    if sum(fractions.values()) > 1.0 + 1e-9:
        raise ImbError(f"split fractions add up to more than 1: {dict(fractions)}")
