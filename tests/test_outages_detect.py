"""Detection on small hand-made series with known answers: windows, tails, gates, change points, incidents."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from outages.detect import DetectorConfig, change_point, tail_probability, trailing_sums, usual_band, window_alarms
from outages.incidents import CITY, affected_districts, find_episodes
from outages.series import NetworkSeries

CONFIG = DetectorConfig()
DISTRICTS = 25


def test_trailing_sums_known_values_and_missing():
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan, 1.0])
    assert trailing_sums(values, 2)[:4].tolist() == [1.0, 3.0, 5.0, 7.0]
    got = trailing_sums(values, 2)
    assert np.isnan(got[4]) and np.isnan(got[5])
    assert trailing_sums(np.ones((2, 4)), 3).tolist() == [[1, 2, 3, 3], [1, 2, 3, 3]]


@pytest.mark.parametrize(("observed", "expected"), [(0, 1.0), (3, 1.0), (10, 2.5), (30, 8.0)])
def test_tail_probability_is_poisson_when_not_dispersed(observed, expected):
    poisson = stats.poisson.sf(observed - 1, expected)
    assert tail_probability(observed, expected, 1e-9) == pytest.approx(poisson, rel=1e-4)


def test_dispersion_makes_a_surge_less_surprising():
    assert tail_probability(20, 5.0, 0.3) > tail_probability(20, 5.0, 0.05) > tail_probability(20, 5.0, 1e-9)


def test_usual_band_brackets_the_mean():
    low, high = usual_band(np.array([0.5, 10.0, np.nan]), 0.05)
    assert low[0] == 0 and high[0] >= 2
    assert low[1] < 10 < high[1]
    assert np.isnan(low[2]) and np.isnan(high[2])


def _series(minutes: int = 600, rate: float = 0.3, *, seed: int = 3) -> NetworkSeries:
    """A city of 25 equal districts with a steady usual rate of first reports per minute (Poisson)."""
    rng = np.random.default_rng(seed)
    per_district = np.full((DISTRICTS, minutes), rate / DISTRICTS)
    counts = rng.poisson(per_district).astype(float)
    return _assemble(counts, per_district)


def _assemble(district_counts: np.ndarray, district_expected: np.ndarray) -> NetworkSeries:
    return NetworkSeries(
        network="KT",
        counts=np.vstack([district_counts.sum(axis=0, keepdims=True), district_counts]),
        expected=np.vstack([district_expected.sum(axis=0, keepdims=True), district_expected]),
        kappa=0.05,
    )


def _surge(series: NetworkSeries, districts: list[int], start: int, stop: int, per_minute: float) -> None:
    """Add ``per_minute`` first reports per minute, spread evenly over ``districts`` (1-based)."""
    for minute in range(start, stop):
        for i in range(int(round(per_minute))):
            d = districts[(minute * 7 + i) % len(districts)]
            series.counts[d, minute] += 1
            series.counts[CITY, minute] += 1


def test_window_alarm_needs_improbable_large_and_many_reporters():
    series = _series(rate=0.05)
    series.counts[:] = 0
    series.counts[CITY, 100:105] = 2  # 10 in five minutes against 0.25: improbable and 40x
    alarms = window_alarms(series.counts, series.expected, series.kappa, CONFIG, reporters_needed=8)
    assert alarms[5][CITY, 103] and not alarms[5][CITY, 102]  # 8 reporters reached at minute 103
    assert not window_alarms(series.counts, series.expected, series.kappa, CONFIG, reporters_needed=11)[5].any()
    busy = _series(rate=5.0)
    busy.counts[CITY, 100:105] = 8  # 40 in five minutes against 25: many, but not 3x the usual
    assert not window_alarms(busy.counts, busy.expected, busy.kappa, CONFIG, reporters_needed=8)[5][CITY].any()


def test_districts_share_the_false_alarm_budget():
    series = _series()
    series.counts[:] = 0
    series.expected[1:] = 0.0015  # a quiet district: 0.0075 in five minutes
    series.counts[1, 200:202] = 4  # 8 reporters: P = 1e-15 under Poisson, alarms even after Bonferroni
    alarms = window_alarms(series.counts, series.expected, series.kappa, CONFIG, 8)
    assert alarms[5][1].any()
    # A city-level window with the same evidence P(X >= 8 | 1.5) = 2e-4 does not alarm at alpha 1e-6.
    assert tail_probability(8, 1.5, 0.05) > CONFIG.alpha


@pytest.mark.parametrize(("split", "rising"), [(40, True), (70, False)])
def test_change_point_finds_a_step(split, rising):
    counts = np.zeros(100)
    expected = np.full(100, 0.5)
    if rising:
        counts[split:] = 5
    else:
        counts[:split] = 5
    assert change_point(counts, expected, rising=rising) == split
    assert change_point(counts, expected, rising=not rising) is None or abs(
        change_point(counts, expected, rising=not rising) - split) > 0


def test_a_citywide_surge_becomes_one_incident_with_its_whole_history():
    series = _series(minutes=900)
    _surge(series, list(range(1, DISTRICTS + 1)), 300, 390, per_minute=12)
    episodes = find_episodes(series, 0, CONFIG, reporters_needed=8)
    assert len(episodes) == 1
    ep = episodes[0]
    assert [status for status, _, _ in ep.history] == ["suspected", "ongoing", "recovering", "resolved"]
    assert abs(ep.onset - 300) <= 1
    assert 300 <= ep.detected <= 303
    assert abs(ep.end - 390) <= 2
    assert ep.confirmed and CITY in ep.alarmed
    ongoing_at = ep.history[1][1]
    assert ongoing_at >= ep.detected + 1  # confirmed on a window wholly after the detection
    resolved_at = ep.history[-1][1]
    assert resolved_at - ep.quiet_start == CONFIG.recovery_minutes - 1
    finding = affected_districts(series, ep, CONFIG)
    assert finding.citywide and finding.named.sum() >= CONFIG.citywide_districts


def test_a_district_surge_names_its_districts_and_not_the_neighbours():
    series = _series(minutes=900)
    _surge(series, [3, 4, 5], 300, 600, per_minute=3)
    _surge(series, [6], 300, 600, per_minute=0.0)  # nothing next door
    series.counts[6, 300:600:60] += 1  # a few reports from just across the border
    series.counts[CITY, 300:600:60] += 1
    episodes = find_episodes(series, 0, CONFIG, reporters_needed=8)
    assert len(episodes) == 1
    finding = affected_districts(series, episodes[0], CONFIG)
    assert not finding.citywide
    assert set(np.flatnonzero(finding.named) + 1) == {3, 4, 5}


def test_a_short_burst_is_not_confirmed():
    series = _series(minutes=600)
    series.counts[[CITY, 2], 200] += 12  # twelve people in one minute, then nothing
    episodes = find_episodes(series, 0, CONFIG, reporters_needed=8)
    assert len(episodes) == 1
    assert not episodes[0].confirmed
    assert episodes[0].history[-1] == ("resolved", episodes[0].resolved, "unconfirmed")


def test_no_incident_in_ordinary_noise():
    series = _series(minutes=20_000, rate=0.5, seed=11)
    assert find_episodes(series, 0, CONFIG, reporters_needed=8) == []


def test_an_incident_still_open_when_the_data_ends():
    series = _series(minutes=400)
    _surge(series, list(range(1, DISTRICTS + 1)), 300, 400, per_minute=10)
    episodes = find_episodes(series, 0, CONFIG, reporters_needed=8)
    assert len(episodes) == 1 and episodes[0].status == "ongoing" and episodes[0].resolved is None
    assert episodes[0].last == 399


def test_the_same_surge_is_not_counted_twice_by_the_hour_window():
    series = _series(minutes=900)
    _surge(series, list(range(1, DISTRICTS + 1)), 300, 320, per_minute=10)
    episodes = find_episodes(series, 0, CONFIG, reporters_needed=8)
    assert len(episodes) == 1  # the 60-minute window still holds the surge after it resolves
