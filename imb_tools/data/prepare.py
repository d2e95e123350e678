"""The one build path: a validation pass over a raw file, record by record.

Each dataset's normalizer (data/normalize.py) is the specification of its records;
it exists once and this engine runs it. Pass 1 streams the raw file, normalizes and
validates each record and writes the valid ones, with their position and four 64-bit
keys (id, id order, content, split), to one Arrow stream of candidates. Then
duplicates and id conflicts are decided from the keys alone (numpy, 32 bytes per
record), by rules that do not depend on the order of the file. Pass 2 streams the
candidates again and hands each survivor to its split's sink. Memory stays flat:
texts are never held. A dataset whose records depend on the file as a whole (IMB-MCQA's
percentage scale) reads it once more first (`Kind.survey`).

Duplicate rules (order-independent):
- same id, different contents (`id_conflict`): the content with the smallest
  content key stays, the others are quarantined;
- same id, same content: one copy is considered, the others are `same_id`
  duplicates (also for a losing content: one quarantine entry per content);
- same content under several ids: the id with the smallest order key stays, i.e.
  the smallest upstream number (a re-crawl gives old content new, larger numbers),
  then other ids by hash (`same_content_other_id` duplicates).
A split is a function of the question text (data/splits.py), so whichever id
survives, a question never changes split when records are added or reordered.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from imb_tools.data.schema import has_any, is_forbidden
from imb_tools.data.splits import check_fractions, id_hash
from imb_tools.infra.errors import ImbError

KEYS = ("_idh", "_ord", "_ck", "_sk")  # id hash, id order key, content key, split hash
EXTRA_FIELDS = [pa.field("_pos", pa.int64()), *(pa.field(k, pa.uint64()) for k in KEYS)]


@dataclass
class Kind:
    """What differs between IMB-QA and IMB-MCQA for the pass: pure definitions (data/kinds.py)."""

    name: str
    features: "datasets.Features"
    # the raw file as blocks of items (a record, or a (category, record) pair), in file order,
    # and the items of one block (where a block of JSON lines is parsed)
    iter_blocks: Callable[[Path], Iterator]
    block_items: Callable[[object], Iterable]
    raw_of: Callable[[object], dict]  # item -> its raw record
    # (item, raw, conventions) -> (record, None) or (None, Rejection)
    normalize: Callable[[object, dict, object], tuple]
    # (item, raw) -> what the quarantine keeps of it: published fields only (normalize.*_quarantine_view)
    quarantine_view: Callable[[object, dict], dict]
    required: Mapping[str, tuple[str, ...]]
    content_key: Callable[[dict], int]
    split_key: Callable[[dict], int]
    order_id: Callable[[dict], str | None]  # the upstream id that orders duplicates (normalize.id_order_key)
    eval_splits: tuple[str, ...]
    rest_split: str
    # conventions decided once per file from a first read (IMB-MCQA), passed to normalize
    survey: Callable[[Iterator], object] | None = None

    def iter_items(self, path: Path) -> Iterator:
        """Every item of the file, in order (a first read, for `survey`)."""
        for block in self.iter_blocks(path):
            yield from self.block_items(block)

    @property
    def splits(self) -> list[str]:
        return [*self.eval_splits, self.rest_split]

    @property
    def candidate_schema(self) -> pa.Schema:
        schema = self.features.arrow_schema
        return pa.schema([*schema, *EXTRA_FIELDS], metadata=schema.metadata)


@dataclass
class ChunkResult:
    """Pass 1 over one chunk: valid records as an Arrow table with their keys, rejections
    (position, reason, detail, quarantine view) and the fields seen."""

    table: pa.Table
    rejects: list = field(default_factory=list)
    n_in: int = 0
    required_seen: set = field(default_factory=set)
    fields_found: set = field(default_factory=set)


@dataclass
class PassResult:
    report: dict
    quarantine_path: Path


def _label_indexes(kind: Kind) -> dict[str, dict[str, int]]:
    import datasets

    return {name: {label: i for i, label in enumerate(feat.names)}
            for name, feat in kind.features.items() if isinstance(feat, datasets.ClassLabel)}


def process_block(kind: Kind, block, conventions=None) -> ChunkResult:
    """Pass 1 for one block of the file, one record at a time; positions count from the
    block's start (iter_results adds the block's offset)."""
    from imb_tools.data.normalize import id_order_key

    result = ChunkResult(table=None)
    labels = _label_indexes(kind)
    names = list(kind.features)
    columns: dict[str, list] = {name: [] for name in [*names, "_pos", *KEYS]}
    position = -1
    for position, item in enumerate(kind.block_items(block)):
        raw = kind.raw_of(item)
        if len(result.fields_found) < 200:
            result.fields_found.update(raw)
        missing = None
        for fname, aliases in kind.required.items():
            if has_any(raw, aliases):
                result.required_seen.add(fname)
            elif missing is None:
                missing = fname
        if missing is not None:
            result.rejects.append((position, f"missing_{missing}", f"field '{missing}' is absent",
                                   kind.quarantine_view(item, raw)))
            continue
        record, rejection = kind.normalize(item, raw, conventions)
        if rejection is not None:
            result.rejects.append((position, rejection.reason, rejection.detail, kind.quarantine_view(item, raw)))
            continue
        for name in names:
            value = record[name]
            columns[name].append(labels[name][value] if name in labels else value)
        columns["_pos"].append(position)
        idh = id_hash(record["id"])
        columns["_idh"].append(idh)
        columns["_ord"].append(id_order_key(kind.order_id(record), idh))
        columns["_ck"].append(kind.content_key(record))
        columns["_sk"].append(kind.split_key(record))
    result.n_in = position + 1
    result.table = pa.Table.from_pydict(columns, schema=kind.candidate_schema)
    return result


def iter_results(kind: Kind, path: Path, conventions=None, pool=None, workers: int = 1) -> Iterator[ChunkResult]:
    """Pass 1 over the file, block by block, in file order, positions counted from the file's start.

    The one reader (kind.iter_blocks) runs here; with a `pool` of `workers` processes
    (start_pool) each block is read (a span of JSON lines is parsed there) and normalized
    by `process_block` in a worker (the same function: no rule exists twice) and gathered
    in file order, so the output is byte-identical whatever the number of processes.
    """
    offset = 0
    for result in _results(kind, path, conventions, pool, workers):
        if offset:
            result.table = result.table.set_column(
                result.table.schema.get_field_index("_pos"), "_pos",
                pa.compute.add(result.table.column("_pos"), pa.scalar(offset, pa.int64())))
            result.rejects = [(p + offset, *rest) for p, *rest in result.rejects]
        offset += result.n_in
        yield result


def _results(kind, path, conventions, pool, workers) -> Iterator[ChunkResult]:
    if pool is None:
        for block in kind.iter_blocks(path):
            yield process_block(kind, block, conventions)
        return
    from collections import deque

    pending: deque = deque()
    for block in kind.iter_blocks(path):
        pending.append(pool.apply_async(_worker_block, (block,)))
        if len(pending) > 3 * workers:  # bounded: never more than a few blocks in flight
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def start_pool(kind: Kind, conventions, workers: int):
    """A pool of `workers` forked processes holding the kind and the file's conventions.

    fork, not spawn: spawn re-imports the caller's main module, so `imb_qa.build()` called
    from a script without an `if __name__ == "__main__":` guard would start itself again.
    Started before the progress bar and the Arrow writers start threads of their own."""
    import multiprocessing

    return multiprocessing.get_context("fork").Pool(workers, initializer=_worker_init,
                                                    initargs=(kind, conventions))


_WORKER: dict = {}


def _worker_init(kind: Kind, conventions) -> None:
    _WORKER.update(kind=kind, conventions=conventions)


def _worker_block(block) -> ChunkResult:
    return process_block(_WORKER["kind"], block, _WORKER["conventions"])


def default_workers(path: Path) -> int:
    """Processes for pass 1: one for a file under 64 MB (starting processes costs more than
    it saves) or where fork is not the safe way to start them (not Linux), else the CPUs
    this process may use, at most 4."""
    import os
    import sys

    if Path(path).stat().st_size < 64 << 20 or not sys.platform.startswith("linux"):
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def decide_duplicates(idh: np.ndarray, ck: np.ndarray, ordk: np.ndarray | None = None) -> np.ndarray:
    """Per candidate: 0 keep, 1 id_conflict, 2 same_id duplicate, 3 same_content_other_id duplicate.

    Depends only on the multiset of (id hash, content key, order key) triples, never on
    their order; among identical (id, content) copies the first in the file is the one
    kept (they are the same record, so only the row order of the output can tell). One
    content under several ids keeps the id with the smallest order key (default: the id hash).
    """
    n = len(idh)
    status = np.zeros(n, dtype=np.int8)
    if n == 0:
        return status
    if ordk is None:
        ordk = idh
    pos = np.arange(n)
    order = np.lexsort((pos, ck, idh))  # by id hash, then content key, then position
    s_idh, s_ck = idh[order], ck[order]
    new_id = np.empty(n, dtype=bool)
    new_id[0] = True
    new_id[1:] = s_idh[1:] != s_idh[:-1]
    group = np.cumsum(new_id) - 1
    winner_ck = s_ck[new_id][group]  # the smallest content key of each id
    same_pair = np.zeros(n, dtype=bool)
    same_pair[1:] = (s_idh[1:] == s_idh[:-1]) & (s_ck[1:] == s_ck[:-1])
    same_id = same_pair  # extra copies of one (id, content), kept or not, are collapsed
    conflict = (s_ck != winner_ck) & ~same_pair  # one quarantine entry per losing content
    status[order[conflict]] = 1
    status[order[same_id]] = 2
    kept = order[~conflict & ~same_id]  # one per id
    order2 = np.lexsort((idh[kept], ordk[kept], ck[kept]))  # by content key, then order key, then id hash
    c = kept[order2]
    c_ck = ck[c]
    other_id = np.zeros(len(c), dtype=bool)
    other_id[1:] = c_ck[1:] == c_ck[:-1]
    status[c[other_id]] = 3
    return status


def split_of_hashes(sk: np.ndarray, fractions: Mapping[str, float], splits: list[str]) -> np.ndarray:
    """Vectorized splits.split_of_hash: the index into `splits` (eval splits, then rest)."""
    b = sk.astype(np.float64) / 2.0**64
    out = np.full(len(sk), len(splits) - 1, dtype=np.int64)
    edge = 0.0
    todo = np.ones(len(sk), dtype=bool)
    for i, (_, frac) in enumerate(fractions.items()):
        edge += frac
        hit = todo & (b < edge)
        out[hit] = i
        todo &= ~hit
    return out


def _json_safe(value):
    """NaN and infinities (quarantined as bad values) written as strings: bare NaN is not JSON."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return repr(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _quarantine_line(position: int, reason: str, detail: str, record: dict, rec_id=None) -> str:
    """One quarantine entry: position, reason, detail, the published id when there is one, and
    `record`, the published fields only (an allow-list). The name guard is a second net."""
    leaked = [k for k in record if is_forbidden(k)]
    if leaked:  # cannot happen with the published names; a bug if it does
        raise AssertionError(f"never-publish field {leaked} in a quarantine view")
    return json.dumps(_json_safe({"position": position, "reason": reason, "detail": detail, "id": rec_id,
                                  "record": record}), ensure_ascii=False, allow_nan=False) + "\n"


def _readable(kind: Kind, row: dict) -> dict:
    import datasets

    out = {}
    for name, feat in kind.features.items():
        value = row[name]
        if isinstance(feat, datasets.ClassLabel) and value is not None:
            value = feat.int2str(value)
        out[name] = value
    return out


def run_pass(kind: Kind, raw_path: Path, work_dir: Path, fractions: Mapping[str, float],
             sink, progress: bool = True, workers: int | None = None) -> PassResult:
    """Validate `raw_path` into `sink` (write(split, table), close()); quarantine and report in work_dir.

    workers: processes for pass 1 (None: default_workers); the output does not depend on it."""
    check_fractions(fractions)
    unknown = set(fractions) - set(kind.eval_splits)
    if unknown:
        rest = [x for x in kind.splits if x not in kind.eval_splits]
        raise ImbError(f"no fraction can be set for {sorted(unknown)} in {kind.name}: fractions are set for "
                       f"{list(kind.eval_splits)}" + (f", and {rest[0]} gets the rest" if rest else ""))
    fractions = {s: fractions[s] for s in kind.eval_splits if s in fractions}
    work_dir.mkdir(parents=True, exist_ok=True)
    quarantine_path = work_dir / "quarantine.jsonl"
    conventions = kind.survey(kind.iter_items(raw_path)) if kind.survey else None
    workers = default_workers(raw_path) if workers is None else workers
    pool = start_pool(kind, conventions, workers) if workers > 1 else None
    try:
        report = _passes(kind, raw_path, work_dir, fractions, sink, progress, conventions, pool, workers)
    finally:
        if pool is not None:
            pool.terminate()  # an error or an interrupt leaves no worker behind
    return PassResult(report=report, quarantine_path=quarantine_path)


def _passes(kind, raw_path, work_dir, fractions, sink, progress, conventions, pool, workers) -> dict:
    rejects_path = work_dir / "rejected.jsonl"
    quarantine_path = work_dir / "quarantine.jsonl"
    candidates_path = work_dir / "candidates.arrows"
    reasons: Counter = Counter()
    required_seen: set = set()
    fields_found: set = set()
    key_parts: dict[str, list] = {k: [] for k in KEYS}
    n_in = 0

    from tqdm.auto import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, CI), so errors stay one line.
    bar = tqdm(desc=f"building {kind.name}", unit=" rec", disable=None if progress else True, mininterval=1.0)
    with rejects_path.open("w", encoding="utf-8") as rejected, \
            pa.ipc.new_stream(str(candidates_path), kind.candidate_schema) as candidates:
        for chunk in iter_results(kind, raw_path, conventions, pool, workers):
            n_in += chunk.n_in
            bar.update(chunk.n_in)
            required_seen |= chunk.required_seen
            if len(fields_found) < 200:
                fields_found |= chunk.fields_found
            for position, reason, detail, view in chunk.rejects:
                reasons[reason] += 1
                rejected.write(_quarantine_line(position, reason, detail, view))
            if chunk.table.num_rows:
                candidates.write_table(chunk.table)
                for k in KEYS:
                    key_parts[k].append(chunk.table.column(k).to_numpy())
    bar.close()
    if n_in == 0:
        raise ImbError(f"{raw_path}: the file holds no records")
    # A required field that no record has is a whole-file problem, not n rejections.
    for fname in kind.required:
        if fname not in required_seen:
            raise ImbError(
                f"{raw_path}: record 0: required field '{fname}' not found "
                f"(accepted names: {', '.join(kind.required[fname])}); "
                f"fields found: {', '.join(sorted(map(str, fields_found))) or 'none'}"
            )

    keys = {k: np.concatenate(v) if v else np.zeros(0, np.uint64) for k, v in key_parts.items()}
    del key_parts
    status = decide_duplicates(keys["_idh"], keys["_ck"], keys["_ord"])
    del keys
    out_counts = Counter()
    conflicts_path = work_dir / "conflicts.jsonl"
    names = list(kind.features)
    done = 0
    with conflicts_path.open("w", encoding="utf-8") as conflicts, pa.OSFile(str(candidates_path)) as source:
        for batch in pa.ipc.open_stream(source):
            n = batch.num_rows
            st = status[done:done + n]
            done += n
            if (st == 1).any():
                for row in batch.filter(pa.array(st == 1)).to_pylist():
                    reasons["id_conflict"] += 1
                    conflicts.write(_quarantine_line(
                        row["_pos"], "id_conflict",
                        f"id {row['id']!r} reused with different content "
                        f"(the content with the smallest content key is kept)",
                        _readable(kind, row), row["id"]))
            keep = st == 0
            if not keep.any():
                continue
            kept = pa.Table.from_batches([batch]).filter(pa.array(keep))
            which = split_of_hashes(kept.column("_sk").to_numpy(), fractions, kind.splits)
            kept = kept.select(names)
            for i, split in enumerate(kind.splits):
                mask = which == i
                if mask.any():
                    part = kept.filter(pa.array(mask))
                    sink.write(split, part)
                    out_counts[split] += part.num_rows
    candidates_path.unlink()
    sink.close()
    duplicates = {"same_id": int((status == 2).sum()), "same_content_other_id": int((status == 3).sum())}
    duplicates = {k: v for k, v in duplicates.items() if v}
    _merge_by_position(quarantine_path, rejects_path, conflicts_path)

    n_out = sum(out_counts.values())
    n_q = sum(reasons.values())
    n_dup = sum(duplicates.values())
    report = {
        "dataset": kind.name,
        "source_file": raw_path.name,
        "records_in": n_in,
        "records_out": {s: out_counts.get(s, 0) for s in kind.splits},
        "records_out_total": n_out,
        "quarantined": dict(sorted(reasons.items())),
        "quarantined_total": n_q,
        "duplicates_collapsed": dict(sorted(duplicates.items())),
        "duplicates_collapsed_total": n_dup,
        "split_fractions": {**dict(fractions), kind.rest_split: "rest"},
        "split_by": "normalized question text" + (" and options" if kind.name == "imb-mcqa" else ""),
        "counts_add_up": n_in == n_out + n_q + n_dup,
    }
    if conventions is not None:
        report["conventions"] = conventions.report()
        report["warnings"] = conventions.warnings()
    if not report["counts_add_up"]:  # a bug, never a user error
        raise AssertionError(f"build counts do not add up: {report}")
    return report


def _merge_by_position(out: Path, *inputs: Path) -> None:
    """One quarantine file in file order, from inputs each already in file order."""
    files = [p.open("r", encoding="utf-8") for p in inputs]
    try:
        with out.open("w", encoding="utf-8") as dst:
            streams = [((json.loads(line)["position"], line) for line in f) for f in files]
            for _, line in heapq.merge(*streams, key=lambda t: t[0]):
                dst.write(line)
    finally:
        for f in files:
            f.close()
        for p in inputs:
            p.unlink()


class ArrowStreamSink:
    """One Arrow IPC stream per split (what the datasets builder's _generate_tables reads)."""

    def __init__(self, folder: Path, splits: list[str], schema: pa.Schema):
        self.paths = {s: folder / f"{s}.arrows" for s in splits}
        self.writers = {s: pa.ipc.new_stream(str(p), schema) for s, p in self.paths.items()}

    def write(self, split: str, table: pa.Table) -> None:
        self.writers[split].write_table(table)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def summary_line(report: dict) -> str:
    out = ", ".join(f"{s} {n}" for s, n in report["records_out"].items())
    q = report["quarantined_total"]
    why = ", ".join(f"{r} {n}" for r, n in report["quarantined"].items())
    return (f"{report['dataset']}: {report['records_in']} in -> {out}; "
            f"{q} quarantined{f' ({why})' if why else ''}; "
            f"{report['duplicates_collapsed_total']} duplicates collapsed")
