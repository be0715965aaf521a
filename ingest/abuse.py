"""Abuse resistance for reports from the site and the API.

Three defences, all documented in docs/SECURITY.md:

- ``reserve_quota``: reports per reporter code, client IP and network prefix in a
  sliding hour (DROPMAP_RATE_PER_CODE, DROPMAP_RATE_PER_IP, DROPMAP_RATE_PER_PREFIX; 0
  turns a limit off), counted by ``store.limits.RateLimiter`` (in memory, or in the
  shared store's PostgreSQL when there is one).
- ``AbuseChecks``: a loader ``flagger`` (see ingest.loader.load_frame) run on the
  staged rows just before they are stored. It collapses near-duplicates (the
  same reporter, carrier and kind within 5 minutes and 100 m of a report they
  already made: only the first is kept, like Downdetector counting a user's
  first report) and flags implausible travel (a reporter "moving" faster than
  the fastest train between two reports). Flagged rows are stored with
  ``status='flagged'`` and a ``flag_reason``; every public view leaves them out.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core import settings
from core.errors import RateLimitedError as RateLimitedError  # re-exported: raised by the limits
from ingest.fields import epoch_micros
from store.abuse_sql import stored_reports_near
from store.db import cursor
from store.limits import RateLimiter

NEAR_DUPLICATE_SECONDS = 300
NEAR_DUPLICATE_METRES = 100.0
# KTX and SRT run at up to 305 km/h; faster than that between two reports is
# not a person on the ground (a flight Gimpo-Jeju also trips it; see SECURITY.md).
MAX_SPEED_KMH = 350.0
# Below this distance a "jump" is location error (GPS, a tapped map), not travel.
MIN_TRAVEL_METRES = 1000.0
# Stored reports this far around a batch are read to judge travel: at 350 km/h
# three hours cover more than the whole region.
TRAVEL_LOOKAROUND = pd.Timedelta(hours=3)


LIMITER = RateLimiter(name="reports")  # reports per code, address and network prefix


def reserve_quota(*, code_hash: int | None, ip_hash: int | None, count: int, prefix_hash: int | None = None,
                  limiter: RateLimiter = LIMITER) -> None:
    """Charge ``count`` reports to a code, an IP and its network prefix (/24, /48) under the hourly limits."""
    keys = []
    if code_hash is not None:
        keys.append(("reporter code", code_hash, settings.get_int("DROPMAP_RATE_PER_CODE")))
    if ip_hash is not None:
        keys.append(("IP address", ip_hash, settings.get_int("DROPMAP_RATE_PER_IP")))
    if prefix_hash is not None:
        keys.append(("network prefix", prefix_hash, settings.get_int("DROPMAP_RATE_PER_PREFIX")))
    limiter.reserve(keys, count)


def distance_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in metres (haversine), element-wise."""
    la1, lo1, la2, lo2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def travel_speed_kmh(metres: float, seconds: float) -> float:
    return metres / max(seconds, 1.0) * 3.6


def is_implausible_travel(metres: float, seconds: float) -> bool:
    """Faster than the fastest train over a distance larger than location error."""
    return metres > MIN_TRAVEL_METRES and travel_speed_kmh(metres, seconds) > MAX_SPEED_KMH


@dataclass
class AbuseChecks:
    """A loader flagger; afterwards ``collapsed`` and ``flagged`` say what it did, by row."""

    collapsed: dict[int, str] = field(default_factory=dict)  # row -> why
    flagged: dict[int, str] = field(default_factory=dict)  # row -> flag_reason

    def __call__(self, con, staged: pd.DataFrame) -> pd.DataFrame:
        """The checks on a DataFrame of staged rows (the full path of ingest.loader)."""
        if staged.empty:
            return staged
        accuracy = pd.to_numeric(staged["accuracy_m"], errors="coerce").to_numpy(dtype=float)
        keep = self._judge(con, _micros(staged["observed_at"]), staged["row"].tolist(),
                           staged["lat"].to_numpy(dtype=float).tolist(), staged["lon"].to_numpy(dtype=float).tolist(),
                           accuracy.tolist(), staged["network"].tolist(), staged["kind"].tolist(),
                           staged["reporter"].tolist())
        if not keep.all():
            staged = staged[keep].copy()
        if self.flagged:
            hit = staged["row"].isin(list(self.flagged))
            if hit.any():
                staged.loc[hit, "status"] = "flagged"
                staged.loc[hit, "flag_reason"] = staged.loc[hit, "row"].map(self.flagged)
        return staged.reset_index(drop=True)

    def rows(self, con, staged: dict[str, list]) -> dict[str, list]:
        """The same checks on staged rows held as lists (the quick path of ingest.loader)."""
        if not staged["row"]:
            return staged
        keep = self._judge(con, epoch_micros(staged["observed_at"]), staged["row"], staged["lat"], staged["lon"],
                           staged["accuracy_m"], staged["network"], staged["kind"], staged["reporter"])
        if not keep.all():
            staged = {name: [v for v, k in zip(values, keep, strict=True) if k] for name, values in staged.items()}
        if self.flagged:
            status, reason = list(staged["status"]), list(staged["flag_reason"])
            for i, row in enumerate(staged["row"]):
                if row in self.flagged:
                    status[i], reason[i] = "flagged", self.flagged[row]
            staged = {**staged, "status": status, "flag_reason": reason}
        return staged

    def _judge(self, con, micros: np.ndarray, rows: list, lat: list, lon: list, accuracy: list, network: list,
               kind: list, reporter: list) -> np.ndarray:
        """Which rows to keep (collapsing near-duplicates); fills ``collapsed`` and ``flagged``.

        Each reporter's rows are judged in time order (then record order) against their stored
        reports and their earlier rows of the batch.
        """
        order = np.lexsort((np.asarray(rows), micros))  # by time, then by record
        start = pd.Timestamp(int(micros.min()), unit="us", tz="UTC") - TRAVEL_LOOKAROUND
        end = pd.Timestamp(int(micros.max()), unit="us", tz="UTC") + TRAVEL_LOOKAROUND
        reporters = list(dict.fromkeys(int(r) for r in reporter))
        with cursor(con) as cur:
            stored = stored_reports_near(cur, reporters, start.to_pydatetime(), end.to_pydatetime())
        stored_by_reporter: dict[int, list[_Point]] = {}
        for who, at, la, lo, acc, net, knd, status in stored:
            stored_by_reporter.setdefault(int(who), []).append(
                _Point(at / 1e6, la, lo, _metres_or_zero(acc), net, knd, status == "ok"))
        new_points = [_Point(float(micros[i]) / 1e6, float(lat[i]), float(lon[i]), _metres_or_zero(accuracy[i]),
                             network[i], kind[i], True, int(rows[i])) for i in range(len(rows))]
        keep = np.ones(len(rows), dtype=bool)
        by_reporter: dict[int, list[int]] = {}
        for i in order.tolist():
            by_reporter.setdefault(int(reporter[i]), []).append(i)
        for who, idx in by_reporter.items():
            past = _Timeline(stored_by_reporter.get(who, []))
            for i in idx:  # in time order
                self._check(new_points[i], past, keep, i)
        return keep

    def _check(self, new: _Point, past: _Timeline, keep: np.ndarray, i: int) -> None:
        twin = past.near_duplicate(new)
        if twin is not None:
            keep[i] = False
            # Says nothing of the other report (its time, its place): reports without a code share
            # one identity per address, so it may be a stranger's.
            self.collapsed[new.row] = (
                f"near-duplicate: the same reporter already reported this carrier and kind within "
                f"{NEAR_DUPLICATE_SECONDS // 60} min and {NEAR_DUPLICATE_METRES:.0f} m; kept the first"
            )
            return
        reason = past.implausible_travel(new)
        if reason:
            self.flagged[new.row] = reason
            new.trusted = False
        past.add(new)


@dataclass
class _Point:
    t: float  # epoch seconds
    lat: float
    lon: float
    accuracy: float
    network: str
    kind: str
    trusted: bool
    row: int = -1


def _micros(times: pd.Series) -> np.ndarray:
    """Epoch microseconds of a column of times (UTC)."""
    return pd.to_datetime(times, utc=True).dt.as_unit("us").astype("int64").to_numpy()


def _metres_or_zero(value) -> float:
    """A stated accuracy in metres; none (or not a number) counts as 0."""
    if value is None:
        return 0.0
    try:
        metres = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(metres) else metres


def _metres(a: _Point, b: _Point) -> float:
    return float(distance_m(a.lat, a.lon, b.lat, b.lon))


class _Timeline:
    """One reporter's reports sorted by time, searched by bisection (uploads hold thousands)."""

    def __init__(self, points: list[_Point]) -> None:
        self.points = sorted(points, key=lambda p: p.t)
        self.times = [p.t for p in self.points]

    def add(self, point: _Point) -> None:
        at = bisect.bisect_right(self.times, point.t)
        self.times.insert(at, point.t)
        self.points.insert(at, point)

    def near_duplicate(self, new: _Point) -> _Point | None:
        lo = bisect.bisect_left(self.times, new.t - NEAR_DUPLICATE_SECONDS)
        hi = bisect.bisect_right(self.times, new.t + NEAR_DUPLICATE_SECONDS)
        for p in self.points[lo:hi]:
            if p.network == new.network and p.kind == new.kind and _metres(new, p) <= NEAR_DUPLICATE_METRES:
                return p
        return None

    def implausible_travel(self, new: _Point) -> str | None:
        """A reason when the trusted report nearest in time before or after ``new`` is too far to reach."""
        at = bisect.bisect_right(self.times, new.t)
        for other in (self._trusted(at - 1, -1), self._trusted(at, 1)):
            if other is None:
                continue
            # Location error of both reports is forgiven before judging the speed.
            metres = max(0.0, _metres(new, other) - new.accuracy - other.accuracy)
            seconds = abs(new.t - other.t)
            if is_implausible_travel(metres, seconds):
                return (f"implausible_travel: {metres / 1000:.1f} km in {seconds / 60:.0f} min "
                        f"({travel_speed_kmh(metres, seconds):.0f} km/h)")
        return None

    def _trusted(self, i: int, step: int) -> _Point | None:
        """The first trusted point from index ``i`` walking by ``step``."""
        while 0 <= i < len(self.points):
            if self.points[i].trusted:
                return self.points[i]
            i += step
        return None
