"""All SQL of the evidence package. Values are bound; identifiers come from allow-lists."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from core.cellkey import cell_key_sql, record_key_sql
from store.filters import PUBLIC_STATUS, local_time_sql

# A phone model compared without case, spaces or punctuation ('SM-G991N' == 'sm g991n').
MODEL_KEY_SQL = "regexp_replace(lower(coalesce({col}, '')), '[^0-9a-z가-힣]', '', 'g')"

_OWN_REPORTS = f"""
SELECT report_id::VARCHAR AS report_id, observed_at, {local_time_sql('observed_at')} AS local_time,
       lat, lon, accuracy_m, h3_r8, sig_cd, network, brand, mvno, tech, kind, device_model, note,
       source, status, flag_reason, received_at
FROM reports
WHERE reporter = ?
ORDER BY observed_at
LIMIT ?
"""


def reports_of(cur, reporter: int, limit: int) -> pd.DataFrame:
    """Every report of one reporter (their own view: coordinates and notes included)."""
    return cur.execute(_OWN_REPORTS, [reporter, limit]).df()


_NEARBY = f"""
WITH others AS (
    SELECT r.h3_r8, hour({local_time_sql('r.observed_at')}) // 4 AS bucket, r.network, r.source_id, r.kind,
           r.source, {MODEL_KEY_SQL.format(col='r.device_model')} AS model_key,
           {record_key_sql('r.source_id')} AS record_key
    FROM reports r
    WHERE r.{PUBLIC_STATUS} AND r.reporter <> $me
      AND r.observed_at >= $start AND r.observed_at < $end
      AND r.h3_r8 IN (SELECT h3_r8 FROM my_units)
),
in_units AS (
    SELECT o.* FROM others o SEMI JOIN my_units u ON o.h3_r8 = u.h3_r8 AND o.bucket = u.bucket
),
published AS (  -- a (hex, time bucket, carrier) cell counts only with >= k other reporters
    SELECT h3_r8, bucket, network FROM in_units GROUP BY ALL HAVING count(DISTINCT source_id) >= $k
),
rows AS (
    SELECT i.*
    FROM in_units i SEMI JOIN published p
         ON i.h3_r8 = p.h3_r8 AND i.bucket = p.bucket AND i.network = p.network
)
SELECT network, bucket, model_key,
       GROUPING(network, bucket, model_key) AS grouping_id,
       count(*) FILTER (WHERE kind <> 'ok') AS failures,
       count(*) FILTER (WHERE kind = 'ok') AS ok_samples,
       count(DISTINCT source_id) AS reporters,
       count(DISTINCT source_id) FILTER (WHERE kind <> 'ok') AS failure_reporters,
       count(DISTINCT source_id) FILTER (WHERE kind = 'ok') AS ok_reporters,
       count(*) FILTER (WHERE source = 'demo') AS demo_rows,
       count(*) AS all_rows,
       {cell_key_sql('sum(record_key)')} AS cell_key,
       {cell_key_sql("sum(record_key) FILTER (WHERE kind <> 'ok')")} AS failure_key,
       {cell_key_sql("sum(record_key) FILTER (WHERE kind = 'ok')")} AS ok_key
FROM rows
GROUP BY GROUPING SETS ((network), (network, bucket), (network, model_key))
ORDER BY grouping_id, network, bucket, model_key  -- ties among parts are broken the same for every asker
"""


def nearby_groups(cur, *, me: int, units: pd.DataFrame, start: datetime, end: datetime, k: int) -> pd.DataFrame:
    """Other reporters' counts in ``units`` (h3_r8, bucket), over published cells only.

    One row per network, per (network, bucket) and per (network, phone model key): the same
    groups whoever asks (evidence.compare.phone_groups picks what may be shown);
    ``grouping_id`` tells which: 1 = (network, bucket), 2 = (network, model_key), 3 = (network).
    """
    cur.register("my_units", units[["h3_r8", "bucket"]].drop_duplicates())
    try:
        return cur.execute(_NEARBY, {"me": me, "start": start, "end": end, "k": k}).df()
    finally:
        cur.unregister("my_units")


# Incidents of the site's schema (migration 0002) whose span covers one of my reports: same
# network, the report between onset and end (an open incident: until now), not withdrawn, and in
# one of its districts when it names districts.
_OVERLAPPING = """
    SELECT i.incident_id, i.network, i.onset_at, coalesce(i.ended_at, i.resolved_at, now()) AS end_at,
           i.status, i.scope, i.reporters, i.synthetic,
           count(*) AS my_reports, min(m.observed_at) AS first_mine, max(m.observed_at) AS last_mine
    FROM incidents i
    JOIN my_reports m ON m.network = i.network AND m.observed_at >= i.onset_at
                     AND m.observed_at <= coalesce(i.ended_at, i.resolved_at, now())
    WHERE i.status <> 'withdrawn'
      AND (i.scope <> 'districts'
           OR m.sig_cd IN (SELECT a.sig_cd FROM incident_areas a WHERE a.incident_id = i.incident_id))
    GROUP BY ALL
    ORDER BY i.onset_at
"""


def overlapping_incidents(cur, reports: pd.DataFrame) -> pd.DataFrame | None:
    """Incidents (outages package) on the same network whose time span covers one of ``reports``.

    None when the store has no incidents table (a database the site's migrations never touched).
    """
    cur.register("my_reports", reports[["observed_at", "network", "sig_cd"]])
    try:
        return cur.execute(_OVERLAPPING).df()
    except duckdb.CatalogException:
        return None
    finally:
        cur.unregister("my_reports")
