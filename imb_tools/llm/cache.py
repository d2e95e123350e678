"""A persistent, append-only cache of LLM outputs, so a killed job resumes where it stopped.

One JSON object per line, keyed by (model, prompt version, SHA-256 of the input
text). Each record is flushed and fsynced as soon as it is written, so after a
kill (or a power cut) every finished generation is on disk and none is redone;
a half-written last line is cut off when the cache is reopened. The file is
locked while open, so two jobs never append to the same cache at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from imb_tools.infra.errors import ImbError
from imb_tools.infra.hashing import text_hash  # noqa: F401  (part of this module's API)


def cache_key(model: str, prompt_version: str, text: str) -> str:
    """The cache key of one input: model, prompt version and the text's hash."""
    raw = json.dumps([model, prompt_version, text_hash(text)], ensure_ascii=True)
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


class GenerationCache:
    """Maps :func:`cache_key` keys to small JSON-serializable dicts, persisted on every put."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._data: dict[str, dict] = {}
        self._fh = open(self.path, "a+b")  # noqa: SIM115 - closed in close()
        self._lock_file()
        self._load()

    def _lock_file(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks
            return
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise ImbError(f"cache {self.path} is in use by another running job") from None

    def _load(self) -> None:
        self._fh.seek(0)
        raw = self._fh.read()
        good_end = raw.rfind(b"\n") + 1
        if good_end < len(raw):
            # A job was killed in the middle of a write: drop the partial line.
            self._fh.truncate(good_end)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        for lineno, line in enumerate(raw[:good_end].splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                self._data[rec["key"]] = rec
            except (ValueError, KeyError, TypeError):
                raise ImbError(f"cache {self.path} line {lineno} is not a cache record") from None
        self._fh.seek(0, os.SEEK_END)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def get(self, key: str) -> dict | None:
        return self._data.get(key)

    def put(self, key: str, value: dict) -> None:
        """Store ``value`` under ``key`` and make it durable before returning."""
        rec = {"key": key, **value}
        line = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._data[key] = rec

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()  # also releases the lock

    def __enter__(self) -> GenerationCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
