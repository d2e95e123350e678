"""Find and load the data of the lm-eval tasks (`lm_eval_tasks/*/utils.py` call this).

lm-eval passes the `--metadata` JSON keys and the task's `dataset_kwargs` to
the tasks' `custom_dataset` function. The data source is the first of:
1. `--metadata '{"data_dir": DIR}'` (or `qa_data_dir` / `mcqa_data_dir`);
2. the environment variable `IMB_DATA_DIR`;
3. the folder the task set was generated for (`imb tasks-path --data DIR`);
4. a published built repo: `--metadata '{"mcqa_repo": ...}'` (or `qa_repo`), env
   `IMB_MCQA_REPO` / `IMB_QA_REPO`;
5. the gated raw repo praiselab-picuslab/IMB, fetched and built once into the
   user's cache (imb_tools.data.sources.cached_build).
A DIR may be the built dataset itself or a parent holding `qa/` and `mcqa/`
(as `out/demo/`), so one `data_dir` serves `--tasks imb_mcqa,imb_qa`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from imb_tools.infra.errors import ImbError

# Splits that tell the two kinds of built folder apart.
KIND_SPLITS = {"qa": {"train", "test"}, "mcqa": {"dev", "test"}}


def built_folder(path: str | Path, kind: str) -> Path | None:
    """`path` or `path/<kind>` when it is a built folder of that kind, else None."""
    from imb_tools.data.io import built_split_files

    for candidate in (Path(path), Path(path) / kind):
        splits = set(built_split_files(candidate)) if candidate.is_dir() else set()
        if KIND_SPLITS[kind] <= splits:
            return candidate
    return None


def resolve_source(kind: str, metadata: dict) -> str:
    """The folder or Hub repo id the `kind` ("qa" or "mcqa") tasks read, per the module docstring."""
    given = [
        (f"--metadata {kind}_data_dir", metadata.get(f"{kind}_data_dir")),
        ("--metadata data_dir", metadata.get("data_dir")),
        ("IMB_DATA_DIR", os.environ.get("IMB_DATA_DIR")),
        ("the generated task set's data_dir", metadata.get("generated_data_dir")),
    ]
    for origin, value in given:
        if value:
            folder = built_folder(value, kind)
            if folder is None:
                raise ImbError(
                    f"{origin}={value}: not a built IMB-{kind.upper()} folder "
                    f"(need data/<split>-NNNNN-of-NNNNN.parquet files for splits "
                    f"{', '.join(sorted(KIND_SPLITS[kind]))}, in it or in its '{kind}/' subfolder)"
                )
            return str(folder)
    repo = metadata.get(f"{kind}_repo") or os.environ.get(f"IMB_{kind.upper()}_REPO")
    if repo:
        return str(repo)
    from imb_tools.data.sources import cached_build

    return str(cached_build(kind))


def load_for_tasks(kind: str, metadata: dict):
    """The built dataset (DatasetDict) the tasks of `kind` evaluate, with one-line errors.

    Loaded once per process and source: every subtask (60 MCQA categories)
    asks for the same dataset.
    """
    source = resolve_source(kind, metadata)
    try:
        return _load_cached(source, fingerprint(source))
    except ImbError as exc:
        raise ImbError(
            f"no IMB-{kind.upper()} data: {exc}. Give a built folder with "
            f"--metadata '{{\"data_dir\": \"DIR\"}}' or IMB_DATA_DIR=DIR"
        ) from None


@functools.lru_cache(maxsize=4)
def _load_cached(source: str, fingerprint: tuple):
    from imb_tools.data.io import load_built

    return load_built(source)


def fingerprint(source: str) -> tuple:
    """Names, sizes and times of a folder's Parquet files, so a rebuilt folder is reloaded."""
    from imb_tools.data.io import built_split_files

    if not Path(source).is_dir():
        return ()
    stats = []
    for split, files in sorted(built_split_files(source).items()):
        for file in files:
            st = os.stat(file)
            stats.append((split, file, st.st_size, st.st_mtime_ns))
    return tuple(stats)



def hash_ordered(ds, limit: int | None = None):
    """Rows sorted by the stable id hash (the paper's capped sample), the first `limit` of them."""
    from imb_tools.data.sampling import capped_in_hash_order

    return ds.select(capped_in_hash_order(list(ds["id"]), limit=limit))


_PROMPT_END = "Risposta:"


@functools.lru_cache(maxsize=8)
def split_letters(tokenizer_name: str) -> tuple[str, ...]:
    """The option letters that the tokenizer does not encode as one token after `Risposta:`.

    lm-eval scores a question in one forward pass only when every choice is a
    single token; a multi-token letter still works, just slower and with
    acc_norm differing from acc.
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_name)
    base = tok(_PROMPT_END, add_special_tokens=False)["input_ids"]
    split = []
    for letter in "ABCDE":
        whole = tok(f"{_PROMPT_END} {letter}", add_special_tokens=False)["input_ids"]
        if whole[: len(base)] != base or len(whole) - len(base) != 1:
            split.append(letter)
    return tuple(split)


def warn_if_letters_split(metadata: dict) -> None:
    """Warn (once per tokenizer) when the evaluated model's tokenizer splits " A".." E".

    lm-eval merges --model_args into the tasks' metadata, so the tokenizer
    is known here; a model we cannot load a tokenizer for is not checked.
    """
    import logging

    name = metadata.get("tokenizer") or metadata.get("pretrained")
    if not isinstance(name, str):
        return
    try:
        split = split_letters(name)
    except Exception as exc:  # an API model, an offline Hub id...: not ours to fail on
        logging.getLogger(__name__).debug("letter token check skipped for %s: %s", name, exc)
        return
    if split:
        _warn_once(name, split)


@functools.lru_cache(maxsize=8)
def _warn_once(name: str, split: tuple[str, ...]) -> None:
    import logging

    logging.getLogger("imb_tools").warning(
        "tokenizer of %s splits the option letter(s) %s after 'Risposta:' into several tokens: "
        "imb_mcqa still scores correctly but needs one forward pass per option",
        name, ", ".join(split),
    )


def require_rows(ds, what: str, metadata: dict, kind: str) -> None:
    """A subtask with no test items crashes lm-eval deep inside; say why in one line instead."""
    if len(ds) == 0:
        raise ImbError(
            f"no IMB-{kind.upper()} test items for {what} in {resolve_source(kind, metadata)}; "
            "this task set does not match the dataset: use the folder printed by "
            "`imb tasks-path --data-dir DIR`, made for that dataset's categories"
        )


def fewshot_pool(ds, column: str, value: str | None):
    """Few-shot candidates, read in order by lm-eval's `first_n` sampler: rows whose
    `column` equals `value` first, then the others, each in hash order. A small
    category still gets its 5 shots, from its own questions when it has them."""
    import datasets

    if value is None:
        return hash_ordered(ds)
    same = ds.filter(lambda v: v == value, input_columns=column)
    other = ds.filter(lambda v: v != value, input_columns=column)
    return datasets.concatenate_datasets([hash_ordered(same), hash_ordered(other)])


def check_task_set(test, column: str, categories_file: str | Path, kind: str, metadata: dict) -> None:
    """A per-category task set scores only the categories it was generated for: stop, in one
    line naming them, when the data's test split holds others (or lacks some)."""
    import json

    path = Path(categories_file)
    try:
        expected = set(json.loads(path.read_text(encoding="utf-8"))["categories"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImbError(f"{path}: cannot read this task set's categories ({exc})") from None
    found = set(test[column])
    extra, missing = sorted(found - expected), sorted(expected - found)
    if extra or missing:
        parts = []
        if extra:
            parts.append(f"data has {len(extra)} not in the set: {', '.join(extra)}")
        if missing:
            parts.append(f"the set has {len(missing)} not in the data: {', '.join(missing)}")
        raise ImbError(
            f"this per-category IMB-{kind.upper()} task set does not match "
            f"{resolve_source(kind, metadata)} ({'; '.join(parts)}); run the complete task "
            f"(imb_mcqa / imb_qa) or regenerate with `imb tasks-path --data DIR`"
        )


def capped_per_group(ds, column: str, limit: int | None):
    """The first `limit` rows of each `column` value in hash order (the paper's ~2,000 items per
    macro-category), all groups together, in hash order."""
    from imb_tools.data.sampling import capped_in_hash_order

    return ds.select(capped_in_hash_order(list(ds["id"]), list(ds[column]), limit))
