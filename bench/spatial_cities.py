"""Spatial truth on independent synthetic cities: does the map's estimate learn whether weak places cluster?

    .venv/bin/python bench/spatial_cities.py [--seeds 1-15] [--top 20]

Each city is the res-8 hexes within 20 rings of central Seoul (1,261 hexes), ordinary rates 10 % with
a lognormal spread (sd 0.15), traffic lognormal across hexes (median 60 attempts, sd 1.2 on the log
scale: busy hexes and thin ones), and subtle weak places:

  clustered  3 footprints of 7 neighbouring hexes (a centre and its ring) at 1.5-2.2x, one level each;
  isolated   21 single hexes at 1.8-3x.

Failures are binomial. No store, no privacy rule: the model alone (geo.spatial), every hex lending.
Per city it prints precision@N (the N truly weakest hexes among the N ranked worst, hexes with 10+
attempts) of:

  pooled      geo.spatial: fit + shrink (the map's estimate);
  alone       geo.stats: the per-hex beta-binomial (the map's estimate before pooling);
  limit       the per-hex Bayes-optimal ranking under the TRUE rates as the prior (the ceiling for any
              method that looks at each hex alone);
  ring        naive pooling: failures and attempts summed over the hex and its six neighbours;

and the attraction fitted. tests/test_spatial.py checks the same cities.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import h3
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CENTRE = h3.api.basic_int.latlng_to_cell(37.55, 126.99, 8)


def synthetic_city(seed: int, kind: str, *, radius: int = 20):
    """(cells, true rates, attempts, failures) of one city (see the module docstring)."""
    rng = np.random.default_rng(seed)
    cells = np.array(sorted(h3.api.basic_int.grid_disk(CENTRE, radius)), dtype=np.uint64)
    where = {int(c): i for i, c in enumerate(cells)}
    rate = 0.10 * np.exp(rng.normal(0, 0.15, len(cells)))
    if kind == "clustered":
        for centre in rng.choice(cells, 3, replace=False):
            level = rng.uniform(1.5, 2.2)
            for cell in h3.api.basic_int.grid_disk(int(centre), 1):
                if cell in where:
                    rate[where[cell]] = 0.10 * level
    else:
        rate[rng.choice(len(cells), 21, replace=False)] = 0.10 * rng.uniform(1.8, 3.0, 21)
    attempts = np.round(np.exp(rng.normal(np.log(60), 1.2, len(cells))))
    failures = rng.binomial(attempts.astype(int), rate).astype(float)
    return cells, rate, attempts, failures


def precision(score, rate, attempts, top: int = 20) -> float:
    """Share of the ``top`` truly weakest hexes among the ``top`` highest scores (hexes with 10+ attempts)."""
    truth = set(np.argsort(-rate)[:top])
    rated = np.flatnonzero(attempts >= 10)
    return len(truth & set(rated[np.argsort(-score[rated])[:top]])) / top


def bayes_limit(rate, failures, attempts, top: int = 20) -> np.ndarray:
    """Per hex, P(rate >= the top-``top`` threshold | own counts) under the true rates as the prior."""
    threshold = np.sort(rate)[-top]
    loglik = (failures[:, None] * np.log(rate)[None, :]
              + (attempts - failures)[:, None] * np.log1p(-rate)[None, :])
    weights = np.exp(loglik - loglik.max(axis=1, keepdims=True))
    return weights[:, rate >= threshold].sum(axis=1) / weights.sum(axis=1)


def pooled_estimates(cells, failures, attempts, lends=None):
    """The map's model on one city: (fitted prior, estimates)."""
    from geo import spatial

    ring = spatial.ring_matrix(cells)
    lends = np.ones(len(cells), dtype=bool) if lends is None else lends
    prior, signal = spatial.fit(failures, attempts, ring, lends)
    return prior, spatial.shrink(failures, attempts, signal, prior)


def score(kind: str, seed: int, top: int) -> dict:
    from geo import spatial, stats

    cells, rate, attempts, failures = synthetic_city(seed, kind)
    started = time.perf_counter()
    prior, pooled = pooled_estimates(cells, failures, attempts)
    seconds = time.perf_counter() - started
    alone = stats.shrink_rates(failures, attempts, stats.fit_beta_prior(failures, attempts)).mean
    ring = spatial.ring_matrix(cells)
    ring_rate = (ring @ failures + failures) / (ring @ attempts + attempts)
    return {"kind": kind, "seed": seed, "pooled": precision(pooled.mean, rate, attempts, top),
            "alone": precision(alone, rate, attempts, top),
            "limit": precision(bayes_limit(rate, failures, attempts, top), rate, attempts, top),
            "ring": precision(ring_rate, rate, attempts, top), "attraction": prior.attraction,
            "ms": seconds * 1000}


def main() -> int:
    import pandas as pd

    from core.settings import one_blas_thread

    one_blas_thread()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1-15", help="a range a-b or a comma-separated list")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    if "-" in args.seeds:
        first, last = (int(x) for x in args.seeds.split("-"))
        seeds = list(range(first, last + 1))
    else:
        seeds = [int(x) for x in args.seeds.split(",")]
    table = pd.DataFrame([score(kind, seed, args.top) for kind in ("clustered", "isolated") for seed in seeds])
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    means = table.groupby("kind")[["pooled", "alone", "limit", "ring", "attraction", "ms"]].mean()
    means["pooled - limit"] = means["pooled"] - means["limit"]
    print(f"\nmeans over {len(seeds)} seeds:\n{means.to_string(float_format=lambda x: f'{x:.3f}')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
