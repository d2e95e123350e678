"""Read and write the tables the preprocessing steps work on.

One place decides how JSON/JSONL, CSV and Parquet map to `datasets.Dataset`,
so every step keeps every input field and writes atomically (temp file in the
same folder, then `os.replace`): a killed run never leaves half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

from imb_tools.infra.atomic import atomic_path
from imb_tools.infra.errors import ImbError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def table_format(path: str | os.PathLike) -> str:
    """The format named by the file extension, or a one-line error."""
    suffix = Path(path).suffix.lower()
    if Path(path).is_dir():
        raise ImbError(f"{path}: is a folder; give a table file (.jsonl, .json, .csv or .parquet)")
    if suffix not in FORMATS:
        raise ImbError(f"{path}: unsupported table format {suffix or '(none)'!r}; use .jsonl, .json, .csv or .parquet")
    return FORMATS[suffix]


def read_table(path: str | os.PathLike):
    """Load a table as a `datasets.Dataset`, every column kept.

    CSV cells are read as strings and JSON values as Python's json module
    parses them (no type guessing: a date string stays a string), so ids
    such as "007", dates and empty cells survive a round trip unchanged.
    The columns are the union of every record's fields (a field that first
    appears in a later record is kept; records without it get null). Text is
    UTF-8, with or without a BOM; anything else is a one-line error.
    """
    import datasets

    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise ImbError(f"{path}: no such file")
    try:
        if fmt in ("json", "jsonl", "csv"):
            from imb_tools.infra.readers import iter_table_records

            records = list(iter_table_records(path, keep_empty_cells=True))
            if fmt == "csv" and not records:
                ds = datasets.Dataset.from_dict({name: [] for name in _csv_header(path)})
            else:
                ds = records_to_dataset(records, source=path)
        else:
            ds = datasets.Dataset.from_parquet(str(path), keep_in_memory=True)
    except ImbError:
        raise
    except UnicodeDecodeError as exc:
        raise ImbError(f"{path}: not UTF-8 text (byte {exc.start}); convert it first, e.g. "
                       f"iconv -f latin1 -t utf-8") from None
    except Exception as exc:  # datasets wraps parser errors in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImbError(f"{path}: cannot read as {fmt}: {first}") from None
    return ds


def records_to_dataset(records: list[Mapping], source="records"):
    """A `datasets.Dataset` whose columns are the union of all records' fields, in first-seen order.

    (`Dataset.from_list` alone keeps only the first record's keys and drops the rest.)
    """
    import datasets

    columns: dict[str, None] = {}
    for rec in records:
        columns.update(dict.fromkeys(rec))
    data = {c: [rec.get(c) for rec in records] for c in columns}
    try:
        return datasets.Dataset.from_dict(data)
    except (TypeError, ValueError, ArithmeticError) as exc:  # pyarrow's ArrowInvalid / ArrowTypeError among them
        import pyarrow as pa

        for name, values in data.items():  # say which field mixes kinds of value, and where
            try:
                pa.array(values)
            except (TypeError, ValueError, ArithmeticError):
                kinds = [type(v).__name__ for v in values if v is not None]
                first = next((i for i, v in enumerate(values) if v is not None and type(v).__name__ != kinds[0]), 0)
                raise ImbError(f"{source}: field {name!r} mixes {kinds[0]} and {type(values[first]).__name__} values "
                               f"(record {first}); make it one type") from None
        raise ImbError(f"{source}: cannot make a table of these records: {str(exc).splitlines()[0]}") from None


def _csv_header(path: Path) -> list[str]:
    import csv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


def require_columns(ds, columns: Iterable[str], path: str | os.PathLike) -> None:
    """Stop with one line naming the file and the missing column."""
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise ImbError(f"{path}: no column {missing[0]!r} (columns: {', '.join(ds.column_names)})")


def set_column(ds, name: str, values, feature=None):
    """`ds` with column `name` set to `values`: replaced where it stands, or appended.

    The new column is added before the old one is removed, so a table whose
    only column is being replaced keeps its rows.
    """
    if name not in ds.column_names:
        return ds.add_column(name, values, feature=feature)
    order = list(ds.column_names)
    old = f"__old_{name}"
    ds = ds.rename_column(name, old).add_column(name, values, feature=feature).remove_columns(old)
    return ds.select_columns(order)


def labels_to_names(ds, columns=None):
    """ClassLabel columns (all of them, or those named) as their label names, where they stand.

    Built IMB-QA stores category, macro_category and source as ints; prompts, filters,
    plots and tables want the names.
    """
    import datasets

    for col in list(columns) if columns is not None else list(ds.features):
        feature = ds.features[col]
        if isinstance(feature, datasets.ClassLabel):
            names = [None if v is None else feature.int2str(v) for v in ds[col]]
            ds = set_column(ds, col, names, feature=datasets.Value("string"))
    return ds


def write_table(ds_or_records, path: str | os.PathLike) -> Path:
    """Write a Dataset or a list of dicts to `path`, atomically; format from the extension."""
    import datasets

    path = Path(path)
    fmt = table_format(path)
    if isinstance(ds_or_records, datasets.Dataset):
        ds = ds_or_records
    else:
        records = list(ds_or_records)
        if not all(isinstance(r, Mapping) for r in records):
            raise ImbError(f"{path}: records to write must be mappings")
        ds = records_to_dataset(records, source=path)
    with atomic_path(path) as tmp:
        if fmt in ("json", "jsonl"):
            _write_json_rows(ds, tmp, lines=fmt == "jsonl")
        elif fmt == "csv":
            ds.to_csv(tmp, index=False)
        else:
            ds.to_parquet(tmp)
    return path


def _write_json_rows(ds, tmp: str, lines: bool) -> None:
    """Rows as plain JSON (no escaped slashes, UTF-8), streamed in batches."""
    import json

    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("" if lines else "[\n")
        first = True
        for batch in ds.iter(batch_size=1000):
            keys = list(batch)
            for values in zip(*(batch[k] for k in keys)):
                row = json.dumps(dict(zip(keys, values)), ensure_ascii=False, default=str)
                fh.write(row + "\n" if lines else ("" if first else ",\n") + row)
                first = False
        fh.write("" if lines else "\n]\n")


def write_jsonl_records(records: Iterable[Mapping], path: str | os.PathLike) -> Path:
    """Write plain dicts as JSONL atomically (quarantine files, reports of rows)."""
    import json

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return Path(path)
