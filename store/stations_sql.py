"""SQL of the subway-line view (geo.stations): reports near each station, per host network and time window.

One scan of the reports joins their res-10 cell to the cells around every station
(a small table of (station id, cell) pairs, registered from Python) and counts, per
station x network, for each part of the week (``PARTS``) and for the unions the
page and the API publish. Values are bound with ``?``; the only identifiers come from
this module.
"""

from __future__ import annotations

import threading

import duckdb
import pandas as pd

from core.errors import StoreError
from store.filters import ReportFilter

# The one place that says who counts as a distinct source of reports (the column whose distinct
# values are counted): every privacy threshold of this view compares that count with k.
SOURCE = "reporter"

CELL_COLUMN = "h3_r10"  # the station discs are unions of res-10 cells (geo.stations.CELL_RES)
_CELLS_VIEW = "station_cells_frame"

# Parts of the week, disjoint; every window published is a union of them (geo.stations.WINDOWS).
# part -> (weekdays only, first local hour, last local hour); a report in none of them is 'rest'.
PARTS: dict[str, tuple[bool, int, int]] = {"am": (True, 7, 9), "pm": (True, 18, 20)}
REST = "rest"

# Two steps: one row per station x network x part x source (a plain GROUP BY over the join), then
# the windows from those rows -- a part's sources are its rows, unions need a distinct count.
_COUNTS = """
WITH per_source AS (
    SELECT c.sid, r.network, r.{source} AS source_key,
           CASE WHEN r.local_dow <= 5 AND r.local_hour BETWEEN ? AND ? THEN 'am'
                WHEN r.local_dow <= 5 AND r.local_hour BETWEEN ? AND ? THEN 'pm'
                ELSE 'rest' END AS part,
           count(*) - count_if(r.kind = 'ok') AS failures, count_if(r.kind = 'ok') AS samples, count(*) AS reports
    FROM reports r JOIN {cells} c ON r.{cell_col} = c.cell
    WHERE {where}
    GROUP BY ALL
)
SELECT sid, network, part AS "window", sum(failures) AS failures, sum(samples) AS samples,
       sum(reports) AS reports, count(*) AS reporters
FROM per_source GROUP BY ALL
UNION ALL
SELECT sid, network, 'rush', sum(failures), sum(samples), sum(reports), count(DISTINCT source_key)
FROM per_source WHERE part <> 'rest' GROUP BY ALL
UNION ALL
SELECT sid, network, 'all', sum(failures), sum(samples), sum(reports), count(DISTINCT source_key)
FROM per_source GROUP BY ALL
"""


def station_counts(cur: duckdb.DuckDBPyConnection, cells: pd.DataFrame, *, seconds: float) -> pd.DataFrame:
    """Per station id x network x window ('am', 'pm', 'rest', 'rush', 'all'): failures, samples, reports, reporters.

    ``cells`` has columns sid (int) and cell (uint64, res 10); a window without reports has no row.
    The query is interrupted after ``seconds`` (StoreError).
    """
    where, values = ReportFilter(failures_only=False).where("r")
    (_, am0, am1), (_, pm0, pm1) = PARTS["am"], PARTS["pm"]
    sql = _COUNTS.format(cells=_CELLS_VIEW, cell_col=CELL_COLUMN, where=where, source=SOURCE)
    cur.register(_CELLS_VIEW, cells)
    try:
        frame = _with_time_limit(cur, sql, [am0, am1, pm0, pm1, *values], seconds)
    finally:
        cur.unregister(_CELLS_VIEW)
    for name in ("failures", "samples", "reports", "reporters"):
        frame[name] = frame[name].astype("int64")
    return frame.reset_index(drop=True)


def _with_time_limit(cur: duckdb.DuckDBPyConnection, sql: str, values: list, seconds: float) -> pd.DataFrame:
    """Run a query, interrupting it after ``seconds`` (a public query never runs unbounded)."""
    timer = threading.Timer(seconds, cur.interrupt)
    timer.start()
    try:
        return cur.execute(sql, values).df()
    except duckdb.InterruptException as e:
        raise StoreError(f"the stations query took longer than {seconds:g} s; try again shortly") from e
    finally:
        timer.cancel()
