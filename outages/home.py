"""The front door's figures: each carrier's state now, and its last 24 hours against the usual band.

The state comes from the same place as GET /api/v1/status and the banner
(the open incidents, ``outages.feeds.status_document``). The hours come from
the detector's own series and baseline (``outages.series``), summed per hour:
first reports (a person counts once per hour) against the usual level and its
98% band. An hour with fewer than k distinct reporters shows no count.

"Now" is the wall clock, or the newest report when the data stop earlier (the
demo ends on 2021-11-01), so a replayed city still shows its last day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from core.cellkey import perturbed
from core.city import load_city
from core.vocab import NETWORKS
from geo.privacy import min_reporters
from outages.feeds import status_document
from outages.public import incidents_with_areas, open_with_areas
from store import outages_sql

HOURS = 24
HOUR = timedelta(hours=1)


def data_now(cur, now: datetime | None = None) -> datetime | None:
    """The end of the home page's window: the next full hour after the newest report, at most ``now``.

    None when there is no report at all.
    """
    now = now or datetime.now(UTC)
    latest = outages_sql.latest_failure_time(cur)
    if latest is None:
        return None
    end = min(latest, now).astimezone(UTC)
    floored = end.replace(minute=0, second=0, microsecond=0)
    return floored if floored == end else floored + HOUR


def carrier_states(cur) -> dict[str, str]:
    """normal, suspected, ongoing or recovering per carrier (the most serious open incident)."""
    carriers = status_document(cur)["carriers"]
    return {n: carriers[n]["status"] for n in NETWORKS}


def incidents_to_show(cur) -> tuple[bool, list[tuple[dict, list[dict]]]]:
    """(open?, incidents with their districts): the open ones, else the latest one (if any)."""
    found = open_with_areas(cur)
    if found:
        return True, found
    return False, incidents_with_areas(cur, limit=1)


def day_series(cur, end: datetime, *, hours: int = HOURS, config=None) -> pd.DataFrame:
    """Per carrier and hour of the ``hours`` before ``end``: first reports, the usual level and its band.

    Columns: network, time (hour start, Seoul time), reporters (NaN below k distinct reporters),
    usual, low, high (NaN before there is a baseline).
    """
    # Imported here: the detector pulls in scipy (about 2 s on a cold start), and the states above must
    # not wait for it (bench/bench_home.py).
    from outages.detect import DetectorConfig, usual_band
    from outages.history import READ
    from outages.series import load_series, make_frame

    config = config or DetectorConfig()
    start = end - hours * HOUR
    frame = make_frame(start, end, config)
    excluded: dict[str, list] = {}
    for network, onset, stop in outages_sql.confirmed_periods(cur):
        excluded.setdefault(network, []).append((onset, stop))
    series = load_series(cur, frame, config, excluded=excluded, kept=READ)  # pages never move the kept hours
    distinct = outages_sql.reporters_per_hour(cur, start=start, end=end)
    k = min_reporters()
    times = pd.date_range(start, periods=hours, freq="h").tz_convert(load_city().tz)
    parts = []
    for network in NETWORKS:
        one = series[network]
        counts = one.counts[0, frame.lead:frame.lead + hours * 60].reshape(hours, 60).sum(axis=1)
        usual = one.expected[0, frame.lead:frame.lead + hours * 60].reshape(hours, 60).sum(axis=1)
        low, high = usual_band(usual, one.kappa)
        people, keys = np.zeros(hours), np.zeros(hours, dtype=np.int64)
        mine = distinct[distinct["network"] == network]
        inside = (mine["hour"] >= 0) & (mine["hour"] < hours)
        at = mine["hour"][inside].to_numpy(dtype=np.int64)
        people[at] = mine["reporters"][inside].to_numpy(dtype=float)
        keys[at] = mine["cell_key"][inside].to_numpy(dtype=np.int64)
        # With the cell key's noise (core.cellkey): the hour still being counted changes with every
        # report, and two visits minutes apart must not subtract to one person's reports.
        shown = np.where(people >= k, perturbed(np.round(counts).astype(np.int64), keys, k), np.nan)
        parts.append(pd.DataFrame({"network": network, "time": times, "reporters": shown,
                                   "usual": np.round(usual, 2), "low": low, "high": high}))
    return pd.concat(parts, ignore_index=True)
