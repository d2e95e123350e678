"""Where fine-tuning outputs live and how they are written, so a kill never leaves half a folder.

Layout of `imb finetune --out OUT`:
    OUT/checkpoint-<step>/   Trainer checkpoints (adapter, optimizer, scheduler, RNG, state)
    OUT/adapter/             final LoRA adapter + tokenizer + run.json (written atomically)
    OUT/adapter/run.json     settings, data counts, difficulty source, loss curve
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from imb_tools.errors import ImbError

ADAPTER_DIR = "adapter"
RUN_FILE = "run.json"


@contextlib.contextmanager
def atomic_dir(final: str | Path):
    """Yield a temporary folder beside `final`; on success it replaces `final` in one rename."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json_atomic(path: str | Path, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def resolve_adapter(path: str | Path) -> Path:
    """Accept either the adapter folder or the training `--out` folder that holds it."""
    path = Path(path)
    if (path / "adapter_config.json").is_file():
        return path
    if (path / ADAPTER_DIR / "adapter_config.json").is_file():
        return path / ADAPTER_DIR
    raise ImbError(f"{path}: no LoRA adapter here (no adapter_config.json); give the folder `imb finetune` wrote")


def base_model_of(adapter: Path) -> str:
    """The base model an adapter was trained on, as recorded by peft."""
    cfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    base = cfg.get("base_model_name_or_path")
    if not base:
        raise ImbError(f"{adapter}: adapter_config.json names no base model; pass --model")
    return base
