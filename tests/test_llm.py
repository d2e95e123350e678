"""Generation backends: spec parsing, local transformers, OpenAI-compatible server, cache."""

from __future__ import annotations

import json

import pytest

from imb_tools.infra.errors import ImbError
from imb_tools.llm import Completion, make_backend, parse_openai_spec
from imb_tools.llm.cache import GenerationCache, cache_key
from echo_server import EchoServer


def test_parse_openai_spec():
    assert parse_openai_spec("openai:m42-health/Llama3-Med42-8B@http://localhost:8000/v1") == (
        "m42-health/Llama3-Med42-8B", "http://localhost:8000/v1")
    for bad in ("openai:model", "openai:@http://x", "openai:m@ftp://x"):
        with pytest.raises(ImbError):
            parse_openai_spec(bad)
    with pytest.raises(ImbError):
        make_backend("  ")


def test_missing_local_model_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ImbError, match=r"nope: no such model \(a local path"):
        make_backend(str(tmp_path / "nope"))


@pytest.fixture(scope="module")
def tiny_backend(tiny_llama):
    return make_backend(str(tiny_llama), batch_size=2)


def test_transformers_backend_batches_in_order(tiny_backend):
    assert tiny_backend.use_chat_template
    assert tiny_backend.format_prompt("ciao").endswith("<|assistant|>\n")
    prompts = ["Il paziente ha febbre.", "ciao", "Dolore toracico da tre giorni, cosa fare?"]
    seen = []
    out = tiny_backend.complete(prompts, max_new_tokens=4, on_result=lambda i, c: seen.append(i))
    assert sorted(seen) == [0, 1, 2]
    assert all(isinstance(c, Completion) for c in out)
    # Greedy is deterministic.
    assert tiny_backend.generate(prompts, max_new_tokens=4) == [c.text for c in out]


def test_transformers_finish_reason(tiny_backend, monkeypatch):
    vocab = set(range(len(tiny_backend.tokenizer)))
    monkeypatch.setattr(tiny_backend, "_eos_ids", vocab)  # every token ends the text
    assert tiny_backend.complete(["ciao"], max_new_tokens=5) == [Completion("", "stop")]
    monkeypatch.setattr(tiny_backend, "_eos_ids", set())  # nothing ends it
    assert tiny_backend.complete(["ciao"], max_new_tokens=5)[0].finish_reason == "length"


def test_openai_backend_retries_and_bounds_concurrency(monkeypatch):
    monkeypatch.setenv("IMB_LLM_API_KEY", "sk-test-secret")
    with EchoServer(fail_first=1, delay=0.05) as server:
        backend = make_backend(f"openai:tiny/model@{server.url}", max_concurrency=2, max_retries=3)
        prompts = [f"domanda {i}" for i in range(7)] + ["testo lungo"]
        out = backend.complete(prompts, max_new_tokens=8)
    assert [c.text for c in out] == [f"eco: {p}" for p in prompts]
    assert out[-1].finish_reason == "length" and out[0].finish_reason == "stop"
    assert server.requests == len(prompts) + 1  # one 429, retried
    assert server.max_in_flight == 2
    assert server.auth == {"Bearer sk-test-secret"}


def test_openai_backend_gives_up_with_one_line_error(monkeypatch):
    monkeypatch.setenv("IMB_LLM_API_KEY", "sk-test-secret")
    with EchoServer(fail_first=10**6, status=503) as server:
        backend = make_backend(f"openai:m@{server.url}", max_concurrency=1, max_retries=2)
        with pytest.raises(ImbError, match="HTTP 503") as err:
            backend.generate(["ciao"])
    assert server.requests == 3
    assert "sk-test-secret" not in str(err.value)


def test_openai_backend_plain_completions_and_unreachable_server(monkeypatch):
    monkeypatch.delenv("IMB_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with EchoServer() as server:
        backend = make_backend(f"openai:m@{server.url}", chat=False)
        assert backend.generate(["ciao"]) == ["eco: ciao"]
    assert server.auth == {"Bearer EMPTY"}  # vLLM without --api-key accepts any key
    dead = make_backend(f"openai:m@{server.url}", max_retries=0, timeout=2)
    with pytest.raises(ImbError, match="unreachable"):
        dead.generate(["ciao"])


def test_a_reply_that_is_no_completion_is_one_line(monkeypatch):
    monkeypatch.setenv("IMB_LLM_API_KEY", "sk-test-secret")
    for chat in (True, False):
        with EchoServer(garbage=True) as server:
            backend = make_backend(f"openai:m@{server.url}", chat=chat, max_retries=0)
            with pytest.raises(ImbError, match="not an OpenAI-compatible completion") as err:
                backend.generate(["ciao"])
        assert "\n" not in str(err.value) and "sk-test-secret" not in str(err.value)


def test_openai_backend_named_key_env_must_exist(monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(ImbError, match="MY_KEY"):
        make_backend("openai:m@http://127.0.0.1:9/v1", api_key_env="MY_KEY")


def test_cache_persists_and_repairs_a_torn_write(tmp_path):
    path = tmp_path / "c.jsonl"
    k1, k2 = cache_key("m", "v1", "uno"), cache_key("m", "v1", "due")
    assert k1 != cache_key("m", "v2", "uno") != cache_key("m2", "v1", "uno")
    with GenerationCache(path) as cache:
        cache.put(k1, {"output": "primo"})
        with pytest.raises(ImbError, match="in use"):
            GenerationCache(path)
    with open(path, "ab") as fh:  # a kill in the middle of a write
        fh.write(b'{"key": "' + k2.encode() + b'", "outp')
    with GenerationCache(path) as cache:
        assert len(cache) == 1 and cache.get(k1)["output"] == "primo" and k2 not in cache
        cache.put(k2, {"output": "secondo"})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["output"] for line in lines] == ["primo", "secondo"]
