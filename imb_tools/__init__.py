"""IMB toolkit: the Italian Medical Benchmark's builders, pipeline and experiments."""

__version__ = "0.1.0"


def cache_root():
    """Where `imb` keeps its caches (generated task sets, embeddings): $IMB_CACHE_DIR or ~/.cache/imb.

    IMB_CACHE is accepted as an older name.
    """
    import os
    from pathlib import Path

    root = os.environ.get("IMB_CACHE_DIR") or os.environ.get("IMB_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "imb"
