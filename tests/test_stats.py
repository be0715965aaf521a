"""Small-count statistics: empirical-Bayes shrinkage, relative risks, colour classes (geo.stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import stats

# --- beta-binomial ---------------------------------------------------------------

@pytest.mark.parametrize(("failures", "attempts", "expected"), [
    (1, 1, 3 / 21),      # (1 + 2) / (1 + 2 + 18): two reports' worth of evidence barely moves it
    (0, 0, 2 / 20),      # no data: the prior mean
    (50, 100, 52 / 120),
    (0, 100, 2 / 120),
])
def test_shrunk_rates_pinned(failures, attempts, expected):
    est = stats.shrink_rates([failures], [attempts], stats.BetaPrior(2.0, 18.0))
    assert est.mean[0] == pytest.approx(expected)
    assert est.low[0] < est.mean[0] < est.high[0]


def test_beta_prior_recovers_the_generating_prior():
    rng = np.random.default_rng(3)
    p = rng.beta(3, 27, size=1500)  # mean 0.1, strength 30
    n = rng.integers(1, 400, size=1500)
    prior = stats.fit_beta_prior(rng.binomial(n, p), n)
    assert prior.mean == pytest.approx(0.1, abs=0.01)
    assert 20 < prior.strength < 45


def test_beta_prior_is_not_thrown_off_by_many_tiny_hexes():
    # Hexes with one or two reports used to push a moment-started optimiser to
    # complete pooling (every hex the same colour); the grid start avoids that.
    rng = np.random.default_rng(5)
    p = rng.beta(10, 60, size=1200)
    n = np.where(rng.random(1200) < 0.3, rng.integers(1, 3, 1200), rng.integers(100, 800, 1200))
    prior = stats.fit_beta_prior(rng.binomial(n, p), n)
    assert 40 < prior.strength < 120


def test_beta_prior_gradient_is_the_likelihoods_own():
    from scipy import optimize
    rng = np.random.default_rng(9)
    n = rng.integers(1, 60, size=400).astype(float)
    f = rng.binomial(n.astype(int), 0.15).astype(float)
    uf, un, index = stats._distinct_pairs(f, n)
    weights = np.bincount(index).astype(float)
    for x in ([-2.0, 3.0], [-1.0, 0.0], [0.5, 9.0]):
        value, grad = stats._betabinom_objective(np.array(x), uf, un, weights)
        # weighted distinct pairs give the per-hex likelihood
        assert value == pytest.approx(-_per_hex_loglik(f, n, *_ab(x)), rel=1e-12)
        error = optimize.check_grad(lambda y: stats._betabinom_objective(y, uf, un, weights)[0],
                                    lambda y: stats._betabinom_objective(y, uf, un, weights)[1], x)
        assert error < 1e-4 * max(1.0, np.linalg.norm(grad))


def _per_hex_loglik(f, n, a, b) -> float:
    """The beta-binomial log-likelihood with one term per hex (without the binomial coefficient)."""
    from scipy import special
    return float(np.sum(special.betaln(f + a, n - f + b) - special.betaln(a, b)))


def _ab(x):
    mean, strength = 1 / (1 + math.exp(-x[0])), math.exp(x[1])
    return mean * strength, (1 - mean) * strength


def test_beta_prior_is_the_maximum_of_the_per_hex_likelihood():
    rng = np.random.default_rng(12)
    p = rng.beta(4, 30, size=3000)
    n = np.where(rng.random(3000) < 0.4, rng.integers(1, 6, 3000), rng.integers(20, 300, 3000))
    f = rng.binomial(n, p)
    prior = stats.fit_beta_prior(f, n)

    def loglik(mean, strength):
        return _per_hex_loglik(f.astype(float), n.astype(float), mean * strength, (1 - mean) * strength)
    best = loglik(prior.mean, prior.strength)
    for dm, ds in ((1.01, 1), (0.99, 1), (1, 1.05), (1, 0.95)):
        assert loglik(prior.mean * dm, prior.strength * ds) < best


@pytest.mark.parametrize("fractional", [False, True])
def test_distinct_pairs_index_every_pair(fractional):
    rng = np.random.default_rng(2)
    f = rng.integers(0, 5, 500).astype(float) + (0.5 if fractional else 0.0)
    n = f + rng.integers(0, 5, 500)
    uf, un, index = stats._distinct_pairs(f, n)
    assert np.array_equal(uf[index], f) and np.array_equal(un[index], n)
    assert len(set(zip(uf, un, strict=True))) == len(uf) == len(set(zip(f, n, strict=True)))


@pytest.mark.parametrize(("failures", "attempts"), [([], []), ([1, 2], [3, 4]), ([0, 0, 0], [5, 6, 7]),
                                                    ([5, 6, 7], [5, 6, 7])])
def test_beta_prior_falls_back_to_a_weak_prior(failures, attempts):
    prior = stats.fit_beta_prior(failures, attempts)
    assert prior.strength == pytest.approx(2.0)
    assert 0 < prior.mean < 1


def test_one_or_two_reports_never_rank_worst():
    rng = np.random.default_rng(8)
    n = np.full(300, 200)
    f = rng.binomial(n, 0.1)
    f = np.concatenate([f, [2, 1, 90]])  # 2/2 and 1/1 failures, and a truly weak hex (0.3)
    n = np.concatenate([n, [2, 1, 300]])
    raw_worst = np.argsort(-(f / n))[:2]
    assert set(raw_worst) == {300, 301}  # the naive map paints the tiny hexes worst
    est = stats.shrink_rates(f, n, stats.fit_beta_prior(f, n))
    order = np.argsort(-est.mean)
    assert order[0] == 302
    assert 300 not in order[:10] and 301 not in order[:10]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 500), st.integers(0, 500), st.floats(0.5, 500), st.floats(0.01, 0.99))
def test_shrunk_rate_lies_between_observed_and_prior_mean(failures, extra, strength, mean):
    attempts = failures + extra
    prior = stats.BetaPrior(mean * strength, (1 - mean) * strength)
    shrunk = stats.shrink_rates([failures], [attempts], prior).mean[0]
    observed = failures / attempts if attempts else mean
    assert min(observed, mean) - 1e-12 <= shrunk <= max(observed, mean) + 1e-12


# --- gamma-Poisson ----------------------------------------------------------------

@pytest.mark.parametrize(("count", "exposure", "expected"), [
    (0, 1.0, 2 / 5), (10, 1.0, 12 / 5), (100, 96.0, 102 / 100),
])
def test_shrunk_densities_pinned(count, exposure, expected):
    est = stats.shrink_densities([count], [exposure], stats.GammaPrior(2.0, 4.0))
    assert est.mean[0] == pytest.approx(expected)
    assert est.low[0] < est.mean[0] < est.high[0]


def test_gamma_prior_recovers_the_generating_mean():
    rng = np.random.default_rng(4)
    lam = rng.gamma(4.0, 0.5, size=1000)  # mean 2, shape 4
    exposure = rng.uniform(20, 60, size=1000)
    prior = stats.fit_gamma_prior(rng.poisson(lam * exposure), exposure)
    assert prior.mean == pytest.approx(2.0, rel=0.05)
    assert 3 < prior.shape < 5.5


# --- carrier against the others ----------------------------------------------------

@pytest.mark.parametrize(("f1", "n1", "f0", "n0", "ratio", "low", "high"), [
    # se = sqrt(1/10 - 1/100 + 1/20 - 1/400) = 0.37081
    (10, 100, 20, 400, 2.0, 2.0 * math.exp(-stats.Z95 * 0.370810), 2.0 * math.exp(stats.Z95 * 0.370810)),
    (30, 300, 30, 300, 1.0, None, None),
    # a zero cell: 0.5 added to all four cells (0.5/51) / (5.5/101)
    (0, 50, 5, 100, (0.5 / 51) / (5.5 / 101), None, None),
])
def test_relative_risk_pinned(f1, n1, f0, n0, ratio, low, high):
    est = stats.relative_risk([f1], [n1], [f0], [n0])
    assert est.mean[0] == pytest.approx(ratio, rel=1e-4)
    assert est.low[0] < est.mean[0] < est.high[0]
    if low is not None:
        assert est.low[0] == pytest.approx(low, rel=1e-4)
        assert est.high[0] == pytest.approx(high, rel=1e-4)


@pytest.mark.parametrize(("n1", "n0"), [(0, 10), (10, 0)])
def test_relative_risk_without_attempts_is_missing(n1, n0):
    est = stats.relative_risk([0], [n1], [0], [n0])
    assert math.isnan(est.mean[0])


def test_share_ratio_pinned():
    est = stats.share_ratio([10], [20], [1000], [4000])
    se = math.sqrt(1 / 10 + 1 / 20 + 1 / 1000 + 1 / 4000)
    assert est.mean[0] == pytest.approx(2.0)
    assert est.low[0] == pytest.approx(2.0 * math.exp(-stats.Z95 * se))


def test_share_ratio_of_an_ordinary_hex_is_one():
    assert stats.share_ratio([25], [75], [1000], [3000]).mean[0] == pytest.approx(1.0)


# --- colour classes -----------------------------------------------------------------

def test_quantile_breaks_and_classes():
    breaks = stats.quantile_breaks(np.arange(1, 11), (0.2, 0.4, 0.6, 0.8))
    assert breaks == pytest.approx((2.8, 4.6, 6.4, 8.2))
    assert stats.classify([1, 3, 10, 8.2], breaks).tolist() == [0, 1, 4, 4]


def test_default_breaks_set_the_top_two_and_a_half_percent_apart():
    values = np.arange(1, 1001)
    breaks = stats.quantile_breaks(values)
    assert len(breaks) == 5
    top = stats.classify(values, breaks) == 5
    assert top.sum() == 25  # 975.025 < v: 976..1000


@pytest.mark.parametrize("values", [[], [np.nan], [3.0, 3.0, 3.0]])
def test_quantile_breaks_degenerate(values):
    breaks = stats.quantile_breaks(values)
    assert len(breaks) <= 1
    assert list(breaks) == sorted(breaks)
