"""Fold a LoRA adapter into its base model, for tools that cannot load peft adapters.

lm-eval can load the adapter as it is (`--model-args pretrained=BASE,peft=ADAPTER`);
merging gives one plain transformers folder (for vLLM, the Hub, `imb eval
--model-args pretrained=MERGED`). A QLoRA adapter is merged into the base in
full precision, never into 4-bit weights.
"""

from __future__ import annotations

from pathlib import Path

from imb_tools.infra.errors import ImbError
from imb_tools.infra.atomic import atomic_dir
from imb_tools.infra.ownership import claim_output_folder, write_marker

MERGED_MARKER = ".imb-merged-model.json"
MODEL_FILES = ("config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json", "*.bin",
               "tokenizer*", "special_tokens_map.json", "added_tokens.json", "chat_template*", "vocab*",
               "merges.txt", "*.model", "README.md")
from imb_tools.finetune.artifacts import base_model_of, resolve_adapter


def merge(adapter: str, out: str, model: str | None = None, dtype: str = "auto") -> Path:
    """Write base + adapter as one model folder at `out` (atomically) and return it."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from imb_tools.finetune.train import torch_dtype

    adapter_dir = resolve_adapter(adapter)
    # The merged folder is replaced whole: only a folder an earlier merge wrote may be.
    claim_output_folder(out, MERGED_MARKER, MODEL_FILES, {"kind": "merged-model"})
    base = model or base_model_of(adapter_dir)
    from imb_tools.infra.locate import check_reference

    check_reference(base, "base model", "--model")
    try:
        base_model = AutoModelForCausalLM.from_pretrained(
            base, dtype="auto" if dtype == "auto" else torch_dtype(dtype)
        )
    except OSError as exc:
        raise ImbError(f"cannot load base model '{base}': {str(exc).splitlines()[0]}") from None
    merged = PeftModel.from_pretrained(base_model, adapter_dir).merge_and_unload()
    tok = AutoTokenizer.from_pretrained(adapter_dir)
    with atomic_dir(out) as tmp:  # replaces the whole folder: claimed above as ours
        merged.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_marker(tmp, MERGED_MARKER, {"written_by": "imb", "kind": "merged-model"})
    return Path(out)
