"""SQL of the demo generator: replace earlier demo data, save the ground truth, count what landed.

Values are always bound; the only identifiers are fixed table and column names.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from store.db import transaction
from store.filters import PUBLIC_STATUS


def clear_demo(con: duckdb.DuckDBPyConnection) -> int:
    """Delete earlier synthetic reports, their batches and the ground truth; returns rows deleted.

    Only rows with source 'demo' go: real reports are never touched.
    """
    cur = con.cursor()
    try:
        with transaction(cur, writes=True):
            deleted = cur.execute("DELETE FROM reports WHERE source = ?", ["demo"]).fetchone()[0]
            cur.execute("DELETE FROM batches WHERE source = ?", ["demo"])
            cur.execute("DELETE FROM demo_truth")
            cur.execute(_PERSONA_TABLE)
            cur.execute("DELETE FROM demo_persona_zones")
            cur.execute(_WEAK_TABLE)
            cur.execute("DELETE FROM demo_weak_hexes")
        return int(deleted)
    finally:
        cur.close()


# The demo personas' routes and weak zones (ingest/demo_personas.py); only demo databases have it.
_PERSONA_TABLE = """
CREATE TABLE IF NOT EXISTS demo_persona_zones (
    reporter_code   VARCHAR NOT NULL,   -- a published demo code (docs/DEMO.md), never a real one
    expected_answer VARCHAR NOT NULL,   -- what "phone or network?" should answer for him
    network         VARCHAR NOT NULL,
    device_model    VARCHAR NOT NULL,
    route_order     INTEGER NOT NULL,   -- station's place on his daily route, home end first
    station         VARCHAR NOT NULL,
    h3_r8           UBIGINT NOT NULL,
    failure_rate    DOUBLE NOT NULL,    -- his network's true rate in that hex (as in demo_truth)
    weak_zone       BOOLEAN NOT NULL    -- one of his network's weak hexes
)
"""


def _replace(con: duckdb.DuckDBPyConnection, table: str, ddl: str, rows: pd.DataFrame, select: str) -> int:
    """Create ``table`` if needed and replace its rows with ``SELECT <select> FROM rows``; returns the count."""
    cur = con.cursor()
    try:
        cur.execute(ddl)
        cur.execute(f"DELETE FROM {table}")
        cur.register("new_rows", rows)
        cur.execute(f"INSERT INTO {table} SELECT {select} FROM new_rows")
        return len(rows)
    finally:
        cur.close()


def save_personas(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> int:
    """Replace the rows of demo_persona_zones; returns the row count."""
    return _replace(con, "demo_persona_zones", _PERSONA_TABLE, rows,
                    "reporter_code, expected_answer, network, device_model, route_order, station, h3_r8::UBIGINT,"
                    " failure_rate, weak_zone")


# Which kind of weak place each weak hex of demo_truth belongs to (ingest/demo_truth.py); only demo
# databases have it, and demo_truth keeps its three columns.
_WEAK_TABLE = """
CREATE TABLE IF NOT EXISTS demo_weak_hexes (
    network   VARCHAR NOT NULL,
    h3_r8     UBIGINT NOT NULL,
    weak_kind VARCHAR NOT NULL,   -- cluster | isolated | persona (a persona's weak zone, a single hex)
    footprint UBIGINT             -- the centre of its footprint for a cluster hex, else NULL
)
"""


def save_weak_hexes(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> int:
    """Replace the rows of demo_weak_hexes; returns the row count."""
    return _replace(con, "demo_weak_hexes", _WEAK_TABLE, rows, "network, h3_r8::UBIGINT, weak_kind, footprint::UBIGINT")


def save_truth(con: duckdb.DuckDBPyConnection, truth: pd.DataFrame) -> int:
    """Insert rows (network, h3_r8, failure_rate) into demo_truth; returns the row count."""
    cur = con.cursor()
    try:
        cur.register("truth_rows", truth)
        cur.execute(
            "INSERT INTO demo_truth (network, h3_r8, failure_rate)"
            " SELECT network, h3_r8::UBIGINT, failure_rate FROM truth_rows"
        )
        return len(truth)
    finally:
        cur.close()


def demo_counts(con: duckdb.DuckDBPyConnection) -> dict:
    """What the store holds of the demo: counts per network, samples vs failures, reporters, period."""
    cur = con.cursor()
    try:
        rows = cur.execute(
            """
            SELECT network,
                   count(*) FILTER (WHERE kind <> 'ok') AS failures,
                   count(*) FILTER (WHERE kind = 'ok') AS samples,
                   count(*) FILTER (WHERE mvno) AS mvno_reports,
                   count(DISTINCT reporter) AS reporters
            FROM reports WHERE source = ? GROUP BY network ORDER BY network
            """,
            ["demo"],
        ).fetchall()
        totals = cur.execute(
            """
            SELECT count(*) FILTER (WHERE kind <> 'ok'), count(*) FILTER (WHERE kind = 'ok'),
                   count(DISTINCT reporter), min(observed_at), max(observed_at)
            FROM reports WHERE source = ?
            """,
            ["demo"],
        ).fetchone()
        batches = cur.execute(
            "SELECT count(*), coalesce(sum(rejected), 0), coalesce(sum(duplicates), 0)"
            " FROM batches WHERE source = ?",
            ["demo"],
        ).fetchone()
        truth_cells = cur.execute("SELECT count(DISTINCT h3_r8) FROM demo_truth").fetchone()[0]
    finally:
        cur.close()
    return {
        "failures": int(totals[0]), "samples": int(totals[1]), "reporters": int(totals[2]),
        "first_observed": totals[3].isoformat() if totals[3] else None,
        "last_observed": totals[4].isoformat() if totals[4] else None,
        "by_network": {r[0]: {"failures": r[1], "samples": r[2], "mvno_reports": r[3], "reporters": r[4]}
                       for r in rows},
        "batches": int(batches[0]), "rejected": int(batches[1]), "duplicates": int(batches[2]),
        "truth_hexes": int(truth_cells),
    }


def outage_counts(con: duckdb.DuckDBPyConnection, network: str, start, end) -> dict:
    """Failure reports and distinct reporters of ``network`` in [start, end)."""
    cur = con.cursor()
    try:
        reports, reporters = cur.execute(
            "SELECT count(*), count(DISTINCT reporter) FROM reports"
            " WHERE source = ? AND network = ? AND kind <> 'ok' AND observed_at >= ? AND observed_at < ?",
            ["demo", network, start, end],
        ).fetchone()
    finally:
        cur.close()
    return {"reports": int(reports), "reporters": int(reporters)}


# How a map might rank hexes; identifiers chosen from this allow-list only.
RANKINGS = {
    "density": "f",  # failure reports
    "raw_rate": "f / n",  # failures / attempts
    "shrunk_rate": "(f + 1.0) / (n + 10.0)",  # pulled towards ~0.1 when a hex has few attempts
}


def ranking_hits(con: duckdb.DuckDBPyConnection, *, top: int = 20, min_reporters: int = 5,
                 leave_out: tuple | None = None) -> dict[str, dict[str, int]]:
    """Per ranking and network: how many of the top ``top`` hexes are among the true ``top`` weakest.

    Only hexes with at least ``min_reporters`` distinct reporters may be ranked
    (as on the public map); ``leave_out`` = (start, end) drops reports in that
    window (the outage replay has no 'all good' samples).
    """
    start, end = leave_out or (None, None)
    out: dict[str, dict[str, int]] = {}
    cur = con.cursor()
    try:
        for name, order in RANKINGS.items():
            rows = cur.execute(
                f"""
                WITH observed AS (
                    SELECT network, h3_r8, count(*) AS n, count(*) FILTER (WHERE kind <> 'ok') AS f
                    FROM reports
                    WHERE source = 'demo' AND {PUBLIC_STATUS}
                      AND ($start IS NULL OR NOT (observed_at >= $start AND observed_at < $end))
                    GROUP BY network, h3_r8
                    HAVING count(DISTINCT reporter) >= $k
                ),
                ranked AS (
                    SELECT network, h3_r8,
                           row_number() OVER (PARTITION BY network ORDER BY {order} DESC, h3_r8) AS rank
                    FROM observed
                ),
                truth AS (
                    SELECT network, h3_r8,
                           row_number() OVER (PARTITION BY network ORDER BY failure_rate DESC, h3_r8) AS rank
                    FROM demo_truth
                )
                SELECT r.network, count(*) FILTER (WHERE t.rank <= $top)
                FROM ranked r JOIN truth t USING (network, h3_r8)
                WHERE r.rank <= $top
                GROUP BY r.network ORDER BY r.network
                """,
                {"start": start, "end": end, "k": min_reporters, "top": top},
            ).fetchall()
            out[name] = {network: int(hits) for network, hits in rows}
    finally:
        cur.close()
    return out
