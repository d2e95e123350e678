"""Text generation backends shared by reformulation, anonymization checks and RAG.

One small interface, two implementations:

- a local path or Hub id -> :class:`~imb_tools.llm.transformers_backend.TransformersBackend`
  (batched generation, the model's chat template when it has one, greedy by default);
- ``"openai:<model>@<base_url>"`` -> :class:`~imb_tools.llm.openai_backend.OpenAIBackend`,
  any OpenAI-compatible server such as vLLM (bounded concurrency, retries with
  exponential backoff on 429/5xx/timeouts, API key from the environment).

Heavy libraries are imported by the backend modules only, so importing this
package is instant.
"""

from __future__ import annotations

from imb_tools.infra.errors import ImbError
from imb_tools.llm.backend import Backend, Completion, ResultCallback, parse_openai_spec

__all__ = ["Backend", "Completion", "ResultCallback", "make_backend", "parse_openai_spec"]


def make_backend(spec: str, **kwargs) -> Backend:
    """Build a backend from a spec string; ``kwargs`` go to the backend's constructor.

    ``spec`` is ``"openai:<model>@<base_url>"`` for an OpenAI-compatible server,
    otherwise a local model folder or a Hub id loaded with transformers.
    """
    if not spec or not spec.strip():
        raise ImbError("empty backend spec: give a model path, a Hub id or 'openai:<model>@<url>'")
    if spec.startswith("openai:"):
        from imb_tools.llm.openai_backend import OpenAIBackend

        model, base_url = parse_openai_spec(spec)
        return OpenAIBackend(model, base_url, **kwargs)
    from imb_tools.llm.transformers_backend import TransformersBackend

    return TransformersBackend(spec, **kwargs)
