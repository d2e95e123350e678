"""Reformulation: output checks, cache hits, resume after a crash, table in and out."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from imb_tools.llm import Backend, Completion, make_backend
from imb_tools.llm.cache import GenerationCache
from imb_tools.preprocess.reformulate import (
    PROMPT_VERSION, Reformulator, build_prompt, check_output, clean_output, reformulate_table,
)

ORIGINAL = (
    "Gentile utente, guardi, secondo me non è niente di che, però la tosse che dura da tre "
    "settimane va vista, quindi faccia una radiografia del torace e una spirometria e poi ne "
    "parla col suo medico, che magari le prescrive un antibiotico se serve. Saluti cordiali."
)
GOOD = (
    "Una tosse che persiste da tre settimane richiede accertamenti. È indicato eseguire una "
    "radiografia del torace e una spirometria, da valutare poi con il medico curante, che "
    "potrà prescrivere un antibiotico se necessario."
)


class ScriptedBackend(Backend):
    """Answers each prompt with a scripted completion, counting calls per prompt."""

    name = "scripted"
    batch_size = 2

    def __init__(self, script, crash_after: int | None = None):
        self.script = script
        self.crash_after = crash_after
        self.calls: Counter = Counter()

    def complete(self, prompts, max_new_tokens=256, temperature=0.0, on_result=None):
        out = []
        for i, prompt in enumerate(prompts):
            if self.crash_after is not None and sum(self.calls.values()) >= self.crash_after:
                raise RuntimeError("killed")
            self.calls[prompt] += 1
            out.append(self.script(prompt))
            if on_result:
                on_result(i, out[-1])
        return out


def test_prompt_is_italian_versioned_and_keeps_content():
    prompt = build_prompt(ORIGINAL, context="Ho la tosse da tre settimane.")
    assert ORIGINAL in prompt and "Ho la tosse da tre settimane." in prompt
    for criterion in ("ridondanze", "colloquiali", "stile coerente", "leggibile", "informazioni mediche"):
        assert criterion in prompt
    assert PROMPT_VERSION
    assert clean_output('Ecco la risposta riformulata: "' + GOOD + '"') == GOOD


@pytest.mark.parametrize("output, finish, reason", [
    (GOOD, "stop", None),
    ("   ", "stop", "empty"),
    (GOOD, "length", "truncated_max_tokens"),
    (GOOD[:-1] + " e poi", "stop", "truncated_no_final_punctuation"),
    ("A cough lasting three weeks needs a chest X-ray and a spirometry test, then see your doctor.",
     "stop", "not_italian"),
    ("Una tos que dura tres semanas requiere una radiografía de tórax y una espirometría.",
     "stop", "not_italian"),
    ("Une toux qui dure depuis trois semaines nécessite une radiographie du thorax.",
     "stop", "not_italian"),
    ("Faccia una radiografia.", "stop", "too_short"),
])
def test_check_output(output, finish, reason):
    assert check_output(ORIGINAL, output, finish) == reason


def test_bad_outputs_keep_the_original_and_are_flagged():
    answers = {"uno": GOOD, "due": "", "tre": "Please see your doctor as soon as possible for this."}

    def script(prompt):
        key = next(k for k in answers if f"\n{k} {ORIGINAL}" in prompt)
        return Completion(answers[key])

    texts = [f"{k} {ORIGINAL}" for k in answers] + ["  ", None]
    out = Reformulator(ScriptedBackend(script), progress=False)(texts)
    assert [r.flag for r in out] == [None, "empty", "not_italian", "empty_input", "empty_input"]
    assert out[0].text == GOOD
    assert [r.text for r in out[1:]] == texts[1:3] + ["  ", ""]


def test_cache_hits_and_duplicates_generated_once(tmp_path):
    backend = ScriptedBackend(lambda p: Completion(GOOD))
    texts = [ORIGINAL, ORIGINAL + " Grazie.", ORIGINAL]
    with GenerationCache(tmp_path / "c.jsonl") as cache:
        ref = Reformulator(backend, cache, progress=False)
        first = ref(texts)
        assert ref.stats["generated"] == 2 and ref.stats["from_cache"] == 0
        assert ref.stats["records_generated"] + ref.stats["from_cache"] == 3  # the records add up
        again = Reformulator(backend, cache, progress=False)
        assert again(texts) == [r.__class__(r.text, r.flag, True) for r in first]
        assert again.stats["generated"] == 0 and again.stats["from_cache"] == 3
    assert sum(backend.calls.values()) == 2
    # Another model or prompt version is another key.
    with GenerationCache(tmp_path / "c.jsonl") as cache:
        other = Reformulator(backend, cache, prompt_version="it-v2", progress=False)
        other(texts[:1])
        assert other.stats["generated"] == 1


def test_resume_after_crash_with_tiny_model(tiny_llama, tmp_path):
    tiny = make_backend(str(tiny_llama), batch_size=3)

    class Counting(Backend):
        """Wraps the real tiny model; dies after `crash_after` generations."""

        name = tiny.name
        batch_size = 3

        def __init__(self, crash_after=None):
            self.crash_after = crash_after
            self.calls: Counter = Counter()

        def complete(self, prompts, max_new_tokens=256, temperature=0.0, on_result=None):
            def count(i, completion):
                if self.crash_after is not None and sum(self.calls.values()) >= self.crash_after:
                    raise RuntimeError("killed")
                self.calls[prompts[i]] += 1
                on_result(i, completion)

            return tiny.complete(prompts, max_new_tokens, temperature, on_result=count)

    texts = [f"Risposta numero {i}: il paziente ha la febbre alta." for i in range(8)]
    cache_path = tmp_path / "cache.jsonl"
    crashing = Counting(crash_after=4)
    with GenerationCache(cache_path) as cache, pytest.raises(RuntimeError, match="killed"):
        Reformulator(crashing, cache, max_new_tokens=6, progress=False)(texts)
    assert len(cache_path.read_text().splitlines()) == 4  # every finished record is on disk

    resumed = Counting()
    with GenerationCache(cache_path) as cache:
        ref = Reformulator(resumed, cache, max_new_tokens=6, progress=False)
        out = ref(texts)
    total = crashing.calls + resumed.calls
    assert len(total) == 8 and set(total.values()) == {1}  # nothing twice, nothing lost
    assert ref.stats["from_cache"] == 4 and ref.stats["generated"] == 4
    keys = [json.loads(line)["key"] for line in cache_path.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 8
    # The tiny model's output is noise: every record keeps its original, with a reason.
    assert all(r.text == t and r.flag for r, t in zip(out, texts))


def test_reformulate_table_keeps_fields_and_reuses_cache(tiny_llama, tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"ID": str(i), "testo_risposta": f"Risposta {i}: riposo e idratazione.", "categoria": "Pneumologia"}
            for i in range(3)]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    out = tmp_path / "out.parquet"
    report = reformulate_table(src, out, "testo_risposta", str(tiny_llama), max_new_tokens=4,
                               progress=False)
    assert report["records"] == 3 and report["generated"] == 3
    import datasets

    ds = datasets.Dataset.from_parquet(str(out))
    assert set(ds.column_names) == {"ID", "testo_risposta", "categoria", "testo_risposta_riformulata",
                                    "testo_risposta_riformulata_flag"}
    assert ds["ID"] == ["0", "1", "2"]
    again = reformulate_table(src, out, "testo_risposta", str(tiny_llama), max_new_tokens=4,
                              progress=False)
    assert again["generated"] == 0 and again["from_cache"] == 3
    # the tiny model's noise is rejected: flagged, no reformulated text, the original where it was
    assert ds["testo_risposta_riformulata"] == [None, None, None] and all(ds["testo_risposta_riformulata_flag"])
    assert ds["testo_risposta"] == [r["testo_risposta"] for r in rows]


def test_a_filled_reformulated_column_is_never_overwritten_unasked(tiny_llama, tmp_path):
    """The published dumps already hold testo_risposta_riformulata: reformulating again must not
    silently replace it (nor, for rejected rows, with the original answer)."""
    from imb_tools.infra.errors import ImbError

    src = tmp_path / "in.jsonl"
    rows = [{"testo_risposta": f"Risposta {i}.", "testo_risposta_riformulata": f"Riformulata {i}."} for i in range(2)]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    with pytest.raises(ImbError, match="already holds 2 texts; pass --replace-column"):
        reformulate_table(src, tmp_path / "o.jsonl", "testo_risposta", str(tiny_llama), max_new_tokens=2,
                          progress=False)
    assert not (tmp_path / "o.jsonl").exists()
    report = reformulate_table(src, tmp_path / "o.jsonl", "testo_risposta", str(tiny_llama), max_new_tokens=2,
                               progress=False, replace_column=True)
    assert report["records"] == 2
    from imb_tools.preprocess.reformulate import rejection_warning

    assert "only 0 of 2 reformulations accepted" in rejection_warning(report, 2)
