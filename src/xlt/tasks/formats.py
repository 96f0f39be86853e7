"""Readers for released file formats. Every file a task reads is opened here (`read_bytes`, `raw_lines`), so:

- every reader reports bad input the same way - `DataError` naming the file and line, undecodable
  bytes as `file:line: not UTF-8 (byte 0x.. at column N)` - and accepts a leading UTF-8 BOM;
- the files a task read are recorded (`recording`), which is what `Task.fingerprint` hashes.

Line-based formats are streamed and split on "\\n" only (a trailing "\\r" is dropped): `str.splitlines()`
would also break at U+2028, U+0085 etc., which occur inside real sentences.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from xlt.errors import DataError

# Open recorders (innermost last); each one collects what is read while it is open. A source is
# "file:<absolute path>" or an opaque "hub:..." / "embedded:..." string (see Task.sources).
_RECORDERS: ContextVar[tuple[set[str], ...]] = ContextVar("xlt_data_recorders", default=())


@contextmanager
def recording() -> Iterator[set[str]]:
    """Collect the sources read inside the `with` block (nested recorders all see every read)."""
    found: set[str] = set()
    token = _RECORDERS.set(_RECORDERS.get() + (found,))
    try:
        yield found
    finally:
        _RECORDERS.reset(token)


def note_source(source: str) -> None:
    for found in _RECORDERS.get():
        found.add(source)


def note_file(path: Path) -> None:
    note_source("file:" + str(Path(path).absolute()))


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataError("file not found" if not path.exists() else "not a regular file", path)
    return path


def read_bytes(path: Path) -> bytes:
    """The whole file's bytes (recorded for the task's fingerprint)."""
    require_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read ({exc.strerror or exc})", path) from None
    note_file(path)
    return data


def decode(data: bytes, path: Path, line: int = 1) -> str:
    """UTF-8 text of `data` (which starts at `line` of `path`), without a leading BOM on line 1;
    bad bytes -> DataError with their line and column (in characters)."""
    skip = len(codecs.BOM_UTF8) if line == 1 and data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = skip + exc.start
        line_start = max(data.rfind(b"\n", 0, at) + 1, skip)
        column = len(data[line_start:at].decode("utf-8", errors="replace")) + 1
        raise DataError(f"not UTF-8 (byte 0x{data[at]:02x} at column {column})", path,
                        line + data.count(b"\n", 0, at)) from None


def read_text(path: Path) -> str:
    """The whole file as text (for formats that must be parsed whole, e.g. JSON)."""
    return decode(read_bytes(path), path)


def raw_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line with its ending) streamed - a multi-GB file is never held whole - decoded
    line by line, so a bad byte is reported with its line without reading further."""
    require_file(path)
    note_file(path)
    try:
        with path.open("rb") as fh:
            for n, raw in enumerate(fh, 1):  # binary mode splits on b"\n" only
                yield n, decode(raw, path, n)
    except OSError as exc:
        raise DataError(f"cannot read ({exc.strerror or exc})", path) from None


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without "\n" / "\r\n"), streamed."""
    for n, line in raw_lines(path):
        yield n, line.removesuffix("\n").removesuffix("\r")


def tsv_rows(path: Path, quoted: bool = False) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) per non-blank row, streamed. `quoted`: fields may be csv-quoted (Python's
    csv.writer output); otherwise quotes are ordinary characters, as in the released benchmark files."""
    reader = csv.reader((line for _, line in raw_lines(path)), delimiter="\t",
                        quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit(), a lone CR inside a line
            raise DataError(f"malformed TSV ({exc})", path, reader.line_num) from None
        if row and any(c.strip() for c in row):
            yield reader.line_num, row


def read_tsv(path: Path, columns: tuple[str, ...], header: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield (line number, row) for a TSV file; with `header`, `columns` must be in the header."""
    rows = tsv_rows(path)
    names = list(columns)
    if header:
        first = next(rows, None)
        if first is None:
            raise DataError("empty file (no header line)", path, 1)
        names = first[1]
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(f"header lacks column(s) {missing}; found {names}", path, first[0])
    for line, row in rows:
        if len(row) != len(names):
            raise DataError(f"expected {len(names)} tab-separated fields, found {len(row)}", path, line)
        yield line, dict(zip(names, row))


def parse_json(text: str, path: Path, line: int | None = None):
    """`json.loads` with every failure as a DataError (bad syntax, nesting too deep, huge integers)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        column = f", column {exc.colno}" if line is None else ""
        raise DataError(f"invalid JSON ({exc.msg}{column})", path, where) from None
    except (ValueError, RecursionError) as exc:  # int over sys.get_int_max_str_digits(); deep nesting
        raise DataError(f"invalid JSON ({type(exc).__name__}: {str(exc)[:80]})", path, line) from None


def read_json(path: Path):
    """A whole-file JSON document."""
    return parse_json(read_text(path), path)


def read_jsonl(path: Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) per non-blank line; each must be a JSON object with `required` keys."""
    for line_no, line in iter_lines(path):
        if not line.strip():
            continue
        record = parse_json(line, path, line_no)
        if not isinstance(record, dict):
            raise DataError("expected a JSON object per line", path, line_no)
        missing = [k for k in required if k not in record]
        if missing:
            raise DataError(f"record lacks field(s) {missing}", path, line_no)
        yield line_no, record


def text_field(record: dict, key: str, path: Path, line: int, optional: bool = False) -> str | None:
    """`record[key]` as a string (None if absent and `optional`); any other JSON type is a DataError."""
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise DataError(f"field {key!r}: expected a string, found {type(value).__name__}", path, line)
    return value


# -- record files (tasks declared in a study file: xlt.tasks.generic) ------------------------------------
RECORD_FORMATS = (".tsv", ".csv", ".jsonl", ".parquet")


def records(path: Path) -> Iterator[tuple[str, dict]]:
    """(origin "file:line", record) of a TSV/CSV (after the header line), JSONL or parquet file."""
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".csv"):
        yield from delimited_rows(path, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".jsonl":
        for n, record in read_jsonl(path):
            yield f"{path}:{n}", record
    elif suffix == ".parquet":
        yield from parquet_rows(path)
    else:
        raise DataError(f"unsupported file type (read: {', '.join(RECORD_FORMATS)})", path)


def delimited_rows(path: Path, delimiter: str) -> Iterator[tuple[str, dict]]:
    """(origin, {header column: value}) per row of a TSV/CSV file with a header line, read as Python's csv
    module and pandas write them (fields may be quoted, a quoted field may hold a newline)."""
    reader = csv.reader((line for _, line in raw_lines(path)), delimiter=delimiter)
    header = None
    while True:
        start = reader.line_num + 1  # a quoted field may span lines: a row is named by its first line
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"malformed {path.suffix[1:].upper()} ({exc})", path, reader.line_num) from None
        if not row or not any(c.strip() for c in row):
            continue
        if header is None:
            header = row
            continue
        if len(row) != len(header):
            raise DataError(f"expected {len(header)} fields as in the header ({', '.join(header)}), found {len(row)}",
                            path, start)
        yield f"{path}:{start}", dict(zip(header, row))
    if header is None:
        raise DataError("empty file (no header line)", path, 1)


def parquet_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """(origin "file:<row number>", record) per row of a parquet file (read whole: it is columnar)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(read_bytes(path)))
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a file that is not parquet
        raise DataError(f"not a readable parquet file ({type(exc).__name__}: {str(exc)[:120]})", path) from None
    for i, record in enumerate(table.to_pylist(), 1):  # "line" = row number, 1-based
        yield f"{path}:{i}", record
