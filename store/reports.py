"""SQL for writing reports and batches. Values are always bound, never formatted in."""

from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from store.db import transaction
from store.filters import STATUSES, local_time_columns_sql
from store.outages_sql import mark_stale

# One writer at a time in this process: the duplicate check and the insert
# must see each other's rows, or two concurrent submissions of the same
# report would both be accepted. (Other processes cannot write at all while
# this one holds the file.)
_write_lock = threading.Lock()

# The staged rows' columns, in the order they are stored (report_id,
# received_at, source and batch_id come from the batch).
STAGED_COLUMNS = (
    "observed_at", "lat", "lon", "accuracy_m", "h3_r6", "h3_r7", "h3_r8", "h3_r9", "h3_r10", "sig_cd",
    "network", "brand", "mvno", "tech", "kind", "device_model", "reporter", "ip_hash", "status",
    "flag_reason", "note", "fingerprint", "prefix_hash", "source_id",
)
_STORED = ", ".join(STAGED_COLUMNS)

# Rows of the batch that repeat an earlier row of the same batch (a file that
# lists a report twice). Grouping first keeps this cheap: usually no
# fingerprint repeats and nothing more is read.
_REPEATS = """
CREATE OR REPLACE TEMP TABLE batch_repeats AS
WITH twice AS (SELECT fingerprint FROM staged GROUP BY fingerprint HAVING count(*) > 1)
SELECT row FROM (
    SELECT row, row_number() OVER (PARTITION BY fingerprint ORDER BY row) AS nth
    FROM staged WHERE fingerprint IN (SELECT fingerprint FROM twice)
) WHERE nth > 1
"""

_NO_REPEATS = "CREATE OR REPLACE TEMP TABLE batch_repeats (row BIGINT)"

# Fingerprints of the batch that are stored already. The time bounds let DuckDB
# skip every row group outside the batch's period, so a batch of new times
# costs almost nothing here.
_ALREADY_STORED = """
CREATE OR REPLACE TEMP TABLE already_stored AS
SELECT DISTINCT r.fingerprint FROM reports r JOIN staged s ON r.fingerprint = s.fingerprint
WHERE r.observed_at BETWEEN $t0 AND $t1
"""

# Whether any stored report falls in the batch's period; when none does (new
# times: the usual case for a fresh file) the join above has nothing to find.
_ANY_STORED = "SELECT EXISTS (SELECT 1 FROM reports WHERE observed_at BETWEEN $t0 AND $t1)"
_NONE_STORED = "CREATE OR REPLACE TEMP TABLE already_stored (fingerprint UBIGINT)"

# Columns named: migrations of other features may add columns with defaults.
# ``_insert_from`` is the one INSERT of reports, for both ways a batch is stored.
# The local hour/weekday/date columns are computed here, in the city's zone (store.filters).
# A status other than 'ok' or 'flagged' stops the insert: public views select
# "not flagged" (store.filters.PUBLIC_STATUS), so no third value may ever be stored.
_CHECKED_STATUS = (f"CASE WHEN status IN ({', '.join(repr(s) for s in STATUSES)}) THEN status "
                   f"ELSE error('report status must be {' or '.join(STATUSES)}, not ' || coalesce(status, 'NULL')) END")


def _insert_from(report_id: str, relation: str, where: str = "") -> str:
    local = local_time_columns_sql("observed_at")
    selected = ", ".join(_CHECKED_STATUS if c == "status" else c for c in STAGED_COLUMNS)
    return f"""
INSERT INTO reports (report_id, received_at, source, batch_id, {_STORED}, {", ".join(local)})
SELECT {report_id}, $received_at, $source, $batch_id, {selected}, {", ".join(local.values())} FROM {relation}
{where}
"""


# In time order: DuckDB keeps each row group's least and greatest observed_at, and a view of some
# weeks skips every row group outside them; a batch stored in its own order (an old log, shuffled)
# would leave row groups that span its whole period and are read for every view.
_INSERT = _insert_from("uuid()", "staged", """WHERE row NOT IN (SELECT row FROM batch_repeats)
  AND fingerprint NOT IN (SELECT fingerprint FROM already_stored)
ORDER BY observed_at""")
_INSERT_NEW = _insert_from("report_id", "new_rows")
_STORED_OF = """
SELECT fingerprint FROM reports
WHERE observed_at BETWEEN ? AND ? AND list_contains(?::UBIGINT[], fingerprint)
"""

_STORED_IN_BATCH = """
SELECT report_id, fingerprint FROM reports WHERE batch_id = ? AND observed_at BETWEEN ? AND ?
"""

_INSERT_BATCH = """
INSERT INTO batches (batch_id, source, file_name, sha256, format, received_at,
                     rows_read, accepted, rejected, duplicates, first_observed, last_observed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


@contextmanager
def _transaction(cur: duckdb.DuckDBPyConnection):
    """The one writer of this process, in one transaction: committed whole, or rolled back."""
    with _write_lock, transaction(cur, writes=True):
        yield


def insert_batch(cur: duckdb.DuckDBPyConnection, *, batch_id: str, source: str, received_at: datetime,
                 file_name: str | None, sha256: str | None, fmt: str | None, rows_read: int, rejected: int,
                 duplicates: int = 0, return_rows: bool = False,
                 repeats_possible: bool = True) -> tuple[int, int, list[tuple[str, int]]]:
    """Store the rows of relation ``staged`` (a TEMP view or table of ``cur``) and the batch row, atomically.

    ``staged`` has ``STAGED_COLUMNS`` plus ``row`` (the record number). Rows
    whose fingerprint is stored already, or repeats an earlier row of the batch,
    are left out and counted as duplicates, as are ``duplicates`` rows the caller
    dropped before. ``repeats_possible=False`` says the caller knows no
    fingerprint repeats within ``staged`` (it skips that query). Returns
    (accepted, duplicates, [(report_id, row)]) -- the pairs only when ``return_rows``.
    """
    try:
        with _transaction(cur):
            staged, t0, t1 = cur.execute("SELECT count(*), min(observed_at), max(observed_at) FROM staged").fetchone()
            cur.execute(_REPEATS if repeats_possible else _NO_REPEATS)
            period = {"t0": t0, "t1": t1}
            stored_possible = staged > 0 and cur.execute(_ANY_STORED, period).fetchone()[0]
            cur.execute(*((_ALREADY_STORED, period) if stored_possible else (_NONE_STORED,)))
            params = {"received_at": received_at, "source": source, "batch_id": batch_id}
            # The rows go in in time order (see _INSERT); this cursor's setting only.
            cur.execute("SET SESSION preserve_insertion_order = true")
            accepted = int(cur.execute(_INSERT, params).fetchone()[0])
            if return_rows:
                # Read back in the transaction (a shared store has no INSERT ... RETURNING); rows are matched
                # back by fingerprint. The batch's span lets the time order skip every other row group.
                returned = cur.execute(_STORED_IN_BATCH, [batch_id, t0, t1]).fetchall() if accepted else []
            duplicates += staged - accepted
            if accepted:
                mark_stale(cur, t0, accepted)
            # The staged rows' span holds the stored rows' span: a change is never placed too narrowly.
            span = [t0, t1] if accepted else [None, None]
            cur.execute(_INSERT_BATCH, [batch_id, source, file_name, sha256, fmt, received_at, rows_read,
                                        accepted, rejected, duplicates, *span])
    finally:  # after the commit or rollback: an aborted transaction refuses even a SET
        cur.execute("RESET SESSION preserve_insertion_order")
    pairs = _rows_of(cur, returned) if return_rows else []
    return accepted, duplicates, pairs


def _rows_of(cur: duckdb.DuckDBPyConnection, returned: list[tuple]) -> list[tuple[str, int]]:
    """(report_id, row) pairs, in row order, for (report_id, fingerprint) pairs just stored."""
    if not returned:
        return []
    row_of = dict(cur.execute(
        "SELECT fingerprint, min(row) FROM staged WHERE row NOT IN (SELECT row FROM batch_repeats) GROUP BY ALL"
    ).fetchall())
    return sorted(((str(report_id), row_of[fp]) for report_id, fp in returned), key=lambda pair: pair[1])


def insert_small_batch(cur: duckdb.DuckDBPyConnection, rows: pa.Table, *, batch_id: str, source: str,
                       received_at: datetime, rows_read: int, rejected: int = 0,
                       file_name: str | None = None, sha256: str | None = None,
                       fmt: str | None = None) -> tuple[int, int, list[tuple[str, int]]]:
    """``insert_batch`` for a few staged rows held in memory (the quick path of ingest.loader).

    The same rules in five statements instead of a dozen: repeats within the
    batch and fingerprints stored already are left out (counted as duplicates),
    the rows and the batch row are stored atomically. ``rows`` has
    ``STAGED_COLUMNS`` plus ``row``. Returns (accepted, duplicates, [(report_id, row)]).
    """
    fingerprints = rows.column("fingerprint").to_pylist()
    times = rows.column("observed_at")
    with _transaction(cur):
        stored = set()
        if rows.num_rows:
            t0, t1 = pc.min(times).as_py(), pc.max(times).as_py()
            stored = {fp for (fp,) in cur.execute(_STORED_OF, [t0, t1, fingerprints]).fetchall()}
        keep, seen = [], set()
        for i, fp in enumerate(fingerprints):
            if fp not in stored and fp not in seen:
                keep.append(i)
                seen.add(fp)
        new_rows = rows.take(pa.array(keep, type=pa.int64()))
        ids = [str(uuid.uuid4()) for _ in keep]
        new_rows = new_rows.append_column("report_id", pa.array(ids, type=pa.string()))
        accepted = len(keep)
        duplicates = rows.num_rows - accepted
        span = [None, None]
        if accepted:
            # DuckDB reads the local Arrow table ``new_rows`` by its name (a replacement scan):
            # cheaper for a few rows than registering it.
            cur.execute(_INSERT_NEW, {"received_at": received_at, "source": source, "batch_id": batch_id})
            stored_times = pc.min_max(new_rows.column("observed_at"))
            span = [stored_times["min"].as_py(), stored_times["max"].as_py()]
            mark_stale(cur, span[0], accepted)
        cur.execute(_INSERT_BATCH, [batch_id, source, file_name, sha256, fmt, received_at, rows_read,
                                    accepted, rejected, duplicates, *span])
    pairs = sorted(zip(ids, new_rows.column("row").to_pylist(), strict=True), key=lambda pair: pair[1])
    return accepted, duplicates, pairs


def observed_span(cur) -> tuple:
    """(first, last) observed_at of every stored report, or (None, None). Unfiltered, so DuckDB answers
    from row-group statistics (4 ms on 10 M rows, against 230 ms with a status filter)."""
    return cur.execute("SELECT min(observed_at), max(observed_at) FROM reports").fetchone()


# Each row group's observed_at bounds, as DuckDB keeps them (pragma_storage_info's stats text:
# "[Min: 2021-10-25 02:16:00+00, Max: ...][Has Null: ...]"). VALIDITY segments carry no bounds.
_ROW_GROUP_SPANS = """
SELECT row_group_id, min(lo) AS lo, max(hi) AS hi, max(count) AS rows FROM (
    SELECT row_group_id, count,
           regexp_extract(stats, 'Min: ([^,\\]]+)', 1)::TIMESTAMPTZ AS lo,
           regexp_extract(stats, 'Max: ([^,\\]]+)', 1)::TIMESTAMPTZ AS hi
    FROM pragma_storage_info('reports')
    WHERE column_name = 'observed_at' AND segment_type <> 'VALIDITY'
) GROUP BY row_group_id
"""


def time_order(cur) -> dict:
    """How well the reports are stored in time order, from DuckDB's row groups (up to 122,880 rows each):

    - ``overlap``: the row groups' observed_at spans added up, over the whole period: 1.0 when every
      moment lies in one row group (a view of some weeks reads only theirs); about the number of row
      groups when the rows are in no order (every view reads every row group);
    - ``wide_row_groups``: row groups spanning more than four times the median span (a late upload
      of an old log stored in its own order, say), and ``rows_in_wide``, their rows.

    Checkpointed rows only: rows still in the write-ahead log have no row group yet."""
    row = cur.execute(
        f"""
        WITH spans AS ({_ROW_GROUP_SPANS}), typical AS (SELECT median(hi - lo) AS span FROM spans)
        SELECT count(*), sum(epoch(hi) - epoch(lo)) / nullif(epoch(max(hi)) - epoch(min(lo)), 0),
               count(*) FILTER (WHERE hi - lo > 4 * span), coalesce(sum(rows) FILTER (WHERE hi - lo > 4 * span), 0)
        FROM spans, typical
        """).fetchone()
    return {"row_groups": int(row[0]), "overlap": round(float(row[1] or 1.0), 2),
            "wide_row_groups": int(row[2]), "rows_in_wide": int(row[3])}


def store_in_time_order(con: duckdb.DuckDBPyConnection) -> None:
    """Write every report again in observed_at order, in one transaction, then checkpoint (an
    operator's command while the site is stopped: ``python -m store order --fix``). A new table is
    made from the table's own definition (columns, defaults, constraints), filled in order and put
    in the old one's place, so the old row groups go as a whole; only the order of the rows changes."""
    cur = con.cursor()
    try:
        ddl = cur.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'reports'").fetchone()[0]
        cur.execute("SET SESSION preserve_insertion_order = true")
        with _transaction(cur):
            cur.execute(ddl.replace("CREATE TABLE reports(", "CREATE TABLE reports_in_order(", 1))
            cur.execute("INSERT INTO reports_in_order SELECT * FROM reports ORDER BY observed_at")
            cur.execute("DROP TABLE reports")
            cur.execute("ALTER TABLE reports_in_order RENAME TO reports")
        cur.execute("CHECKPOINT")
    finally:
        cur.close()
