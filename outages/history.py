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
from datetime import UTC, datetime

import duckdb

from store import outages_sql
from store.db import transaction

log = logging.getLogger("dropmap.outages")
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
    holds every hour asked, else counts them, and writes nothing; COUNT always counts. Counted
    too when the store cannot be written (a read-only connection), when another writer got there
    first, or when ``origin`` is not on a UTC hour (a city whose offset is not whole hours).
    """
    whole_hours = origin.timestamp() % 3600 == 0 and split.timestamp() % 3600 == 0
    if mode in (EXTEND, READ) and whole_hours:
        first_hour, last_hour = epoch_hour(origin), epoch_hour(split)
        try:
            if mode == READ:
                with transaction(cur):  # one snapshot, nothing written: pages never change the kept hours
                    if _holds(cur, first_hour, last_hour, dedup_minutes):
                        return _kept(cur, first_hour, last_hour, networks, codes)
            else:
                with _lock, transaction(cur, writes=True):
                    _bring_up_to_date(cur, first_hour, last_hour, dedup_minutes, now or datetime.now(UTC))
                    return _kept(cur, first_hour, last_hour, networks, codes)
        except duckdb.Error as e:
            log.warning("outage history not kept this time (%s); counting the hours", str(e).splitlines()[0])
    return counted(cur, origin, split, dedup_minutes, networks, codes)


def _kept(cur, first_hour: int, last_hour: int, networks, codes) -> tuple[dict, dict]:
    first, volume = outages_sql.kept_hours(cur, first_hour=first_hour, last_hour=last_hour, networks=networks,
                                           codes=codes)
    first["hour"] = first["hour"] - first_hour
    volume["hour"] = volume["hour"] - first_hour
    return first, volume


def counted(cur, origin: datetime, split: datetime, dedup_minutes: int, networks, codes) -> tuple[dict, dict]:
    """The same hours counted from the reports and kept nowhere: what the kept history must equal."""
    return (outages_sql.first_reports_per_hour(cur, start=origin, end=split, origin=origin,
                                               dedup_minutes=dedup_minutes, networks=networks, codes=codes),
            outages_sql.hourly_volume(cur, start=origin, end=split, origin=origin))


def _valid(cur, dedup_minutes: int) -> tuple[dict | None, datetime | None, int, int]:
    """(state when its kept hours may be used, earliest stale mark, rows the marks add, rows of reports).
    The state is None when nothing is kept, when it was counted under another first-report rule, or
    when reports were added or removed without a mark (the row-count guard)."""
    state = outages_sql.history_state(cur)
    stale_since, added = outages_sql.stale_marks(cur)
    rows = outages_sql.report_rows(cur)
    if state is None or state["dedup_minutes"] != dedup_minutes or state["reports_seen"] + added != rows:
        state = None
    return state, stale_since, added, rows


def _holds(cur, first_hour: int, last_hour: int, dedup_minutes: int) -> bool:
    """Whether the kept hours hold [first_hour, last_hour) as a count would give them (read only)."""
    state, stale_since, _, _ = _valid(cur, dedup_minutes)
    if state is None:
        return False
    until = state["kept_until"] if stale_since is None else min(state["kept_until"], _floor_hour(stale_since))
    return state["kept_from"] <= first_hour and last_hour <= until


def _bring_up_to_date(cur, first_hour: int, last_hour: int, dedup_minutes: int, now: datetime) -> None:
    """Apply the stale marks to the kept hours (and consume them), then extend the hours to
    [first_hour, last_hour), starting afresh when nothing may be used or the detector went back in time."""
    state, stale_since, _, rows = _valid(cur, dedup_minutes)
    outages_sql.drop_stale_marks(cur)
    kept = None if state is None else [state["kept_from"], state["kept_until"]]
    if kept is not None and stale_since is not None:
        kept[1] = max(min(kept[1], _floor_hour(stale_since)), kept[0])
        outages_sql.drop_kept_hours(cur, from_hour=kept[1])
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
            outages_sql.drop_kept_hours(cur, before=first_hour)
            kept[0] = first_hour
    outages_sql.save_history_state(cur, kept_from=kept[0], kept_until=kept[1], dedup_minutes=dedup_minutes,
                                   reports_seen=rows, now=now)


def _floor_hour(t: datetime) -> int:
    return int(t.timestamp()) // 3600
