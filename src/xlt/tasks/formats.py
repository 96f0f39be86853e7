"""Readers for released file formats; every parse error names the file and the line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from xlt.errors import DataError


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataError("file not found", path)
    return path


def read_tsv(path: Path, columns: tuple[str, ...], header: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield (line number, row) for a TSV file; with `header`, `columns` must be in the header."""
    require_file(path)
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        names = list(columns)
        if header:
            try:
                names = next(reader)
            except StopIteration:
                raise DataError("empty file (no header line)", path, 1) from None
            missing = [c for c in columns if c not in names]
            if missing:
                raise DataError(f"header lacks column(s) {missing}; found {names}", path, 1)
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(names):
                raise DataError(f"expected {len(names)} tab-separated fields, found {len(row)}", path, line)
            yield line, dict(zip(names, row))


def read_jsonl(path: Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict]]:
    require_file(path)
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON ({exc.msg})", path, line_no) from None
            if not isinstance(record, dict):
                raise DataError("expected a JSON object per line", path, line_no)
            missing = [k for k in required if k not in record]
            if missing:
                raise DataError(f"record lacks field(s) {missing}", path, line_no)
            yield line_no, record
