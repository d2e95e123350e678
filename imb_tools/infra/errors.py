"""One exception type for problems the user can fix, and one-line hints for missing extras.

The CLI turns an ImbError into a single line on stderr and exit code 2, so bad
input never ends in a traceback.
"""

from __future__ import annotations

# Distributions whose import name is not their name with '-' -> '_' (lower case).
_IMPORT_NAMES = {"faiss-cpu": "faiss", "pystemmer": "Stemmer", "scikit-learn": "sklearn", "pyyaml": "yaml"}


class ImbError(Exception):
    """A problem with the user's input or environment, said in one line."""


class MissingExtraError(ImbError):
    """An optional dependency is not installed."""

    def __init__(self, module: str, extra: str | None):
        top = module.split(".")[0]
        how = install_hint(extra) if extra else f"pip install {top}"
        super().__init__(f"this command needs '{top}', which is not installed: {how}")


def install_hint(extra: str) -> str:
    """The pip command that adds `extra` where the user installed from: the clone's folder for a
    local install (the package is on no index yet), the package name otherwise."""
    import json
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    target = "imb-toolkit"
    try:
        direct = json.loads(metadata.distribution("imb-toolkit").read_text("direct_url.json") or "{}")
        url = urlparse(direct.get("url", ""))
        if url.scheme == "file":
            target = unquote(url.path)
            import os

            here = os.path.abspath(".")
            if os.path.abspath(target) == here:
                target = "."
    except (metadata.PackageNotFoundError, ValueError):
        pass
    return f"pip install '{target}[{extra}]'"


def extra_providing(module: str) -> str | None:
    """The extra of imb-toolkit that installs `module` (its top-level import name), if any.

    Read from the installed package's own metadata, so it cannot drift from setup.cfg.
    """
    import re
    from importlib import metadata

    top = module.split(".")[0]
    try:
        requirements = metadata.requires("imb-toolkit") or []
    except metadata.PackageNotFoundError:
        return None
    preferred = None
    for req in requirements:
        m = re.match(r"\s*([A-Za-z0-9_.\-]+).*?extra\s*==\s*['\"]([^'\"]+)['\"]", req)
        if not m:
            continue
        dist, extra = m.group(1).lower(), m.group(2)
        name = _IMPORT_NAMES.get(dist, dist.replace("-", "_"))
        if name.lower() == top.lower() and extra not in ("dev",):
            preferred = preferred or extra
    return preferred


def require(module: str, extra: str):
    """Import an optional heavy module, or raise a one-line error naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        if exc.name and module.split(".")[0] != exc.name.split(".")[0]:
            raise
        raise MissingExtraError(module, extra) from None
