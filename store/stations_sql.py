"""SQL of the subway-line view (geo.stations): reports near each station, per host network and time window.

One scan of the reports joins their res-10 cell to the cells around every station
(a small table of (station id, cell) pairs, registered from Python) and counts, per
station x network, for each part of the week (``PARTS``) and for the unions the
page and the API publish. Values are bound with ``?``; the only identifiers come from
this module.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from store.filters import ReportFilter
from store.read import time_limit

# The one place that says who counts as a distinct source of reports (the column whose distinct
# values are counted): every privacy threshold of this view compares that count with k.
SOURCE = "source_id"

CELL_COLUMN = "h3_r10"  # the station discs are unions of res-10 cells (geo.stations.CELL_RES)
_CELLS_VIEW = "station_cells_frame"

# Parts of the week, disjoint; every window published is a union of them (geo.stations.WINDOWS).
# part -> (weekdays only, first local hour, last local hour); a report in none of them is 'rest'.
PARTS: dict[str, tuple[bool, int, int]] = {"am": (True, 7, 9), "pm": (True, 18, 20)}
REST = "rest"

# Two steps: one row per station x network x source with its failures and samples in each part of
# the week (a plain GROUP BY over the join), then per station x network the sums and the number of
# sources with any report in each window -- no DISTINCT needed, since a source is one row.
_PART_CONDITION = "r.local_dow <= 5 AND r.local_hour BETWEEN ? AND ?"
_COUNTS = """
WITH tagged AS (
    SELECT c.sid, r.network, r.{source} AS source_key, r.kind <> 'ok' AS failed,
           CASE WHEN {part} THEN 'am' WHEN {part} THEN 'pm' ELSE 'rest' END AS part
    FROM reports r JOIN {cells} c ON r.{cell_col} = c.cell
    WHERE {where}
),
per_source AS (
    SELECT sid, network, source_key,
           count_if(part = 'am' AND failed) AS am_f, count_if(part = 'am' AND NOT failed) AS am_s,
           count_if(part = 'pm' AND failed) AS pm_f, count_if(part = 'pm' AND NOT failed) AS pm_s,
           count_if(part = 'rest' AND failed) AS rest_f, count_if(part = 'rest' AND NOT failed) AS rest_s
    FROM tagged GROUP BY ALL
)
SELECT sid, network,
       sum(am_f) AS am_f, sum(am_s) AS am_s, count_if(am_f + am_s > 0) AS am_r,
       sum(pm_f) AS pm_f, sum(pm_s) AS pm_s, count_if(pm_f + pm_s > 0) AS pm_r,
       sum(rest_f) AS rest_f, sum(rest_s) AS rest_s, count_if(rest_f + rest_s > 0) AS rest_r,
       sum(am_f + pm_f) AS rush_f, sum(am_s + pm_s) AS rush_s, count_if(am_f + am_s + pm_f + pm_s > 0) AS rush_r,
       sum(am_f + pm_f + rest_f) AS all_f, sum(am_s + pm_s + rest_s) AS all_s, count(*) AS all_r
FROM per_source GROUP BY ALL
"""
WINDOW_NAMES = ("am", "pm", "rest", "rush", "all")


def station_counts(cur: duckdb.DuckDBPyConnection, cells: pd.DataFrame, *, seconds: float) -> pd.DataFrame:
    """Per station id x network x window ('am', 'pm', 'rest', 'rush', 'all'): failures, samples, reports, reporters.

    ``cells`` has columns sid (int) and cell (uint64, res 10); a window without reports has no row.
    The query is interrupted after ``seconds`` (store.read.QueryTimeout, a StoreError).
    """
    where, values = ReportFilter(failures_only=False).where("r")
    (_, am0, am1), (_, pm0, pm1) = PARTS["am"], PARTS["pm"]
    sql = _COUNTS.format(cells=_CELLS_VIEW, cell_col=CELL_COLUMN, where=where, source=SOURCE, part=_PART_CONDITION)
    cur.register(_CELLS_VIEW, cells)
    try:
        with time_limit(cur, max(1, round(seconds * 1000))):
            wide = cur.execute(sql, [am0, am1, pm0, pm1, *values]).df()
    finally:
        cur.unregister(_CELLS_VIEW)
    parts = []
    for name in WINDOW_NAMES:
        part = pd.DataFrame({"sid": wide["sid"], "network": wide["network"], "window": name,
                             "failures": wide[f"{name}_f"], "samples": wide[f"{name}_s"],
                             "reporters": wide[f"{name}_r"]})
        parts.append(part[part["reporters"] > 0])  # a window without reports has no row
    frame = pd.concat(parts, ignore_index=True)
    for name in ("failures", "samples", "reporters"):
        frame[name] = frame[name].astype("int64")
    frame["reports"] = frame["failures"] + frame["samples"]
    return frame


