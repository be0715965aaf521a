"""The usual number of first reports per minute, from the same hour of the week in recent weeks.

Farrington-style: the baseline for an hour is built from the same hour of the
week in the ``weeks`` weeks before it (smoothed over the neighbouring hours),
each scaled by the site's own volume so that growth of the user base does not
look like an outage. Three things keep it robust:

- hours of earlier incidents are left out (``missing``);
- a day whose whole volume is far below the other candidate days (a public
  holiday, a day the site was down) is left out, and of the rest the *upper*
  median is taken, so two holidays among four weeks still give a working-day
  baseline;
- districts, whose own hourly counts are tiny, get the city's baseline times
  their usual share at that hour of the day (shrunk towards their overall
  share), not a median of zeros.

Everything here is numpy on arrays indexed by hour since ``origin`` (a local
midnight), so replaying weeks costs the same as one scan.
"""

from __future__ import annotations

import numpy as np

HOURS_PER_WEEK = 168
_SMOOTHING = (0.25, 0.5, 0.25)  # weights of hours h-1, h, h+1


def smooth_hours(hourly: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Weighted mean of hours h-1, h, h+1 (last axis), skipping missing hours; NaN when all are missing."""
    values = np.where(missing, 0.0, hourly.astype(float))
    present = (~missing).astype(float)
    num = np.zeros_like(values)
    den = np.zeros(values.shape[-1])
    for shift, weight in zip((-1, 0, 1), _SMOOTHING, strict=True):
        num += weight * np.roll(values, -shift, axis=-1)
        den += weight * np.roll(present, -shift)
    # np.roll wraps around: the first and last hours only use their own side.
    num[..., 0] -= _SMOOTHING[0] * values[..., -1]
    den[0] -= _SMOOTHING[0] * present[-1]
    num[..., -1] -= _SMOOTHING[2] * values[..., 0]
    den[-1] -= _SMOOTHING[2] * present[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def day_levels(daily: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centred, trailing) level of the site's volume on each day: medians of a week of days.

    The centred level of a past day uses the three days on each side, so a
    step in volume between then and now is not blamed on that day; today's
    (trailing) level only the seven days before. Medians shrug off a holiday.
    NaN when fewer than four of the days have data.
    """
    n = len(daily)
    centred, trailing = np.full(n, np.nan), np.full(n, np.nan)
    for d in range(n):
        for out, window in ((centred, daily[max(d - 3, 0):d + 4]), (trailing, daily[max(d - 7, 0):d])):
            known = window[np.isfinite(window)]
            if len(known) >= 4:
                out[d] = np.median(known)
    return centred, trailing


def upper_median(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """The upper median along ``axis``, ignoring NaN (NaN when no value is left).

    Of four values it is the third smallest, of two the larger one: a baseline
    leaning high is the safe side for an excess detector.
    """
    ordered = np.sort(values, axis=axis)  # NaN sort last
    count = np.sum(np.isfinite(values), axis=axis)
    index = np.expand_dims(np.minimum(count // 2, values.shape[axis] - 1), axis)
    picked = np.take_along_axis(ordered, index, axis=axis).squeeze(axis)
    return np.where(count > 0, picked, np.nan)


def weekly_baseline(smoothed: np.ndarray, daily: np.ndarray, target_hours: np.ndarray, *, weeks: int,
                    holiday_ratio: float) -> np.ndarray:
    """Usual count for each target hour: upper median of the same hour in the previous weeks.

    ``smoothed``: [..., n_hours] smoothed hourly counts (NaN = missing);
    ``daily``: site volume per day (NaN = no data); returns [..., len(target_hours)].
    Each past week is scaled by the site's level now over its level then; a
    past day whose volume, relative to its own week, is below ``holiday_ratio``
    of the most normal candidate is left out.
    """
    centred, trailing = day_levels(daily)
    target_days = target_hours // 24
    candidates, relative = [], []
    for i in range(1, weeks + 1):
        source = target_hours - HOURS_PER_WEEK * i
        ok = source >= 0
        src = np.where(ok, source, 0)
        src_days = src // 24
        with np.errstate(invalid="ignore", divide="ignore"):
            growth = trailing[target_days] / centred[src_days]
            day_share = daily[src_days] / centred[src_days]
        growth = np.where(np.isfinite(growth) & (growth > 0), np.clip(growth, 0.2, 5.0), 1.0)
        ok &= np.isfinite(daily[src_days]) & (daily[src_days] > 0)
        candidates.append(np.where(ok, smoothed[..., src] * growth, np.nan))
        relative.append(np.where(ok, np.where(np.isfinite(day_share), day_share, np.inf), np.nan))
    shares = np.stack(relative)  # [weeks, n_target]
    with np.errstate(invalid="ignore"):
        finite = np.where(np.isfinite(shares), shares, -np.inf)
        usual_day = (shares >= holiday_ratio * np.max(finite, axis=0)) | np.isinf(shares)
    values = np.stack(candidates)  # [weeks, ..., n_target]
    mask = usual_day.reshape(usual_day.shape[0], *([1] * (values.ndim - 2)), usual_day.shape[-1])
    return upper_median(np.where(mask, values, np.nan), axis=0)


def district_shares(hourly: np.ndarray, missing: np.ndarray, hours: slice, *, prior: float) -> np.ndarray:
    """[districts, 24]: each district's share of the city's first reports per local hour of day.

    Counted over ``hours`` (plus the neighbouring hour of day on each side) and
    shrunk towards the district's overall share with ``prior`` pseudo-reports,
    so a quiet night hour does not give a district a share of zero.
    """
    block = np.where(missing[hours], 0.0, hourly[:, hours].astype(float))
    n_districts = block.shape[0]
    first = hours.start or 0
    hour_of_day = (np.arange(first, first + block.shape[1])) % 24
    per_hour = np.zeros((n_districts, 24))
    for k in range(24):
        per_hour[:, k] = block[:, hour_of_day == k].sum(axis=1)
    per_hour = per_hour + np.roll(per_hour, 1, axis=1) + np.roll(per_hour, -1, axis=1)
    total = per_hour.sum()
    overall = per_hour.sum(axis=1) / total if total > 0 else np.full(n_districts, 1.0 / n_districts)
    city = per_hour.sum(axis=0)
    return (per_hour + prior * overall[:, None]) / (city + prior)[None, :]


def hours_to_minutes(hourly_rate: np.ndarray, first_hour: int, start_minute: int, n_minutes: int) -> np.ndarray:
    """Expected count per minute, interpolated linearly between hour centres.

    ``hourly_rate[..., j]`` is the usual count in hour ``first_hour + j``; the
    result covers minutes ``start_minute .. start_minute + n_minutes - 1``
    since origin. A missing neighbour (NaN) falls back to the other one.
    """
    minutes = np.arange(start_minute, start_minute + n_minutes)
    position = (minutes + 0.5) / 60.0 - 0.5 - first_hour
    raw = np.floor(position).astype(int)
    last = hourly_rate.shape[-1] - 1
    lo, hi = np.clip(raw, 0, last), np.clip(raw + 1, 0, last)  # outside the hours: the nearest one
    frac = position - raw
    a, b = hourly_rate[..., lo], hourly_rate[..., hi]
    a_ok, b_ok = np.isfinite(a), np.isfinite(b)
    both = (1 - frac) * np.where(a_ok, a, 0) + frac * np.where(b_ok, b, 0)
    value = np.where(a_ok & b_ok, both, np.where(a_ok, a, np.where(b_ok, b, np.nan)))
    return value / 60.0


def dispersion(observed: np.ndarray, expected: np.ndarray, *, bounds: tuple[float, float],
               default: float) -> float:
    """Over-dispersion kappa (variance = mu + kappa * mu^2) of hourly counts around their baseline.

    A trimmed method-of-moments estimate (the top and bottom tenth of hours are
    dropped, so a holiday or an outage hour does not decide it), clipped to ``bounds``.
    """
    ok = np.isfinite(observed) & np.isfinite(expected) & (expected >= 1.0)
    if ok.sum() < 24:
        return default
    x, mu = observed[ok], expected[ok]
    z = ((x - mu) ** 2 - mu) / mu**2
    z = np.sort(z)
    cut = len(z) // 10
    trimmed = z[cut: len(z) - cut] if len(z) > 2 * cut else z
    return float(np.clip(np.mean(trimmed), *bounds))
