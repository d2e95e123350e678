"""Local generation with transformers: batched, left-padded, chat template when present."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from imb_tools.infra.errors import ImbError, require
from imb_tools.llm.backend import Backend, Completion, ResultCallback


class TransformersBackend(Backend):
    """A causal LM from a local folder or the Hub (float32 on CPU, the checkpoint's dtype on GPU).

    Prompts are wrapped in the tokenizer's chat template when it has one (an
    instruction-tuned model answers far better that way) and sent as plain
    text otherwise. Prompts are sorted by length before batching so a batch
    wastes little padding; results come back in the caller's order.
    """

    def __init__(
        self,
        model: str,
        batch_size: int = 8,
        device: str | None = None,
        dtype: str | None = None,
        system_prompt: str | None = None,
        use_chat_template: bool = True,
    ):
        torch = require("torch", "preprocess")
        transformers = require("transformers", "preprocess")
        from imb_tools.infra.locate import check_reference

        check_reference(model, "model", "--model")
        self.name = str(model)
        self.batch_size = max(1, int(batch_size))
        self.system_prompt = system_prompt
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # Checkpoints are often bf16: fine on a GPU, very slow on most CPUs.
        dtype = dtype or ("auto" if self.device.startswith("cuda") else "float32")
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(model)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ImbError(f"cannot load model {model!r}: {first}") from None
        self.model.to(self.device).eval()
        self._setup(use_chat_template)

    @classmethod
    def from_loaded(cls, model, tokenizer, name: str, batch_size: int = 8, use_chat_template: bool = True,
                    system_prompt: str | None = None) -> "TransformersBackend":
        """Wrap a model already in memory (e.g. a PeftModel whose adapter the caller toggles)."""
        self = cls.__new__(cls)
        self.name, self.batch_size, self.system_prompt = str(name), max(1, int(batch_size)), system_prompt
        self.model, self.tokenizer = model.eval(), tokenizer
        self.device = str(next(model.parameters()).device)
        self._setup(use_chat_template)
        return self

    def _setup(self, use_chat_template: bool) -> None:
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.use_chat_template = bool(use_chat_template and getattr(self.tokenizer, "chat_template", None))
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}

    def format_prompt(self, prompt: str) -> str:
        """The exact text the model sees for a user prompt."""
        if not self.use_chat_template:
            return prompt
        messages = [{"role": "user", "content": prompt}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _generation_config(self, max_new_tokens: int, temperature: float):
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = int(max_new_tokens)
        config.pad_token_id = self.tokenizer.pad_token_id
        if temperature and temperature > 0:
            config.do_sample = True
            config.temperature = float(temperature)
        else:
            # Greedy: clear sampling knobs an instruct model's config may carry.
            config.do_sample = False
            config.temperature = None
            config.top_p = None
            config.top_k = None
        return config

    def complete(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        on_result: ResultCallback | None = None,
    ) -> list[Completion]:
        import torch

        texts = [self.format_prompt(p) for p in prompts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        config = self._generation_config(max_new_tokens, temperature)
        # Chat templates already hold the special tokens they need.
        add_special = not self.use_chat_template
        results: list[Completion | None] = [None] * len(texts)
        from tqdm.auto import tqdm

        # One bar per call, advanced per batch: long CPU generations show an ETA.
        bar = tqdm(total=len(texts), desc=f"generating ({self.name})", unit=" answers",
                   disable=None if len(texts) > self.batch_size else True, leave=False)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True,
                add_special_tokens=add_special,
            ).to(self.device)
            with torch.inference_mode():
                out = self.model.generate(**enc, generation_config=config)
            new_tokens = out[:, enc["input_ids"].shape[1]:].tolist()
            for i, row in zip(idx, new_tokens):
                stop_at = next((k for k, t in enumerate(row) if t in self._eos_ids), None)
                if stop_at is None:
                    reason = "length" if len(row) >= max_new_tokens else "stop"
                    kept = row
                else:
                    reason, kept = "stop", row[:stop_at]
                text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
                results[i] = Completion(text, reason)
                if on_result is not None:
                    on_result(i, results[i])
            bar.update(len(idx))
        bar.close()
        return results  # type: ignore[return-value]
