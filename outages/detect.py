"""Is this minute anomalous? Window counts against the usual band, and change-point estimates.

For each area (the city, each district) and minute, the first reports of the
last 5, 15 and 60 minutes are compared with the usual number for those
minutes under an over-dispersed Poisson (negative binomial: variance
mu + kappa mu^2). A window raises an alarm only when all three hold:

- it is improbable: P(X >= observed) < ``alpha`` (1e-6 for the city, shared
  among the 25 districts: about 40,000 minutes x 3 windows are tested per
  carrier and area in four weeks);
- it is large: at least ``min_ratio`` times the usual number;
- it comes from at least ``min_reporters`` distinct people (first reports are
  one per independent source and network per hour: see store.outages_sql and
  ingest.sources), so five people flooding the form, or one script minting
  codes from one network, cannot raise it.

Onset and end are estimated afterwards as change points of the rate (a
two-segment Poisson likelihood), not taken from the detection time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class DetectorConfig:
    windows: tuple[int, ...] = (5, 15, 60)  # minutes
    alpha: float = 1e-6  # tail probability of a window that raises an alarm
    min_reporters: int = 8  # distinct reporters in a window; never below the privacy k
    min_ratio: float = 3.0  # observed / usual in a window
    confirm_after: bool = True  # 'ongoing' needs an alarm on a window wholly after detection
    recovery_window: int = 15  # minutes: the window that decides "back in the usual band"
    band_alpha: float = 0.01  # a window above the (1 - band_alpha) quantile is still elevated
    recovery_minutes: int = 20  # minutes in the band before an incident is resolved
    relapse_minutes: int = 3  # elevated minutes that turn 'recovering' back into 'ongoing'
    dedup_minutes: int = 60  # a reporter's next report counts again after this silence
    baseline_weeks: int = 4
    holiday_ratio: float = 0.8  # a candidate day below this share of the busiest one is left out
    share_prior: float = 50.0  # pseudo-reports shrinking a district's hourly share
    kappa_default: float = 0.15
    kappa_bounds: tuple[float, float] = (0.05, 0.5)
    min_hourly: float = 0.2  # floor of the city's usual first reports per hour
    area_alpha: float = 1e-4  # a district is named when its excess over the incident is this improbable
    area_relative: float = 0.1  # ... and at least this share of the most affected district's excess
    citywide_districts: int = 13  # named districts from which an incident is called city-wide
    onset_lookback: int = 180  # minutes before detection searched for the onset
    max_open_minutes: int = 3 * 24 * 60  # an incident still open after this is closed

    def reporters_needed(self, k: int) -> int:
        """Distinct reporters an alarm needs: the configured minimum, never below privacy's k."""
        return max(self.min_reporters, k)


def trailing_sums(values: np.ndarray, width: int) -> np.ndarray:
    """Sum of the last ``width`` minutes (last axis) at each minute; shorter at the start.

    NaN anywhere in a window makes that window NaN.
    """
    values = np.asarray(values, dtype=float)
    nan = np.isnan(values)
    zero = np.where(nan, 0.0, values)
    pad = np.zeros((*values.shape[:-1], 1))
    csum = np.concatenate([pad, np.cumsum(zero, axis=-1)], axis=-1)
    cnan = np.concatenate([pad, np.cumsum(nan, axis=-1)], axis=-1)
    idx = np.arange(values.shape[-1])
    lo = np.maximum(idx + 1 - width, 0)
    sums = csum[..., idx + 1] - csum[..., lo]
    nans = cnan[..., idx + 1] - cnan[..., lo]
    return np.where(nans > 0, np.nan, sums)


def tail_probability(observed: np.ndarray, expected: np.ndarray, kappa: float) -> np.ndarray:
    """P(X >= observed) for X negative binomial with mean ``expected`` and variance mu + kappa mu^2."""
    observed = np.asarray(observed, dtype=float)
    expected = np.asarray(expected, dtype=float)
    size = 1.0 / kappa
    prob = 1.0 / (1.0 + kappa * np.maximum(expected, 1e-12))
    return stats.nbinom.sf(observed - 1, size, prob)


def window_alarms(counts: np.ndarray, expected: np.ndarray, kappa: float, config: DetectorConfig,
                  reporters_needed: int) -> dict[int, np.ndarray]:
    """Per window width: boolean [areas, minutes], True where that window raises an alarm.

    Row 0 is the city and is tested at ``alpha``; the other rows (districts)
    share ``alpha`` between them (Bonferroni), so 25 districts do not raise 25
    times the false alarms of one city.
    """
    alpha = np.full(counts.shape, config.alpha)
    alpha[1:] = config.alpha / max(counts.shape[0] - 1, 1)
    out = {}
    for width in config.windows:
        observed = trailing_sums(counts, width)
        usual = trailing_sums(expected, width)
        with np.errstate(invalid="ignore"):
            candidate = (observed >= reporters_needed) & (observed >= config.min_ratio * usual) & np.isfinite(usual)
        alarm = np.zeros(counts.shape, dtype=bool)
        if candidate.any():
            alarm[candidate] = tail_probability(observed[candidate], usual[candidate], kappa) < alpha[candidate]
        out[width] = alarm
    return out


def elevated(counts: np.ndarray, expected: np.ndarray, kappa: float, config: DetectorConfig) -> np.ndarray:
    """True where the last ``recovery_window`` minutes are above the usual band (1-D series)."""
    observed = trailing_sums(counts, config.recovery_window)
    usual = trailing_sums(expected, config.recovery_window)
    out = np.zeros(len(observed), dtype=bool)
    candidate = (observed >= 2) & np.isfinite(usual)
    if candidate.any():
        out[candidate] = tail_probability(observed[candidate], usual[candidate], kappa) < config.band_alpha
    return out


def usual_band(expected: np.ndarray, kappa: float, coverage: float = 0.98) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) quantiles of the count for each expected value, covering ``coverage``."""
    expected = np.asarray(expected, dtype=float)
    ok = np.isfinite(expected)
    size = 1.0 / kappa
    prob = 1.0 / (1.0 + kappa * np.where(ok, np.maximum(expected, 1e-12), 1.0))
    tail = (1 - coverage) / 2
    low = np.where(ok, stats.nbinom.ppf(tail, size, prob), np.nan)
    high = np.where(ok, stats.nbinom.ppf(1 - tail, size, prob), np.nan)
    return low, high


def change_point(counts: np.ndarray, expected: np.ndarray, *, rising: bool) -> int | None:
    """Index where the rate multiplier changes most clearly (a two-segment Poisson likelihood).

    Returns i such that [0, i) and [i, n) have different ratios of observed to
    expected; with ``rising`` the second segment must be the higher one. None
    when no split makes the rate change in that direction.
    """
    counts = np.asarray(counts, dtype=float)
    expected = np.where(np.isfinite(expected), np.maximum(expected, 1e-9), 1e-9)
    n = len(counts)
    if n < 2:
        return None
    c_before = np.cumsum(counts)[:-1]
    e_before = np.cumsum(expected)[:-1]
    c_after = counts.sum() - c_before
    e_after = expected.sum() - e_before

    def loglik(c, e):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(c > 0, c * np.log(c / e), 0.0)

    score = loglik(c_before, e_before) + loglik(c_after, e_after)
    with np.errstate(divide="ignore", invalid="ignore"):
        direction = (c_after / e_after > c_before / e_before) if rising else (c_after / e_after < c_before / e_before)
    score = np.where(direction, score, -np.inf)
    if not np.isfinite(score).any():
        return None
    return int(np.argmax(score)) + 1
