"""Local path or Hub id? Decide before anything goes to the network, and fail in seconds offline.

A reference that looks local (absolute, `./`, `../`, `~`, more than one `/`, or whose first
component is an existing local folder, as `out/...` after `make demo`) is never sent to the
Hub: when it is missing, the error says the local folder is missing. A Hub id is checked
against the local cache first; when it is not there and the Hub cannot be reached
(`HF_HUB_OFFLINE`, or no name resolution within a couple of seconds), the error is one
line that says how to pass a local path instead, not a minute of retries.
"""

from __future__ import annotations

import os
import socket
import threading
from functools import lru_cache
from pathlib import Path

from imb_tools.infra.errors import ImbError

HUB_HOST = "huggingface.co"


def looks_local(ref: str | os.PathLike) -> bool:
    text = str(ref)
    if isinstance(ref, Path) or os.path.isabs(text) or text.startswith(("./", "../", "~", ".\\")):
        return True
    if text in (".", "..") or text.count("/") > 1 or "\\" in text:
        return True
    first = text.split("/", 1)[0]
    return "/" in text and Path(first).is_dir() or "/" not in text and Path(text).exists()


def hub_offline() -> bool:
    """HF_HUB_OFFLINE is set, or the Hub's name does not resolve within 2 seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return not _hub_resolves()


@lru_cache(maxsize=1)
def _hub_resolves() -> bool:
    result = []

    def resolve():
        try:
            socket.getaddrinfo(HUB_HOST, 443)
            result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=resolve, daemon=True)
    worker.start()
    worker.join(2.0)
    return bool(result and result[0])


def in_hub_cache(repo_id: str, repo_type: str = "model") -> bool:
    """Whether any snapshot of the repo is in the local Hugging Face cache."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir()
    except Exception:  # noqa: BLE001 - no cache folder yet, unreadable cache: treat as absent
        return False
    return any(r.repo_id == repo_id and r.repo_type == repo_type for r in info.repos)


def check_reference(ref: str | os.PathLike, what: str, option: str, repo_type: str = "model") -> str:
    """`ref` unchanged if it can be loaded without a long wait; else a one-line ImbError.

    what: 'model', 'built dataset folder'...; option: the flag that takes a local path.
    """
    text = str(ref)
    if looks_local(ref):
        path = Path(text).expanduser()
        if not path.exists():
            raise ImbError(f"{text}: no such {what} (a local path: nothing was looked up on the Hub)")
        return str(path)
    if text.count("/") > 1 or not text.strip():
        raise ImbError(f"{text!r} is neither a local {what} nor a Hub id (ORG/NAME)")
    if hub_offline() and not in_hub_cache(text, repo_type):
        raise ImbError(f"{text}: not in the local Hugging Face cache and the Hub cannot be reached "
                       f"(offline); pass a local folder with {option}")
    return text
