"""SQL of moderation (store.moderation): flagged reports, suspected Sybil clusters, status changes, the log.

Values are always bound. The only identifiers put into SQL are fixed names
from this module (``_GROUPINGS``).
Reporters and IPs appear only as the first 6 hex digits of their keyed hashes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from store.db import transaction
from store.outages_sql import mark_stale

MAX_IDS = 100_000  # report ids listed per cluster (and acted on); ``reports`` counts them all
_PREFIX = "left(printf('%016x', {col}), 6)"  # 24 of the hash's 64 bits: enough to tell rows apart, no more

_FLAGGED = f"""
SELECT report_id, received_at, observed_at, network, kind, sig_cd, round(lat, 4) AS lat, round(lon, 4) AS lon,
       {_PREFIX.format(col='reporter')} AS reporter, {_PREFIX.format(col='ip_hash')} AS ip, source, device_model,
       status, flag_reason
FROM reports
WHERE {{where}}
ORDER BY received_at DESC, report_id
LIMIT ?
"""


def flagged_reports(cur, *, limit: int = 500) -> list[dict]:
    """The newest flagged reports (private columns shortened; places kept: only the operator sees this)."""
    return _dicts(cur.execute(_FLAGGED.format(where="status = 'flagged'"), [int(limit)]))


def reports_by_id(cur, report_ids: list[str]) -> list[dict]:
    """The reports with these ids, in the same shape as ``flagged_reports``."""
    if not report_ids:
        return []
    sql = _FLAGGED.format(where="list_contains(?::UUID[], report_id)")
    return _dicts(cur.execute(sql, [[str(i) for i in report_ids], len(report_ids)]))


# (kind, grouping expressions, filter): reports that share the grouping within one time window.
# ``ip``/``prefix``: many codes from one address or network prefix; ``device``: many codes sending the same
# phone, network type, kind and stated accuracy; ``timing``: many codes claiming the very same second.
_GROUPINGS = {
    "ip": ("ip_hash", "ip_hash IS NOT NULL"),
    "prefix": ("prefix_hash", "prefix_hash IS NOT NULL"),
    "device": ("device_model, tech, kind, network, accuracy_m", "device_model IS NOT NULL"),
    "timing": ("date_trunc('second', observed_at), network", "TRUE"),
}

_SHARED = """
SELECT {keys} AS key, time_bucket(to_minutes($window), received_at) AS window_start,
       count(DISTINCT reporter) AS codes, count(*) AS reports,
       count(*) FILTER (WHERE status = 'flagged') AS flagged,
       list(DISTINCT network ORDER BY network) AS networks,
       list(DISTINCT sig_cd ORDER BY sig_cd) FILTER (WHERE sig_cd IS NOT NULL) AS districts,
       min(received_at) AS first_at, max(received_at) AS last_at,
       list(report_id ORDER BY received_at, report_id)[1:$max_ids] AS report_ids
FROM reports
WHERE received_at >= $since AND received_at < $until AND source <> 'demo' AND {where}
GROUP BY ALL
HAVING count(DISTINCT reporter) >= $min_codes
ORDER BY codes DESC, first_at
LIMIT $limit
"""

# Codes never seen before, appearing together: their first report falls in one window, on one network.
_BURST = """
WITH recent AS (
    SELECT reporter, min(received_at) AS first_at FROM reports
    WHERE received_at >= $since AND received_at < $until AND source <> 'demo'
    GROUP BY reporter
), first_seen AS (  -- only the recent reporters are looked up in the older reports
    SELECT * FROM recent
    WHERE reporter NOT IN (SELECT reporter FROM reports WHERE received_at < $since
                           AND reporter IN (SELECT reporter FROM recent))
), fresh AS (
    SELECT r.*, time_bucket(to_minutes($window), f.first_at) AS window_start
    FROM reports r JOIN first_seen f USING (reporter)
    WHERE r.received_at >= f.first_at AND r.received_at < f.first_at + to_minutes($window)
      AND r.source <> 'demo'
)
SELECT network AS key, window_start, count(DISTINCT reporter) AS codes, count(*) AS reports,
       count(*) FILTER (WHERE status = 'flagged') AS flagged,
       list(DISTINCT network ORDER BY network) AS networks,
       list(DISTINCT sig_cd ORDER BY sig_cd) FILTER (WHERE sig_cd IS NOT NULL) AS districts,
       min(received_at) AS first_at, max(received_at) AS last_at,
       list(report_id ORDER BY received_at, report_id)[1:$max_ids] AS report_ids
FROM fresh
GROUP BY ALL
HAVING count(DISTINCT reporter) >= $min_codes
ORDER BY codes DESC, first_at
LIMIT $limit
"""


def shared_clusters(cur, kind: str, *, since: datetime, until: datetime, window_minutes: int, min_codes: int,
                    limit: int = 100) -> list[dict]:
    """Groups of reports of one ``kind`` (see ``_GROUPINGS``, or 'burst') with at least ``min_codes`` codes
    within one window of ``window_minutes``; ``key`` is the shared value (a hash, a pattern, a network).
    ``report_ids`` holds the first ``MAX_IDS`` of them, ``reports`` counts them all."""
    params = {"since": since, "until": until, "window": int(window_minutes), "min_codes": int(min_codes),
              "limit": int(limit), "max_ids": MAX_IDS}
    if kind == "burst":
        return _dicts(cur.execute(_BURST, params))
    keys, where = _GROUPINGS[kind]
    if kind in ("ip", "prefix"):
        keys = _PREFIX.format(col=keys)
    else:
        keys = f"struct_pack({', '.join(f'k{i} := {k}' for i, k in enumerate(keys.split(', ')))})"
    return _dicts(cur.execute(_SHARED.format(keys=keys, where=where), params))


def set_status(cur, report_ids: list[str], *, status: str, flag_reason: str | None, log: dict) -> list[str]:
    """Set ``status``/``flag_reason`` of the reports (only those not already so) and log the action, in one
    transaction; returns the ids changed. Nothing else of a report is ever changed, and none is deleted."""
    if status not in ("ok", "flagged"):
        raise ValueError(f"status {status!r}: only 'ok' and 'flagged' are stored")
    ids = [str(i) for i in report_ids]
    with transaction(cur, writes=True):
        # Read, then change, in the one transaction: a shared store (DuckLake) has no UPDATE ... RETURNING.
        which = "list_contains(?::UUID[], report_id) AND (status <> ? OR flag_reason IS DISTINCT FROM ?)"
        rows = cur.execute(f"SELECT report_id, observed_at FROM reports WHERE {which}",
                           [ids, status, flag_reason]).fetchall()
        cur.execute(f"UPDATE reports SET status = ?, flag_reason = ? WHERE {which}",
                    [status, flag_reason, ids, status, flag_reason])
        changed = [str(r[0]) for r in rows]
        span = (None, None)
        if rows:  # the outage detector's kept hours from the earliest of them on are counted again
            span = (min(r[1] for r in rows), max(r[1] for r in rows))
            mark_stale(cur, span[0], 0)
        _insert_log(cur, {**log, "changed": len(changed), "report_ids": changed, "observed": span})
    return changed


def log_action(cur, log: dict) -> None:
    """Record one action (withdrawing an incident) in moderation_log."""
    _insert_log(cur, {"changed": 1, "report_ids": None, "observed": (None, None), **log})


def _insert_log(cur, log: dict) -> None:
    """``observed``: the span of the reports changed, (None, None) when no report changed."""
    cur.execute(
        "INSERT INTO moderation_log (action_id, acted_at, operator, action, target, target_id, changed,"
        " report_ids, reason, first_observed, last_observed) VALUES (?, ?, ?, ?, ?, ?, ?, ?::UUID[], ?, ?, ?)",
        [uuid.uuid4(), log["at"], log["operator"], log["action"], log["target"], log["target_id"],
         int(log["changed"]), log["report_ids"], log["reason"], *log["observed"]],
    )


def moderation_log(cur, *, limit: int = 200) -> list[dict]:
    """The newest actions first."""
    return _dicts(cur.execute(
        "SELECT acted_at AS at, operator, action, target, target_id, changed, reason FROM moderation_log"
        " ORDER BY acted_at DESC, action_id LIMIT ?", [int(limit)]))


def incidents_resting_on(cur, report_ids: list[str]) -> list[dict]:
    """Incidents not yet withdrawn whose carrier, period and area hold some of these failure reports."""
    if not report_ids:
        return []
    return _dicts(cur.execute(
        """
        SELECT i.incident_id, i.network, i.status, i.scope, i.onset_at, i.ended_at, i.reports AS incident_reports,
               i.reporters AS incident_reporters, count(*) AS reports, count(DISTINCT r.reporter) AS reporters
        FROM incidents i JOIN reports r
          ON r.network = i.network AND r.kind <> 'ok'
         AND r.observed_at >= i.onset_at - INTERVAL 1 HOUR
         AND r.observed_at <= coalesce(i.ended_at, i.resolved_at, i.as_of)
        WHERE list_contains(?::UUID[], r.report_id) AND i.status <> 'withdrawn'
          AND (i.scope = 'city' OR r.sig_cd IN (SELECT a.sig_cd FROM incident_areas a
                                                WHERE a.incident_id = i.incident_id))
        GROUP BY ALL
        ORDER BY i.onset_at DESC
        """, [[str(i) for i in report_ids]]))


def _dicts(result) -> list[dict]:
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
