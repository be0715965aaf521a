"""Paging through GET /api/v1/hexes: the aggregate built once per query and data version.

    .venv/bin/python bench/bench_hex_paging.py --db PATH [--res 9] [--by date] [--pages 5] [--limit 50000]

Over an existing store (e.g. the map benchmark's 10 M reports: bench/bench_map.py --db ... --keep,
or a demo database), in the same run, for ``--pages`` consecutive pages of ``--limit`` rows:

  (a) without the cache: every page builds the aggregate again (``geo.aggregate.build``), as the
      hex API did before ``geo.aggregate.AggregateCache``;
  (b) with the cache (what the API does now): the first page builds, the next restore the kept rows.

Both read the same rows (checked). Prints one JSON object; results belong in docs/BENCHMARKS.md,
"Open-data export".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DROPMAP_SECRET", "bench-secret")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--res", type=int, default=9)
    parser.add_argument("--by", default="date")
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--limit", type=int, default=50_000)
    args = parser.parse_args()

    from geo.aggregate import AggregateCache, build, parse_query
    from store.db import connect

    con = connect(args.db, read_only=True)
    query = parse_query({"res": str(args.res), "by": args.by})
    cache = AggregateCache()

    def page(n: int, cached: bool) -> tuple[float, list]:
        cur = con.cursor()
        try:
            t0 = time.perf_counter()
            agg = cache.build(cur, query) if cached else build(cur, query)
            rows = agg.records(limit=args.limit, offset=n * args.limit)
            return (time.perf_counter() - t0) * 1000, rows
        finally:
            cur.close()

    uncached, cached, same = [], [], True
    for n in range(args.pages):  # interleaved: both see the machine alike
        ms_a, rows_a = page(n, cached=False)
        ms_b, rows_b = page(n, cached=True)
        uncached.append(round(ms_a))
        cached.append(round(ms_b))
        same &= rows_a == rows_b
    con.close()
    result = {
        "db": str(args.db), "query": {"res": args.res, "by": args.by}, "limit": args.limit, "pages": args.pages,
        "uncached_ms_per_page": uncached, "cached_ms_per_page": cached,
        "cached_later_pages_median_ms": statistics.median(cached[1:]) if len(cached) > 1 else None,
        "uncached_median_ms": statistics.median(uncached), "same_rows": same,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
