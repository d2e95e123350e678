"""Where the IMB tasks read their data, and the one order they read it in.

lm-eval hands a task's `custom_dataset` function the `--metadata` JSON keys (and the
task's `dataset_kwargs`) as keyword arguments. The data is the first of:

1. a local build: `--metadata '{"mcqa_data_dir": DIR}'` / `qa_data_dir`, then `data_dir`,
   then the environment variable `IMB_DATA_DIR`, then `generated_data_dir` (what a task
   set made for one build defaults to, see tasksets.py);
2. a built repo named at run time: `--metadata '{"mcqa_repo": "ORG/NAME"}'` / `qa_repo`,
   or `IMB_MCQA_REPO` / `IMB_QA_REPO`;
3. the published built dataset, the YAML's `dataset_path` (passed on as the metadata
   key `published_dataset`).

A local build is a folder written by `imb build`: Parquet shards
`data/<split>-NNNNN-of-NNNNN.parquet`, a README whose YAML has `configs`, and the marker
`.imb-build.json` (`{"written_by": "imb build", "dataset": "imb-mcqa" | "imb-qa",
"fingerprint": ..., "splits": {split: rows}}`), which is what makes a folder a build: a
split with no rows has no shard and is still a split. DIR may be the build itself or a
parent holding `qa/` and `mcqa/` (as `out/demo/`), so one `data_dir` serves both kinds.
"""

from __future__ import annotations

import functools
from functools import lru_cache
import hashlib
import html
import json
import logging
import os
import re
import unicodedata
from pathlib import Path

from . import TaskError

MARKER = ".imb-build.json"
DATASETS = {"mcqa": "imb-mcqa", "qa": "imb-qa"}
ENV_DATA_DIR = "IMB_DATA_DIR"
_SHARD = re.compile(r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")
# The hash that orders items (the capped IMB-QA sample, few-shot examples): stable when the
# data grows, independent of file order; the IMB toolkit's capped samples use the same one.
_ORDER_SALT = b"imb-split-v1\x00"


def _hint() -> str:
    return "give a local build with --metadata '{\"data_dir\": \"DIR\"}' or IMB_DATA_DIR=DIR"


# ---------------------------------------------------------------- builds
def read_marker(folder: str | Path) -> dict | None:
    """The marker of a folder written by `imb build`, or None."""
    try:
        value = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict) or value.get("written_by") != "imb build" \
            or value.get("dataset") not in DATASETS.values():
        return None
    return value


def find_build(path: str | Path, kind: str) -> Path | None:
    """`path` or `path/<kind>` when `imb build` marked it as a build of `kind` ("mcqa" or "qa")."""
    for candidate in (Path(path), Path(path) / kind):
        marker = read_marker(candidate)
        if marker is not None and marker["dataset"] == DATASETS[kind]:
            return candidate
    return None


def _not_a_build(origin: str, value: str, kind: str) -> TaskError:
    other = next(k for k in DATASETS if k != kind)
    why = (f"it holds {DATASETS[other].upper()}" if find_build(value, other) else
           f"no {MARKER} written by 'imb build', in it or in its '{kind}/' subfolder")
    return TaskError(f"{origin}={value}: not a built {DATASETS[kind].upper()} folder ({why})")


def shard_files(folder: str | Path) -> dict[str, list[str]]:
    """split name -> its Parquet shards, in order."""
    splits: dict[str, list[str]] = {}
    for f in sorted((Path(folder) / "data").glob("*.parquet")):
        match = _SHARD.match(f.name)
        if match:
            splits.setdefault(match["split"], []).append(str(f))
    return splits


def resolve_source(kind: str, metadata: dict) -> str | None:
    """The build folder or repo id the `kind` tasks read, per the module docstring; None when
    nothing names one (not even the YAML's published dataset)."""
    given = [
        (f"--metadata {kind}_data_dir", metadata.get(f"{kind}_data_dir")),
        ("--metadata data_dir", metadata.get("data_dir")),
        (ENV_DATA_DIR, os.environ.get(ENV_DATA_DIR)),
        ("the task set's generated_data_dir", metadata.get("generated_data_dir")),
    ]
    for origin, value in given:
        if value:
            folder = find_build(str(value), kind)
            if folder is None:
                raise _not_a_build(origin, str(value), kind)
            return str(folder)
    env = f"IMB_{kind.upper()}_REPO"
    for origin, value in ((f"--metadata {kind}_repo", metadata.get(f"{kind}_repo")),
                          (env, os.environ.get(env))):
        if value:
            if Path(str(value)).exists():  # a local folder given as the repo: it must be a build
                folder = find_build(str(value), kind)
                if folder is None:
                    raise _not_a_build(origin, str(value), kind)
                return str(folder)
            return str(value)
    published = metadata.get("published_dataset")
    return str(published) if published else None


def load(kind: str, metadata: dict):
    """The DatasetDict the `kind` tasks evaluate, every split of the build (empty ones included).

    Loaded once per process and source (a per-category set's 60 subtasks ask for the
    same data), and again when the folder's files change.
    """
    source = resolve_source(kind, metadata)
    if source is None:
        raise TaskError(f"no {DATASETS[kind].upper()} data named: {_hint()}")
    return _load_cached(kind, source, _signature(source), source == metadata.get("published_dataset"))


def _signature(source: str) -> tuple:
    """Names, sizes and times of a local build's marker and shards, so a rebuilt folder is reloaded."""
    folder = Path(source)
    if not folder.is_dir():
        return ()
    files = [folder / MARKER] + [Path(f) for fs in shard_files(folder).values() for f in fs]
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists())


@functools.lru_cache(maxsize=4)
def _load_cached(kind: str, source: str, signature: tuple, published: bool):
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the per-split "Generating" bars of a local read are noise
    try:
        if signature:
            marker = read_marker(source) or {}
            quiet = logging.getLogger("datasets")
            level = quiet.level
            quiet.setLevel(logging.CRITICAL)  # its log line of a bad shard would be a second line
            try:
                dsd = datasets.load_dataset("parquet", data_files=shard_files(source))
            except Exception as exc:  # a cut or overwritten shard: pyarrow's and datasets' errors vary
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise TaskError(f"{source}: cannot read the build's Parquet shards ({first}); "
                                "rebuild it with `imb build`") from None
            finally:
                quiet.setLevel(level)
            splits = marker.get("splits") if isinstance(marker.get("splits"), dict) else {}
        else:
            dsd, splits = _load_repo(kind, source, published), {}
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
    if not dsd:
        raise TaskError(f"{source}: the build holds no rows in any split")
    features = next(iter(dsd.values())).features
    for split in splits:  # a split the build made empty is still a split: an empty Dataset
        if split not in dsd:
            dsd[split] = datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    return dsd


def _load_repo(kind: str, repo: str, published: bool):
    import datasets

    try:
        return datasets.load_dataset(repo)
    except Exception as exc:  # the Hub's errors vary by cause (offline, gated, missing): one line
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        note = " (the YAML's dataset_path: a placeholder until the built dataset is published)" \
            if published else ""
        raise TaskError(f"cannot load {DATASETS[kind].upper()} from '{repo}'{note}: {first}; "
                            f"{_hint()}") from None


def build_fingerprint(source: str) -> str | None:
    """A local build's fingerprint as its marker records it (None for a repo or an old build)."""
    marker = read_marker(source) if Path(source).is_dir() else None
    value = (marker or {}).get("fingerprint")
    return value if isinstance(value, str) and value else None


_TAG = re.compile(r"<[^<>]{0,300}>")  # an HTML/XML tag


def markup_free(text: str) -> str:
    """The text a reader sees: HTML tags dropped (each one a space), entities decoded (`&egrave;`
    is `è`). A re-crawl that adds markup does not make another question or another answer."""
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return text


def fold_text(text: str) -> str:
    """The one text key: accents removed, lower case, every run of other characters one space.

    Task names are made from it and the RAG provenance check compares answers with it; the
    IMB toolkit imports it from here (one copy): its category names compare by it, MCQA id
    prefixes are made from it, and a record's split is a function of its folded question.

    Defined as: NFKD, drop every character with a combining class, lower case, every run of
    characters other than a-z and 0-9 one space, trimmed. Computed one character at a time
    from a table (`_fold_slowly` is the definition; the table holds its value for each
    character below U+20000), so a forum question folds in C, not in a Python loop.
    """
    if text.isascii():
        data = text.encode()
    else:
        # Most Italian text is ASCII once its accents (combining marks after NFKD) are gone:
        # then bytes do the rest in C. Anything else left (a typographic quote, an emoji, another
        # mark) takes the table, so the result is the definition's either way.
        data = unicodedata.normalize("NFKD", text).encode()
        for mark in _COMMON_MARKS:
            data = data.replace(mark, b"")
        if not data.isascii():
            folded = " ".join(text.translate(_fold_table()).split())
            return folded if folded.isascii() else _fold_slowly(text)  # a character past the table
    return b" ".join(data.translate(_ASCII_FOLD).split()).decode()


_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
# grave, acute, circumflex, tilde, diaeresis, cedilla: the marks of Italian and its neighbours
_COMMON_MARKS = tuple(chr(c).encode() for c in (0x300, 0x301, 0x302, 0x303, 0x308, 0x327))
# ASCII: A-Z to a-z, a-z and 0-9 kept, everything else a separator
_ASCII_FOLD = bytes(c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))


def _fold_slowly(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return _NOT_ALNUM.sub(" ", text).strip()


@lru_cache(maxsize=1)
def _fold_table() -> tuple:
    """fold of each character below U+20000 (BMP, emoji, mathematical letters): '' for a
    combining mark, ' ' for a separator, else its letters. A run of a text's characters
    folds to the concatenation of their folds, as NFKD decomposes character by character
    and only combining marks, all dropped, are reordered."""
    out = []
    for cp in range(0x20000):
        folded = unicodedata.normalize("NFKD", chr(cp))
        folded = _NOT_ALNUM.sub(" ", "".join(ch for ch in folded if not unicodedata.combining(ch)).lower())
        out.append(None if not folded else " " if folded == " " else folded)
    return tuple(out)


# ---------------------------------------------------------------- tables
def labels_to_names(ds, columns):
    """ClassLabel columns as their label names (built IMB-QA stores category, macro_category
    and source as ints; prompts, filters and tables want the names), where they stand."""
    import datasets

    order = list(ds.column_names)
    for column in columns:
        feature = ds.features.get(column)
        if isinstance(feature, datasets.ClassLabel):
            names = [None if v is None else feature.int2str(v) for v in ds[column]]
            ds = ds.rename_column(column, f"__labels_{column}") \
                .add_column(column, names, feature=datasets.Value("string")) \
                .remove_columns(f"__labels_{column}")
    return ds.select_columns(order)


def order_hash(item_id: str) -> int:
    """A stable 64-bit hash of an id: the "hash order"."""
    return int.from_bytes(hashlib.blake2b(_ORDER_SALT + item_id.encode("utf-8"), digest_size=8).digest(), "big")


def hash_order(ids) -> list[int]:
    """Positions of `ids` sorted by their hash (ties, which need equal ids, by id)."""
    return sorted(range(len(ids)), key=lambda i: (order_hash(str(ids[i])), str(ids[i])))


def hash_ordered(ds):
    """The rows in hash order of their ids."""
    return ds.select(hash_order(list(ds["id"])))


def capped_per_group(ds, column: str, limit: int | None):
    """The first `limit` rows of each `column` value in hash order (the paper's ~2,000 items per
    macro-category), all groups together, in hash order."""
    taken: dict = {}
    keep = []
    groups = list(ds[column])
    for i in hash_order(list(ds["id"])):
        if limit is None or taken.get(groups[i], 0) < limit:
            taken[groups[i]] = taken.get(groups[i], 0) + 1
            keep.append(i)
    return ds.select(keep)


def fewshot_pool(ds, column: str, value: str | None):
    """Few-shot candidates, read in order by lm-eval's `first_n` sampler: rows whose `column`
    equals `value` first, then the others, each in hash order; a small category still gets
    its shots, from its own questions when it has them."""
    import datasets

    if value is None:
        return hash_ordered(ds)
    same = ds.filter(lambda v: v == value, input_columns=column)
    other = ds.filter(lambda v: v != value, input_columns=column)
    return datasets.concatenate_datasets([hash_ordered(same), hash_ordered(other)])


def require_rows(ds, what: str, kind: str, metadata: dict) -> None:
    """A subtask with no test items crashes lm-eval deep inside; say why in one line instead."""
    if len(ds) == 0:
        raise TaskError(
            f"no {DATASETS[kind].upper()} test items for {what} in {resolve_source(kind, metadata)}; "
            "a per-category task set works only for the build it was made for (make one for this "
            "build: lm_eval_tasks/make_category_tasks.py --data DIR, or `imb tasks path --data DIR`)"
        )


def check_task_set(test, column: str, categories_file: str | Path, kind: str, metadata: dict) -> None:
    """A per-category task set scores only the categories it was made for: stop, in one line
    naming them, when the test split holds others (or lacks some)."""
    path = Path(categories_file)
    try:
        expected = set(json.loads(path.read_text(encoding="utf-8"))["categories"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TaskError(f"{path}: cannot read this task set's categories ({exc})") from None
    found = set(test[column])
    extra, missing = sorted(found - expected), sorted(expected - found)
    if extra or missing:
        parts = []
        if extra:
            parts.append(f"data has {len(extra)} not in the set: {', '.join(extra)}")
        if missing:
            parts.append(f"the set has {len(missing)} not in the data: {', '.join(missing)}")
        raise TaskError(
            f"this per-category {DATASETS[kind].upper()} task set does not match "
            f"{resolve_source(kind, metadata)} ({'; '.join(parts)}); run the complete task "
            "(imb_mcqa / imb_qa) or make the set for this build "
            "(lm_eval_tasks/make_category_tasks.py --data DIR, or `imb tasks path --data DIR`)"
        )
