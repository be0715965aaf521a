"""The one way to select reports: a filter turned into a WHERE clause with bound values.

Every public view (map, downloads, API, feeds) starts from ``ReportFilter``;
flagged reports are excluded unless a caller asks otherwise, and local time
(hour of day, weekday, date) is always the city's zone, computed from UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from core.city import load_city
from core.errors import InputError
from ingest.vocab import ALL_KINDS, NETWORKS

WEEKDAY = "weekday"
WEEKEND = "weekend"


def local_time_sql(column: str = "observed_at") -> str:
    """SQL for the local (city zone) wall-clock time of a TIMESTAMPTZ column."""
    zone = load_city().timezone  # from configuration, not from a user
    return f"timezone('{zone}', {column})"


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
            raise InputError("since", self.since, f"must not be after until={self.until}")

    def where(self, alias: str = "") -> tuple[str, list]:
        """(SQL condition, bound values) for reports under table alias ``alias``."""
        p = f"{alias}." if alias else ""
        parts: list[str] = []
        values: list = []
        if not self.include_flagged:
            parts.append(f"{p}status = 'ok'")
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
        local = local_time_sql(f"{p}observed_at")
        if self.hours:
            parts.append(f"hour({local}) IN ({', '.join('?' * len(self.hours))})")
            values.extend(int(h) for h in self.hours)
        if self.day_type == WEEKDAY:
            parts.append(f"isodow({local}) <= 5")
        elif self.day_type == WEEKEND:
            parts.append(f"isodow({local}) >= 6")
        # Local dates become UTC instants, so DuckDB can skip row groups by time.
        tz = load_city().tz
        if self.since:
            parts.append(f"{p}observed_at >= ?")
            values.append(datetime.combine(self.since, time(0), tzinfo=tz))
        if self.until:
            parts.append(f"{p}observed_at < ?")
            values.append(datetime.combine(self.until + timedelta(days=1), time(0), tzinfo=tz))
