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

from imb_tools.infra.errors import ImbError


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
            raise ImbError(f"{path}: file is {name} encoded; IMB reads UTF-8 files only: convert it first, "
                           f"e.g. iconv -f {name} -t UTF-8 IN > OUT")
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


def iter_table_records(path: str | Path, keep_empty_cells: bool = False) -> Iterator[dict]:
    """Records of a JSON array, a JSON Lines file or a CSV file with a header.

    The one reader of these formats, for the build and the preprocessing tables alike.
    An empty CSV cell means "no value" to the build (as a missing JSON key does); the
    preprocessing steps keep it as "" (`keep_empty_cells`), so a table round-trips unchanged.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "csv":
        yield from _iter_csv(path, keep_empty_cells)
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


def parse_record(path: Path, where: str, line: bytes) -> dict:
    """One JSON object from one line of bytes, or a one-line error naming `where` (line or record)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(path, where, exc) from None
    try:
        item = json.loads(text)
    except ValueError as exc:
        raise ImbError(f"{path}: {where}: invalid JSON: {exc}") from None
    if not isinstance(item, dict):
        raise ImbError(f"{path}: {where}: expected an object, got {type(item).__name__}")
    return item


def parse_jsonl_line(path: Path, lineno: int, line: bytes) -> dict:
    return parse_record(path, f"line {lineno}", line)


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


def _iter_csv(path: Path, keep_empty_cells: bool = False) -> Iterator[dict]:
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
                yield dict(zip(header, row)) if keep_empty_cells else {k: v for k, v in zip(header, row) if v != ""}
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
# The main process cuts the raw file into blocks at record boundaries (qa_blocks); a block is
# parsed by pyarrow, in the main process or a worker (parse_qa_block), into ("table", pa.Table),
# or into ("items", [dict, ...]) when pyarrow cannot take it (mixed types in a column, a
# non-object line): those records go through the per-record checks, so a bad row is
# quarantined with its reason, never crashes the build and is never stringified.

BLOCK_BYTES = 8 << 20
_CSV_OPTIONS = None


def qa_blocks(path: str | Path, block_bytes: int | None = None) -> Iterator[tuple[str, bytes, object]]:
    """(format, block, meta) for every block of an IMB-QA raw file, in file order."""
    path = Path(path)
    block_bytes = block_bytes or BLOCK_BYTES
    fmt = detect_format(path)
    if fmt == "jsonl":
        yield from _jsonl_blocks(path, block_bytes)
    elif fmt == "csv":
        yield from _csv_blocks(path, block_bytes)
    else:
        yield from _json_array_blocks(path, block_bytes)


def _read_blocks(f, block_bytes: int, cut) -> Iterator[tuple[bytes, int]]:
    """(block, offset in the file) for a binary file, each block ending where cut(buf) says
    (None: need more bytes)."""
    carry = b""
    base = f.tell()
    while True:
        data = f.read(block_bytes)
        buf = carry + data if carry else data
        if not data:
            if buf:
                yield buf, base
            return
        end = cut(buf)
        if end is None or end == 0:
            carry = buf
            continue
        carry = buf[end:]
        yield buf[:end], base
        base += end


def read_span(path: Path, span: tuple[int, int]) -> bytes:
    """The bytes of a block, read again by the process that parses it (from the page cache)."""
    offset, length = span
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def _jsonl_blocks(path: Path, block_bytes: int):
    lineno = 1
    with open_utf8(path) as f:
        for block, offset in _read_blocks(f, block_bytes, lambda buf: buf.rfind(b"\n") + 1 or None):
            yield "jsonl", (offset, len(block)), lineno
            lineno += block.count(b"\n")


def _csv_blocks(path: Path, block_bytes: int):
    import numpy as np

    open_utf8(path).close()  # refuses UTF-16/32
    with open(path, encoding="utf-8-sig", newline="") as f:
        try:
            header = check_csv_header(path, next(csv.reader(f), None))
        except UnicodeDecodeError as exc:
            raise not_utf8(path, "line 1", exc) from None
        except csv.Error as exc:
            raise ImbError(f"{path}: line 1: invalid CSV: {exc}") from None

    def cut(buf: bytes):
        # A row ends at a newline with an even number of quotes before it ("" escapes a quote).
        arr = np.frombuffer(buf, dtype=np.uint8)
        newlines = np.flatnonzero(arr == 10)
        if not len(newlines):
            return None
        quotes = np.flatnonzero(arr == 34)
        even = np.searchsorted(quotes, newlines) % 2 == 0
        ends = newlines[even]
        return int(ends[-1]) + 1 if len(ends) else None

    with open_utf8(path) as f:
        first = True
        lineno = 1
        for block, offset in _read_blocks(f, block_bytes, cut):
            if first:  # drop the header row, already read
                end = _csv_header_end(block)
                lineno += block[:end].count(b"\n")
                block, offset = block[end:], offset + end
                first = False
            if block:
                yield "csv", (offset, len(block)), (header, lineno)
            lineno += block.count(b"\n")


def _csv_header_end(block: bytes) -> int:
    import numpy as np

    arr = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    quotes = np.flatnonzero(arr == 34)
    even = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    return int(even[0]) + 1 if len(even) else len(block)


def _scan_json(buf: bytes):
    """Positions, characters and depth after each structural character outside strings.

    Depth counts from the inside of the top-level array: a record is at depth >= 1.
    A quote preceded by an odd run of backslashes is escaped, so it does not end a string.
    """
    import numpy as np

    arr = np.frombuffer(buf, dtype=np.uint8)
    quotes = np.flatnonzero(arr == 34)
    if len(quotes):
        maybe = quotes[(quotes > 0) & (arr[np.maximum(quotes - 1, 0)] == 92)]
        escaped = []
        for q in maybe.tolist():
            run = 0
            while q - run - 1 >= 0 and buf[q - run - 1] == 92:
                run += 1
            if run % 2:
                escaped.append(q)
        if escaped:
            quotes = np.setdiff1d(quotes, np.array(escaped, dtype=quotes.dtype), assume_unique=True)
    # { } [ ] are exactly the bytes b with b & 0xD9 == 0x59 among few others (Y _ y DEL): a
    # cheap first cut, then an exact check on the few candidates.
    cand = np.flatnonzero(((arr & 0xD9) == 0x59) | (arr == 44))
    chars = arr[cand]
    exact = (chars == 123) | (chars == 125) | (chars == 91) | (chars == 93) | (chars == 44)
    brackets, chars = cand[exact], chars[exact]
    outside = np.searchsorted(quotes, brackets) % 2 == 0
    brackets, chars = brackets[outside], chars[outside]
    kind = np.where((chars == 123) | (chars == 91), 2, np.where(chars == 44, 4, 3)).astype(np.uint8)
    step = np.zeros(len(kind), dtype=np.int64)
    step[kind == 2] = 1
    step[kind == 3] = -1
    return brackets, kind, np.cumsum(step)


def _json_array_blocks(path: Path, block_bytes: int):
    """A JSON array re-cut as one record per line, so pyarrow's JSON reader can take it.

    Top-level commas become newlines and newlines between tokens become spaces (a JSON
    string cannot hold a raw newline), so each record is one line. Each block ends after a
    record, so every block starts outside strings, between records.
    """
    import numpy as np

    if _first_char(path) != "[":
        raise ImbError(f"{path}: expected a JSON array of records")
    records = 0
    with open_utf8(path) as f:
        head = f.read(1)
        while head in (b" ", b"\t", b"\r", b"\n"):
            head = f.read(1)
        carry = b""  # just after '['
        base = f.tell()
        while True:
            data = f.read(block_bytes)
            last = not data
            buf = carry + data if carry else data
            if not buf:
                break
            brackets, kind, depth = _scan_json(buf)
            closing = np.flatnonzero(depth < 0)
            closed = len(closing) > 0
            if closed:  # the array's closing bracket
                end = int(brackets[closing[0]])
                if buf[end + 1:].strip() or f.read(1).strip():
                    raise ImbError(f"{path}: invalid JSON after record {records}: unexpected data after the array")
                n = int(closing[0])
                kind, depth = kind[:n], depth[:n]
                carry = b""
            elif last:
                raise ImbError(f"{path}: invalid JSON after record {records}: the array is not closed")
            else:
                ends = brackets[(depth == 0) & (kind == 3)]
                if not len(ends):
                    carry = buf
                    continue
                end = int(ends[-1]) + 1
                n = int(np.searchsorted(brackets, end))
                kind, depth = kind[:n], depth[:n]
                carry = buf[end:]
            starts = int(((kind == 2) & (depth == 1)).sum())
            if buf[:end].strip():
                yield "json", (base, end), (records, starts)
            records += starts
            base += end
            if closed:
                return


def recut_json(block: bytes) -> bytes:
    """A block of a JSON array's records as one record a line (see _json_array_blocks)."""
    import numpy as np

    brackets, kind, depth = _scan_json(block)
    arr = np.frombuffer(block, dtype=np.uint8)
    out = arr.copy()
    out[(arr == 10) | (arr == 13)] = 32
    out[brackets[(kind == 4) & (depth == 0)]] = 10
    return out.tobytes()


def parse_qa_block(path: Path, fmt: str, span, meta):
    """One block -> (("table", pa.Table) or ("items", [dict, ...]), the bytes parsed); runs in a worker too."""
    import pyarrow as pa

    block = read_span(path, span)
    if fmt == "json":
        block = recut_json(block)

    if not block or block.isspace():
        return "items", [], block
    if fmt == "csv":  # pyarrow's CSV reader checks UTF-8 itself
        return (*_parse_csv_block(path, block, meta), block)
    import pyarrow.json as pj

    try:
        table = pj.read_json(pa.BufferReader(block), read_options=pj.ReadOptions(use_threads=False,
                                                                                 block_size=1 << 22))
        table.validate(full=True)  # pyarrow's JSON reader lets invalid UTF-8 through; this finds it
        expected = meta[1] if fmt == "json" else block.count(b"\n") + (not block.endswith(b"\n"))
        if table.num_rows == expected or (fmt == "jsonl" and table.num_rows == _count_records(block)):
            return "table", table, block
    except pa.ArrowInvalid:
        pass
    _check_utf8(path, fmt, block, meta)
    if fmt == "jsonl":
        return "items", _jsonl_items(path, block, meta), block
    return "items", _array_items(path, block, meta), block


def _check_utf8(path: Path, fmt: str, block: bytes, meta) -> None:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = block[: exc.start].count(b"\n")
        if fmt == "json":
            raise not_utf8(path, f"record {meta[0] + before}", exc) from None
        raise not_utf8(path, f"line {meta + before}", exc) from None


def _count_records(block: bytes) -> int:
    """Non-blank lines of a JSON Lines block (a blank line holds no record)."""
    return sum(1 for line in block.split(b"\n") if line.strip())


def python_items(path: Path, fmt: str, block: bytes, meta) -> list[dict]:
    """The records of a parsed JSON (Lines) block, read by Python's json: exactly as written."""
    return _jsonl_items(path, block, meta) if fmt == "jsonl" else _array_items(path, block, meta)


def _jsonl_items(path: Path, block: bytes, first_lineno: int) -> list[dict]:
    items = []
    for offset, line in enumerate(block.split(b"\n")):
        if line.strip():
            items.append(parse_jsonl_line(path, first_lineno + offset, line))
    return items


def _array_items(path: Path, block: bytes, meta) -> list[dict]:
    first, _ = meta
    items = []
    for line in block.split(b"\n"):
        if not line.strip():
            continue
        items.append(parse_record(path, f"record {first + len(items)}", line))
    return items


def _parse_csv_block(path: Path, block: bytes, meta):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    header, lineno = meta
    try:
        table = pcsv.read_csv(
            pa.BufferReader(block),
            read_options=pcsv.ReadOptions(column_names=header, use_threads=False, block_size=1 << 24),
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            # Every column as text, an empty cell as no value (as a missing JSON key).
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in header},
                                                strings_can_be_null=True, null_values=[""],
                                                quoted_strings_can_be_null=True),
        )
        return "table", table
    except pa.ArrowInvalid as exc:
        # Let the per-row reader find the line and say what is wrong with it.
        rows = list(_csv_rows(path, block, header, lineno))
        raise ImbError(f"{path}: near line {lineno}: invalid CSV: {str(exc).splitlines()[0]}") from None


def _csv_rows(path: Path, block: bytes, header: list[str], lineno: int):
    import io

    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = lineno + block[: exc.start].count(b"\n")
        raise not_utf8(path, f"line {line}", exc) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    width = len(header)
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise ImbError(f"{path}: line {lineno + reader.line_num - 1}: row has {len(row)} cells, "
                               f"the header has {width}")
            yield {k: v for k, v in zip(header, row) if v != ""}
    except csv.Error as exc:
        raise ImbError(f"{path}: line {lineno + reader.line_num - 1}: invalid CSV: {exc}") from None
