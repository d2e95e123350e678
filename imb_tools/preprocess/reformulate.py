"""LLM reformulation of doctors' answers, as in the paper (Llama3-Med42-8B there).

The prompt asks, in Italian, for the paper's three criteria: (i) no redundancy
or colloquial language, (ii) one consistent style, (iii) readability; and for
every piece of medical content to be kept. It is versioned (PROMPT_VERSION):
change the wording, bump the version, and the cache regenerates.

A generated text is used only when it passes the checks below; otherwise the
row gets a flag with the reason and no reformulated text (the original stays in
its own column, and never fills the reformulated one, which `imb build` would
publish; in-place reformulation of one column keeps the original):

- ``empty_input``: nothing to reformulate (no generation is attempted);
- ``empty``: the model returned nothing;
- ``truncated_max_tokens``: generation stopped on the token budget;
- ``truncated_no_final_punctuation``: the text does not end with . ! ? … or a
  closing quote/bracket after one of them, so it was probably cut;
- ``not_italian``: a stopword check with spaCy's stopword lists. Fluent
  Italian prose has 35-55% of its words in the Italian list. A text is
  flagged when the share of its words in the English, Spanish, French,
  Portuguese or German list is larger than the Italian share (Spanish shares
  "una", "la"... with Italian, so a plain Italian threshold misses it), or,
  with 8+ words, when under 20% are Italian stopwords. Telegraphic lists of
  terms fail it too, which is wanted: the prompt asks for prose;
- ``too_short``: under 20% of the original's length (for originals of 200+
  characters): medical content was dropped.

Generations are cached per record (imb_tools.llm.cache), keyed by model,
prompt version and the prompt's hash, before they are checked: a killed run
resumes with nothing lost or generated twice, and changing the checks needs
no new generation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from imb_tools.llm import Backend, Completion
from imb_tools.llm.cache import GenerationCache, cache_key, text_hash

PROMPT_VERSION = "it-v1"

PROMPT_TEMPLATE = """\
Sei un medico che revisiona le risposte date dai medici su un forum di salute italiano.
Riformula la risposta qui sotto seguendo questi tre criteri:
1. elimina ridondanze, ripetizioni ed espressioni colloquiali;
2. usa uno stile coerente, chiaro e professionale, rivolgendoti al paziente con il "lei";
3. rendi il testo leggibile, con frasi complete e ben costruite.
Mantieni tutte le informazioni mediche (ipotesi diagnostiche, esami, terapie, farmaci, dosi, consigli), \
senza aggiungerne di nuove e senza ometterne. Non inserire saluti, firme, nomi di persone, recapiti o link.
Scrivi solo in italiano. Rispondi soltanto con il testo riformulato, senza premesse né commenti.
{context}
Risposta da riformulare:
{text}"""

CONTEXT_TEMPLATE = "\nDomanda del paziente (solo come contesto, da non riformulare):\n{context}\n"

MIN_WORDS_FOR_LANGUAGE_CHECK = 8
MIN_IT_STOPWORD_RATIO = 0.20
MIN_LENGTH_RATIO = 0.20
MIN_ORIGINAL_CHARS_FOR_LENGTH_CHECK = 200

_FINAL_PUNCT = re.compile(r"[.!?…][\"'»”’)\]*_]*\s*$")
_PREAMBLE = re.compile(
    r"^\s*(?:ecco|di seguito|qui di seguito)\b[^:\n]{0,80}:\s*", re.IGNORECASE
)
_WORD = re.compile(r"[^\W\d_]+")


def build_prompt(text: str, context: str | None = None) -> str:
    """The prompt for one answer, optionally with the patient's question as context."""
    ctx = CONTEXT_TEMPLATE.format(context=context.strip()) if context and context.strip() else ""
    return PROMPT_TEMPLATE.format(text=text.strip(), context=ctx)


def clean_output(text: str) -> str:
    """Drop a lead-in such as "Ecco la risposta riformulata:" and wrapping quotes."""
    text = _PREAMBLE.sub("", text.strip(), count=1).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


_OTHER_LANGUAGES = ("en", "es", "fr", "pt", "de")


def stopword_ratios(text: str) -> tuple[dict[str, float], int]:
    """Share of a text's words in each language's spaCy stopword list, and its word count."""
    import importlib

    words = _WORD.findall(text.lower())
    shares = {}
    for lang in ("it", *_OTHER_LANGUAGES):
        stop = importlib.import_module(f"spacy.lang.{lang}.stop_words").STOP_WORDS
        shares[lang] = sum(w in stop for w in words) / len(words) if words else 0.0
    return shares, len(words)


def looks_italian(text: str) -> bool:
    """The documented stopword test (see the module docstring)."""
    shares, n = stopword_ratios(text)
    if any(shares[lang] > shares["it"] for lang in _OTHER_LANGUAGES):
        return False
    return n < MIN_WORDS_FOR_LANGUAGE_CHECK or shares["it"] >= MIN_IT_STOPWORD_RATIO


def check_output(original: str, output: str, finish_reason: str = "stop") -> str | None:
    """The reason to reject a reformulation, or None when it can replace the original."""
    if not output.strip():
        return "empty"
    if finish_reason == "length":
        return "truncated_max_tokens"
    if not _FINAL_PUNCT.search(output):
        return "truncated_no_final_punctuation"
    if not looks_italian(output):
        return "not_italian"
    if (
        len(original) >= MIN_ORIGINAL_CHARS_FOR_LENGTH_CHECK
        and len(output) < MIN_LENGTH_RATIO * len(original)
    ):
        return "too_short"
    return None


@dataclass(frozen=True)
class Reformulation:
    """The text to keep, why the generation was rejected (None if accepted), its source."""

    text: str
    flag: str | None
    cached: bool

    @property
    def accepted(self) -> str | None:
        """The reformulation when it passed the checks; None otherwise. What goes into a
        separate reformulated column: a rejected row must never carry the original answer
        there, where `imb build` would publish it as a reformulation."""
        return self.text if self.flag is None else None


def refuse_filled_column(ds, column: str, source, replace: bool) -> None:
    """A column that already holds texts (e.g. the published testo_risposta_riformulata) is
    replaced only when asked: reformulating would otherwise throw it away silently."""
    from imb_tools.infra.errors import ImbError

    if replace or column not in ds.column_names:
        return
    filled = sum(1 for v in ds[column] if v not in (None, ""))
    if filled:
        raise ImbError(f"{source}: column {column!r} already holds {filled} texts; pass --replace-column to "
                       f"overwrite them, or --out-column NAME for another column")


def rejection_warning(stats: dict, records: int) -> str | None:
    """A loud line when most generations were rejected (a wrong model or prompt, not the data)."""
    accepted = stats.get("accepted", 0)
    if records and accepted < 0.5 * records:
        reasons = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in sorted(stats.items()) if k.startswith("flag:"))
        return (f"warning: only {accepted} of {records} reformulations accepted ({reasons}); rejected rows have "
                f"an empty reformulated text and a flag, and `imb build` quarantines them as empty answers")
    return None


class Reformulator:
    """Reformulates texts with a backend, through a resumable cache.

    Identical inputs are generated once. Work goes to the backend in chunks
    of ``backend.batch_size`` and each finished generation is written to the
    cache as soon as the backend reports it.
    """

    def __init__(
        self,
        backend: Backend,
        cache: GenerationCache | None = None,
        prompt_version: str = PROMPT_VERSION,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        progress: bool = True,
    ):
        self.backend = backend
        self.cache = cache
        self.prompt_version = prompt_version
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.progress = progress
        self.stats: Counter = Counter()
        self._memory: dict[str, dict] = {}

    def _lookup(self, key: str) -> dict | None:
        if self.cache is not None:
            return self.cache.get(key)
        return self._memory.get(key)

    def _store(self, key: str, prompt: str, completion: Completion) -> None:
        value = {
            "model": self.backend.name,
            "prompt_version": self.prompt_version,
            "prompt_sha256": text_hash(prompt),
            "output": completion.text,
            "finish_reason": completion.finish_reason,
        }
        if self.cache is not None:
            self.cache.put(key, value)
        else:
            self._memory[key] = value

    def __call__(
        self, texts: Sequence[str | None], contexts: Sequence[str | None] | None = None
    ) -> list[Reformulation]:
        from tqdm.auto import tqdm

        contexts = contexts if contexts is not None else [None] * len(texts)
        # generated: distinct texts sent to the model in this run; from_cache and records_generated:
        # records answered from the cache / by this run's generation (with the empty inputs they add
        # up to the records: a text that appears twice is generated once, for two records)
        self.stats.update(dict.fromkeys(("generated", "from_cache", "records_generated", "accepted"), 0))
        prompts: list[str | None] = []
        keys: list[str | None] = []
        for text, ctx in zip(texts, contexts):
            if text is None or not str(text).strip():
                prompts.append(None)
                keys.append(None)
                continue
            prompt = build_prompt(str(text), ctx)
            prompts.append(prompt)
            keys.append(cache_key(self.backend.name, self.prompt_version, prompt))

        was_cached = {k for k in keys if k is not None and self._lookup(k) is not None}
        pending: dict[str, str] = {}
        for k, p in zip(keys, prompts):
            if k is not None and k not in was_cached:
                pending.setdefault(k, p)  # type: ignore[arg-type]
        todo = list(pending.items())
        bar = tqdm(total=len(todo), desc="reformulate", unit="text", disable=not self.progress)
        try:
            step = max(1, self.backend.batch_size)
            for start in range(0, len(todo), step):
                chunk = todo[start:start + step]

                def on_result(i: int, completion: Completion, chunk=chunk) -> None:
                    key, prompt = chunk[i]
                    self._store(key, prompt, completion)
                    self.stats["generated"] += 1
                    bar.update(1)

                self.backend.complete(
                    [p for _, p in chunk], self.max_new_tokens, self.temperature, on_result=on_result
                )
        finally:
            bar.close()

        out: list[Reformulation] = []
        for text, key in zip(texts, keys):
            original = "" if text is None else str(text)
            if key is None:
                out.append(Reformulation(original, "empty_input", False))
                self.stats["flag:empty_input"] += 1
                continue
            rec = self._lookup(key)
            output = clean_output(rec["output"])
            flag = check_output(original, output, rec.get("finish_reason", "stop"))
            cached = key in was_cached
            self.stats["from_cache"] += int(cached)
            self.stats["records_generated"] += int(not cached)
            if flag:
                self.stats[f"flag:{flag}"] += 1
                out.append(Reformulation(original, flag, cached))
            else:
                self.stats["accepted"] += 1
                out.append(Reformulation(output, None, cached))
        return out


def reformulate_table(
    in_path,
    out_path,
    column: str,
    model: str,
    out_column: str | None = None,
    flag_column: str | None = None,
    context_column: str | None = None,
    cache_path=None,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    backend_kwargs: dict | None = None,
    progress: bool = True,
    replace_column: bool = False,
) -> dict:
    """Reformulate one column of a JSONL/CSV/Parquet table; every other field is kept.

    The result goes to ``out_column`` (default ``<column>_riformulata``, which for
    the forum dumps' ``testo_risposta`` is the ``testo_risposta_riformulata``
    column the builder reads) and the reason for rejecting a generation to
    ``flag_column`` (default ``<out_column>_flag``, null when accepted). A rejected row
    gets an empty reformulated text (its original stays in ``column``); an out
    column that already holds texts is refused unless ``replace_column``.
    Returns a report of counts.
    """
    from pathlib import Path

    from imb_tools.llm import make_backend
    from imb_tools.infra.tables import read_table, require_columns, set_column, write_table

    from imb_tools.infra.ownership import refuse_overwriting_input

    cache_path = Path(cache_path) if cache_path else Path(str(out_path) + ".cache.jsonl")
    refuse_overwriting_input(in_path, out_path, cache_path)  # never write over the data, nor the cache over it
    ds = read_table(in_path)
    require_columns(ds, [column] + ([context_column] if context_column else []), in_path)
    out_column = out_column or f"{column}_riformulata"
    flag_column = flag_column or f"{out_column}_flag"
    if out_column != column:
        refuse_filled_column(ds, out_column, in_path, replace_column)
    backend = make_backend(model, **(backend_kwargs or {}))
    with GenerationCache(cache_path) as cache:
        ref = Reformulator(backend, cache, max_new_tokens=max_new_tokens,
                           temperature=temperature, progress=progress)
        contexts = ds[context_column] if context_column else None
        results = ref(ds[column], contexts)
    ds = set_column(ds, out_column, [r.text if out_column == column else r.accepted for r in results])
    ds = set_column(ds, flag_column, [r.flag for r in results])
    write_table(ds, out_path)
    return {
        "records": len(results),
        "model": backend.name,
        "prompt_version": PROMPT_VERSION,
        "cache": str(cache_path),
        **{k: v for k, v in sorted(ref.stats.items())},
    }
