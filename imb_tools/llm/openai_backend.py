"""Generation through an OpenAI-compatible HTTP server (vLLM, TGI, llama.cpp server, OpenAI).

Uses the official ``openai`` client, whose own retry loop already does what a
long batch job needs: exponential backoff with jitter (0.5 s doubling, capped
at 8 s, or the server's ``Retry-After``) on 408/409/429/5xx, timeouts and
dropped connections. Concurrency is bounded by a thread pool, so a server is
never sent more than ``max_concurrency`` requests at once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from imb_tools.infra.errors import ImbError, require
from imb_tools.llm.backend import Backend, Completion, ResultCallback

#: Environment variables searched for the API key, first set wins.
API_KEY_ENV_VARS = ("IMB_LLM_API_KEY", "OPENAI_API_KEY")


def _api_key(env_var: str | None) -> str:
    names = (env_var,) if env_var else API_KEY_ENV_VARS
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    if env_var:
        raise ImbError(f"environment variable {env_var} is not set (it should hold the API key)")
    # vLLM and most local servers accept any key when started without --api-key.
    return "EMPTY"


class OpenAIBackend(Backend):
    """Chat (default) or plain completions from an OpenAI-compatible endpoint."""

    def __init__(
        self,
        model: str,
        base_url: str,
        max_concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 120.0,
        chat: bool = True,
        system_prompt: str | None = None,
        api_key_env: str | None = None,
    ):
        openai = require("openai", "preprocess")
        self.name = f"openai:{model}"
        self.model = model
        self.base_url = base_url
        self.chat = chat
        self.system_prompt = system_prompt
        self.max_concurrency = max(1, int(max_concurrency))
        self.batch_size = self.max_concurrency * 4
        self._client = openai.OpenAI(
            api_key=_api_key(api_key_env),
            base_url=base_url,
            max_retries=int(max_retries),
            timeout=float(timeout),
        )

    def _one(self, prompt: str, max_new_tokens: int, temperature: float) -> Completion:
        try:
            return self._ask(prompt, max_new_tokens, temperature)
        except (ValueError, AttributeError, IndexError, TypeError, KeyError) as exc:  # JSON or shape
            raise ImbError(f"LLM server {self.base_url} sent a reply that is not an OpenAI-compatible "
                           f"completion ({type(exc).__name__}: {str(exc)[:80]}); is the URL the server's /v1?") from None

    def _ask(self, prompt: str, max_new_tokens: int, temperature: float) -> Completion:
        if self.chat:
            messages = [{"role": "user", "content": prompt}]
            if self.system_prompt:
                messages.insert(0, {"role": "system", "content": self.system_prompt})
            resp = self._client.chat.completions.create(
                model=self.model, messages=messages,
                max_tokens=int(max_new_tokens), temperature=float(temperature),
            )
            choice = resp.choices[0]
            text = choice.message.content or ""
        else:
            resp = self._client.completions.create(
                model=self.model, prompt=prompt,
                max_tokens=int(max_new_tokens), temperature=float(temperature),
            )
            choice = resp.choices[0]
            text = choice.text or ""
        reason = "length" if choice.finish_reason == "length" else "stop"
        return Completion(text.strip(), reason)

    def complete(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        on_result: ResultCallback | None = None,
    ) -> list[Completion]:
        openai = require("openai", "preprocess")
        results: list[Completion | None] = [None] * len(prompts)

        def report(i: int, fut) -> None:
            results[i] = fut.result()
            if on_result is not None:
                on_result(i, results[i])

        pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="imb-llm")
        futures = {
            pool.submit(self._one, p, max_new_tokens, temperature): i for i, p in enumerate(prompts)
        }
        try:
            for fut in as_completed(futures):
                report(futures[fut], fut)
        except openai.APIStatusError as exc:
            raise ImbError(
                f"LLM server {self.base_url} answered HTTP {exc.status_code} "
                f"for model {self.model!r} after retries: {str(exc.message)[:200]}"
            ) from None
        except openai.APIConnectionError as exc:
            raise ImbError(
                f"LLM server {self.base_url} unreachable after retries: {type(exc).__name__}"
            ) from None
        finally:
            # Stop queued requests, let running ones finish, and hand every
            # finished result to the caller so a failure loses no done work.
            pool.shutdown(wait=True, cancel_futures=True)
            for fut, i in futures.items():
                if results[i] is None and fut.done() and not fut.cancelled() and fut.exception() is None:
                    report(i, fut)
        return results  # type: ignore[return-value]
