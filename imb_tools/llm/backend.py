"""The backend interface: a Completion, the Backend base class, and the spec of a server."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from imb_tools.infra.errors import ImbError


@dataclass(frozen=True)
class Completion:
    """One generated text and why generation stopped.

    ``finish_reason`` is ``"stop"`` (end of sequence or stop string) or
    ``"length"`` (the token budget ran out, so the text is probably cut).
    """

    text: str
    finish_reason: str = "stop"


# Called as each completion is ready: (index in the prompts list, completion).
ResultCallback = Callable[[int, Completion], None]


class Backend:
    """Turns prompts into texts. Subclasses implement :meth:`complete`."""

    #: Identifies the model in caches and reports (no secrets in it).
    name: str = "backend"
    #: How many prompts the backend likes to receive per call.
    batch_size: int = 8

    def complete(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        on_result: ResultCallback | None = None,
    ) -> list[Completion]:
        """Generate one completion per prompt, calling ``on_result`` as each is ready.

        ``on_result`` lets callers persist finished work before a later prompt
        fails, so a crash in the middle of a batch loses nothing already done.
        """
        raise NotImplementedError

    def generate(
        self, prompts: Sequence[str], max_new_tokens: int = 256, temperature: float = 0.0
    ) -> list[str]:
        """Generate one text per prompt (greedy when ``temperature`` is 0)."""
        return [c.text for c in self.complete(prompts, max_new_tokens, temperature)]


def parse_openai_spec(spec: str) -> tuple[str, str]:
    """Split ``"openai:<model>@<base_url>"`` into (model, base_url).

    The model name may itself contain ``@``-free slashes (``meta-llama/Llama-3-8B``);
    the base URL is everything after the last ``@``.
    """
    body = spec[len("openai:"):]
    model, sep, base_url = body.rpartition("@")
    if not sep or not model or not base_url:
        raise ImbError(
            f"bad backend spec {spec!r}: expected 'openai:<model>@<base_url>', "
            "e.g. 'openai:m42-health/Llama3-Med42-8B@http://localhost:8000/v1'"
        )
    if not base_url.startswith(("http://", "https://")):
        raise ImbError(f"bad backend spec {spec!r}: base URL must start with http:// or https://")
    return model, base_url
