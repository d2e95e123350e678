"""The single validation pass over a raw file.

Pass 1 streams the raw file in chunks, normalizes and validates each record and
writes the valid ones, with their position, id hash and content key, to one Arrow
stream of candidates. Then duplicates and id conflicts are decided from the two
64-bit hashes alone (numpy, 16 bytes per record), by rules that do not depend on
the order of the file. Pass 2 streams the candidates again and hands each
survivor to its split's sink. Memory stays flat: texts are never held.

Duplicate rules (order-independent):
- same id, different contents (`id_conflict`): the content with the smallest
  content key stays, the others are quarantined;
- same id, same content: one copy is considered, the others are `same_id`
  duplicates (also for a losing content: one quarantine entry per content);
- same content under several ids: the id with the smallest id hash stays
  (`same_content_other_id` duplicates).
So reordering a file or adding copies never changes which ids survive, and as a
split is a function of the id, never moves a surviving item to another split.
"""

from __future__ import annotations

import heapq
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from imb_tools.data.schema import has_any, without_forbidden
from imb_tools.data.splits import check_fractions, id_hash
from imb_tools.infra.errors import ImbError

BATCH_ROWS = 10_000
EXTRA_FIELDS = [pa.field("_pos", pa.int64()), pa.field("_idh", pa.uint64()), pa.field("_ck", pa.uint64())]


@dataclass
class Kind:
    """What differs between IMB-QA and IMB-MCQA for the pass."""

    name: str
    features: "datasets.Features"
    # raw items (a record, or a (category, record) pair), in file order
    iter_items: Callable[[Path], Iterator]
    raw_of: Callable[[object], dict]
    normalize: Callable[[object], tuple]
    required: Mapping[str, tuple[str, ...]]
    content_key: Callable[[dict], int]
    eval_splits: tuple[str, ...]
    rest_split: str
    # Optional batch path: (path, work_dir, workers) -> ChunkResults in file order.
    iter_results: Callable[[Path, Path, int], Iterator["ChunkResult"]] | None = None

    @property
    def splits(self) -> list[str]:
        return [*self.eval_splits, self.rest_split]

    @property
    def candidate_schema(self) -> pa.Schema:
        schema = self.features.arrow_schema
        return pa.schema([*schema, *EXTRA_FIELDS], metadata=schema.metadata)


@dataclass
class ChunkResult:
    """Pass 1 over one chunk: valid records (an Arrow table, or a file a worker wrote with
    their id hashes and content keys), rejections, fields seen. Positions are local to
    the chunk; run_pass adds the chunk's offset."""

    table: pa.Table | None
    rejects: list = field(default_factory=list)  # (position, reason, detail, raw without forbidden fields)
    n_in: int = 0
    required_seen: set = field(default_factory=set)
    fields_found: set = field(default_factory=set)
    path: str | None = None
    idh: np.ndarray | None = None
    ck: np.ndarray | None = None

    def to_file(self, path: Path) -> "ChunkResult":
        """Write the valid records to `path` and keep only their hashes (what a worker sends back)."""
        table = self.table
        with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
            w.write_table(table)
        self.idh = table.column("_idh").to_numpy()
        self.ck = table.column("_ck").to_numpy()
        self.path, self.table = str(path), None
        return self


@dataclass
class PassResult:
    report: dict
    quarantine_path: Path


def encode_rows(kind: Kind, rows: list[dict], positions: list[int], idhs: list[int], cks: list[int]) -> pa.Table:
    import datasets

    columns = {}
    for name, feat in kind.features.items():
        values = [row[name] for row in rows]
        if isinstance(feat, datasets.ClassLabel):
            index = {label: i for i, label in enumerate(feat.names)}
            values = [index[v] for v in values]
        columns[name] = values
    columns["_pos"] = positions
    columns["_idh"] = idhs
    columns["_ck"] = cks
    return pa.Table.from_pydict(columns, schema=kind.candidate_schema)


def process_items(kind: Kind, start: int, items: list) -> ChunkResult:
    """Pass 1 for a chunk of raw items in Python, one record at a time."""
    result = ChunkResult(table=None, n_in=len(items))
    rows, positions, idhs, cks = [], [], [], []
    for offset, item in enumerate(items):
        position = start + offset
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
                                   without_forbidden(raw)))
            continue
        record, rejection = kind.normalize(item)
        if rejection is not None:
            result.rejects.append((position, rejection.reason, rejection.detail, without_forbidden(raw)))
            continue
        rows.append(record)
        positions.append(position)
        idhs.append(id_hash(record["id"]))
        cks.append(kind.content_key(record))
    result.table = encode_rows(kind, rows, positions, idhs, cks)
    return result


def iter_python_results(kind: Kind, path: Path, chunk_rows: int = BATCH_ROWS) -> Iterator[ChunkResult]:
    items = []
    for item in kind.iter_items(path):
        items.append(item)
        if len(items) >= chunk_rows:
            yield process_items(kind, 0, items)
            items = []
    if items:
        yield process_items(kind, 0, items)


def decide_duplicates(idh: np.ndarray, ck: np.ndarray) -> np.ndarray:
    """Per candidate: 0 keep, 1 id_conflict, 2 same_id duplicate, 3 same_content_other_id duplicate.

    Depends only on the multiset of (id hash, content key) pairs, never on their order;
    among identical (id, content) copies the first in the file is the one kept (they
    are the same record, so only the row order of the output can tell).
    """
    n = len(idh)
    status = np.zeros(n, dtype=np.int8)
    if n == 0:
        return status
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
    order2 = np.lexsort((idh[kept], ck[kept]))  # by content key, then id hash
    c = kept[order2]
    c_ck = ck[c]
    other_id = np.zeros(len(c), dtype=bool)
    other_id[1:] = c_ck[1:] == c_ck[:-1]
    status[c[other_id]] = 3
    return status


def split_of_hashes(idh: np.ndarray, fractions: Mapping[str, float], splits: list[str]) -> np.ndarray:
    """Vectorized splits.split_of_hash: the index into `splits` (eval splits, then rest)."""
    b = idh.astype(np.float64) / 2.0**64
    out = np.full(len(idh), len(splits) - 1, dtype=np.int64)
    edge = 0.0
    todo = np.ones(len(idh), dtype=bool)
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


def _quarantine_line(position: int, reason: str, detail: str, record, rec_id=None) -> str:
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
             sink, progress: bool = True, workers: int = 1) -> PassResult:
    """Validate `raw_path` into `sink` (write(split, table), close()); quarantine and report in work_dir.

    `workers` > 1 validates blocks in that many processes (the batch path); the output is
    byte-identical to a one-process run, as blocks are cut and gathered in file order.
    """
    check_fractions(fractions)
    unknown = set(fractions) - set(kind.eval_splits)
    if unknown:
        raise ImbError(f"unknown split(s) {sorted(unknown)} for {kind.name}; "
                       f"fractions are set for {list(kind.eval_splits)}")
    fractions = {s: fractions[s] for s in kind.eval_splits if s in fractions}
    work_dir.mkdir(parents=True, exist_ok=True)
    rejects_path = work_dir / "rejected.jsonl"
    quarantine_path = work_dir / "quarantine.jsonl"
    reasons: Counter = Counter()
    required_seen: set = set()
    fields_found: set = set()
    idh_parts, ck_parts = [], []
    sources: list[tuple[str, int]] = []  # candidate files, with the position of their first record
    n_in = 0

    from tqdm.auto import tqdm

    if kind.iter_results is not None:
        results = kind.iter_results(raw_path, work_dir, workers)
    else:
        results = iter_python_results(kind, raw_path)
    # disable=None: no bar when stderr is not a terminal (logs, CI), so errors stay one line.
    bar = tqdm(desc=f"building {kind.name}", unit=" rec", disable=None if progress else True, mininterval=1.0)
    with rejects_path.open("w", encoding="utf-8") as rejected:
        for index, chunk in enumerate(results):
            offset = n_in
            n_in += chunk.n_in
            bar.update(chunk.n_in)
            required_seen |= chunk.required_seen
            if len(fields_found) < 200:
                fields_found |= chunk.fields_found
            for position, reason, detail, raw in chunk.rejects:
                reasons[reason] += 1
                rejected.write(_quarantine_line(position + offset, reason, detail, raw))
            if chunk.path is None:
                if not chunk.table.num_rows:
                    continue
                chunk.to_file(work_dir / f"candidates-{index:06d}.arrows")
            if len(chunk.idh):
                sources.append((chunk.path, offset))
                idh_parts.append(chunk.idh)
                ck_parts.append(chunk.ck)
    bar.close()
    # A required field that no record has is a whole-file problem, not n rejections.
    for fname in kind.required:
        if fname not in required_seen:
            raise ImbError(
                f"{raw_path}: record 0: required field '{fname}' not found "
                f"(accepted names: {', '.join(kind.required[fname])}); "
                f"fields found: {', '.join(sorted(map(str, fields_found))) or 'none'}"
            )

    idh = np.concatenate(idh_parts) if idh_parts else np.zeros(0, np.uint64)
    ck = np.concatenate(ck_parts) if ck_parts else np.zeros(0, np.uint64)
    del idh_parts, ck_parts
    status = decide_duplicates(idh, ck)
    del ck
    out_counts = Counter()
    conflicts_path = work_dir / "conflicts.jsonl"
    names = list(kind.features)
    done = 0
    with conflicts_path.open("w", encoding="utf-8") as conflicts:
        for path, offset in sources:
            with pa.OSFile(path) as source:
                for batch in pa.ipc.open_stream(source):
                    n = batch.num_rows
                    st = status[done:done + n]
                    done += n
                    if (st == 1).any():
                        for row in batch.filter(pa.array(st == 1)).to_pylist():
                            reasons["id_conflict"] += 1
                            conflicts.write(_quarantine_line(
                                row["_pos"] + offset, "id_conflict",
                                f"id {row['id']!r} reused with different content "
                                f"(the content with the smallest content key is kept)",
                                _readable(kind, row), row["id"]))
                    keep = st == 0
                    if not keep.any():
                        continue
                    kept = pa.Table.from_batches([batch]).filter(pa.array(keep))
                    which = split_of_hashes(kept.column("_idh").to_numpy(), fractions, kind.splits)
                    kept = kept.select(names)
                    for i, split in enumerate(kind.splits):
                        mask = which == i
                        if mask.any():
                            part = kept.filter(pa.array(mask))
                            sink.write(split, part)
                            out_counts[split] += part.num_rows
            Path(path).unlink()
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
        "counts_add_up": n_in == n_out + n_q + n_dup,
    }
    if not report["counts_add_up"]:  # a bug, never a user error
        raise AssertionError(f"build counts do not add up: {report}")
    return PassResult(report=report, quarantine_path=quarantine_path)


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


def block_result(kind_name: str, path: str, fmt: str, block: bytes, meta, out_path: str | None,
                 schema: pa.Schema) -> ChunkResult:
    """Pass 1 over one block of an IMB-QA file (in a worker process, or in this one).

    With `out_path` the valid records go to that file and only their hashes come back.
    """
    from imb_tools.data.normalize import qa_table
    from imb_tools.infra.readers import parse_qa_block
    from imb_tools.data.schema import QA_ALIASES, QA_REQUIRED

    from imb_tools.infra.readers import python_items

    path = Path(path)
    form, chunk, parsed = parse_qa_block(path, fmt, block, meta)
    result = None
    if form == "table":
        required = {f: QA_ALIASES[f] for f in QA_REQUIRED}
        raw_rows = None
        if fmt != "csv":
            # pyarrow infers types (a date-like string becomes a timestamp): a quarantined
            # record is shown as written, read again by Python's json.
            def raw_rows(indices):
                lines = [line for line in parsed.split(b"\n") if line.strip()]
                return [json.loads(lines[i]) for i in indices]
        done = qa_table(chunk, 0, None, id_hash, required, raw_rows)
        if done is not None:
            out, rejects, seen = done
            result = ChunkResult(table=pa.Table.from_arrays(out.columns, schema=schema), rejects=rejects,
                                 n_in=chunk.num_rows, required_seen=seen, fields_found=set(chunk.column_names))
        elif fmt == "csv":  # every CSV column is text: the table holds exactly what was written
            chunk = [{k: v for k, v in r.items() if v is not None} for r in chunk.to_pylist()]
        else:
            chunk = python_items(path, fmt, parsed, meta)
    if result is None and not chunk:
        result = ChunkResult(table=schema.empty_table())
    if result is None:
        from imb_tools.data.kinds import BUILDERS

        result = process_items(BUILDERS[kind_name].KIND, 0, chunk)
    if out_path is not None and result.table is not None and result.table.num_rows:
        result.to_file(Path(out_path))
    return result


def default_workers() -> int:
    """Processes for the batch path: IMB_BUILD_WORKERS, else the CPUs this process may use (at most 4)."""
    env = os.environ.get("IMB_BUILD_WORKERS")
    if env:
        return max(1, int(env))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def iter_block_results(kind: Kind, path: Path, work_dir: Path, workers: int, blocks) -> Iterator[ChunkResult]:
    """Blocks validated in order, in this process or in `workers` processes (at most 2 blocks each ahead)."""
    schema = kind.candidate_schema
    if workers <= 1:
        for fmt, block, meta in blocks:
            yield block_result(kind.name, str(path), fmt, block, meta, None, schema)
        return
    from imb_tools.data.worker import Pool

    pool = Pool(workers, work_dir)
    try:
        tasks = ((kind.name, str(path), fmt, block, meta, str(work_dir / f"candidates-w{index:06d}.arrows"), schema)
                 for index, (fmt, block, meta) in enumerate(blocks))
        yield from pool.run(tasks)
    finally:
        pool.close()
