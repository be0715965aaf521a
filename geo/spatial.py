"""Weak places that cluster: the map's rate estimate learns from each view whether weak hexes have weak neighbours.

The per-hex estimate (geo.stats) pulls every hex towards one city-wide level. Real weak places (a
tower's footprint, a tunnel, a ridge, a block of tall buildings) often span several neighbouring
hexes, so a hex's neighbours carry evidence about it; yet a single weak hex among good ones must not
be averaged away. So the model asks the data how much neighbours share weakness:

- Each hex is ordinary or weak. Failure rates of ordinary hexes follow Beta(mean mu0, strength s),
  those of weak hexes Beta(mean mu1 > mu0, strength s); a hex's failures are binomial given its rate.
  With the same prior probability of "weak" everywhere this is a per-hex model: its four numbers are
  fitted to the view's hexes by maximum likelihood (a two-component beta-binomial mixture).
- Then each hex's prior probability of being weak depends on its ring of six neighbours:
  logit P(weak) = b0 + attraction x (the neighbours' share of weak evidence beyond the view's typical
  share), where a neighbour's weak evidence is its own posterior probability of being weak under the
  per-hex model. b0 and attraction (>= 0) are fitted by maximum pseudo-likelihood (Besag 1975): the
  product over hexes of the probability of each hex's counts given its neighbours'. A city whose weak
  places are single hexes fits an attraction near 0 and stays per-hex; one whose weak places span
  neighbours fits a large one. Each carrier, resolution and filter of the map is fitted on its own.
- A hex's estimate is its posterior mean rate; its 95 % interval comes from the two-component posterior,
  so it widens where the hex's own data and its neighbours point different ways.

Two rules keep it honest:
- Neighbours can strengthen a hex's own signal but never create one. Where a hex's own reports do not
  point to "weak" (they are at least as likely under the ordinary level) and its neighbours would lift
  it above its per-hex estimate, it keeps its per-hex estimate and interval.
- Only hexes whose counts are published lend evidence and enter the fit (``lends``), so a pooled
  estimate is a function of the hex's own counts and counts already published: changing a hidden
  hex's counts moves no other hex's estimate or interval.

Each level's strength is bounded by the single prior's (geo.stats): two levels never make a hex's rate
look surer than one level did. A hex without weak neighbours, in a view that fits a large attraction,
is less likely weak than the view's average hex: where weak places cluster, lone weak hexes are rare.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3
import numpy as np
from scipy import optimize, sparse, special

from geo.stats import _LEVEL, BetaPrior, Estimates, _distinct_pairs, fit_beta_prior

RING = 6  # neighbours of a hexagon (a pentagon has five: the sixth slot stays empty)
_MAX_CACHED = 500_000  # cells whose ring is remembered (Seoul has about 8,000 at res 9)
_NEIGHBOURS: dict[int, np.ndarray] = {}
_MIN_HEXES = 10  # fewer hexes with attempts: one beta prior, no mixture, no neighbours
_MAX_WEAK_SHARE = 0.5  # "weak" is the smaller component
# A weak hex's odds of failure are at least this much above an ordinary one's (log odds ratio: about
# 1.4 times the rate at the rates of a city). Smaller differences are the ordinary spread between
# hexes, which the levels' strength already allows for.
MIN_LIFT = float(np.log(1.4))
_STRENGTH = (2.0, 1e5)
_MAX_ATTRACTION = 50.0
_MAX_ITERATIONS = 200  # per fit: a view's cost stays bounded whatever its data (demo views take 1-15)
EVIDENCE_CAP = 2.0  # log Bayes factor: e^2, about 7 to 1
_NEWTON_STEPS = 4
_PURE = 1e-4  # a part weighing less than this is left out of a quantile


@dataclass(frozen=True)
class PooledPrior:
    """The view's fitted model: ordinary and weak levels, their strength, and how neighbours attract."""

    typical: float  # mu0: mean failure rate of an ordinary hex
    weak: float  # mu1: mean failure rate of a weak hex (== typical when the view shows no weak component)
    strength: float  # s: prior weight in attempts of each level
    share: float  # the view's prior share of weak hexes (the per-hex model)
    intercept: float  # b0: logit P(weak) of a hex whose neighbours look typical
    attraction: float  # how much weak neighbours raise logit P(weak); 0 = each hex alone

    def levels(self) -> tuple[BetaPrior, BetaPrior]:
        s = self.strength
        return (BetaPrior(self.typical * s, (1 - self.typical) * s), BetaPrior(self.weak * s, (1 - self.weak) * s))


def ring_matrix(cells) -> sparse.csr_matrix:
    """A[i, j] = 1 when hex j of ``cells`` is one of hex i's six neighbours (same resolution)."""
    cells = np.asarray(cells, dtype=np.uint64)
    n = len(cells)
    if len(_NEIGHBOURS) > _MAX_CACHED:
        _NEIGHBOURS.clear()
    rings = np.zeros((n, RING), dtype=np.uint64)
    for i, cell in enumerate(cells.tolist()):
        ring = _NEIGHBOURS.get(cell)
        if ring is None:
            around = [c for c in h3.api.basic_int.grid_disk(cell, 1) if c != cell]
            ring = _NEIGHBOURS[cell] = np.array(around + [0] * (RING - len(around)), dtype=np.uint64)
        rings[i] = ring
    if n == 0:
        return sparse.csr_matrix((0, 0))
    order = np.argsort(cells)
    ordered = cells[order]
    flat = rings.reshape(-1)
    at = np.minimum(np.searchsorted(ordered, flat), n - 1)
    found = (ordered[at] == flat) & (flat != 0)
    rows = np.repeat(np.arange(n), RING)[found]
    return sparse.csr_matrix((np.ones(len(rows)), (rows, order[at[found]])), shape=(n, n))


def _loglik(f, n, level: BetaPrior) -> np.ndarray:
    """Beta-binomial log-probability of f failures in n attempts (without the binomial coefficient)."""
    return special.betaln(f + level.alpha, n - f + level.beta) - special.betaln(level.alpha, level.beta)


def _unpack(x) -> tuple[float, float, float, float, float]:
    """(mu0, mu1, s, share, lift) from x = (logit mu0, log(lift - MIN_LIFT), log s, logit share), where
    logit mu1 = logit mu0 + lift: a weak hex fails clearly more often than an ordinary one."""
    lift = MIN_LIFT + np.exp(x[1])
    return special.expit(x[0]), special.expit(x[0] + lift), np.exp(x[2]), special.expit(x[3]), lift


def _digammas(f, n, a, b):
    both = special.digamma(a + b) - special.digamma(n + a + b)
    return special.digamma(f + a) + both - special.digamma(a), special.digamma(n - f + b) + both - special.digamma(b)


def _mixture_objective(x, f, n, weights) -> tuple[float, np.ndarray]:
    """Minus the two-level beta-binomial log-likelihood, and its gradient in x (see ``_unpack``)."""
    mu0, mu1, s, share, lift = _unpack(x)
    a0, b0, a1, b1 = mu0 * s, (1 - mu0) * s, mu1 * s, (1 - mu1) * s
    l0 = special.betaln(f + a0, n - f + b0) - special.betaln(a0, b0)
    l1 = special.betaln(f + a1, n - f + b1) - special.betaln(a1, b1)
    total = np.logaddexp(np.log1p(-share) + l0, np.log(share) + l1)
    r = np.exp(np.log(share) + l1 - total)  # posterior probability of "weak"
    da0, db0 = _digammas(f, n, a0, b0)
    da1, db1 = _digammas(f, n, a1, b1)
    d0 = s * (da0 - db0) * mu0 * (1 - mu0)  # d l0 / d logit mu0
    d1 = s * (da1 - db1) * mu1 * (1 - mu1)  # d l1 / d logit mu1
    gradient = np.array([
        np.sum(weights * ((1 - r) * d0 + r * d1)),
        np.sum(weights * r * d1) * (lift - MIN_LIFT),
        np.sum(weights * ((1 - r) * (a0 * da0 + b0 * db0) + r * (a1 * da1 + b1 * db1))),
        np.sum(weights * (r - share)),
    ])
    return -float(np.sum(weights * total)), -gradient


def fit_levels(failures, attempts) -> PooledPrior:
    """The per-hex model: ordinary and weak levels and the share of weak hexes, by maximum likelihood."""
    f, n = np.asarray(failures, dtype=np.float64), np.asarray(attempts, dtype=np.float64)
    keep = n > 0
    f, n = f[keep], n[keep]
    pooled = (f.sum() + 0.5) / (n.sum() + 1.0)
    if len(n) < _MIN_HEXES or f.sum() == 0 or f.sum() == n.sum():
        return _one_level(f, n)
    uf, un, index = _distinct_pairs(f, n)
    weights = np.bincount(index, minlength=len(uf)).astype(np.float64)
    # Each level is never surer of a hex's rate than the single prior is: with two levels the spread
    # within each looks smaller, and where the data cannot tell it the likelihood runs to a spike (an
    # interval 0.4 points wide in thin filtered views). The single prior's strength bounds it.
    single = fit_beta_prior(f, n)
    top = float(np.log(max(single.strength, _STRENGTH[0] * 1.01)))
    bounds = [(-12, 12), (np.log(0.01), np.log(5.0)), (np.log(_STRENGTH[0]), top),
              (-9, special.logit(_MAX_WEAK_SHARE))]
    # The likelihood of a mixture has several peaks: of a few starting weak levels, climb from the best.
    starts = [[special.logit(pooled), np.log(max(np.log(ratio) - MIN_LIFT, 0.01)), min(np.log(100.0), top),
               special.logit(share)] for ratio, share in ((1.6, 0.05), (2.5, 0.02), (4.0, 0.01))]
    start = min(starts, key=lambda x: _mixture_objective(x, uf, un, weights)[0])
    best = optimize.minimize(_mixture_objective, start, args=(uf, un, weights), jac=True,
                             method="L-BFGS-B", bounds=bounds,
                             options={"maxiter": _MAX_ITERATIONS})
    best = best if np.isfinite(best.fun) else None
    if best is None:
        return _one_level(f, n)
    mu0, mu1, s, share, _ = _unpack(best.x)
    return PooledPrior(float(mu0), float(mu1), float(s), float(share), float(special.logit(share)), 0.0)


def _one_level(f, n) -> PooledPrior:
    """Too few hexes (or no failures) to tell two levels apart: the per-hex beta prior alone."""
    base = fit_beta_prior(f, n)
    return PooledPrior(base.mean, base.mean, base.strength, 0.0, -np.inf, 0.0)


def weak_evidence(failures, attempts, prior: PooledPrior) -> tuple[np.ndarray, np.ndarray]:
    """Per hex: log-probability of its counts as ordinary and as weak (l0, l1)."""
    f, n = np.asarray(failures, dtype=np.float64), np.asarray(attempts, dtype=np.float64)
    ordinary, weak = prior.levels()
    return _loglik(f, n, ordinary), _loglik(f, n, weak)


def neighbour_signal(ring: sparse.csr_matrix, l0, l1, lends, prior: PooledPrior) -> np.ndarray:
    """Per hex: how strongly its neighbours' own reports point to "weak". Each lending neighbour's
    evidence is its log Bayes factor for weak against ordinary (l1 - l0), kept within 0..EVIDENCE_CAP:
    an ordinary or silent neighbour adds no evidence, and one busy weak neighbour cannot outvote the rest.
    The signal is the mean over the six neighbour slots (0 .. EVIDENCE_CAP)."""
    if prior.share <= 0:
        return np.zeros(len(l0))
    evidence = np.clip(np.asarray(l1) - np.asarray(l0), 0.0, EVIDENCE_CAP)
    return ring @ np.where(lends, evidence, 0.0) / RING


def _attraction_objective(x, l0, l1, signal) -> tuple[float, np.ndarray]:
    eta = x[0] + x[1] * signal
    total = np.logaddexp(special.log_expit(-eta) + l0, special.log_expit(eta) + l1)
    r = np.exp(special.log_expit(eta) + l1 - total)
    d_eta = r - special.expit(eta)
    return -float(total.sum()), -np.array([d_eta.sum(), np.sum(d_eta * signal)])


def fit(failures, attempts, ring: sparse.csr_matrix, lends) -> tuple[PooledPrior, np.ndarray]:
    """The view's model (levels, then attraction), fitted on the hexes that ``lends`` only (those whose
    counts are published), and each hex's neighbour signal."""
    f, n = np.asarray(failures, dtype=np.float64), np.asarray(attempts, dtype=np.float64)
    lends = np.asarray(lends, dtype=bool) & (n > 0)
    prior = fit_levels(f[lends], n[lends])
    l0, l1 = weak_evidence(f, n, prior)
    signal = neighbour_signal(ring, l0, l1, lends, prior)
    if prior.share <= 0 or prior.weak <= prior.typical or not np.any(signal[lends] != 0):
        return prior, signal
    result = optimize.minimize(_attraction_objective, [prior.intercept, 0.0],
                               args=(l0[lends], l1[lends], signal[lends]), jac=True, method="L-BFGS-B",
                               bounds=[(-20, 5), (0.0, _MAX_ATTRACTION)],
                               options={"maxiter": _MAX_ITERATIONS})
    if not np.isfinite(result.fun):
        return prior, signal
    return PooledPrior(prior.typical, prior.weak, prior.strength, prior.share,
                       float(result.x[0]), float(result.x[1])), signal


def _beta_logpdf(x, a, b):
    return (a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - special.betaln(a, b)


def _mixture_quantiles(q, ordinary: tuple, weak: tuple, level: float) -> np.ndarray:
    """The ``level`` quantile of q Beta(weak) + (1 - q) Beta(ordinary), elementwise.

    Where one part weighs all but PURE of the whole, its own quantile (off by at most PURE in
    probability). Elsewhere the quantile lies between the two parts' own quantiles, and for a part c
    of weight w, F(x) >= w F_c(x) and 1 - F(x) >= w (1 - F_c(x)) narrow that bracket to
    F_c^-1(level / w) from above, used for lower quantiles with the ordinary part (it lies lower: same
    strength, lower mean), or to F_c^-1(1 - (1 - level) / w) from below, used for upper ones with the
    weak part. Newton steps on F from the heavier part's own quantile, halving the bracket when a step
    would leave it, bring F within about 0.001 of ``level``.
    """
    out = np.empty(len(q))
    weak_only, ordinary_only = q > 1 - _PURE, q < _PURE
    for only, part in ((weak_only, weak), (ordinary_only, ordinary)):
        if only.any():
            out[only] = special.betaincinv(part[0][only], part[1][only], level)
    mixed = ~(weak_only | ordinary_only)
    if not mixed.any():
        return out
    q = q[mixed]
    weak, ordinary = (tuple(v[mixed] for v in part) for part in (weak, ordinary))
    each = special.betaincinv(*weak, level), special.betaincinv(*ordinary, level)
    lo, hi = np.minimum(*each), np.maximum(*each)
    if level < 0.5:
        fits = 1 - q > level
        hi[fits] = np.minimum(hi[fits], special.betaincinv(ordinary[0][fits], ordinary[1][fits],
                                                           level / (1 - q[fits])))
    else:
        fits = q > 1 - level
        lo[fits] = np.maximum(lo[fits], special.betaincinv(weak[0][fits], weak[1][fits],
                                                           1 - (1 - level) / q[fits]))
    x = np.clip(np.where(q >= 0.5, each[0], each[1]), lo, hi)
    for _ in range(_NEWTON_STEPS):
        cdf = q * special.betainc(*weak, x) + (1 - q) * special.betainc(*ordinary, x)
        below = cdf < level
        lo, hi = np.where(below, x, lo), np.where(below, hi, x)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            pdf = q * np.exp(_beta_logpdf(x, *weak)) + (1 - q) * np.exp(_beta_logpdf(x, *ordinary))
            step = x - (cdf - level) / pdf
        x = np.where(np.isfinite(step) & (step >= lo) & (step <= hi), step, (lo + hi) / 2)
    out[mixed] = x
    return out


def _posterior(f, n, log_odds, prior: PooledPrior, wanted) -> Estimates:
    """Posterior mean rate of each hex, and its 95 % interval where ``wanted`` (NaN elsewhere)."""
    ordinary, weak = prior.levels()
    l0, l1 = _loglik(f, n, ordinary), _loglik(f, n, weak)
    q = special.expit(log_odds + l1 - l0)
    rest = np.maximum(n - f, 0)
    post0 = (ordinary.alpha + f, ordinary.beta + rest)
    post1 = (weak.alpha + f, weak.beta + rest)
    mean = q * post1[0] / (post1[0] + post1[1]) + (1 - q) * post0[0] / (post0[0] + post0[1])
    low, high = np.full(len(f), np.nan), np.full(len(f), np.nan)
    if wanted.any():
        parts = [(a[wanted], b[wanted]) for a, b in (post0, post1)]
        low[wanted], high[wanted] = (_mixture_quantiles(q[wanted], *parts, level) for level in _LEVEL)
    return Estimates(mean, low, high)


def each_alone(failures, attempts, prior: PooledPrior, *, intervals=None) -> Estimates:
    """The per-hex model's estimates: the view's two levels and share of weak hexes, no neighbours."""
    f, n = np.asarray(failures, dtype=np.float64), np.asarray(attempts, dtype=np.float64)
    wanted = np.ones(len(f), dtype=bool) if intervals is None else np.asarray(intervals, dtype=bool)
    odds = special.logit(prior.share) if prior.share > 0 else -np.inf
    return _posterior(f, n, np.full(len(f), odds), prior, wanted)


def shrink(failures, attempts, signal, prior: PooledPrior, *, intervals=None) -> Estimates:
    """Posterior mean rates, each hex with its neighbours' signal, and 95 % intervals where ``intervals``
    (default: every hex; NaN elsewhere, since intervals cost more than the means).

    Where the hex's own reports do not point to "weak" (they are likelier under the ordinary level than
    under the weak one) and its neighbours would lift it above its per-hex estimate, the per-hex
    estimate and interval are kept: neighbours strengthen a hex's own signal, never create one.
    """
    f, n = np.asarray(failures, dtype=np.float64), np.asarray(attempts, dtype=np.float64)
    wanted = np.ones(len(f), dtype=bool) if intervals is None else np.asarray(intervals, dtype=bool)
    if prior.share <= 0:
        return each_alone(f, n, prior, intervals=wanted)
    pooled = _posterior(f, n, prior.intercept + prior.attraction * np.asarray(signal), prior, wanted)
    alone_mean = each_alone(f, n, prior, intervals=np.zeros(len(f), dtype=bool)).mean
    l0, l1 = weak_evidence(f, n, prior)
    keep_own = (l1 <= l0) & (pooled.mean > alone_mean)
    alone = each_alone(f, n, prior, intervals=wanted & keep_own)
    return Estimates(*(np.where(keep_own, a, p) for a, p in
                       ((alone.mean, pooled.mean), (alone.low, pooled.low), (alone.high, pooled.high))))
