"""Where fine-tuning outputs live and how they are written, so a kill never leaves half a folder.

Layout of `imb finetune train --out OUT`:
    OUT/checkpoint-<step>/   Trainer checkpoints (adapter, optimizer, scheduler, RNG, state)
    OUT/adapter/             final LoRA adapter + tokenizer + run.json (written atomically)
    OUT/adapter/run.json     settings, data counts, difficulty source, loss curve
"""

from __future__ import annotations

import json
from pathlib import Path

from imb_tools.infra.errors import ImbError

ADAPTER_DIR = "adapter"
RUN_FILE = "run.json"


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
