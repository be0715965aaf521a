"""The detector's history, kept: first reports and volume per hour, extended scan by scan.

A scan needs four weeks of hourly history for its baseline and a few hours of minutes. Counting the
four weeks again every minute made its cost grow with the store; now the hours are counted once,
kept in ``outage_hours`` and ``outage_volume``, and each scan counts only the hours it has not kept
and the minutes of its own frame.

The kept hours are exactly what a count from the reports would give, because every change that could
alter them says so in its own transaction:

- every insert of reports (store.reports) appends a mark to ``outage_stale``: the earliest time it
  stored and how many rows it added;
- every change of status (store.moderation_sql.set_status) appends one too, with 0 rows.

Before it reads, the detector takes the marks and forgets the kept hours from the earliest one on
(a first report depends only on the same source's earlier reports, so nothing before that hour can
change). As a second guard it compares the rows of ``reports`` with those it saw last time plus
the rows the marks announce: when they differ (rows written by hand, or by a tool that left no
mark), it forgets every kept hour. A history counted under another first-report rule
(``dedup_minutes``) is forgotten too.

One lock per process keeps two threads from bringing the history up to date at once; other
processes cannot write to the store while the site holds it (store.db).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import duckdb

from store import outages_sql
from store.db import transaction

log = logging.getLogger("dropmap.outages")
HOUR = timedelta(hours=1)
_lock = threading.Lock()


def epoch_hour(t: datetime) -> int:
    """Whole hours since 1970-01-01 00:00 UTC (``t`` is on the hour)."""
    seconds = int(t.timestamp())
    if seconds % 3600:
        raise ValueError(f"{t} is not on the hour")
    return seconds // 3600


def hourly(cur, first_hour: int, last_hour: int, dedup_minutes: int, networks, codes, *,
           now: datetime | None = None) -> tuple[dict, dict]:
    """First reports (arrays net, area, hour, n: store.outages_sql.first_reports_per_hour) and volume
    (hour, n) per hour in [first_hour, last_hour),
    from the kept history, brought up to date first. Counted from the reports, not kept, when the store
    cannot be written (a read-only connection) or another writer got there first."""
    with _lock:
        try:
            with transaction(cur):
                _bring_up_to_date(cur, first_hour, last_hour, dedup_minutes, now or datetime.now(UTC))
                return outages_sql.kept_hours(cur, first_hour=first_hour, last_hour=last_hour, networks=networks,
                                              codes=codes)
        except duckdb.Error as e:
            log.warning("outage history not kept this time (%s); counting the hours", str(e).splitlines()[0])
    return counted(cur, first_hour, last_hour, dedup_minutes, networks, codes)


def counted(cur, first_hour: int, last_hour: int, dedup_minutes: int, networks, codes) -> tuple[dict, dict]:
    """The same hours counted from the reports and kept nowhere: what the kept history must equal."""
    start, end = _time(first_hour), _time(last_hour)
    return (outages_sql.first_reports_per_hour(cur, start=start, end=end, dedup_minutes=dedup_minutes,
                                               networks=networks, codes=codes),
            outages_sql.hourly_volume(cur, start=start, end=end))


def _bring_up_to_date(cur, first_hour: int, last_hour: int, dedup_minutes: int, now: datetime) -> None:
    state = outages_sql.history_state(cur)
    stale_since, added = outages_sql.take_stale(cur)
    rows = outages_sql.report_rows(cur)
    kept = None
    if state is not None and state["dedup_minutes"] == dedup_minutes and state["reports_seen"] + added == rows:
        kept = [state["kept_from"], state["kept_until"]]
        if stale_since is not None:
            cut = max(min(kept[1], _floor_hour(stale_since)), kept[0])
            outages_sql.drop_kept_hours(cur, cut)
            kept[1] = cut
    else:
        outages_sql.drop_kept_hours(cur)
    if kept is None or kept[0] == kept[1] or last_hour < kept[0] or first_hour - kept[1] > last_hour - first_hour:
        # Nothing kept, or far from what is asked: start again from the hours asked.
        outages_sql.drop_kept_hours(cur)
        outages_sql.keep_hours(cur, first_hour=first_hour, last_hour=last_hour, dedup_minutes=dedup_minutes)
        kept = [first_hour, last_hour]
    else:
        if first_hour < kept[0]:
            outages_sql.keep_hours(cur, first_hour=first_hour, last_hour=kept[0], dedup_minutes=dedup_minutes)
            kept[0] = first_hour
        if last_hour > kept[1]:
            outages_sql.keep_hours(cur, first_hour=kept[1], last_hour=last_hour, dedup_minutes=dedup_minutes)
            kept[1] = last_hour
    outages_sql.save_history_state(cur, kept_from=kept[0], kept_until=kept[1], dedup_minutes=dedup_minutes,
                                   reports_seen=rows, now=now)


def _floor_hour(t: datetime) -> int:
    return int(t.timestamp()) // 3600


def _time(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)
