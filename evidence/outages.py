"""Detected outages that overlap a reporter's own reports (the outages package's ``incidents``)."""

from __future__ import annotations

import pandas as pd

from core.city import load_city
from evidence.mine import failures_of
from store import evidence_sql


def overlapping_outages(cur, mine: pd.DataFrame) -> pd.DataFrame | None:
    """Incidents on the same network covering one of the reporter's failures, in local time.

    None when this store has no outage detector tables; an empty frame when
    nothing overlaps. Matching is by network and time, and by district when the
    incident lists its districts.
    """
    failures = failures_of(mine)
    if failures.empty:
        return pd.DataFrame()
    found = evidence_sql.overlapping_incidents(cur, failures)
    if found is None or found.empty:
        return found
    tz = load_city().tz
    for column in ("onset_at", "end_at", "first_mine", "last_mine"):
        found[column] = pd.to_datetime(found[column], utc=True).dt.tz_convert(tz)
    return found
