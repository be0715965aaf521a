"""GET /api/v1/hexes over two years of reports: a first page with a new parameter, and a later page
while reports arrive.

    .venv/bin/python bench/bench_hex_api.py [--sizes 10000000,100000000] [--cache /tmp/hist] [--arrivals 2]

Over the stores of bench/history_sizes.py (built there once, reused here), for each query of
``QUERIES`` in turn, through the API's own answer (``api.hexes._answer``: the kept aggregates of
``geo.aggregate.AGGREGATES``, the rows of a page as JSON):

  first page   the aggregate built for a query nobody asked before (the kept ones dropped first);
  later page   the next pages of the same query, asked once a second while a writer stores
               ``--arrivals`` reports a second through the loader, observed now (a live site):
               kept aggregates stay valid while no report lands in the weeks they cover.

No time limit applies here (the site stops a read at DROPMAP_QUERY_MS and builds the aggregate in the
background), so the first page's figure is what the build costs. The reports the writer stored, and
their batches, are deleted at the end. Figures go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DROPMAP_SECRET", "bench-secret")
os.environ["DROPMAP_HEAVY_PER_MINUTE"] = "0"  # the bench is one client asking many new aggregates

from bench._out import save_json  # noqa: E402
from bench.history_sizes import add_store_arguments, store_for  # noqa: E402

LIMIT = 50_000
LIVE_SOURCE = "bench-live"  # the writer's reports (the stores' own are "bench"): deleted at the end


def queries(last_day) -> dict[str, dict]:
    """The documented calls (docs/API.md): the default, and new parameters over the snapshots' 13 weeks."""
    thirteen = (last_day - timedelta(days=last_day.weekday() + 91)).isoformat()
    return {
        "default (res 8, by hour, whole history)": {},
        "res 8 by hour, 13 weeks": {"since": thirteen},
        "KT, res 8 by weekday_hour, 13 weeks": {"carrier": "KT", "by": "weekday_hour", "since": thirteen},
        "res 9 by date, 13 weeks": {"res": "9", "by": "date", "since": thirteen},
        "res 7 all hours, whole history": {"res": "7", "by": "all"},
    }


def measure(path: Path, arrivals: float, later_pages: int) -> dict:
    import pandas as pd

    from api.hexes import _answer
    from geo.aggregate import AGGREGATES, parse_query
    from ingest.loader import Origin, load_frame
    from store.db import close_shared, shared_connection
    from store.reports import observed_span

    con = shared_connection(path)
    cur = con.cursor()
    last_day = observed_span(cur)[1].date()
    stop = threading.Event()
    stored = [0]

    def writer() -> None:
        w = con.cursor()
        n = 0
        while not stop.is_set():
            frame = pd.DataFrame([{"lat": 37.5665 + 0.0005 * (n % 40), "lon": 126.978, "carrier": "KT",
                                   "kind": "dropped_call", "observed_at": datetime.now(UTC).isoformat()}])
            load_frame(w, frame, Origin(source=LIVE_SOURCE, reporter_code=f"BENCH-{n}"))
            stored[0] += 1
            n += 1
            stop.wait(1 / arrivals)
        w.close()

    def answer(query, offset: int) -> tuple[float, dict]:
        t0 = time.perf_counter()
        response = _answer(cur, query, "json", LIMIT, offset, "http://localhost/api/v1/hexes", None)
        ms = (time.perf_counter() - t0) * 1000
        return ms, json.loads(response.body)["metadata"]

    try:
        results = {}
        for name, params in queries(last_day).items():
            query = parse_query(params)
            AGGREGATES.clear()
            first_ms, meta = answer(query, 0)
            total = meta["total_rows"]
            thread = threading.Thread(target=writer, daemon=True)
            stop.clear()
            before = stored[0]
            thread.start()
            later = []
            for i in range(later_pages):
                time.sleep(1.0)
                offset = LIMIT * (1 + i % max(1, (total - 1) // LIMIT)) if total > LIMIT else 0
                later.append(answer(query, offset)[0])
            stop.set()
            thread.join()
            results[name] = {"params": params, "rows": total, "first_page_ms": round(first_ms),
                             "later_page_ms": [round(x, 1) for x in later],
                             "later_page_median_ms": round(statistics.median(later), 1),
                             "reports_stored_meanwhile": stored[0] - before,
                             "period": meta.get("period")}
            print(f"  {name}: {total:,} rows; first page {first_ms:,.0f} ms; later pages median "
                  f"{statistics.median(later):.1f} ms (max {max(later):.1f}) while {stored[0] - before} reports "
                  "arrived", flush=True)
    finally:  # the writer's reports and batches go, even when a query fails
        stop.set()
        cur.execute("DELETE FROM reports WHERE source = ?", [LIVE_SOURCE])
        cur.execute("DELETE FROM batches WHERE source = ?", [LIVE_SOURCE])
    cur.close()
    close_shared()
    return {"store": path.name, "queries": results, "load_average": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store_arguments(parser, sizes="10000000,100000000", json_name="bench_hex_api.json")
    parser.add_argument("--arrivals", type=float, default=2.0, help="reports a second while later pages are asked")
    parser.add_argument("--later-pages", type=int, default=5)
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        path = store_for(args.cache, size, args.days)
        print(f"{size:,} reports ({path.name})", flush=True)
        results.append(measure(path, args.arrivals, args.later_pages))
    save_json(args.json, results)


if __name__ == "__main__":
    main()
