"""Stream raw IMB files record by record, whatever their shape.

IMB-QA is about 1 GB, so JSON is read with ijson (C backend) and never held
whole in memory. Every problem with the file itself becomes a one-line
ImbError naming the file and the record.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import ijson

from imb_tools.errors import ImbError


def _open(path: Path):
    if not path.exists():
        raise ImbError(f"{path}: file not found")
    if path.is_dir():
        raise ImbError(f"{path}: is a folder, expected a JSON, JSON Lines or CSV file")
    return path.open("rb")


def _first_char(path: Path) -> str:
    with _open(path) as f:
        while True:
            chunk = f.read(4096)
            if not chunk:
                return ""
            text = chunk.lstrip(b"\xef\xbb\xbf \t\r\n")
            if text:
                return chr(text[0])


def detect_format(path: Path) -> str:
    """'csv', 'jsonl' or 'json' (array or object), from the suffix and the first byte."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    first = _first_char(path)
    if first == "[":
        return "json"
    if first == "{":
        # One object per line, or one object for the whole file (IMB-MCQA)?
        with _open(path) as f:
            line = f.readline()
        try:
            json.loads(line)
            return "jsonl"
        except ValueError:
            return "json"
    if first == "":
        raise ImbError(f"{path}: file is empty")
    raise ImbError(f"{path}: not JSON, JSON Lines or CSV (starts with {first!r})")


def _ijson_error(path: Path, where: str, exc: Exception) -> ImbError:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ImbError(f"{path}: invalid JSON {where}: {msg}")


def iter_table_records(path: str | Path) -> Iterator[dict]:
    """Records of a JSON array, a JSON Lines file or a CSV file with a header."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "csv":
        yield from _iter_csv(path)
    elif fmt == "jsonl":
        yield from _iter_jsonl(path)
    else:
        yield from _iter_json_array(path)


def _iter_json_array(path: Path) -> Iterator[dict]:
    n = 0
    with _open(path) as f:
        if _first_char(path) != "[":
            raise ImbError(f"{path}: expected a JSON array of records")
        try:
            for item in ijson.items(f, "item", use_float=True):
                if not isinstance(item, dict):
                    raise ImbError(f"{path}: record {n}: expected an object, got {type(item).__name__}")
                yield item
                n += 1
        except ijson.JSONError as exc:
            raise _ijson_error(path, f"after record {n}", exc) from None


def _iter_jsonl(path: Path) -> Iterator[dict]:
    with _open(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise ImbError(f"{path}: line {lineno}: invalid JSON: {exc}") from None
            if not isinstance(item, dict):
                raise ImbError(f"{path}: line {lineno}: expected an object, got {type(item).__name__}")
            yield item


def _iter_csv(path: Path) -> Iterator[dict]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with _open(path) as raw, open(raw.fileno(), encoding="utf-8-sig", newline="", closefd=False) as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise ImbError(f"{path}: CSV file has no header row")
        try:
            for row in reader:
                # Empty CSV cells mean "no value", as a missing JSON key does.
                yield {k: v for k, v in row.items() if k is not None and v != ""}
        except csv.Error as exc:
            raise ImbError(f"{path}: line {reader.line_num}: invalid CSV: {exc}") from None


def iter_mcqa_records(path: str | Path) -> Iterator[tuple[str, dict]]:
    """(category, question object) pairs from the IMB-MCQA JSON object keyed by category."""
    path = Path(path)
    if _first_char(path) != "{":
        raise ImbError(f"{path}: expected a JSON object keyed by category (the IMB-MCQA format)")
    n = 0
    with _open(path) as f:
        try:
            for category, items in ijson.kvitems(f, "", use_float=True):
                if not isinstance(items, list):
                    raise ImbError(
                        f"{path}: category {category!r}: expected a list of questions, "
                        f"got {type(items).__name__}"
                    )
                for item in items:
                    if not isinstance(item, dict):
                        raise ImbError(f"{path}: record {n} (category {category!r}): expected an object")
                    yield category, item
                    n += 1
        except ijson.JSONError as exc:
            raise _ijson_error(path, f"after record {n}", exc) from None
