"""Per-minute first reports and their usual level, per carrier and area, for a stretch of time.

One SQL query counts first reports per (network, district, minute) over the
stretch and the weeks of history its baseline needs; everything after that is
numpy (see outages.baseline). Area 0 is the city (the sum of its districts),
areas 1..25 are the districts in ``geo.places.districts()`` order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from core.city import load_city
from core.vocab import NETWORKS
from geo.places import districts
from outages import history
from outages.baseline import (
    HOURS_PER_WEEK,
    dispersion,
    district_shares,
    hours_to_minutes,
    smooth_hours,
    weekly_baseline,
)
from outages.detect import DetectorConfig
from store import outages_sql

MINUTE = timedelta(minutes=1)


def district_codes() -> tuple[str, ...]:
    return tuple(a.code for a in districts())


def floor_minute(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return t.replace(second=0, microsecond=0)


def ceil_minute(t: datetime) -> datetime:
    floored = floor_minute(t)
    return floored if floored == t else floored + MINUTE


@dataclass
class Frame:
    """Time geometry: arrays start at ``first`` (``lead`` minutes before ``start``) and end before ``end``."""

    origin: datetime  # local midnight where hour and day indices start (UTC-aware)
    first: datetime  # time of minute index 0
    start: datetime  # first minute where an incident may begin
    end: datetime  # exclusive
    lead: int  # minutes before ``start`` kept for full windows and onset search

    @property
    def n_minutes(self) -> int:
        return int((self.end - self.first) / MINUTE)

    @property
    def first_minute(self) -> int:
        """Minutes from origin to ``first``."""
        return int((self.first - self.origin) / MINUTE)

    def time_of(self, index: int) -> datetime:
        return self.first + index * MINUTE

    def index_of(self, t: datetime) -> int:
        return int((floor_minute(t) - self.first) / MINUTE)


@dataclass
class NetworkSeries:
    network: str
    counts: np.ndarray  # [areas, minutes] first reports
    expected: np.ndarray  # [areas, minutes] usual first reports (NaN: no baseline yet)
    kappa: float


def make_frame(start: datetime, end: datetime, config: DetectorConfig) -> Frame:
    tz = load_city().tz
    start, end = floor_minute(start), ceil_minute(end)
    lead = max(config.windows) + config.onset_lookback
    first = start - lead * MINUTE
    # Baseline weeks, one more for kappa and one for the trailing volume of the oldest week.
    oldest = (first - timedelta(weeks=config.baseline_weeks + 2)).astimezone(tz)
    origin = oldest.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    return Frame(origin=origin, first=first, start=start, end=end, lead=lead)


def _missing_hours(n_hours: int, origin: datetime, periods: list[tuple[datetime, datetime]]) -> np.ndarray:
    """Hours overlapping an earlier incident (with an hour's margin each side) are left out."""
    missing = np.zeros(n_hours, dtype=bool)
    for onset, end in periods:
        lo = int((onset - origin) / timedelta(hours=1)) - 1
        hi = int((end - origin) / timedelta(hours=1)) + 2
        missing[max(lo, 0):max(min(hi, n_hours), 0)] = True
    return missing


def load_series(cur, frame: Frame, config: DetectorConfig, *,
                excluded: dict[str, list[tuple[datetime, datetime]]] | None = None,
                networks: tuple[str, ...] = NETWORKS, kept: str = history.EXTEND) -> dict[str, NetworkSeries]:
    """First reports and their usual level for every network over ``frame``.

    The hours before the frame's first minute come from the kept history (outages.history: the
    detector EXTENDs it, pages READ it, COUNT counts every hour afresh and must give the same numbers);
    the rest is counted by the minute.
    """
    codes = district_codes()
    n_hours = int(np.ceil((frame.end - frame.origin) / timedelta(hours=1)))
    n_days = (n_hours + 23) // 24
    split = frame.origin + (frame.first - frame.origin) // timedelta(hours=1) * timedelta(hours=1)
    past, past_volume = history.hourly(cur, frame.origin, split, config.dedup_minutes, networks, codes, mode=kept)
    rows = outages_sql.first_report_counts(cur, start=split, end=frame.end, origin=frame.origin,
                                           dedup_minutes=config.dedup_minutes, networks=networks, codes=codes)
    volume = outages_sql.hourly_volume(cur, start=split, end=frame.end, origin=frame.origin)
    daily = np.full(n_days, np.nan)
    days = np.concatenate([past_volume["hour"], volume["hour"]]).astype(np.int64) // 24
    reports = np.concatenate([past_volume["n"], volume["n"]]).astype(float)
    inside = (days >= 0) & (days < n_days)
    daily[days[inside]] = 0.0  # a day with reports is known; NaN: no data
    np.add.at(daily, days[inside], reports[inside])

    # Rows come with their network and district as positions (rows of other networks or outside
    # Seoul's districts are left out in the query); each count is added where it belongs.
    hourly = np.zeros((len(networks), len(codes), n_hours))
    np.add.at(hourly, (past["net"], past["area"], past["hour"]), past["n"])
    minute = rows["minute"].astype(np.int64)
    np.add.at(hourly, (rows["net"], rows["area"], minute // 60), rows["n"])
    counts = np.zeros((len(networks), len(codes), frame.n_minutes))
    recent = minute >= frame.first_minute
    np.add.at(counts, (rows["net"][recent], rows["area"][recent], minute[recent] - frame.first_minute),
              rows["n"][recent])

    out = {}
    for i, network in enumerate(networks):
        missing = _missing_hours(n_hours, frame.origin, (excluded or {}).get(network, []))
        expected, kappa = _expected(hourly[i], missing, daily, frame, config)
        out[network] = NetworkSeries(
            network=network,
            counts=np.vstack([counts[i].sum(axis=0, keepdims=True), counts[i]]),
            expected=expected, kappa=kappa,
        )
    return out


def _expected(hourly: np.ndarray, missing: np.ndarray, daily: np.ndarray, frame: Frame,
              config: DetectorConfig) -> tuple[np.ndarray, float]:
    """[areas, minutes] usual first reports per minute, and the dispersion kappa."""
    first_hour = frame.first_minute // 60
    last_hour = (frame.first_minute + frame.n_minutes - 1) // 60
    kappa_from = max(first_hour - HOURS_PER_WEEK, 0)
    target = np.arange(kappa_from, last_hour + 2)  # one spare hour each side for interpolation
    city = hourly.sum(axis=0)
    smoothed = smooth_hours(city, missing)
    usual = weekly_baseline(smoothed, daily, np.minimum(target, len(city) - 1), weeks=config.baseline_weeks,
                            holiday_ratio=config.holiday_ratio)
    usual = np.where(np.isfinite(usual), np.maximum(usual, config.min_hourly), np.nan)

    history = target < first_hour
    observed = np.where(missing[target[history]], np.nan, city[target[history]])
    kappa = dispersion(observed, usual[history], bounds=config.kappa_bounds, default=config.kappa_default)

    window = slice(max(first_hour - HOURS_PER_WEEK * config.baseline_weeks, 0), first_hour)
    shares = district_shares(hourly, missing, window, prior=config.share_prior)
    in_range = target >= max(first_hour - 1, 0)
    hours = target[in_range]
    city_usual = usual[in_range]
    district_usual = city_usual[None, :] * shares[:, hours % 24]
    rates = np.vstack([city_usual[None, :], district_usual])
    expected = hours_to_minutes(rates, int(hours[0]), frame.first_minute, frame.n_minutes)
    return expected, kappa
