"""From alarms to incidents: suspected -> ongoing -> recovering -> resolved, with onset and end.

One incident per carrier at a time, whatever its area. It opens at the first
alarm (status ``suspected``), becomes ``ongoing`` when a window lying wholly
after the detection alarms again (fresh evidence, not the same reports seen
twice), ``recovering`` at the first minute its area is back in the usual band,
and ``resolved`` after ``recovery_minutes`` in the band. A suspected incident
that calms down unconfirmed is resolved with the note ``unconfirmed``.

Status changes only depend on data up to the minute they happen, so replaying
a month at once gives the same history as scanning it minute by minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from outages.detect import DetectorConfig, change_point, elevated, tail_probability, window_alarms
from outages.series import NetworkSeries

OPEN_STATUSES = ("suspected", "ongoing", "recovering")
STATUSES = (*OPEN_STATUSES, "resolved", "withdrawn")
CITY = 0  # area index of the whole city; districts are 1..25


@dataclass
class Episode:
    """An incident as found in one run, in minute indices of the run's frame."""

    network: str
    detected: int  # minute whose window first alarmed (known at its end)
    onset: int  # estimated first minute of the excess
    alarmed: set[int] = field(default_factory=set)  # areas that raised an alarm
    history: list[tuple[str, int, str | None]] = field(default_factory=list)  # (status, minute, note)
    confirmed: bool = False
    end: int | None = None  # estimated first minute after the excess
    quiet_start: int | None = None  # first minute back in the usual band
    resolved: int | None = None
    last: int = 0  # last minute the run saw

    @property
    def status(self) -> str:
        return self.history[-1][0]


def area_series(series: NetworkSeries, areas: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """(counts, expected) of the incident's area: the city, or the sum of its districts."""
    if CITY in areas or not areas:
        return series.counts[CITY], series.expected[CITY]
    rows = sorted(areas)
    return series.counts[rows].sum(axis=0), series.expected[rows].sum(axis=0)


def _first_fresh_alarm(alarms: dict[int, np.ndarray], start: int, fresh_from: int | None) -> int | None:
    """First minute >= start where some window alarms without overlapping minutes before ``fresh_from``."""
    best = None
    for width, alarm in alarms.items():
        lo = start if fresh_from is None else max(start, fresh_from + width - 1)
        hits = np.flatnonzero(alarm[lo:])
        if len(hits) and (best is None or lo + hits[0] < best):
            best = lo + int(hits[0])
    return best


def _is_fresh(alarms: dict[int, np.ndarray], m: int, fresh_from: int) -> bool:  # alarms: [areas, minutes]
    """Does a window ending at minute m, wholly at or after ``fresh_from``, alarm in any area?"""
    return any(m - width + 1 >= fresh_from and alarm[:, m].any() for width, alarm in alarms.items())


def find_episodes(series: NetworkSeries, start: int, config: DetectorConfig, reporters_needed: int) -> list[Episode]:
    """Incidents of one carrier in minutes ``start`` .. end of the series."""
    alarms = window_alarms(series.counts, series.expected, series.kappa, config, reporters_needed)
    any_window = {w: a.any(axis=0) for w, a in alarms.items()}
    n = series.counts.shape[1]
    episodes: list[Episode] = []
    t, fresh_from, floor = start, None, 0
    while t < n:
        detected = _first_fresh_alarm(any_window, t, fresh_from)
        if detected is None:
            break
        episode = _follow(series, alarms, detected, floor, config)
        episodes.append(episode)
        if episode.resolved is None:
            break
        t, fresh_from, floor = episode.resolved + 1, episode.quiet_start, episode.quiet_start
    return episodes


@dataclass
class _Walk:
    """Counters of the minute-by-minute walk: minutes in the band, and elevated again while recovering."""

    quiet: int = 0
    relapse: int = 0


def _follow(series: NetworkSeries, alarms: dict[int, np.ndarray], detected: int, floor: int,
            config: DetectorConfig) -> Episode:
    """Walk minute by minute from the detection until the incident resolves or the data ends."""
    n = series.counts.shape[1]
    alarmed_now = np.logical_or.reduce([a[:, detected] for a in alarms.values()])
    episode = Episode(network=series.network, detected=detected, onset=detected,
                      alarmed=set(np.flatnonzero(alarmed_now).tolist()))
    counts, expected = area_series(series, episode.alarmed)
    hot = elevated(counts, expected, series.kappa, config)
    episode.onset = _onset(counts, expected, detected, floor, config)
    episode.history.append(("suspected", detected, None))
    walk = _Walk()
    m = detected
    for m in range(detected, n):
        newly = set(np.flatnonzero(np.logical_or.reduce([a[:, m] for a in alarms.values()])).tolist())
        if not newly <= episode.alarmed:
            episode.alarmed |= newly
            counts, expected = area_series(series, episode.alarmed)
            hot = elevated(counts, expected, series.kappa, config)
        _step(episode, walk, m, bool(hot[m]), alarms, config, (counts, expected))
        if walk.quiet >= config.recovery_minutes:
            episode.history.append(("resolved", m, None if episode.confirmed else "unconfirmed"))
            episode.resolved = m
            break
        if m - episode.onset >= config.max_open_minutes:
            episode.quiet_start = episode.quiet_start or m
            episode.end = episode.end or m
            episode.history.append(("resolved", m, "too_long"))
            episode.resolved = m
            break
    episode.last = m
    return episode


def _step(episode: Episode, walk: _Walk, m: int, hot: bool, alarms: dict[int, np.ndarray], config: DetectorConfig,
          area: tuple[np.ndarray, np.ndarray]) -> None:
    """The status change (if any) at minute m, given whether the area is still above the usual band."""
    status = episode.status
    if status == "suspected" and _is_fresh(alarms, m, episode.detected + 1):
        episode.confirmed = True
        episode.history.append(("ongoing", m, None))
        episode.end = episode.quiet_start = None
        walk.quiet = 0
    elif status in ("suspected", "ongoing") and not hot:
        if status == "ongoing":
            episode.history.append(("recovering", m, None))
        if walk.quiet == 0:
            episode.quiet_start = m
            episode.end = _end(*area, episode.onset, m, config)
        walk.quiet += 1
    elif status == "suspected":
        walk.quiet = 0
    elif status == "recovering" and hot:
        walk.relapse += 1
        walk.quiet = 0
        if walk.relapse >= config.relapse_minutes or _is_fresh(alarms, m, episode.quiet_start):
            episode.history.append(("ongoing", m, "relapse"))
            episode.end = episode.quiet_start = None
            walk.relapse = 0
    elif status == "recovering":
        walk.relapse = 0
        walk.quiet += 1


def _onset(counts: np.ndarray, expected: np.ndarray, detected: int, floor: int, config: DetectorConfig) -> int:
    """First minute of the excess: the rising change point before (and just after) the detection."""
    lo = max(floor, detected - config.onset_lookback, 0)
    hi = min(len(counts), detected + 31)
    split = change_point(counts[lo:hi], expected[lo:hi], rising=True)
    return detected if split is None else min(lo + split, detected)


def _end(counts: np.ndarray, expected: np.ndarray, onset: int, quiet_start: int, config: DetectorConfig) -> int:
    """First minute after the excess: the falling change point before the rate came back."""
    lo = max(onset, quiet_start - config.onset_lookback)
    split = change_point(counts[lo:quiet_start + 1], expected[lo:quiet_start + 1], rising=False)
    end = quiet_start - config.recovery_window + 1 if split is None else lo + split
    return int(min(max(end, onset + 1), quiet_start))


@dataclass
class AreaFinding:
    """Per district over an incident: first reports, usual number, tail probability, named or not."""

    observed: np.ndarray  # [districts]
    expected: np.ndarray
    probability: np.ndarray
    named: np.ndarray  # bool [districts]
    citywide: bool


def affected_districts(series: NetworkSeries, episode: Episode, config: DetectorConfig) -> AreaFinding:
    """Which districts the incident hit, judged on its whole period so far.

    A district is named when its excess is improbable (``area_alpha``), at least
    ``min_ratio`` times its usual level, and at least ``area_relative`` of the
    most affected district's excess (a few reports from just across a border
    are not an outage there). It is city-wide with ``citywide_districts`` or
    more named, when no district stands out, or when the rest of the city
    (the districts not named, pooled) shows a clear excess too.
    """
    stop = (episode.end if episode.end is not None else episode.last + 1)
    span = slice(episode.onset, max(stop, episode.onset + 1))
    observed = series.counts[1:, span].sum(axis=1)
    usual = np.nansum(series.expected[1:, span], axis=1)
    probability = tail_probability(observed, np.maximum(usual, 1e-9), series.kappa)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = observed / np.maximum(usual, 1e-9)
    excess = np.maximum(observed - usual, 0.0)
    significant = (observed >= 3) & (ratio >= config.min_ratio) & (probability < config.area_alpha)
    if significant.any():
        significant &= excess >= config.area_relative * excess[significant].max()
    named = significant.copy()
    if not named.any() and CITY not in episode.alarmed:
        named[[a - 1 for a in episode.alarmed if a != CITY]] = True
    rest_observed, rest_usual = observed[~named].sum(), usual[~named].sum()
    spread = (rest_observed >= 3 and rest_observed >= config.min_ratio * rest_usual
              and tail_probability(rest_observed, max(rest_usual, 1e-9), series.kappa) < config.area_alpha)
    citywide = named.sum() >= config.citywide_districts or not named.any() or bool(spread)
    return AreaFinding(observed=observed, expected=usual, probability=probability, named=named, citywide=citywide)
