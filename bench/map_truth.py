"""Truth of the map: are the hexes it ranks worst really the weakest? Scored against demo_truth.

    .venv/bin/python bench/map_truth.py [--db PATH] [--reports 100000] [--seed 20211025] [--top 20]

Builds the DEFAULT demo city (ingest.demo, the teammate-owned generator; about
a minute) in a temporary directory unless ``--db`` names an existing demo
database, then, per carrier, at resolution 8 and all hours:

  map       the 20 hexes the map ranks worst: ``geo.mapview.carrier_estimates``
            (the page's own numbers: shrunk rate, privacy threshold, grey hexes
            left out), highest shrunk estimate first;
  raw count the 20 hexes with the most failure reports (a naive density map),
            among the same publishable hexes;
  raw rate  the 20 hexes with the highest observed failure rate, grey hexes
            left out as the map does (shrinkage alone is what differs);
  raw rate (all) the same over every publishable hex, grey ones included (no
            small-count handling at all).

Precision = |ranked top 20 ∩ the carrier's 20 truly weakest hexes| / 20, where
the truly weakest are the 20 highest ``failure_rate`` of demo_truth for that
network over ALL res-8 hexes of Seoul (some of which may be too thin to show
at all). Prints one table; target: map >= 0.8 and clearly above raw counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DROPMAP_SECRET", "bench-secret")


def precision_table(cur, top: int = 20):
    """Per network: precision of the map's, raw counts' and raw rates' top ``top`` against the truth."""
    import pandas as pd

    from geo.mapquery import MapQuery
    from geo.mapview import carrier_estimates
    from store import map_sql

    truth = map_sql.demo_truth(cur)
    estimates, measure = carrier_estimates(cur, MapQuery(res=8))
    rows = []
    for network, group in estimates.groupby("network"):
        weakest = set(truth[truth["network"] == network].nlargest(top, "failure_rate")["cell"])
        rated = group[~group["uncertain"].astype(bool)]
        picks = {
            "map": rated.nlargest(top, "estimate")["cell"],
            "raw_count": group.nlargest(top, "failures")["cell"],
            "raw_rate": rated.nlargest(top, "observed")["cell"],
            "raw_rate_all": group.nlargest(top, "observed")["cell"],
        }
        shown_weak = len(weakest & set(group["cell"]))
        rows.append({"network": network, "measure": measure, "publishable_hexes": len(group),
                     "weakest_publishable": shown_weak,
                     **{name: len(weakest & set(cells)) / top for name, cells in picks.items()}})
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, help="an existing demo database (else one is built)")
    parser.add_argument("--reports", type=int, default=None, help="demo size (default: the generator's)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    from store.db import connect

    work = None
    path = args.db
    if path is None or not path.exists():
        from ingest.demo import DemoOptions, build_demo

        work = Path(tempfile.mkdtemp(prefix="dropmap-map-truth-"))
        path = path or work / "demo.duckdb"
        options = {k: v for k, v in (("reports", args.reports), ("seed", args.seed)) if v is not None}
        print(f"building the demo city {options or '(defaults)'} in {path} ...", flush=True)
        con = connect(path)
        build_demo(con, DemoOptions(**options))
        con.close()
    con = connect(path, read_only=True)
    table = precision_table(con.cursor(), args.top)
    con.close()
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(f"\nmean precision: map {table['map'].mean():.2f}, raw counts {table['raw_count'].mean():.2f}, "
          f"raw rates {table['raw_rate'].mean():.2f}, raw rates with thin hexes {table['raw_rate_all'].mean():.2f}")
    if work is not None:
        for f in work.iterdir():
            f.unlink()
        work.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
