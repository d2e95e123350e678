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
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa

from imb_tools.data.normalize import Rejection
from imb_tools.data.schema import has_any, without_forbidden
from imb_tools.data.splits import check_fractions, id_hash
from imb_tools.errors import ImbError

BATCH_ROWS = 10_000
EXTRA_FIELDS = [pa.field("_pos", pa.int64()), pa.field("_idh", pa.uint64()), pa.field("_ck", pa.uint64())]


@dataclass
class Kind:
    """What differs between IMB-QA and IMB-MCQA for the pass."""

    name: str
    features: datasets.Features
    # raw items (a record, or a (category, record) pair), in file order
    iter_items: Callable[[Path], Iterator]
    raw_of: Callable[[object], dict]
    normalize: Callable[[object], tuple]
    required: Mapping[str, tuple[str, ...]]
    content_key: Callable[[dict], int]
    eval_splits: tuple[str, ...]
    rest_split: str
    # Optional batch path: path -> iterator of ChunkResult (already validated), in file order.
    iter_results: Callable[[Path], Iterator["ChunkResult"]] | None = None

    @property
    def splits(self) -> list[str]:
        return [*self.eval_splits, self.rest_split]

    @property
    def candidate_schema(self) -> pa.Schema:
        schema = self.features.arrow_schema
        return pa.schema([*schema, *EXTRA_FIELDS], metadata=schema.metadata)


@dataclass
class ChunkResult:
    """Pass 1 over one chunk: valid records as an Arrow table, rejections, fields seen."""

    table: pa.Table
    rejects: list = field(default_factory=list)  # (position, reason, detail, raw without forbidden fields)
    n_in: int = 0
    required_seen: set = field(default_factory=set)
    fields_found: set = field(default_factory=set)


@dataclass
class PassResult:
    report: dict
    quarantine_path: Path


def encode_rows(kind: Kind, rows: list[dict], positions: list[int], idhs: list[int], cks: list[int]) -> pa.Table:
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
    start = 0
    items = []
    for item in kind.iter_items(path):
        items.append(item)
        if len(items) >= chunk_rows:
            yield process_items(kind, start, items)
            start += len(items)
            items = []
    if items or start == 0:
        yield process_items(kind, start, items)


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


def _quarantine_line(position: int, reason: str, detail: str, record, rec_id=None) -> str:
    return json.dumps({"position": position, "reason": reason, "detail": detail, "id": rec_id,
                       "record": record}, ensure_ascii=False) + "\n"


def _readable(kind: Kind, row: dict) -> dict:
    out = {}
    for name, feat in kind.features.items():
        value = row[name]
        if isinstance(feat, datasets.ClassLabel) and value is not None:
            value = feat.int2str(value)
        out[name] = value
    return out


def run_pass(kind: Kind, raw_path: Path, work_dir: Path, fractions: Mapping[str, float],
             sink, progress: bool = True, results: Iterator[ChunkResult] | None = None) -> PassResult:
    """Validate `raw_path` into `sink` (write(split, table), close()); quarantine and report in work_dir."""
    check_fractions(fractions)
    unknown = set(fractions) - set(kind.eval_splits)
    if unknown:
        raise ImbError(f"unknown split(s) {sorted(unknown)} for {kind.name}; "
                       f"fractions are set for {list(kind.eval_splits)}")
    fractions = {s: fractions[s] for s in kind.eval_splits if s in fractions}
    work_dir.mkdir(parents=True, exist_ok=True)
    candidates_path = work_dir / "candidates.arrows"
    rejects_path = work_dir / "rejected.jsonl"
    quarantine_path = work_dir / "quarantine.jsonl"
    reasons: Counter = Counter()
    required_seen: set = set()
    fields_found: set = set()
    idh_parts, ck_parts = [], []
    n_in = 0

    from tqdm.auto import tqdm

    if results is None:
        results = kind.iter_results(raw_path) if kind.iter_results else iter_python_results(kind, raw_path)
    # disable=None: no bar when stderr is not a terminal (logs, CI), so errors stay one line.
    bar = tqdm(desc=f"building {kind.name}", unit=" rec", disable=None if progress else True, mininterval=1.0)
    schema = kind.candidate_schema
    with pa.OSFile(str(candidates_path), "wb") as sink_file, \
            pa.ipc.new_stream(sink_file, schema) as candidates, \
            rejects_path.open("w", encoding="utf-8") as rejected:
        for chunk in results:
            n_in += chunk.n_in
            bar.update(chunk.n_in)
            required_seen |= chunk.required_seen
            if len(fields_found) < 200:
                fields_found |= chunk.fields_found
            for position, reason, detail, raw in chunk.rejects:
                reasons[reason] += 1
                rejected.write(_quarantine_line(position, reason, detail, raw))
            if chunk.table.num_rows:
                candidates.write_table(chunk.table)
                idh_parts.append(chunk.table.column("_idh").to_numpy())
                ck_parts.append(chunk.table.column("_ck").to_numpy())
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
    offset = 0
    with pa.OSFile(str(candidates_path)) as source, conflicts_path.open("w", encoding="utf-8") as conflicts:
        for batch in pa.ipc.open_stream(source):
            n = batch.num_rows
            st = status[offset:offset + n]
            offset += n
            if (st == 1).any():
                bad = batch.filter(pa.array(st == 1)).to_pylist()
                for row in bad:
                    reasons["id_conflict"] += 1
                    conflicts.write(_quarantine_line(
                        row["_pos"], "id_conflict", f"id {row['id']!r} reused with different content "
                        f"(the content with the smallest content key is kept)", _readable(kind, row), row["id"]))
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
    sink.close()
    duplicates = {"same_id": int((status == 2).sum()), "same_content_other_id": int((status == 3).sum())}
    duplicates = {k: v for k, v in duplicates.items() if v}
    _merge_by_position(quarantine_path, rejects_path, conflicts_path)
    candidates_path.unlink()

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
