"""The one text hash: SHA-256 of the UTF-8 text, hex.

Caches key their entries with it (LLM generations, embeddings), so a text is
one key everywhere. Split assignment uses its own salted id hash
(`imb_tools.data.splits.id_hash`), which must never change.
"""

from __future__ import annotations

import hashlib


def text_hash(text: str) -> str:
    """SHA-256 hex digest of a text (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
