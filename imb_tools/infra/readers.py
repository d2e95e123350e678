"""Stream raw IMB files record by record: one reader per format.

The readers are those users' files are written for: Python's `csv` module for CSV,
ijson (a streaming JSON parser, C backend) for a JSON array and for the IMB-MCQA
object keyed by category, one `json.loads` per line for JSON Lines. IMB-QA is about
1 GB, so nothing is held whole in memory. Nesting is limited (MAX_DEPTH levels: an
IMB record has 2), so no input can crash or exhaust the process. Every problem with
the file itself becomes a one-line ImbError naming the file and the record.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import ijson

from imb_tools.infra.errors import ImbError


BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
               (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
CONVERT_HINT = "IMB reads UTF-8 files only: convert it first, e.g. iconv -f latin1 -t utf-8 IN > OUT"


MAX_DEPTH = 512  # JSON nesting levels; an IMB record has 2, json.loads stops near 1,000


def check_regular_file(path: str | os.PathLike, what: str = "a JSON, JSON Lines or CSV file") -> Path:
    """`path` if it is a regular file (a link to one is fine), else a one-line ImbError.

    A FIFO would block the reader forever, a folder or a device is not a file, and a
    symlink loop makes every open fail with a traceback."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImbError(f"{path}: file not found") from None
    except OSError as exc:  # ELOOP (a symlink loop), ENAMETOOLONG, EACCES...
        raise ImbError(f"{path}: cannot open: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise ImbError(f"{path}: is a folder, expected {what}")
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise ImbError(f"{path}: is {kind}, not a regular file; expected {what}")
    return path


def _open(path: Path):
    return check_regular_file(path).open("rb")


class DepthGuard:
    """A binary file that refuses JSON nested deeper than `limit` as it is read.

    ijson has no depth limit, and its cost grows with the square of the depth (each
    level's path is a string), so a record nested 100,000 levels deep would take many
    GB. This scans each block ijson reads for brackets outside strings (numpy, a few
    passes per MB) and stops at the first level past the limit.
    """

    def __init__(self, f, path: Path, limit: int = MAX_DEPTH):
        self.f, self.path, self.limit = f, path, limit
        self.in_string = False
        self.backslashes = 0  # the run of backslashes that ended the previous block
        self.depth = 0

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        if data:
            self._scan(data)
        return data

    def readinto(self, buffer) -> int:  # what ijson's C backend calls when a file has it
        n = self.f.readinto(buffer)
        if n:
            self._scan(bytes(memoryview(buffer)[:n]))
        return n

    def _scan(self, data: bytes) -> None:
        import numpy as np

        arr = np.frombuffer(data, dtype=np.uint8)
        quotes = np.flatnonzero(arr == 34)
        backslash = arr == 92
        if len(quotes) and (backslash.any() or self.backslashes):
            # A quote after an odd run of backslashes is escaped and does not end a string.
            positions = np.arange(len(arr))
            last_other = np.maximum.accumulate(np.where(backslash, -1, positions))
            before = np.where(quotes > 0, last_other[np.maximum(quotes - 1, 0)], 0)
            run = np.where(quotes > 0, quotes - 1 - before, 0)
            run = np.where(before < 0, quotes + self.backslashes, run)  # the run reaches the block start
            run[quotes == 0] = self.backslashes
            quotes = quotes[run % 2 == 0]
        tail = len(arr) - 1 - (np.flatnonzero(~backslash)[-1] if (~backslash).any() else -1)
        self.backslashes = tail + (self.backslashes if tail == len(arr) else 0)
        opening = (arr == 123) | (arr == 91)
        closing = (arr == 125) | (arr == 93)
        brackets = np.flatnonzero(opening | closing)
        if len(brackets):
            outside = (np.searchsorted(quotes, brackets) + self.in_string) % 2 == 0
            brackets = brackets[outside]
            step = np.where(opening[brackets], 1, -1)
            depth = self.depth + np.cumsum(step)
            if len(depth):
                if depth.max() > self.limit:
                    raise ImbError(f"{self.path}: JSON nested more than {self.limit} levels deep; "
                                   f"an IMB record has 2: is this the right file?")
                self.depth = int(depth[-1])
        self.in_string = bool((len(quotes) + self.in_string) % 2)

    def __getattr__(self, name):
        return getattr(self.f, name)


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
    for block in iter_table_blocks(path, keep_empty_cells):
        yield from block_records(block)


BLOCK_RECORDS = 2_000  # records per block of a parsed format
SPAN_BYTES = 4 << 20  # bytes per block of a JSON Lines file (about 2,000 IMB-QA lines)


def iter_table_blocks(path: str | Path, keep_empty_cells: bool = False) -> Iterator:
    """The file as consecutive blocks of records, in file order, for `block_records`.

    A JSON Lines file comes as JsonLinesSpan blocks (whole lines, not parsed yet: the build
    parses them in its worker processes, as the JSON parse is most of the cost of a line);
    a JSON array or a CSV file as lists of parsed records (their parsers must run in order).
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "jsonl":
        return _jsonl_spans(path)
    records = _iter_csv(path, keep_empty_cells) if fmt == "csv" else _iter_json_array(path)
    return batches(records, BLOCK_RECORDS)


def batches(items: Iterator, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last one shorter)."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def block_records(block):
    """The records of a block of iter_table_blocks."""
    return block.records() if isinstance(block, JsonLinesSpan) else block


class JsonLinesSpan(tuple):
    """(path, offset, length, first line number): whole lines of a JSON Lines file, read and
    parsed by `records()` (one json.loads per line, blank lines skipped) where it is processed."""

    __slots__ = ()

    def records(self) -> Iterator[dict]:
        path, offset, length, lineno = self
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        for line in data.split(b"\n"):
            if line.strip():
                yield parse_jsonl_line(path, lineno, line)  # the path only ever names the file in a message
            lineno += 1


def _jsonl_spans(path: Path) -> Iterator[JsonLinesSpan]:
    where = str(path)
    with open_utf8(path) as f:  # after a BOM, if any
        offset, lineno, carry = f.tell(), 1, b""
        while True:
            data = f.read(SPAN_BYTES)
            buf = carry + data
            if not data:
                if buf:
                    yield JsonLinesSpan((where, offset, len(buf), lineno))
                return
            end = buf.rfind(b"\n") + 1  # the block ends after its last whole line
            if not end:
                carry = buf
                continue
            yield JsonLinesSpan((where, offset, end, lineno))
            lineno += buf.count(b"\n", 0, end)
            offset += end
            carry = buf[end:]


def _iter_json_array(path: Path) -> Iterator[dict]:
    n = 0
    if _first_char(path) != "[":
        raise ImbError(f"{path}: expected a JSON array of records")
    with open_utf8(path) as f:
        try:
            for item in ijson.items(DepthGuard(f, path), "item", use_float=True, buf_size=1 << 20):
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
    except RecursionError:
        raise ImbError(f"{path}: {where}: JSON nested too deeply to be a record (an IMB record has 2 levels)") from None
    if not isinstance(item, dict):
        raise ImbError(f"{path}: {where}: expected an object, got {type(item).__name__}")
    return item


def parse_jsonl_line(path: Path, lineno: int, line: bytes) -> dict:
    return parse_record(path, f"line {lineno}", line)


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
    open_utf8(path).close()  # refuses UTF-16/32 and anything but a regular file
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
            for category, items in ijson.kvitems(DepthGuard(f, path), "", use_float=True, buf_size=1 << 20):
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
