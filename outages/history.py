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


EXTEND, READ, COUNT = "extend", "read", "count"
TRIM = 7 * 24  # hours kept before the earliest the detector still asks for, before they are dropped


def epoch_hour(t: datetime) -> int:
    """Whole hours since 1970-01-01 00:00 UTC (``t`` is on the hour)."""
    seconds = int(t.timestamp())
    if seconds % 3600:
        raise ValueError(f"{t} is not on the hour")
    return seconds // 3600


def hourly(cur, origin: datetime, split: datetime, dedup_minutes: int, networks, codes, *, mode: str = EXTEND,
           now: datetime | None = None) -> tuple[dict, dict]:
    """First reports (arrays net, area, hour, n) and volume (hour, n) per hour in [origin, split), hours
    counted from ``origin``.

    ``mode``: EXTEND (the detector) reads the kept history and extends it to what is asked (starting
    it afresh when the detector goes back in time, as a replay does); READ (pages) reads it when it
    holds every hour asked, else counts them without keeping anything; COUNT always counts. Counted
    too when the store cannot be written (a read-only connection), when another writer got there
    first, or when ``origin`` is not on a UTC hour (a city whose offset is not whole hours).
    """
    whole_hours = origin.timestamp() % 3600 == 0 and split.timestamp() % 3600 == 0
    if mode in (EXTEND, READ) and whole_hours:
        first_hour, last_hour = epoch_hour(origin), epoch_hour(split)
        with _lock:
            try:
                with transaction(cur):
                    if _bring_up_to_date(cur, first_hour, last_hour, dedup_minutes, mode, now or datetime.now(UTC)):
                        first, volume = outages_sql.kept_hours(cur, first_hour=first_hour, last_hour=last_hour,
                                                               networks=networks, codes=codes)
                        first["hour"] = first["hour"] - first_hour
                        volume["hour"] = volume["hour"] - first_hour
                        return first, volume
            except duckdb.Error as e:
                log.warning("outage history not kept this time (%s); counting the hours", str(e).splitlines()[0])
    return counted(cur, origin, split, dedup_minutes, networks, codes)


def counted(cur, origin: datetime, split: datetime, dedup_minutes: int, networks, codes) -> tuple[dict, dict]:
    """The same hours counted from the reports and kept nowhere: what the kept history must equal."""
    return (outages_sql.first_reports_per_hour(cur, start=origin, end=split, origin=origin,
                                               dedup_minutes=dedup_minutes, networks=networks, codes=codes),
            outages_sql.hourly_volume(cur, start=origin, end=split, origin=origin))


def _bring_up_to_date(cur, first_hour: int, last_hour: int, dedup_minutes: int, mode: str, now: datetime) -> bool:
    """Apply the stale marks to the kept hours, then (EXTEND) extend them to [first_hour, last_hour).
    True when the kept hours now hold every hour asked."""
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
    if mode == READ or (kept is None and mode != EXTEND):
        if kept is None:
            outages_sql.clear_history_state(cur)
        else:
            _save(cur, kept, dedup_minutes, rows, now)
        return kept is not None and kept[0] <= first_hour and last_hour <= kept[1]
    if kept is None or kept[0] == kept[1] or first_hour < kept[0] or first_hour - kept[1] > last_hour - first_hour:
        # Nothing kept, the detector went back in time (a replay), or far ahead: start from what is asked.
        outages_sql.drop_kept_hours(cur)
        outages_sql.keep_hours(cur, first_hour=first_hour, last_hour=last_hour, dedup_minutes=dedup_minutes)
        kept = [first_hour, last_hour]
    else:
        if last_hour > kept[1]:
            outages_sql.keep_hours(cur, first_hour=kept[1], last_hour=last_hour, dedup_minutes=dedup_minutes)
            kept[1] = last_hour
        if first_hour - kept[0] > TRIM:  # the detector moves on: the oldest hours go
            outages_sql.drop_kept_hours_before(cur, first_hour)
            kept[0] = first_hour
    _save(cur, kept, dedup_minutes, rows, now)
    return True


def _save(cur, kept: list[int], dedup_minutes: int, rows: int, now: datetime) -> None:
    outages_sql.save_history_state(cur, kept_from=kept[0], kept_until=kept[1], dedup_minutes=dedup_minutes,
                                   reports_seen=rows, now=now)


def _floor_hour(t: datetime) -> int:
    return int(t.timestamp()) // 3600
