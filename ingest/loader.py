"""From raw rows to stored reports: validate, identify, index, insert (one path)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import numpy as np
import pandas as pd

from geo.cells import latlngs_to_cell_columns
from geo.places import cells_to_district_codes
from ingest.identity import keyed_hash, normalise_code
from ingest.validate import validate_frame
from store.reports import insert_batch


@dataclass
class LoadResult:
    batch_id: str
    rows_read: int
    accepted: int
    rejected: int
    duplicates: int
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    report_ids: list[tuple[str, int]] = field(default_factory=list)  # (report_id, row), when asked for

    def summary(self) -> dict:
        """The JSON object ``python -m ingest load`` prints."""
        out = {
            "batch_id": self.batch_id, "accepted": self.accepted, "rejected": self.rejected,
            "duplicates": self.duplicates, "errors": self.errors,
        }
        if self.warnings:
            out["warnings"] = self.warnings
        if self.error_count > len(self.errors):
            out["errors_total"] = self.error_count
        return out


@dataclass(frozen=True)
class Origin:
    """Where a batch came from; decides the reporter identity of rows without a code."""

    source: str  # web, api, upload:csv, cli:csv, demo ...
    file_name: str | None = None
    sha256: str | None = None
    fmt: str | None = None
    reporter_code: str | None = None  # the submitter's own code, for rows without one
    ip: str | None = None


def load_frame(con: duckdb.DuckDBPyConnection, raw: pd.DataFrame, origin: Origin, *,
               row_numbers: np.ndarray | None = None, now: datetime | None = None,
               return_ids: bool = False, status: pd.Series | None = None) -> LoadResult:
    """Validate ``raw`` (columns named by field) and store the good rows as one batch."""
    now = now or datetime.now(timezone.utc)
    batch_id = str(uuid.uuid4())
    good, problems = validate_frame(raw, now=now, row_numbers=row_numbers)
    staged = _stage(good, origin, batch_id)
    accepted, pairs = insert_batch(
        con, staged, batch_id=batch_id, source=origin.source, received_at=now,
        file_name=origin.file_name, sha256=origin.sha256, fmt=origin.fmt,
        rows_read=len(raw), rejected=len(raw) - len(good), return_rows=return_ids,
    )
    return LoadResult(
        batch_id=batch_id, rows_read=len(raw), accepted=accepted, rejected=len(raw) - len(good),
        duplicates=len(good) - accepted, errors=problems.errors, warnings=problems.warnings,
        error_count=problems.error_count, warning_count=problems.warning_count, report_ids=pairs,
    )


def _fallback_identity(origin: Origin, batch_id: str) -> str:
    """Identity of rows that carry no reporter code.

    A file without codes counts as ONE reporter (its bytes' hash), so it can
    neither fill the k-reporter privacy threshold nor fake an outage alone.
    """
    if origin.reporter_code:
        return "code:" + normalise_code(origin.reporter_code)
    if origin.ip:
        return "ip:" + origin.ip
    if origin.sha256:
        return "file:" + origin.sha256
    return "batch:" + batch_id


def _stage(good: pd.DataFrame, origin: Origin, batch_id: str) -> pd.DataFrame:
    """The validated rows with reporter hashes, H3 cells and default status added."""
    fallback = _fallback_identity(origin, batch_id)
    codes = good["reporter_code"].map(lambda c: "code:" + normalise_code(c) if c else fallback)
    codes, uniques = pd.factorize(codes)
    hashes = np.array([keyed_hash(*u.split(":", 1)) for u in uniques], dtype=np.uint64)
    cells = latlngs_to_cell_columns(good["lat"].to_numpy(), good["lon"].to_numpy())
    staged = good.drop(columns=["reporter_code"]).assign(
        reporter=hashes[codes] if len(codes) else np.array([], dtype=np.uint64),
        ip_hash=np.uint64(keyed_hash("ip", origin.ip)) if origin.ip else None,
        status="ok",
        flag_reason=None,
        **cells,
        sig_cd=cells_to_district_codes(cells["h3_r9"]),
    )
    if not origin.ip:
        staged["ip_hash"] = pd.Series([None] * len(staged), dtype="UInt64")
    staged["accuracy_m"] = staged["accuracy_m"].astype("float32")
    return staged


def load_file(con: duckdb.DuckDBPyConnection, path, *, fmt: str = "auto", source: str | None = None,
              reporter_code: str | None = None, file_name: str | None = None) -> LoadResult:
    """Read a file (see ingest.readers) and store its good rows as one batch."""
    from pathlib import Path

    from ingest.readers import read_file, sha256_of

    path = Path(path)
    raw = read_file(path, fmt)
    origin = Origin(
        source=source or f"upload:{raw.fmt}", file_name=file_name or path.name, sha256=sha256_of(path),
        fmt=raw.fmt, reporter_code=reporter_code,
    )
    result = load_frame(con, raw.frame, origin, row_numbers=raw.row_numbers)
    for row, why in raw.unparsed:
        result.rejected += 1
        result.rows_read += 1
        result.error_count += 1
        if len(result.errors) < 1000:
            result.errors.append({"row": row, "field": "(record)", "value": None, "message": why})
    result.errors.sort(key=lambda e: e["row"])
    return result
