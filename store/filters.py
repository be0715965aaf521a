"""The one way to select reports: a filter turned into a WHERE clause with bound values.

Every public view (map, downloads, API, feeds) starts from ``ReportFilter``;
flagged reports are excluded unless a caller asks otherwise, and local time
(hour of day, weekday, date) is always the city's zone, computed from UTC.

Local time, fast and exact:
- ``local_time_sql`` is DuckDB's ``timezone(zone, observed_at)``, but while the
  zone keeps one UTC offset (Asia/Seoul: +9 since 1988) it is integer
  arithmetic on epoch microseconds instead (ICU's ``timezone()`` costs ~10x
  more per row). The fast form is guarded: an instant outside the period
  checked for a fixed offset (the oldest accepted observation to two years
  ahead) still goes through ``timezone()``, so both forms agree on every row.
- Every report also stores its local hour, ISO weekday and date
  (``LOCAL_TIME_COLUMNS``, migration 0003, filled by the one INSERT in
  store/reports.py), so filters on hours and weekdays read a one-byte column.
  They are in the zone configured when each row was stored: a database keeps
  its city's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from core.city import load_city
from core.errors import InputError
from core.vocab import ALL_KINDS, NETWORKS

WEEKDAY = "weekday"
WEEKEND = "weekend"
FIXED_OFFSET_YEARS_AHEAD = 2  # the fast local clock is checked up to this far past start-up
# A stored report's status: the one INSERT of reports (store/reports.py) refuses any other.
STATUSES = ("ok", "flagged")
# Reports in public views: those not flagged, i.e. the 'ok' ones. Written as "not flagged"
# because DuckDB then skips the test in every row group whose statistics hold no flagged row
# (all of them, usually): on 10 M rows ``status = 'ok'`` costs 30-60 ms per scan, this nothing.
PUBLIC_STATUS = "status <> 'flagged'"

# Stored local-time columns: name -> (type, SQL over the local wall-clock time).
LOCAL_TIME_COLUMNS: dict[str, tuple[str, str]] = {
    "local_hour": ("UTINYINT", "hour({local})"),  # 0-23
    "local_dow": ("UTINYINT", "isodow({local})"),  # ISO weekday: 1 = Monday ... 7 = Sunday
    "local_date": ("DATE", "CAST({local} AS DATE)"),
}


@lru_cache(maxsize=8)
def fixed_offset_period(zone_name: str, oldest: datetime) -> tuple[int, datetime, datetime] | None:
    """(UTC offset in microseconds, start, end) if ``zone_name`` kept one offset from ``oldest`` to two years ahead.

    Checked once a day over the period: every change of offset a zone has made
    (daylight saving, a new standard time) lasted far longer than a day.
    """
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone_name)
    start = oldest.astimezone(UTC)
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=365 * FIXED_OFFSET_YEARS_AHEAD)
    offsets = {tz.utcoffset(start + timedelta(days=d)) for d in range((end - start).days + 1)}
    offsets.add(tz.utcoffset(end))
    if len(offsets) != 1:
        return None
    return int(offsets.pop() / timedelta(microseconds=1)), start, end


def local_time_sql(column: str = "observed_at") -> str:
    """SQL for the local (city zone) wall-clock time (a TIMESTAMP) of a TIMESTAMPTZ column."""
    city = load_city()  # zone and period from configuration, not from a user
    exact = f"timezone('{city.timezone}', {column})"
    fixed = fixed_offset_period(city.timezone, city.oldest_observation)
    if fixed is None:
        return exact
    offset, start, end = fixed
    return (f"CASE WHEN {column} >= TIMESTAMPTZ '{start.isoformat()}' AND {column} < TIMESTAMPTZ '{end.isoformat()}' "
            f"THEN make_timestamp(epoch_us({column}) + {offset}) ELSE {exact} END")


def local_time_columns_sql(column: str = "observed_at") -> dict[str, str]:
    """SQL computing each stored local-time column from a TIMESTAMPTZ column (for INSERT and backfill)."""
    local = local_time_sql(column)
    return {name: f"CAST({expr.format(local=local)} AS {kind})" for name, (kind, expr) in LOCAL_TIME_COLUMNS.items()}


@dataclass(frozen=True)
class ReportFilter:
    networks: tuple[str, ...] = ()  # empty: all networks
    mvno: bool | None = None  # True: only MVNO brands; False: only the carriers' own brands
    kinds: tuple[str, ...] = ()  # empty: every failure kind (never 'ok' unless named)
    hours: tuple[int, ...] = ()  # local hours of day, 0-23; empty: all
    day_type: str | None = None  # 'weekday', 'weekend' or None
    since: date | None = None  # local date, inclusive
    until: date | None = None  # local date, inclusive
    include_demo: bool = True
    include_flagged: bool = False
    failures_only: bool = True  # False: 'ok' samples too (for rates)

    def __post_init__(self) -> None:
        for network in self.networks:
            if network not in NETWORKS:
                raise InputError("carrier", network, f"use one of {', '.join(NETWORKS)}")
        for kind in self.kinds:
            if kind not in ALL_KINDS:
                raise InputError("kind", kind, f"use one of {', '.join(ALL_KINDS)}")
        for hour in self.hours:
            if not 0 <= int(hour) <= 23:
                raise InputError("hour", hour, "hours of day run from 0 to 23")
        if self.day_type not in (None, WEEKDAY, WEEKEND):
            raise InputError("days", self.day_type, "use 'weekday', 'weekend' or leave empty")
        if self.since and self.until and self.since > self.until:
            raise InputError("since", self.since.isoformat(), f"must not be after until={self.until}")

    def where(self, alias: str = "") -> tuple[str, list]:
        """(SQL condition, bound values) for reports under table alias ``alias``."""
        p = f"{alias}." if alias else ""
        parts: list[str] = []
        values: list = []
        if not self.include_flagged:
            parts.append(f"{p}{PUBLIC_STATUS}")
        if not self.include_demo:
            parts.append(f"{p}source <> 'demo'")
        if self.networks:
            parts.append(f"{p}network IN ({', '.join('?' * len(self.networks))})")
            values.extend(self.networks)
        if self.mvno is not None:
            parts.append(f"{p}mvno = ?")
            values.append(self.mvno)
        self._kind_condition(p, parts, values)
        self._time_conditions(p, parts, values)
        return (" AND ".join(parts) or "TRUE"), values

    def _kind_condition(self, p: str, parts: list[str], values: list) -> None:
        if not self.kinds:
            if self.failures_only:
                parts.append(f"{p}kind <> 'ok'")
            return
        kinds = [k for k in self.kinds if k != "ok" or not self.failures_only]
        if self.failures_only is False and "ok" not in kinds:
            kinds.append("ok")
        if kinds:
            parts.append(f"{p}kind IN ({', '.join('?' * len(kinds))})")
            values.extend(kinds)
        else:  # only 'ok' was asked for, but failures only: nothing matches
            parts.append("FALSE")

    def _time_conditions(self, p: str, parts: list[str], values: list) -> None:
        # The stored local-time columns: the same values as local_time_sql, read from one byte.
        if self.hours:
            parts.append(f"{p}local_hour IN ({', '.join('?' * len(self.hours))})")
            values.extend(int(h) for h in self.hours)
        if self.day_type == WEEKDAY:
            parts.append(f"{p}local_dow <= 5")
        elif self.day_type == WEEKEND:
            parts.append(f"{p}local_dow >= 6")
        # Local dates become UTC instants, so DuckDB can skip row groups by time.
        tz = load_city().tz
        if self.since:
            parts.append(f"{p}observed_at >= ?")
            values.append(datetime.combine(self.since, time(0), tzinfo=tz))
        if self.until:
            parts.append(f"{p}observed_at < ?")
            values.append(datetime.combine(self.until + timedelta(days=1), time(0), tzinfo=tz))
