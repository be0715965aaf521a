"""Small-count statistics for the map: empirical-Bayes shrinkage and relative risks.

A hex with two reports, both failures, has an observed failure rate of 100 %;
ranked naively it is the worst place in the city. Empirical Bayes fixes that:
the hexes of one view share a prior fitted to all of them by maximum likelihood,
and each hex's estimate is its posterior mean, so a hex with few reports is
pulled towards the city's typical level while a hex with many keeps its own.

- Rates (failures among attempts; 'all good' samples supply the attempts):
  beta-binomial. failures ~ Binomial(attempts, p), p ~ Beta(alpha, beta).
- Densities (failures per km² per hour, when there are no samples):
  gamma-Poisson. failures ~ Poisson(lambda * exposure), lambda ~ Gamma(shape, rate).

Intervals are equal-tailed 95 % posterior intervals. Relative risks between
carriers use the Katz log interval (see ``relative_risk``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

Z95 = float(stats.norm.ppf(0.975))  # 1.95996...
_LEVEL = (0.025, 0.975)
# Prior strength (alpha + beta, or the gamma shape) is kept in this range:
# below, one hex's two reports would swing the prior; above, hexes are
# pooled completely, which the data then plainly support anyway.
_MIN_STRENGTH, _MAX_STRENGTH = 0.5, 1e5
_FALLBACK_STRENGTH = 2.0  # a weak prior when too few hexes to fit one


@dataclass(frozen=True)
class BetaPrior:
    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        """Prior weight in attempts: a hex with this many attempts is pulled halfway."""
        return self.alpha + self.beta


@dataclass(frozen=True)
class GammaPrior:
    shape: float
    rate: float  # per unit of exposure

    @property
    def mean(self) -> float:
        return self.shape / self.rate

    @property
    def strength(self) -> float:
        """Prior weight in exposure units (km²·hours)."""
        return self.rate


@dataclass(frozen=True)
class Estimates:
    """Posterior mean and 95 % interval per hex (arrays of equal length)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _as_float(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _betabinom_objective(x, f, n, weights) -> tuple[float, np.ndarray]:
    """Minus the beta-binomial log-likelihood at x = (logit mean, log strength), and its gradient.

    ``weights`` counts the hexes sharing each distinct (f, n) pair. With
    a = mean * strength, b = (1 - mean) * strength:
    dLL/da = sum w [psi(f + a) - psi(n + a + b) - psi(a) + psi(a + b)],
    dLL/db = sum w [psi(n - f + b) - psi(n + a + b) - psi(b) + psi(a + b)],
    da/dx0 = -db/dx0 = strength * mean * (1 - mean), da/dx1 = a, db/dx1 = b.
    """
    mean, strength = special.expit(x[0]), np.exp(x[1])
    a, b = mean * strength, (1 - mean) * strength
    # The binomial coefficient does not depend on (a, b) and is left out.
    loglik = np.sum(weights * (special.betaln(f + a, n - f + b) - special.betaln(a, b)))
    both = special.digamma(a + b) - special.digamma(n + a + b)
    d_a = np.sum(weights * (special.digamma(f + a) + both)) - special.digamma(a) * weights.sum()
    d_b = np.sum(weights * (special.digamma(n - f + b) + both)) - special.digamma(b) * weights.sum()
    slope = strength * mean * (1 - mean)
    return -float(loglik), -np.array([(d_a - d_b) * slope, d_a * a + d_b * b])


def _distinct_pairs(f: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (f, n) pairs and the index of each input pair among them.

    Many hexes share small counts (3 of 5, 1 of 12 ...): their intervals are
    computed once per distinct pair (about 3x fewer at res 9), and the prior's
    likelihood has one term per pair, weighted by the hexes sharing it.
    """
    if len(f) and f.min() >= 0 and n.min() >= 0 and n.max() < 2**31 and f.max() < 2**31 \
            and np.array_equal(f, np.floor(f)) and np.array_equal(n, np.floor(n)):
        # Counts: one integer key per pair (sorting one column is ~10x faster than rows).
        keys, inverse = np.unique(f.astype(np.int64) << 32 | n.astype(np.int64), return_inverse=True)
        return (keys >> 32).astype(np.float64), (keys & 0xFFFFFFFF).astype(np.float64), inverse.reshape(-1)
    pairs, inverse = np.unique(np.stack([f, n], axis=1), axis=0, return_inverse=True)
    return pairs[:, 0], pairs[:, 1], inverse.reshape(-1)


def _grid_start(objective_of_log_strength) -> float:
    """The log prior strength, on a grid from the minimum to the maximum, with the lowest objective."""
    grid = np.linspace(np.log(_MIN_STRENGTH), np.log(_MAX_STRENGTH), 17)
    return float(grid[int(np.argmin([objective_of_log_strength(g) for g in grid]))])


def fit_beta_prior(failures, attempts) -> BetaPrior:
    """Beta prior for the failure rate, fitted to the hexes by maximum likelihood."""
    f, n = _as_float(failures), _as_float(attempts)
    keep = n > 0
    f, n = f[keep], n[keep]
    pooled = (f.sum() + 0.5) / (n.sum() + 1.0)
    if len(n) < 3 or f.sum() == 0 or f.sum() == n.sum():
        return BetaPrior(pooled * _FALLBACK_STRENGTH, (1 - pooled) * _FALLBACK_STRENGTH)

    # One term per distinct (failures, attempts) pair, weighted by the hexes sharing it (about 3x
    # fewer terms at res 9), and the exact gradient: the optimiser then stops at the peak itself
    # rather than wherever finite differences on this flat likelihood stop looking.
    uf, un, index = _distinct_pairs(f, n)
    weights = np.bincount(index, minlength=len(uf)).astype(np.float64)

    def objective(x):
        return _betabinom_objective(x, uf, un, weights)[0]

    # The likelihood is flat far from its peak, so a local optimiser started in
    # the wrong place stalls (moment estimates are thrown off by hexes with one
    # or two reports). Start from the best strength on a coarse grid instead.
    start = _grid_start(lambda log_s: objective([special.logit(pooled), log_s]))
    result = optimize.minimize(
        _betabinom_objective, x0=[special.logit(pooled), start], args=(uf, un, weights), jac=True,
        method="L-BFGS-B", bounds=[(-12, 12), (np.log(_MIN_STRENGTH), np.log(_MAX_STRENGTH))],
    )
    mean, strength = float(special.expit(result.x[0])), float(np.exp(result.x[1]))
    return BetaPrior(mean * strength, (1 - mean) * strength)


def shrink_rates(failures, attempts, prior: BetaPrior) -> Estimates:
    """Posterior failure rates: (failures + alpha) / (attempts + alpha + beta), with intervals."""
    f, n = _as_float(failures), _as_float(attempts)
    a = prior.alpha + f
    b = prior.beta + np.maximum(n - f, 0)
    if len(f) == 0:
        return Estimates(a, a.copy(), a.copy())
    uf, un, index = _distinct_pairs(f, n)
    ua, ub = prior.alpha + uf, prior.beta + np.maximum(un - uf, 0)
    low, high = (np.asarray(stats.beta.ppf(q, ua, ub))[index] for q in _LEVEL)
    return Estimates(a / (a + b), low, high)


def fit_gamma_prior(counts, exposure) -> GammaPrior:
    """Gamma prior for the failure density, fitted by maximum likelihood (negative binomial)."""
    y, e = _as_float(counts), _as_float(exposure)
    keep = e > 0
    y, e = y[keep], e[keep]
    pooled = (y.sum() + 0.5) / e.sum() if len(e) else 1.0
    if len(y) < 3 or y.sum() == 0:
        shape = _FALLBACK_STRENGTH * 0.5
        return GammaPrior(shape, shape / pooled)

    def objective(x):
        mean, shape = np.exp(x[0]), np.exp(x[1])
        rate = shape / mean
        # log NB(y; shape, p = rate / (rate + e)) without the terms free of (mean, shape)
        ll = (special.gammaln(y + shape) - special.gammaln(shape)
              + shape * np.log(rate / (rate + e)) + y * np.log(e / (rate + e)))
        return -float(np.sum(ll))

    start = _grid_start(lambda log_s: objective([np.log(pooled), log_s]))
    result = optimize.minimize(
        objective, x0=[np.log(pooled), start], method="L-BFGS-B",
        bounds=[(np.log(pooled) - 12, np.log(pooled) + 12), (np.log(_MIN_STRENGTH), np.log(_MAX_STRENGTH))],
    )
    mean, shape = float(np.exp(result.x[0])), float(np.exp(result.x[1]))
    return GammaPrior(shape, shape / mean)


def shrink_densities(counts, exposure, prior: GammaPrior) -> Estimates:
    """Posterior densities: (counts + shape) / (exposure + rate), with intervals."""
    y, e = _as_float(counts), _as_float(exposure)
    shape = prior.shape + y
    rate = prior.rate + e
    low, high = (stats.gamma.ppf(q, shape, scale=1.0 / rate) for q in _LEVEL)
    return Estimates(shape / rate, np.asarray(low), np.asarray(high))


def relative_risk(f1, n1, f0, n0) -> Estimates:
    """Risk ratio (f1/n1) / (f0/n0) with the Katz 95 % log interval.

    When any cell of a 2×2 table is zero, 0.5 is added to each of its four
    cells (Haldane-Anscombe), so the ratio and interval stay finite. NaN where
    either group has no attempts.
    """
    f1, n1, f0, n0 = (_as_float(v) for v in (f1, n1, f0, n0))
    ok1, ok0 = n1 - f1, n0 - f0
    zero = (f1 == 0) | (ok1 == 0) | (f0 == 0) | (ok0 == 0)
    pad = np.where(zero, 0.5, 0.0)
    a, b, c, d = f1 + pad, ok1 + pad, f0 + pad, ok0 + pad
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (a / (a + b)) / (c / (c + d))
        se = np.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
        missing = (n1 <= 0) | (n0 <= 0)
        ratio = np.where(missing, np.nan, ratio)
        low, high = ratio * np.exp(-Z95 * se), ratio * np.exp(Z95 * se)
    return Estimates(ratio, low, high)


def share_ratio(f1, f0, total1, total0) -> Estimates:
    """How much more of one carrier's failures fall in a hex than its city-wide share predicts.

    (f1 / f0) / (total1 / total0): 1 means this hex has the same mix of the
    carrier's and the others' failures as the whole view. It corrects for the
    carriers' different numbers of subscribers when only failures are known
    (densities). 95 % log interval with standard error sqrt(1/f1 + 1/f0 +
    1/total1 + 1/total0); 0.5 is added to f1 and f0 when either is zero.
    """
    f1, f0, t1, t0 = (_as_float(v) for v in (f1, f0, total1, total0))
    pad = np.where((f1 == 0) | (f0 == 0), 0.5, 0.0)
    a, c = f1 + pad, f0 + pad
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (a / c) / (t1 / t0)
        se = np.sqrt(1 / a + 1 / c + 1 / t1 + 1 / t0)
        ratio = np.where((t1 <= 0) | (t0 <= 0), np.nan, ratio)
        low, high = ratio * np.exp(-Z95 * se), ratio * np.exp(Z95 * se)
    return Estimates(ratio, low, high)


MAP_CLASS_QUANTILES = (0.2, 0.4, 0.6, 0.8, 0.975)  # quintiles, and the top 2.5 % apart


def quantile_breaks(values, quantiles=MAP_CLASS_QUANTILES) -> tuple[float, ...]:
    """Increasing class limits at the given quantiles of the finite values (ties merged).

    The default gives quintiles plus a top class of the highest 2.5 %, so a
    few truly exceptional hexes stand out from the merely high ones.
    """
    v = _as_float(values)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return ()
    return tuple(float(x) for x in np.unique(np.quantile(v, quantiles)))


def classify(values, breaks) -> np.ndarray:
    """Class index (0 = lowest) of each value against increasing ``breaks``."""
    return np.searchsorted(np.asarray(breaks, dtype=np.float64), _as_float(values), side="right")
