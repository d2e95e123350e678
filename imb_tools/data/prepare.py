"""The single validation pass over a raw file.

It streams the raw records once, normalizes and validates each, collapses
exact duplicates, assigns hash splits, and writes each split as an Arrow IPC
stream in a work folder; the `datasets` builder then reads those streams.
Memory stays flat: only ids and content hashes are kept, never the texts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow as pa

from imb_tools.data.normalize import Rejection
from imb_tools.data.schema import without_forbidden
from imb_tools.data.splits import check_fractions, id_hash, split_of_hash
from imb_tools.errors import ImbError

BATCH_ROWS = 10_000


@dataclass
class Kind:
    """What differs between IMB-QA and IMB-MCQA for the pass."""

    name: str
    features: datasets.Features
    # yields (position label, raw record, normalize thunk)
    iter_raw: Callable[[Path], Iterator[tuple[dict, Callable]]]
    required: Mapping[str, tuple[str, ...]]
    content_key: Callable[[dict], int]
    eval_splits: tuple[str, ...]
    rest_split: str

    @property
    def splits(self) -> list[str]:
        return [*self.eval_splits, self.rest_split]


@dataclass
class PassResult:
    split_files: dict[str, Path]
    report: dict
    quarantine_path: Path


def _encode_columns(features: datasets.Features, rows: list[dict]) -> pa.Table:
    columns = {}
    for name, feat in features.items():
        values = [row[name] for row in rows]
        if isinstance(feat, datasets.ClassLabel):
            index = {label: i for i, label in enumerate(feat.names)}
            values = [index[v] for v in values]
        columns[name] = values
    return pa.Table.from_pydict(columns, schema=features.arrow_schema)


def run_pass(kind: Kind, raw_path: Path, work_dir: Path, fractions: Mapping[str, float],
             progress: bool = True) -> PassResult:
    check_fractions(fractions)
    unknown = set(fractions) - set(kind.eval_splits)
    if unknown:
        raise ImbError(f"unknown split(s) {sorted(unknown)} for {kind.name}; "
                       f"fractions are set for {list(kind.eval_splits)}")
    work_dir.mkdir(parents=True, exist_ok=True)
    schema = kind.features.arrow_schema
    split_files = {s: work_dir / f"{s}.arrows" for s in kind.splits}
    writers = {s: pa.ipc.new_stream(str(p), schema) for s, p in split_files.items()}
    buffers: dict[str, list[dict]] = {s: [] for s in kind.splits}
    out_counts: Counter = Counter()
    reasons: Counter = Counter()
    duplicates = Counter()
    # 64-bit hashes, not strings: flat memory at 782k records (collisions ~1e-8).
    ids: dict[int, int] = {}
    contents: set[int] = set()
    field_seen = {f: False for f in kind.required}
    fields_found: set[str] = set()
    quarantine_path = work_dir / "quarantine.jsonl"
    n_in = 0

    from tqdm.auto import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, CI), so errors stay one line.
    bar = tqdm(desc=f"building {kind.name}", unit=" rec", disable=None if progress else True, mininterval=1.0)
    with quarantine_path.open("w", encoding="utf-8") as quarantine:

        def reject(position: int, raw: dict, rejection: Rejection, rec_id=None):
            reasons[rejection.reason] += 1
            safe = without_forbidden(raw)
            quarantine.write(json.dumps(
                {"position": position, "reason": rejection.reason, "detail": rejection.detail,
                 "id": rec_id, "record": safe}, ensure_ascii=False) + "\n")

        for raw, normalize in kind.iter_raw(raw_path):
            position = n_in
            n_in += 1
            bar.update()
            if len(fields_found) < 200:
                fields_found.update(raw)
            missing = None
            for fname, aliases in kind.required.items():
                if any(a in raw for a in aliases):
                    field_seen[fname] = True
                elif missing is None:
                    missing = fname
            if missing is not None:
                reject(position, raw, Rejection(f"missing_{missing}", f"field '{missing}' is absent"))
                continue
            record, rejection = normalize()
            if rejection is not None:
                reject(position, raw, rejection)
                continue
            key = kind.content_key(record)
            rec_id = record["id"]
            id_key = id_hash(rec_id)
            if id_key in ids:
                if ids[id_key] == key:
                    duplicates["same_id"] += 1
                else:
                    reject(position, raw, Rejection("id_conflict", f"id {rec_id!r} reused with different content"),
                           rec_id)
                continue
            if key in contents:
                duplicates["same_content_other_id"] += 1
                continue
            ids[id_key] = key
            contents.add(key)
            split = split_of_hash(id_key, fractions, kind.rest_split)
            buffers[split].append(record)
            out_counts[split] += 1
            if len(buffers[split]) >= BATCH_ROWS:
                writers[split].write_table(_encode_columns(kind.features, buffers[split]))
                buffers[split].clear()
        bar.close()
        # A required field that no record has is a whole-file problem, not n rejections.
        _check_fields(kind, raw_path, field_seen, fields_found)
        for split, rows in buffers.items():
            if rows:
                writers[split].write_table(_encode_columns(kind.features, rows))
            writers[split].close()

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
    return PassResult(split_files=split_files, report=report, quarantine_path=quarantine_path)


def _check_fields(kind: Kind, raw_path: Path, field_seen: dict, fields_found: set) -> None:
    for fname, seen in field_seen.items():
        if not seen:
            raise ImbError(
                f"{raw_path}: record 0: required field '{fname}' not found "
                f"(accepted names: {', '.join(kind.required[fname])}); "
                f"fields found: {', '.join(sorted(fields_found)) or 'none'}"
            )


def summary_line(report: dict) -> str:
    out = ", ".join(f"{s} {n}" for s, n in report["records_out"].items())
    q = report["quarantined_total"]
    why = ", ".join(f"{r} {n}" for r, n in report["quarantined"].items())
    return (f"{report['dataset']}: {report['records_in']} in -> {out}; "
            f"{q} quarantined{f' ({why})' if why else ''}; "
            f"{report['duplicates_collapsed_total']} duplicates collapsed")

