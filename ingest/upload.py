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
import io
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from core import settings
from core.network import host_of
from ingest.abuse import AbuseChecks, RateLimitedError, RateLimiter
from ingest.codes import refuse_unknown
from ingest.identity import keyed_hash
from ingest.loader import Origin, load_frame
from ingest.readers import read_into_raw
from ingest.submit import writer_gate
from store import ingest_sql
from store.db import cursor

CHUNK_ROWS = 20_000
SPOOL_BYTES = 1 << 20  # an upload is copied to its temporary file a megabyte at a time
UPLOADS = RateLimiter(name="uploads")  # files per client address per hour (DROPMAP_UPLOADS_PER_HOUR)

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


def load_upload(con, data: bytes | BinaryIO, file_name: str, *, fmt: str = "auto", reporter_code: str | None = None,
                ip: str | None = None, progress: Progress | None = None) -> UploadResult:
    """Store an uploaded file's good rows; UnreadableFileError when it cannot be read at all, RateLimitedError
    when the address has uploaded DROPMAP_UPLOADS_PER_HOUR files in the last hour.

    ``data`` is the file's bytes or a binary file object (Streamlit's upload): it is copied to a
    temporary file in pieces, read into the scratch store, and stored CHUNK_ROWS rows at a time;
    the whole file is never one DataFrame.
    """
    progress = progress or (lambda fraction, text: None)
    if reporter_code:  # as the API checks it (the operator's `python -m ingest load` does not come here)
        check_code(con, reporter_code, ip)  # before the upload is charged: a refused code stores nothing
    reserve_upload(ip)
    progress(0.02, "reading")
    with _spooled(data, file_name) as (path, sha256):
        cur = ingest_sql.scratch_cursor()
        try:
            info = read_into_raw(cur, path, fmt)
            return _store_chunks(con, cur, info, file_name, sha256, reporter_code, ip, progress)
        finally:
            cur.close()


def check_code(con, reporter_code: str, ip: str | None) -> None:
    """InputError naming reporter_code for a code the site did not issue and the store does not hold
    (ingest.codes.refuse_unknown, which also counts the miss as a My reports guess)."""
    with cursor(con) as cur:
        refuse_unknown(cur, reporter_code, ip)


def reserve_upload(ip: str | None) -> None:
    """Charge one upload to ``ip``'s machine (DROPMAP_UPLOADS_PER_HOUR; an unknown address is not limited)."""
    limit, host = settings.get_int("DROPMAP_UPLOADS_PER_HOUR"), host_of(ip) or ip
    if host and limit > 0:
        try:
            UPLOADS.reserve([("address", keyed_hash("upload", host), limit)], 1)
        except RateLimitedError as e:
            raise RateLimitedError("address (uploads)", limit, e.retry_after) from None


def _store_chunks(con, cur, info, file_name: str, sha256: str, reporter_code: str | None, ip: str | None,
                  progress: Progress) -> UploadResult:
    origin = Origin(source=f"upload:{info.fmt}", file_name=Path(file_name).name, sha256=sha256, fmt=info.fmt,
                    reporter_code=reporter_code or None, ip=ip)
    total = ingest_sql.raw_count(cur)
    result = UploadResult(fmt=info.fmt, rows_read=total + len(info.unparsed),
                          ignored_columns=list(info.ignored_columns))
    chunks = max(1, -(-total // CHUNK_ROWS))
    rejected, last, done = [], 0, 0
    for n in range(chunks if total else 0):
        progress(0.05 + 0.9 * n / chunks, f"rows {done + 1:,}–{min(done + CHUNK_ROWS, total):,}")
        table = ingest_sql.raw_chunk(cur, last, CHUNK_ROWS)
        row_numbers = table.pop("row").to_numpy(dtype=np.int64)
        last, done = int(row_numbers[-1]), done + len(table)
        chunk = table.drop(columns=["reporter_code"], errors="ignore")
        checks = AbuseChecks()
        with writer_gate():
            loaded = load_frame(con, chunk, origin, row_numbers=row_numbers, flagger=checks)
        result.accepted += loaded.accepted
        result.duplicates += loaded.duplicates
        result.rejected += loaded.rejected
        result.flagged += len(checks.flagged)
        result.error_count += loaded.error_count
        result.errors.extend(loaded.errors)
        result.warnings.extend(loaded.warnings[: max(0, 1000 - len(result.warnings))])
        if loaded.errors:
            rejected.append(rejected_rows(chunk, row_numbers, loaded.errors, unparsed=False))
    for row, why in info.unparsed:
        result.rejected += 1
        result.error_count += 1
        result.errors.append({"row": row, "field": "(record)", "value": None, "message": why})
    result.errors.sort(key=lambda e: e["row"])
    if info.unparsed:
        rejected.append(rejected_rows(pd.DataFrame(), np.array([], dtype=np.int64),
                                      [e for e in result.errors if e["field"] == "(record)"]))
    result.rejected_rows = (pd.concat(rejected, ignore_index=True).sort_values("row").reset_index(drop=True)
                            if rejected else pd.DataFrame())
    progress(1.0, "done")
    return result


@contextmanager
def _spooled(data: bytes | BinaryIO, file_name: str):
    """(path of a temporary copy of ``data``, its SHA-256), copied in pieces; removed afterwards."""
    suffix = Path(file_name).suffix.lower()[:10]
    digest = hashlib.sha256()
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if hasattr(source, "seek"):
        source.seek(0)
    tmp = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    try:
        with tmp:
            while piece := source.read(SPOOL_BYTES):
                digest.update(piece)
                tmp.write(piece)
        yield Path(tmp.name), digest.hexdigest()
    finally:
        os.unlink(tmp.name)


def rejected_rows(frame: pd.DataFrame, row_numbers: np.ndarray, errors: list[dict], *,
                  unparsed: bool = True) -> pd.DataFrame:
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
    if missing and unparsed:
        table = pd.concat([table, pd.DataFrame({"row": sorted(missing)})], ignore_index=True)
    table["errors"] = table["row"].map(lambda r: "; ".join(messages[int(r)]))
    return table.sort_values("row").reset_index(drop=True)
