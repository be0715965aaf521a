"""Truth of the map: are the hexes it ranks worst really the weakest? Scored against demo_truth.

    .venv/bin/python bench/map_truth.py [--kinds clustered,isolated,mixed] [--strong] [--seeds 20211025]
                                        [--reports N] [--top 20] [--db-dir DIR] [--db PATH] [--runs 5]

Builds one demo city per kind of weak places (``python -m ingest demo --weak KIND``,
subtle by default: footprints 1.5x-2.2x, single hexes 1.8x-3x; ``--strong`` for 3x-8x;
the personas' weak zones are 3x-8x in every city) and per seed, at the default size
unless ``--reports`` says otherwise (about 15-60 s each), in a temporary directory, or in
``--db-dir``, where a city already built with the same settings is reused. ``--db PATH``
scores one existing demo database instead. Then, per network, at resolution 8 and all
hours (the outage replay included, as the map shows it), it ranks the hexes the map rates:
publishable (k reporters) and not grey (at least MIN_ATTEMPTS_TO_RATE reports and some
'all good' samples). Every column ranks those same hexes:

  map          what the map ranks: ``geo.mapview.carrier_estimates(cur, MapQuery(res=8))``,
               highest ``estimate`` first (whatever the map's estimate is at the time);
  per_hex_eb   a fixed reference, the map's method when this bench was written: the per-hex
               beta-binomial empirical-Bayes rate, ``geo.stats.fit_beta_prior`` fitted to these
               hexes and ``geo.stats.shrink_rates``, each hex alone;
  bayes_limit  the best any per-hex method can do: the true rates of all the network's res-8 hexes
               in demo_truth, as a discrete prior, give each hex's posterior probability that its
               rate is at least the N-th highest true rate, from its failures f and attempts n
               (P(r_j | f, n) proportional to prior_j r_j^f (1 - r_j)^(n - f), in log space);
               ranked by that probability (its log-odds, so that near-certain hexes stay ordered);
  ring_pool    naive pooling with the neighbours: failures / attempts summed over the hex and its
               ring (``h3.grid_disk(cell, 1)``, over these same hexes' counts);
  raw_count    the most failure reports (a naive density map).

The map's counts carry the site's noise (core.cellkey, a few reports either way); every
reference is computed from those same counts, not from exact ones.

Precision@N (N = 20, ``--top``) = |ranked top N ∩ the network's N truly weakest hexes| / N,
where the truly weakest are the N highest ``failure_rate`` of demo_truth for that network
over ALL res-8 hexes of Seoul (some too thin to be shown at all: ``weakest_shown`` counts the
rest, a ceiling for every column). Prints one table per city, with the median time of one
``carrier_estimates`` call over ``--runs`` runs, and a summary line of mean precisions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h3
import numpy as np
import pandas as pd
from scipy.special import logsumexp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DROPMAP_SECRET", "bench-secret")

METHODS = ("map", "per_hex_eb", "bayes_limit", "ring_pool", "raw_count")


def bayes_limit_scores(f: np.ndarray, n: np.ndarray, true_rates: np.ndarray, top: int) -> np.ndarray:
    """Per hex, log-odds that its rate is among the ``top`` highest of ``true_rates`` (the prior's support)."""
    threshold = np.sort(true_rates)[::-1][top - 1]
    log_like = np.outer(f, np.log(true_rates)) + np.outer(n - f, np.log1p(-true_rates))  # hexes x support
    weak = true_rates >= threshold
    return logsumexp(log_like[:, weak], axis=1) - logsumexp(log_like[:, ~weak], axis=1)


def ring_pool_rates(cells: np.ndarray, f: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per hex, failures / attempts summed over the hex and its ring, among ``cells``."""
    index = {int(c): i for i, c in enumerate(cells)}
    out = np.empty(len(cells))
    for i, cell in enumerate(cells):
        near = [index[c] for c in h3.api.basic_int.grid_disk(int(cell), 1) if c in index]
        out[i] = f[near].sum() / n[near].sum()
    return out


def rankings(rated: pd.DataFrame, true_rates: np.ndarray, top: int) -> dict[str, pd.Series]:
    """The cells each method ranks in its top ``top``, among one network's rated hexes."""
    from geo import stats

    f, n = rated["failures"].to_numpy(float), rated["reports"].to_numpy(float)
    eb = stats.shrink_rates(f, n, stats.fit_beta_prior(f, n)).mean
    scores = {"map": rated["estimate"].to_numpy(float), "per_hex_eb": eb,
              "bayes_limit": bayes_limit_scores(f, n, true_rates, top),
              "ring_pool": ring_pool_rates(rated["cell"].to_numpy(np.uint64), f, n),
              "raw_count": f}
    return {name: rated["cell"].iloc[np.argsort(-score, kind="stable")[:top]] for name, score in scores.items()}


def precision_table(cur, top: int = 20) -> pd.DataFrame:
    """Per network: precision@``top`` of each method against the truth."""
    from geo.mapquery import MapQuery
    from geo.mapview import RATE, carrier_estimates
    from store import map_sql

    truth = map_sql.demo_truth(cur)
    estimates, measure = carrier_estimates(cur, MapQuery(res=8))
    if measure != RATE:
        raise SystemExit(f"the map shows a {measure}, not a rate: no 'all good' samples in this database?")
    rows = []
    for network, group in estimates.groupby("network"):
        mine = truth[truth["network"] == network]
        weakest = set(mine.nlargest(top, "failure_rate")["cell"])
        rated = group[~group["uncertain"].astype(bool)].reset_index(drop=True)
        picks = rankings(rated, mine["failure_rate"].to_numpy(float), top)
        rows.append({"network": network, "rated_hexes": len(rated), "weakest_shown": len(weakest & set(rated["cell"])),
                     **{name: len(weakest & set(cells)) / top for name, cells in picks.items()}})
    table = pd.DataFrame(rows)
    mean = {"network": "mean", **table[list(METHODS)].mean().to_dict()}
    table = pd.concat([table, pd.DataFrame([mean])], ignore_index=True)
    return table.astype({"rated_hexes": "Int64", "weakest_shown": "Int64"})


def view_seconds(cur, runs: int) -> float:
    """Median seconds of one ``carrier_estimates`` call (res 8, all hours) over ``runs`` runs."""
    from geo.mapquery import MapQuery
    from geo.mapview import carrier_estimates

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        carrier_estimates(cur, MapQuery(res=8))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def city_path(folder: Path, kind: str, subtle: bool, seed: int, reports: int | None) -> Path:
    """Where the city of these settings is kept (the name says them, so a reused one matches)."""
    size = f"-r{reports}" if reports is not None else ""
    return folder / f"map-truth-{kind}-{'subtle' if subtle else 'strong'}-s{seed}{size}.duckdb"


def build_city(path: Path, kind: str, subtle: bool, seed: int, reports: int | None) -> None:
    from ingest.demo import DemoOptions, build_demo
    from store.db import connect

    options = DemoOptions(weak=kind, subtle=subtle, seed=seed, **({"reports": reports} if reports else {}))
    print(f"building the demo city ({kind}, {'subtle' if subtle else 'strong'}, seed {seed},"
          f" {options.reports:,} reports) in {path} ...", flush=True)
    started = time.perf_counter()
    con = connect(path)
    try:
        build_demo(con, options)
    finally:
        con.close()
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)


def score(path: Path, title: str, top: int, runs: int) -> pd.DataFrame:
    """Print and return the precision table of one city."""
    from store.db import connect

    con = connect(path, read_only=True)
    try:
        cur = con.cursor()
        table = precision_table(cur, top)
        seconds = view_seconds(cur, runs)
    finally:
        con.close()
    print(f"\n== {title}: precision@{top}; carrier_estimates {seconds * 1000:.0f} ms per view"
          f" (median of {runs})")
    shown = table.astype({"rated_hexes": object, "weakest_shown": object}).fillna("")
    print(shown.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    return table


def main() -> int:
    from ingest.demo import DemoOptions
    from ingest.demo_truth import WEAK_KINDS, multiplier_ranges

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default=",".join(WEAK_KINDS), help="kinds of city, comma-separated")
    parser.add_argument("--strong", action="store_true", help="weak places at 3x-8x (default: subtle)")
    parser.add_argument("--seeds", default=str(DemoOptions().seed), help="seeds, comma-separated")
    parser.add_argument("--reports", type=int, default=None, help="demo size (default: the generator's)")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of carrier_estimates per city")
    parser.add_argument("--db-dir", type=Path, help="keep the cities here and reuse them (else a temp dir)")
    parser.add_argument("--db", type=Path, help="score this existing demo database only")
    args = parser.parse_args()

    if args.db is not None:
        score(args.db, str(args.db), args.top, args.runs)
        return 0
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if unknown := set(kinds) - set(WEAK_KINDS):
        parser.error(f"unknown kinds {sorted(unknown)}: use {', '.join(WEAK_KINDS)}")
    subtle = not args.strong
    ranges = ", ".join(f"{kind} {low:g}x-{high:g}x" for kind, (low, high) in multiplier_ranges(subtle).items())
    folder = args.db_dir or Path(tempfile.mkdtemp(prefix="dropmap-map-truth-"))
    folder.mkdir(parents=True, exist_ok=True)
    summary = []
    try:
        for seed in (int(s) for s in args.seeds.split(",")):
            for kind in kinds:
                path = city_path(folder, kind, subtle, seed, args.reports)
                if not path.exists():
                    build_city(path, kind, subtle, seed, args.reports)
                table = score(path, f"{kind} city, seed {seed} ({ranges})", args.top, args.runs)
                means = table.iloc[-1]
                summary.append(f"{kind}/{seed} " + " ".join(f"{m} {means[m]:.2f}" for m in METHODS))
    finally:
        if args.db_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\nmean precision@{args.top} ({'subtle' if subtle else 'strong'}): " + "; ".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
