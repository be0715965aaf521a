"""The usual level: smoothing, upper median, weekly baseline (growth, holidays, missing hours), shares."""

from __future__ import annotations

import numpy as np
import pytest

from outages.baseline import (
    HOURS_PER_WEEK,
    day_levels,
    dispersion,
    district_shares,
    hours_to_minutes,
    smooth_hours,
    upper_median,
    weekly_baseline,
)

NAN = np.nan


@pytest.mark.parametrize(("values", "expected"), [
    ([1.0, 2.0, 3.0, 4.0], 3.0),  # the third smallest of four
    ([4.0, 1.0, 3.0], 3.0),  # the median of three
    ([1.0, NAN, 3.0, NAN], 3.0),  # of two, the larger
    ([5.0, NAN, NAN, NAN], 5.0),
    ([NAN, NAN], NAN),
])
def test_upper_median(values, expected):
    got = upper_median(np.array(values)[:, None], axis=0)[0]
    assert (np.isnan(got) and np.isnan(expected)) or got == expected


def test_smooth_hours_weights_and_missing_hours():
    hourly = np.array([0.0, 4.0, 8.0, 4.0, 0.0])
    none = np.zeros(5, dtype=bool)
    assert smooth_hours(hourly, none).tolist() == [1 / 0.75, 4.0, 6.0, 4.0, 1 / 0.75]
    missing = np.array([False, False, True, False, False])
    got = smooth_hours(hourly, missing)
    assert got[2] == pytest.approx(4.0)  # its neighbours only
    assert got[1] == pytest.approx((0.25 * 0 + 0.5 * 4) / 0.75)
    assert np.isnan(smooth_hours(hourly, np.ones(5, dtype=bool))).all()


def test_day_levels_are_medians_of_a_week():
    daily = np.array([NAN, NAN, 10, 10, 10, 10, 10, 40, 20, 20, 20, 20], dtype=float)
    centred, trailing = day_levels(daily)
    assert np.isnan(centred[0])  # only three known days around it
    assert centred[7] == 20 and centred[5] == 10  # a step is seen from the side it is on
    assert np.isnan(trailing[5]) and trailing[9] == 10 and trailing[11] == 20


def _weeks(pattern: np.ndarray, factors: list[float]) -> np.ndarray:
    """Hourly counts for consecutive weeks, each the weekly pattern times a factor."""
    return np.concatenate([pattern * f for f in factors])


def _daily(factors: list[float], per_day: float = 100.0) -> np.ndarray:
    return np.repeat(np.array(factors) * per_day, 7)


PATTERN = np.tile(np.array([1.0] * 7 + [10.0] * 12 + [3.0] * 5), 7)  # 168 hours: nights quiet, days busy


def test_weekly_baseline_repeats_a_steady_week():
    hourly = _weeks(PATTERN, [1, 1, 1, 1, 1, 1])
    target = np.arange(5 * HOURS_PER_WEEK, 6 * HOURS_PER_WEEK)
    smoothed = smooth_hours(hourly, np.zeros(len(hourly), dtype=bool))
    got = weekly_baseline(smoothed, _daily([1] * 6), target, weeks=4, holiday_ratio=0.8)
    assert got == pytest.approx(smoothed[target - HOURS_PER_WEEK])


def test_weekly_baseline_follows_the_growth_of_the_site():
    # The whole site (all carriers) doubles in the last week; the baseline of
    # the week after follows, so growth is not mistaken for an outage.
    factors = [1, 1, 1, 1, 2, 2]
    hourly = _weeks(PATTERN, factors)
    target = np.arange(5 * HOURS_PER_WEEK + 24, 5 * HOURS_PER_WEEK + 48)  # a day in week 6
    smoothed = smooth_hours(hourly, np.zeros(len(hourly), dtype=bool))
    got = weekly_baseline(smoothed, _daily(factors), target, weeks=4, holiday_ratio=0.8)
    assert got == pytest.approx(2 * smoothed[target - 5 * HOURS_PER_WEEK], rel=0.01)


def test_weekly_baseline_leaves_out_holidays_even_two_of_four():
    hourly = _weeks(PATTERN, [1, 1, 1, 1, 1, 1])
    daily = _daily([1] * 6)
    monday = 5 * HOURS_PER_WEEK  # the target Monday; two earlier Mondays were holidays
    for week in (3, 4):
        day = week * 7
        hourly[day * 24:(day + 1) * 24] *= 0.2
        daily[day] *= 0.6
    target = np.arange(monday + 8, monday + 18)
    smoothed = smooth_hours(hourly, np.zeros(len(hourly), dtype=bool))
    got = weekly_baseline(smoothed, daily, target, weeks=4, holiday_ratio=0.8)
    assert got == pytest.approx(smoothed[target - 3 * HOURS_PER_WEEK])  # a working Monday's level
    assert got.min() > 9  # not the holidays' 2 per hour


def test_weekly_baseline_without_history_is_unknown():
    hourly = _weeks(PATTERN, [1])
    smoothed = smooth_hours(hourly, np.zeros(len(hourly), dtype=bool))
    got = weekly_baseline(smoothed, _daily([1]), np.arange(0, 24), weeks=4, holiday_ratio=0.8)
    assert np.isnan(got).all()


def test_weekly_baseline_skips_hours_of_earlier_incidents():
    hourly = _weeks(PATTERN, [1, 1, 1, 1, 1])
    outage = np.arange(3 * HOURS_PER_WEEK + 30, 3 * HOURS_PER_WEEK + 33)
    hourly[outage] += 500
    missing = np.zeros(len(hourly), dtype=bool)
    missing[outage] = True
    smoothed = smooth_hours(hourly, missing)
    target = outage + HOURS_PER_WEEK
    got = weekly_baseline(smoothed, _daily([1] * 5), target, weeks=4, holiday_ratio=0.8)
    assert got.max() < 20


def test_district_shares_with_shrinkage():
    hours = 24 * 28
    hourly = np.vstack([np.full(hours, 1.0), np.full(hours, 3.0)])
    shares = district_shares(hourly, np.zeros(hours, dtype=bool), slice(0, hours), prior=50)
    assert shares.shape == (2, 24)
    assert shares[:, 5] == pytest.approx([0.25, 0.75])
    quiet = np.zeros((2, hours))
    even = district_shares(quiet, np.zeros(hours, dtype=bool), slice(0, hours), prior=50)
    assert even[:, 0] == pytest.approx([0.5, 0.5])


def test_hours_to_minutes_interpolates_between_hour_centres():
    rates = np.array([[60.0, 120.0, NAN]])
    got = hours_to_minutes(rates, first_hour=0, start_minute=0, n_minutes=180)[0]
    assert got[0] == pytest.approx(1.0)  # before the first centre: its own value
    assert got[30] == pytest.approx(1.0 + 0.5 / 60)  # just past the first centre
    assert got[60] == pytest.approx(1.5, abs=0.01)  # half-way between the centres
    assert got[95:150].tolist() == pytest.approx([2.0] * 55)  # towards a missing hour: its neighbour's value
    assert np.isnan(got[150:]).all()  # inside the missing hour: unknown


def test_dispersion_of_poisson_counts_is_small_and_bounded():
    rng = np.random.default_rng(1)
    mu = np.full(500, 20.0)
    assert dispersion(rng.poisson(mu).astype(float), mu, bounds=(0.05, 0.5), default=0.15) == 0.05
    noisy = rng.poisson(mu * rng.gamma(2.0, 0.5, 500)).astype(float)  # kappa = 0.5 by construction
    assert dispersion(noisy, mu, bounds=(0.05, 0.5), default=0.15) > 0.2
    assert dispersion(mu[:10], mu[:10], bounds=(0.05, 0.5), default=0.15) == 0.15  # too few hours
