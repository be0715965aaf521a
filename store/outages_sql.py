"""All SQL of the outages package. Values are always bound; identifiers are fixed names.

Every function takes a DuckDB cursor (the site hands one per thread from the
shared connection) and returns plain Python or pandas values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from core.cellkey import cell_key_sql, record_key_sql
from store.db import transaction
from store.filters import PUBLIC_STATUS

OPEN_STATUSES = ("suspected", "ongoing", "recovering")

# A reporter's "first report": their first failure report on a network, or the
# first after an hour of silence. Downdetector counts a user's first report per
# service the same way, so one person (or five) flooding the form adds little.
# Counted per independent source (reports.source_id, ingest.sources) AND per network
# (coalesce(prefix_hash, reporter)): a report counts only when it is the first of
# both, so many codes from one network, or one code from many networks, count once.
_FIRST_REPORTS = f"""
WITH failures AS (
    SELECT network, sig_cd, observed_at,
           lag(observed_at) OVER (PARTITION BY network, source_id ORDER BY observed_at) AS previous,
           lag(observed_at) OVER (PARTITION BY network, coalesce(prefix_hash, reporter)
                                  ORDER BY observed_at) AS previous_net
    FROM reports
    WHERE {PUBLIC_STATUS} AND kind <> 'ok'
      AND observed_at >= $lead_in AND observed_at < $end
      AND ($network IS NULL OR network = $network)
)
SELECT network, sig_cd, {{bucket}}, count(*) AS n
FROM failures
WHERE observed_at >= $start AND sig_cd IS NOT NULL
  AND (previous IS NULL OR observed_at - previous >= to_minutes($dedup_minutes))
  AND (previous_net IS NULL OR observed_at - previous_net >= to_minutes($dedup_minutes))
GROUP BY ALL
"""
_HOUR = "(epoch_ms(observed_at) - $origin_ms) // 3600000"  # hours since $origin (0: 1970-01-01 00:00 UTC)


def _first_report_params(start: datetime, end: datetime, dedup_minutes: int, network: str | None) -> dict:
    # The lead-in: a report is a first report when its source's previous one is at least dedup_minutes
    # older, so counting from ``start`` needs the reports of the dedup_minutes before it, and no more.
    return {"lead_in": start - timedelta(minutes=dedup_minutes), "start": start, "end": end,
            "dedup_minutes": int(dedup_minutes), "network": network}


def _at_positions(cur, sql: str, params: dict, time: str, networks, codes) -> dict[str, np.ndarray]:
    """The rows of ``sql`` (network, sig_cd, ``time``, n) as numpy arrays net, area, ``time``, n: net and area
    are positions in ``networks`` and ``codes`` (district codes); other rows are left out."""
    return cur.execute(
        f"""
        SELECT * FROM (
            SELECT coalesce(list_position($networks, network), 0)::BIGINT - 1 AS net,
                   coalesce(list_position($codes, sig_cd), 0)::BIGINT - 1 AS area, {time}, n
            FROM ({sql})
        ) WHERE net >= 0 AND area >= 0
        """,
        {**params, "networks": list(networks), "codes": list(codes)},
    ).fetchnumpy()


def first_report_counts(cur, *, start: datetime, end: datetime, origin: datetime, dedup_minutes: int,
                        networks, codes) -> dict[str, np.ndarray]:
    """First reports per (network, district, minute since ``origin``) in [start, end).

    Arrays net, area (positions in ``networks`` and ``codes``), minute, n. Flagged reports and
    'all good' samples never count; reports outside Seoul's districts are left out.
    """
    one = networks[0] if len(networks) == 1 else None
    sql = _FIRST_REPORTS.format(bucket="(epoch_ms(observed_at) - $origin_ms) // 60000 AS minute")
    params = {**_first_report_params(start, end, dedup_minutes, one), "origin_ms": _ms(origin)}
    return _at_positions(cur, sql, params, "minute", networks, codes)


_HOURLY_VOLUME = f"""
SELECT {_HOUR} AS hour, count(*) AS n FROM reports
WHERE {PUBLIC_STATUS} AND observed_at >= $start AND observed_at < $end GROUP BY ALL
"""


def first_reports_per_hour(cur, *, start: datetime, end: datetime, origin: datetime, dedup_minutes: int, networks,
                           codes) -> dict[str, np.ndarray]:
    """First reports per (network, district, hour since ``origin``) in [start, end): arrays net, area
    (positions in ``networks`` and ``codes``), hour, n.
    """
    params = {**_first_report_params(start, end, dedup_minutes, None), "origin_ms": _ms(origin)}
    return _at_positions(cur, _FIRST_REPORTS.format(bucket=f"{_HOUR} AS hour"), params, "hour", networks, codes)


def hourly_volume(cur, *, start: datetime, end: datetime, origin: datetime) -> dict[str, np.ndarray]:
    """All unflagged reports (every network, failures and 'all good') per hour since ``origin`` in
    [start, end): arrays hour, n. This is the site's own volume, used to scale old weeks to today's
    user base.
    """
    return cur.execute(_HOURLY_VOLUME, {"start": start, "end": end, "origin_ms": _ms(origin)}).fetchnumpy()


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


# The kept history (outages.history): first reports and volume per hour, stored once and read back.

def mark_stale(cur, since: datetime, reports: int) -> None:
    """Say, in the writer's own transaction, that kept hours from ``since`` on may have changed:
    ``reports`` rows were added to reports (0: reports changed status). Only appended, so concurrent
    writers never conflict."""
    cur.execute("INSERT INTO outage_stale (since, reports) VALUES (?, ?)", [since, int(reports)])


def stale_marks(cur) -> tuple[datetime | None, int]:
    """(earliest ``since``, reports added) of the stale marks this transaction sees."""
    since, added = cur.execute("SELECT min(since), coalesce(sum(reports), 0) FROM outage_stale").fetchone()
    return since, int(added)


def drop_stale_marks(cur) -> None:
    """Remove the marks this transaction sees (marks written since stay for the next scan)."""
    cur.execute("DELETE FROM outage_stale")


def report_rows(cur) -> int:
    """Rows of the reports table, flagged or not (answered without reading the rows)."""
    return int(cur.execute("SELECT count(*) FROM reports").fetchone()[0])


def history_state(cur) -> dict | None:
    row = cur.execute("SELECT kept_from, kept_until, dedup_minutes, reports_seen FROM outage_history_state"
                      " WHERE name = 'detector'").fetchone()
    return None if row is None else dict(zip(("kept_from", "kept_until", "dedup_minutes", "reports_seen"), row,
                                             strict=True))


def save_history_state(cur, *, kept_from: int, kept_until: int, dedup_minutes: int, reports_seen: int,
                       now: datetime) -> None:
    _save_state(cur, "outage_history_state", {"kept_from": "BIGINT", "kept_until": "BIGINT",
                                              "dedup_minutes": "INTEGER", "reports_seen": "BIGINT"},
                [kept_from, kept_until, dedup_minutes, reports_seen], now)


def _save_state(cur, table: str, columns: dict[str, str], values: list, now: datetime) -> None:
    """The detector's one row of ``table`` (``columns``: name -> type), replaced: call it in a transaction, so a
    reader never sees it missing. DELETE and INSERT rather than INSERT OR REPLACE (a shared store has no key to replace
    by) or MERGE (which writes a data file each time in DuckLake, where a small INSERT stays in the catalog)."""
    names = [*columns, "updated_at"]
    cur.execute(f"DELETE FROM {table} WHERE name = 'detector'")
    cur.execute(f"INSERT INTO {table} (name, {', '.join(names)}) VALUES ('detector', "
                f"{', '.join('?' for _ in names)})", [*values, now])


def drop_kept_hours(cur, *, from_hour: int | None = None, before: int | None = None) -> None:
    """Forget the kept hours from ``from_hour`` on, or before ``before`` (neither: all of them)."""
    for table in ("outage_hours", "outage_volume"):
        cur.execute(f"DELETE FROM {table} WHERE ($f IS NULL OR hour >= $f) AND ($b IS NULL OR hour < $b)",
                    {"f": from_hour, "b": before})


def keep_hours(cur, *, first_hour: int, last_hour: int, dedup_minutes: int) -> None:
    """Count first reports and volume per hour in [first_hour, last_hour) and keep them."""
    start, end = _hour_time(first_hour), _hour_time(last_hour)
    cur.execute("INSERT INTO outage_hours (network, sig_cd, hour, first_reports) "
                + _FIRST_REPORTS.format(bucket=f"{_HOUR} AS hour"),
                {**_first_report_params(start, end, dedup_minutes, None), "origin_ms": 0})
    cur.execute("INSERT INTO outage_volume (hour, reports) " + _HOURLY_VOLUME, {"start": start, "end": end,
                                                                                "origin_ms": 0})


def kept_hours(cur, *, first_hour: int, last_hour: int, networks, codes
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(first reports: net, area, hour, n as in ``first_reports_per_hour``; volume: hour, n) of the kept
    hours in [first_hour, last_hour)."""
    bounds = {"first": first_hour, "last": last_hour}
    first = _at_positions(cur, "SELECT network, sig_cd, hour, first_reports AS n FROM outage_hours"
                               " WHERE hour >= $first AND hour < $last", bounds, "hour", networks, codes)
    volume = cur.execute("SELECT hour, reports AS n FROM outage_volume WHERE hour >= $first AND hour < $last",
                         bounds).fetchnumpy()
    return first, volume


def _hour_time(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


def next_report_time(cur, after: datetime) -> datetime | None:
    """The observed_at of the first unflagged failure report at or after ``after``."""
    row = cur.execute(
        f"SELECT min(observed_at) FROM reports WHERE {PUBLIC_STATUS} AND kind <> 'ok' AND observed_at >= ?",
        [after],
    ).fetchone()
    return row[0]


def reports_received_since(cur, received_after: datetime | None) -> tuple[datetime | None, datetime | None]:
    """(oldest observed_at, newest received_at) of reports received after ``received_after``."""
    if received_after is None:
        sql, params = "SELECT min(observed_at), max(received_at) FROM reports WHERE kind <> 'ok'", []
    else:
        sql = "SELECT min(observed_at), max(received_at) FROM reports WHERE kind <> 'ok' AND received_at > ?"
        params = [received_after]
    oldest, newest = cur.execute(sql, params).fetchone()
    return oldest, newest


def area_totals(cur, *, network: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per district: distinct reporters, failure reports and synthetic reports in [start, end).

    Columns: sig_cd, reporters, reports, demo_reports. Private: the caller
    publishes a district only when it has at least k reporters.
    """
    return cur.execute(
        f"""
        SELECT sig_cd, count(DISTINCT source_id) AS reporters, count(*) AS reports,
               count(*) FILTER (WHERE source = 'demo') AS demo_reports
        FROM reports
        WHERE {PUBLIC_STATUS} AND kind <> 'ok' AND network = ? AND sig_cd IS NOT NULL
          AND observed_at >= ? AND observed_at < ?
        GROUP BY sig_cd
        """,
        [network, start, end],
    ).df()


def reporters_in(cur, *, network: str, start: datetime, end: datetime, sig_cds: list[str]) -> int:
    """Distinct reporters of ``network`` failures in the districts ``sig_cds`` during [start, end)."""
    if not sig_cds:
        return 0
    marks = ", ".join("?" * len(sig_cds))
    row = cur.execute(
        f"SELECT count(DISTINCT source_id) FROM reports WHERE {PUBLIC_STATUS} AND kind <> 'ok'"
        f" AND network = ? AND observed_at >= ? AND observed_at < ? AND sig_cd IN ({marks})",
        [network, start, end, *sig_cds],
    ).fetchone()
    return int(row[0])


def kinds_in(cur, *, network: str, start: datetime, end: datetime, sig_cds: list[str] | None) -> pd.DataFrame:
    """Failure kinds of ``network`` in [start, end) (all of Seoul when ``sig_cds`` is None).

    Columns: kind, reports, reporters.
    """
    area, values = "sig_cd IS NOT NULL", []
    if sig_cds:
        area = f"sig_cd IN ({', '.join('?' * len(sig_cds))})"
        values = list(sig_cds)
    return cur.execute(
        f"""
        SELECT kind, count(*) AS reports, count(DISTINCT source_id) AS reporters
        FROM reports
        WHERE {PUBLIC_STATUS} AND kind <> 'ok' AND network = ? AND observed_at >= ? AND observed_at < ?
          AND {area}
        GROUP BY kind ORDER BY reports DESC
        """,
        [network, start, end, *values],
    ).df()


# --- incidents ------------------------------------------------------------------

INCIDENT_COLUMNS = (
    "incident_id", "network", "status", "confirmed", "scope", "onset_at", "detected_at", "ended_at",
    "resolved_at", "changed_at", "as_of", "peak_at", "peak_ratio", "peak_reporters", "recent_reporters",
    "recent_expected", "reporters", "reports", "expected", "synthetic", "created_at", "updated_at",
)
_SELECT_INCIDENTS = f"SELECT {', '.join(INCIDENT_COLUMNS)} FROM incidents"


def _rows_to_dicts(rows) -> list[dict]:
    return [dict(zip(INCIDENT_COLUMNS, row, strict=True)) for row in rows]


def incidents_touching(cur, start: datetime, end: datetime) -> list[dict]:
    """Incidents that are open, or whose [onset, end] overlaps [start, end)."""
    marks = ", ".join("?" * len(OPEN_STATUSES))
    rows = cur.execute(
        f"""{_SELECT_INCIDENTS}
        WHERE status IN ({marks})
           OR (onset_at < ? AND coalesce(ended_at, resolved_at, as_of) >= ?)
        ORDER BY onset_at""",
        [*OPEN_STATUSES, end, start],
    ).fetchall()
    return _rows_to_dicts(rows)


def incident_ids(cur) -> set[str]:
    return {row[0] for row in cur.execute("SELECT incident_id FROM incidents").fetchall()}


def save_incident(cur, row: dict, history: list[tuple[str, datetime, str | None]],
                  areas: list[tuple[str, int, int, float]]) -> None:
    """Replace one incident, its status history and its named districts, in one transaction."""
    with transaction(cur, writes=True):
        for table in ("incidents", "incident_history", "incident_areas"):
            cur.execute(f"DELETE FROM {table} WHERE incident_id = ?", [row["incident_id"]])
        cur.execute(
            f"INSERT INTO incidents ({', '.join(INCIDENT_COLUMNS)}) VALUES ({', '.join('?' * len(INCIDENT_COLUMNS))})",
            [row[c] for c in INCIDENT_COLUMNS],
        )
        if history:
            cur.executemany(
                "INSERT INTO incident_history (incident_id, seq, status, happened_at, note) VALUES (?, ?, ?, ?, ?)",
                [[row["incident_id"], i, status, at, note] for i, (status, at, note) in enumerate(history)],
            )
        if areas:
            cur.executemany(
                "INSERT INTO incident_areas (incident_id, sig_cd, reporters, observed, expected)"
                " VALUES (?, ?, ?, ?, ?)",
                [[row["incident_id"], code, reporters, observed, expected]
                 for code, reporters, observed, expected in areas],
            )


def withdraw_incident(cur, incident_id: str, at: datetime, as_of: datetime, now: datetime, note: str) -> None:
    """Mark an incident withdrawn (its reports no longer support it) and record why."""
    with transaction(cur, writes=True):
        seq = cur.execute("SELECT coalesce(max(seq) + 1, 0) FROM incident_history WHERE incident_id = ?",
                          [incident_id]).fetchone()[0]
        cur.execute(
            "UPDATE incidents SET status = 'withdrawn', changed_at = ?, as_of = ?, updated_at = ?,"
            " resolved_at = coalesce(resolved_at, ?) WHERE incident_id = ?",
            [at, as_of, now, at, incident_id],
        )
        cur.execute("INSERT INTO incident_history (incident_id, seq, status, happened_at, note) VALUES (?, ?, ?, ?, ?)",
                    [incident_id, seq, "withdrawn", at, note])


def list_incidents(cur, *, networks: tuple[str, ...] = (), statuses: tuple[str, ...] = (),
                   since: datetime | None = None, until: datetime | None = None,
                   scope: str | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
    """Incidents, newest onset first, filtered by network, status, scope and onset time [since, until)."""
    parts, values = [], []
    if networks:
        parts.append(f"network IN ({', '.join('?' * len(networks))})")
        values.extend(networks)
    if statuses:
        parts.append(f"status IN ({', '.join('?' * len(statuses))})")
        values.extend(statuses)
    if scope:
        parts.append("scope = ?")
        values.append(scope)
    if since:
        parts.append("onset_at >= ?")
        values.append(since)
    if until:
        parts.append("onset_at < ?")
        values.append(until)
    where = " AND ".join(parts) or "TRUE"
    rows = cur.execute(f"{_SELECT_INCIDENTS} WHERE {where} ORDER BY onset_at DESC, incident_id LIMIT ? OFFSET ?",
                       [*values, int(limit), int(offset)]).fetchall()
    return _rows_to_dicts(rows)


def open_incidents(cur) -> list[dict]:
    marks = ", ".join("?" * len(OPEN_STATUSES))
    rows = cur.execute(f"{_SELECT_INCIDENTS} WHERE status IN ({marks}) ORDER BY onset_at", list(OPEN_STATUSES))
    return _rows_to_dicts(rows.fetchall())


def get_incident(cur, incident_id: str) -> dict | None:
    rows = cur.execute(f"{_SELECT_INCIDENTS} WHERE incident_id = ?", [incident_id]).fetchall()
    return _rows_to_dicts(rows)[0] if rows else None


def history_of(cur, incident_ids: list[str]) -> dict[str, list[tuple[str, datetime, str | None]]]:
    """Status history per incident, in order."""
    out: dict[str, list] = {i: [] for i in incident_ids}
    if not incident_ids:
        return out
    rows = cur.execute(
        f"SELECT incident_id, status, happened_at, note FROM incident_history"
        f" WHERE incident_id IN ({', '.join('?' * len(incident_ids))}) ORDER BY incident_id, seq",
        list(incident_ids),
    ).fetchall()
    for incident_id, status, at, note in rows:
        out[incident_id].append((status, at, note))
    return out


def areas_of(cur, incident_ids: list[str]) -> dict[str, list[dict]]:
    """Named districts per incident (sig_cd, reporters, observed, expected), most affected first."""
    out: dict[str, list] = {i: [] for i in incident_ids}
    if not incident_ids:
        return out
    rows = cur.execute(
        f"SELECT incident_id, sig_cd, reporters, observed, expected FROM incident_areas"
        f" WHERE incident_id IN ({', '.join('?' * len(incident_ids))})"
        f" ORDER BY incident_id, observed / greatest(expected, 0.01) DESC",
        list(incident_ids),
    ).fetchall()
    for incident_id, code, reporters, observed, expected in rows:
        out[incident_id].append({"sig_cd": code, "reporters": reporters, "observed": observed,
                                 "expected": expected})
    return out


def confirmed_periods(cur, network: str | None = None) -> list[tuple[str, datetime, datetime]]:
    """(network, onset, end) of confirmed, not withdrawn incidents; open ones end at as_of."""
    sql = ("SELECT network, onset_at, coalesce(ended_at, as_of) FROM incidents"
           " WHERE confirmed AND status <> 'withdrawn'")
    values = []
    if network:
        sql += " AND network = ?"
        values.append(network)
    return [tuple(r) for r in cur.execute(sql + " ORDER BY onset_at", values).fetchall()]


# --- detector state ---------------------------------------------------------------

def scan_state(cur) -> tuple[datetime | None, datetime | None]:
    row = cur.execute("SELECT scanned_until, received_until FROM outage_scan_state WHERE name = 'detector'").fetchone()
    return (row[0], row[1]) if row else (None, None)


def save_scan_state(cur, scanned_until: datetime | None, received_until: datetime | None, now: datetime) -> None:
    with transaction(cur, writes=True):
        _save_state(cur, "outage_scan_state", {"scanned_until": "TIMESTAMPTZ", "received_until": "TIMESTAMPTZ"},
                    [scanned_until, received_until], now)


# --- webhook deliveries -------------------------------------------------------------

def add_deliveries(cur, rows: list[tuple]) -> None:
    """rows: (delivery_id, incident_id, event, url, body, next_attempt_at, created_at)."""
    if rows:
        cur.executemany(
            "INSERT INTO webhook_deliveries (delivery_id, incident_id, event, url, body, status, attempts,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
            [list(r) for r in rows],
        )


def due_deliveries(cur, now: datetime, limit: int = 20) -> list[dict]:
    rows = cur.execute(
        "SELECT delivery_id, incident_id, event, url, body, attempts FROM webhook_deliveries"
        " WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
        [now, limit],
    ).fetchall()
    keys = ("delivery_id", "incident_id", "event", "url", "body", "attempts")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def mark_delivery(cur, delivery_id, *, status: str, attempts: int, next_attempt_at: datetime,
                  error: str | None, delivered_at: datetime | None) -> None:
    cur.execute(
        "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?,"
        " delivered_at = ? WHERE delivery_id = ?",
        [status, attempts, next_attempt_at, error, delivered_at, delivery_id],
    )


def deliveries(cur) -> pd.DataFrame:
    return cur.execute(
        "SELECT delivery_id, incident_id, event, url, status, attempts, last_error, delivered_at"
        " FROM webhook_deliveries ORDER BY created_at"
    ).df()


# --- the home page ------------------------------------------------------------------

def latest_failure_time(cur) -> datetime | None:
    """observed_at of the newest public failure report (the demo's "now" is where its data ends)."""
    return cur.execute(f"SELECT max(observed_at) FROM reports WHERE {PUBLIC_STATUS} AND kind <> 'ok'").fetchone()[0]


def reporters_per_hour(cur, *, start: datetime, end: datetime) -> pd.DataFrame:
    """Distinct sources (ingest.sources) of failures per (network, hour since ``start``) in [start, end),
    Seoul's districts only.

    Columns: network, hour (int), reporters, cell_key (core.cellkey: of the hour's failure reports).
    Private: the caller hides an hour with fewer than k.
    """
    return cur.execute(
        f"""
        SELECT network, (epoch_ms(observed_at) - $start_ms) // 3600000 AS hour,
               count(DISTINCT source_id) AS reporters,
               {cell_key_sql(f"sum({record_key_sql('source_id')})")} AS cell_key
        FROM reports
        WHERE {PUBLIC_STATUS} AND kind <> 'ok' AND sig_cd IS NOT NULL
          AND observed_at >= $start AND observed_at < $end
        GROUP BY ALL
        """,
        {"start_ms": int(start.timestamp() * 1000), "start": start, "end": end},
    ).df()
