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


BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
               (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
CONVERT_HINT = "IMB reads UTF-8 files only: convert it first, e.g. iconv -f latin1 -t utf-8 IN > OUT"


def _open(path: Path):
    if not path.exists():
        raise ImbError(f"{path}: file not found")
    if path.is_dir():
        raise ImbError(f"{path}: is a folder, expected a JSON, JSON Lines or CSV file")
    return path.open("rb")


def open_utf8(path: Path):
    """The file in binary mode, positioned after a UTF-8 BOM if there is one.

    A UTF-16 or UTF-32 file (told by its BOM) is refused with one line naming it.
    """
    f = _open(path)
    head = f.read(4)
    for bom, name in _OTHER_BOMS:
        if head.startswith(bom):
            f.close()
            raise ImbError(f"{path}: file is {name} encoded; {CONVERT_HINT}")
    f.seek(len(BOM) if head.startswith(BOM) else 0)
    return f


def not_utf8(path: Path, where: str, exc: UnicodeDecodeError | None = None) -> ImbError:
    why = f" (byte 0x{exc.object[exc.start]:02x})" if exc is not None and exc.object else ""
    return ImbError(f"{path}: {where}: not UTF-8 text{why}; {CONVERT_HINT}")


def _first_char(path: Path) -> str:
    with open_utf8(path) as f:
        while True:
            chunk = f.read(4096)
            if not chunk:
                return ""
            text = chunk.lstrip(b" \t\r\n")
            if text:
                return chr(text[0])


def detect_format(path: Path) -> str:
    """'csv', 'jsonl' or 'json' (array or object), from the suffix and the first byte."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        open_utf8(path).close()
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        open_utf8(path).close()
        return "jsonl"
    first = _first_char(path)
    if first == "[":
        return "json"
    if first == "{":
        # One object per line, or one object for the whole file (IMB-MCQA)?
        with open_utf8(path) as f:
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
    if "utf8" in msg.lower() or "utf-8" in msg.lower() or isinstance(exc, UnicodeDecodeError):
        return not_utf8(path, where, exc if isinstance(exc, UnicodeDecodeError) else None)
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
    if _first_char(path) != "[":
        raise ImbError(f"{path}: expected a JSON array of records")
    with open_utf8(path) as f:
        try:
            for item in ijson.items(f, "item", use_float=True):
                if not isinstance(item, dict):
                    raise ImbError(f"{path}: record {n}: expected an object, got {type(item).__name__}")
                yield item
                n += 1
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise _ijson_error(path, f"after record {n}", exc) from None


def parse_jsonl_line(path: Path, lineno: int, line: bytes):
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(path, f"line {lineno}", exc) from None
    try:
        item = json.loads(text)
    except ValueError as exc:
        raise ImbError(f"{path}: line {lineno}: invalid JSON: {exc}") from None
    if not isinstance(item, dict):
        raise ImbError(f"{path}: line {lineno}: expected an object, got {type(item).__name__}")
    return item


def _iter_jsonl(path: Path) -> Iterator[dict]:
    with open_utf8(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            yield parse_jsonl_line(path, lineno, line)


def check_csv_header(path: Path, fieldnames) -> list[str]:
    if not fieldnames:
        raise ImbError(f"{path}: CSV file has no header row")
    seen = set()
    for name in fieldnames:
        if name in seen:
            raise ImbError(f"{path}: line 1: column {name!r} appears twice in the CSV header")
        seen.add(name)
    return list(fieldnames)


def _iter_csv(path: Path) -> Iterator[dict]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    open_utf8(path).close()  # refuses UTF-16/32
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = check_csv_header(path, next(reader, None))
            width = len(header)
            for row in reader:
                if len(row) != width:
                    if not row:
                        continue
                    raise ImbError(f"{path}: line {reader.line_num}: row has {len(row)} cells, "
                                   f"the header has {width}")
                # Empty CSV cells mean "no value", as a missing JSON key does.
                yield {k: v for k, v in zip(header, row) if v != ""}
        except csv.Error as exc:
            raise ImbError(f"{path}: line {reader.line_num}: invalid CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise not_utf8(path, f"near line {reader.line_num + 1}", exc) from None


def iter_mcqa_records(path: str | Path) -> Iterator[tuple[str, dict]]:
    """(category, question object) pairs from the IMB-MCQA JSON object keyed by category."""
    path = Path(path)
    if _first_char(path) != "{":
        raise ImbError(f"{path}: expected a JSON object keyed by category (the IMB-MCQA format)")
    n = 0
    with open_utf8(path) as f:
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
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise _ijson_error(path, f"after record {n}", exc) from None


# --- Arrow batches: the fast path for IMB-QA ------------------------------------------------------
# Each yields ("table", pa.Table) for a chunk pyarrow could read, or ("items", [dict, ...]) for a
# chunk that needs Python (mixed types, NaN, a non-object line): those go through the per-record
# checks, so a bad row is quarantined with its reason, never crashes the build, never stringified.

JSONL_BLOCK = 8 << 20


def iter_qa_chunks(path: str | Path, chunk_rows: int = 10_000) -> Iterator[tuple[str, object]]:
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "jsonl":
        yield from _jsonl_chunks(path)
    elif fmt == "csv":
        yield from _csv_chunks(path)
    else:
        items = []
        for item in _iter_json_array(path):
            items.append(item)
            if len(items) >= chunk_rows:
                yield "items", items
                items = []
        if items:
            yield "items", items


def _jsonl_chunks(path: Path):
    import pyarrow as pa
    import pyarrow.json as pj

    read_options = pj.ReadOptions(use_threads=True, block_size=1 << 20)
    lineno = 1
    with open_utf8(path) as f:
        carry = b""
        while True:
            data = f.read(JSONL_BLOCK)
            if not data and not carry:
                break
            buf = carry + data
            cut = buf.rfind(b"\n") + 1 if data else len(buf)
            if cut == 0:
                carry = buf
                continue
            block, carry = buf[:cut], buf[cut:]
            try:
                table = pj.read_json(pa.BufferReader(block), read_options=read_options)
                if table.num_rows != _count_lines(block):
                    raise ValueError("a line pyarrow skipped or split")
                yield "table", table
            except (pa.ArrowInvalid, ValueError):
                yield "items", _jsonl_items(path, block, lineno)
            lineno += block.count(b"\n")
            if not data:
                break


def _count_lines(block: bytes) -> int:
    lines = block.split(b"\n")
    return sum(1 for line in lines if line.strip())


def _jsonl_items(path: Path, block: bytes, first_lineno: int) -> list[dict]:
    items = []
    for offset, line in enumerate(block.split(b"\n")):
        if line.strip():
            items.append(parse_jsonl_line(path, first_lineno + offset, line))
    return items


def _csv_chunks(path: Path):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    open_utf8(path).close()  # refuses UTF-16/32
    with open(path, encoding="utf-8-sig", newline="") as f:
        try:
            header = check_csv_header(path, next(csv.reader(f), None))
        except UnicodeDecodeError as exc:
            raise not_utf8(path, "line 1", exc) from None
    try:
        reader = pcsv.open_csv(
            str(path),
            read_options=pcsv.ReadOptions(block_size=16 << 20, use_threads=True),
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            # Every column as text, an empty cell as no value (as a missing JSON key).
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in header},
                                                strings_can_be_null=True, null_values=[""],
                                                quoted_strings_can_be_null=True),
        )
        for batch in reader:
            yield "table", pa.Table.from_batches([batch])
    except pa.ArrowInvalid as exc:
        # Let the per-row reader find the line and say what is wrong with it.
        for _ in _iter_csv(path):
            pass
        raise ImbError(f"{path}: invalid CSV: {str(exc).splitlines()[0]}") from None
