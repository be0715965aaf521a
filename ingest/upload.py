"""Files uploaded through the site: read, checked and stored in chunks, with the rejected rows kept.

A file is stored in chunks of CHUNK_ROWS rows (one batch each), so the page can
show progress and a very large file never holds the writer for long; the
rows' fingerprints make uploading the same file again a no-op. Every row of a
site upload belongs to the uploader: their code when they give one, else the
file (see ingest.loader's fallback identity). Per-row reporter codes in the
file are ignored, so one file cannot pose as many reporters.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.abuse import AbuseChecks
from ingest.loader import Origin, load_frame
from ingest.readers import read_file
from ingest.submit import writer_gate

CHUNK_ROWS = 20_000

Progress = Callable[[float, str], None]


@dataclass
class UploadResult:
    fmt: str
    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    flagged: int = 0
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0
    warnings: list[dict] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    rejected_rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # the file's rows, plus "errors"


def load_upload(con, data: bytes, file_name: str, *, fmt: str = "auto", reporter_code: str | None = None,
                ip: str | None = None, progress: Progress | None = None) -> UploadResult:
    """Store an uploaded file's good rows; UnreadableFileError when it cannot be read at all."""
    progress = progress or (lambda fraction, text: None)
    progress(0.02, "reading")
    raw = _read(data, file_name, fmt)
    frame = raw.frame.drop(columns=["reporter_code"], errors="ignore")
    origin = Origin(source=f"upload:{raw.fmt}", file_name=Path(file_name).name,
                    sha256=hashlib.sha256(data).hexdigest(), fmt=raw.fmt, reporter_code=reporter_code or None, ip=ip)
    result = UploadResult(fmt=raw.fmt, rows_read=len(frame) + len(raw.unparsed),
                          ignored_columns=list(raw.ignored_columns))
    starts = range(0, len(frame), CHUNK_ROWS)
    for n, start in enumerate(starts):
        progress(0.05 + 0.9 * n / max(len(starts), 1), f"rows {start + 1:,}–{min(start + CHUNK_ROWS, len(frame)):,}")
        chunk = frame.iloc[start:start + CHUNK_ROWS].reset_index(drop=True)
        checks = AbuseChecks()
        with writer_gate():
            loaded = load_frame(con, chunk, origin, row_numbers=raw.row_numbers[start:start + CHUNK_ROWS],
                                flagger=checks)
        result.accepted += loaded.accepted
        result.duplicates += loaded.duplicates
        result.rejected += loaded.rejected
        result.flagged += len(checks.flagged)
        result.error_count += loaded.error_count
        result.errors.extend(loaded.errors)
        result.warnings.extend(loaded.warnings[: max(0, 1000 - len(result.warnings))])
    for row, why in raw.unparsed:
        result.rejected += 1
        result.error_count += 1
        result.errors.append({"row": row, "field": "(record)", "value": None, "message": why})
    result.errors.sort(key=lambda e: e["row"])
    result.rejected_rows = rejected_rows(frame, raw.row_numbers, result.errors)
    progress(1.0, "done")
    return result


def _read(data: bytes, file_name: str, fmt: str):
    suffix = Path(file_name).suffix.lower()[:10]
    tmp = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    try:
        tmp.write(data)
        tmp.close()
        return read_file(Path(tmp.name), fmt)
    finally:
        os.unlink(tmp.name)


def rejected_rows(frame: pd.DataFrame, row_numbers: np.ndarray, errors: list[dict]) -> pd.DataFrame:
    """The rejected rows as the file had them (by field), with their errors, ready to fix and upload again."""
    if not errors:
        return pd.DataFrame()
    messages: dict[int, list[str]] = {}
    for problem in errors:
        messages.setdefault(int(problem["row"]), []).append(f"{problem['field']}: {problem['message']}")
    rows = pd.DataFrame({"row": np.asarray(row_numbers, dtype=np.int64)})
    table = pd.concat([rows, frame.reset_index(drop=True)], axis=1)
    table = table[table["row"].isin(list(messages))]
    missing = set(messages) - set(table["row"])  # records that were not rows at all (bad JSON lines)
    if missing:
        table = pd.concat([table, pd.DataFrame({"row": sorted(missing)})], ignore_index=True)
    table["errors"] = table["row"].map(lambda r: "; ".join(messages[int(r)]))
    return table.sort_values("row").reset_index(drop=True)
