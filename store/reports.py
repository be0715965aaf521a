"""SQL for writing reports and batches. Values are always bound, never formatted in."""

from __future__ import annotations

import threading
from datetime import datetime

import duckdb
import pandas as pd

# One writer at a time in this process: the duplicate check and the insert
# must see each other's rows, or two concurrent submissions of the same
# report would both be accepted.
_write_lock = threading.Lock()

# A report's identity for duplicate detection: the same reporter, time (to the
# microsecond), place (to ~0.1 m), carrier and kind. md5 keeps it stable across
# DuckDB versions (its hash() is not).
_FINGERPRINT = (
    "md5_number_lower(concat_ws('|', epoch_us(observed_at), round(lat, 6), round(lon, 6),"
    " network, brand, kind, reporter))"
)

_INSERT = """
INSERT INTO reports
SELECT uuid(), s.observed_at, $received_at, s.lat, s.lon, s.accuracy_m,
       s.h3_r6, s.h3_r7, s.h3_r8, s.h3_r9, s.h3_r10, s.sig_cd,
       s.network, s.brand, s.mvno, s.tech, s.kind, s.device_model, s.reporter, s.ip_hash,
       $source, $batch_id, s.status, s.flag_reason, s.note, s.fingerprint
FROM (
    SELECT *, {fingerprint} AS fingerprint FROM staged
) s
WHERE s.fingerprint NOT IN (
    SELECT fingerprint FROM reports WHERE observed_at BETWEEN $t0 AND $t1
)
QUALIFY row_number() OVER (PARTITION BY s.fingerprint ORDER BY s.row) = 1
{returning}
"""

_INSERT_BATCH = """
INSERT INTO batches (batch_id, source, file_name, sha256, format, received_at,
                     rows_read, accepted, rejected, duplicates)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def insert_batch(con: duckdb.DuckDBPyConnection, staged: pd.DataFrame, *, batch_id: str, source: str,
                 received_at: datetime, file_name: str | None, sha256: str | None, fmt: str | None,
                 rows_read: int, rejected: int, return_rows: bool = False) -> tuple[int, list[tuple[str, int]]]:
    """Insert the staged rows that are not already stored, and the batch row, atomically.

    ``staged`` has the reports columns (without report_id, received_at, source,
    batch_id, fingerprint) plus ``row``. Returns (accepted, [(report_id, row)]) --
    the pairs only when ``return_rows``.
    """
    cur = con.cursor()
    try:
        cur.register("staged", staged)
        with _write_lock:
            cur.execute("BEGIN TRANSACTION")
            try:
                accepted, pairs = _insert_reports(cur, staged, batch_id, source, received_at, return_rows)
                cur.execute(_INSERT_BATCH, [batch_id, source, file_name, sha256, fmt, received_at,
                                            rows_read, accepted, rejected, len(staged) - accepted])
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise
        return accepted, pairs
    finally:
        cur.close()


def _insert_reports(cur, staged, batch_id, source, received_at, return_rows):
    if staged.empty:
        return 0, []
    params = {
        "received_at": received_at, "source": source, "batch_id": batch_id,
        "t0": staged["observed_at"].min(), "t1": staged["observed_at"].max(),
    }
    if return_rows:
        # RETURNING gives stored columns only: match rows back by fingerprint.
        sql = _INSERT.format(fingerprint=_FINGERPRINT, returning="RETURNING report_id, fingerprint")
        returned = cur.execute(sql, params).fetchall()
        fp_rows = cur.execute(f"SELECT {_FINGERPRINT}, row FROM staged").fetchall()
        by_fp = {}
        for fp, row in fp_rows:
            by_fp.setdefault(fp, row)
        pairs = sorted(((str(rid), by_fp[fp]) for rid, fp in returned), key=lambda p: p[1])
        return len(returned), pairs
    count = cur.execute(_INSERT.format(fingerprint=_FINGERPRINT, returning=""), params).fetchone()[0]
    return int(count), []
