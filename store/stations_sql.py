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

# The one place that says who counts as a distinct source of reports: every privacy
# threshold of this view compares this number with k.
DISTINCT_SOURCES = "count(DISTINCT reporter)"

CELL_COLUMN = "h3_r10"  # the station discs are unions of res-10 cells (geo.stations.CELL_RES)
_CELLS_VIEW = "station_cells_frame"

# Parts of the week, disjoint; every window published is a union of them (geo.stations.WINDOWS).
# part -> (weekdays only, first local hour, last local hour); a report in none of them is 'rest'.
PARTS: dict[str, tuple[bool, int, int]] = {"am": (True, 7, 9), "pm": (True, 18, 20)}
REST = "rest"

_COUNTS = """
WITH tagged AS (
    SELECT c.sid, r.network, r.kind, r.reporter,
           CASE WHEN r.local_dow <= 5 AND r.local_hour BETWEEN ? AND ? THEN 'am'
                WHEN r.local_dow <= 5 AND r.local_hour BETWEEN ? AND ? THEN 'pm'
                ELSE 'rest' END AS part
    FROM reports r JOIN {cells} c ON r.{cell_col} = c.cell
    WHERE {where}
)
SELECT * FROM (
SELECT sid, network,
       -- the (sid, network, rush) set's rush = false row is the 'rest' part again: NULL, dropped
       CASE WHEN GROUPING(part) = 0 THEN part WHEN GROUPING(rush) = 0 THEN CASE WHEN rush THEN 'rush' END
            ELSE 'all' END AS "window",
       count(*) - count_if(kind = 'ok') AS failures, count_if(kind = 'ok') AS samples, count(*) AS reports,
       {distinct} AS reporters
FROM (SELECT *, part <> 'rest' AS rush FROM tagged)
GROUP BY GROUPING SETS ((sid, network, part), (sid, network, rush), (sid, network))
) WHERE "window" IS NOT NULL
"""


def station_counts(cur: duckdb.DuckDBPyConnection, cells: pd.DataFrame, *, seconds: float) -> pd.DataFrame:
    """Per station id x network x window ('am', 'pm', 'rest', 'rush', 'all'): failures, samples, reports, reporters.

    ``cells`` has columns sid (int) and cell (uint64, res 10); a window without reports has no row.
    The query is interrupted after ``seconds`` (StoreError).
    """
    where, values = ReportFilter(failures_only=False).where("r")
    (_, am0, am1), (_, pm0, pm1) = PARTS["am"], PARTS["pm"]
    sql = _COUNTS.format(cells=_CELLS_VIEW, cell_col=CELL_COLUMN, where=where, distinct=DISTINCT_SOURCES)
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
