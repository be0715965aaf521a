"""The statistics behind the evidence pages: rates with intervals and one comparison test."""

from __future__ import annotations

import math

from scipy import stats

Z95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion; (nan, nan) without trials.

    Wilson's interval behaves at small counts and near 0 or 1, where the
    textbook p ± 1.96·se goes below zero.
    """
    if trials <= 0:
        return math.nan, math.nan
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def higher_rate_p_value(failures_a: int, total_a: int, failures_b: int, total_b: int) -> float:
    """One-sided Fisher exact test: p-value for "group A fails more often than group B"."""
    table = [[failures_a, total_a - failures_a], [failures_b, total_b - failures_b]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)
