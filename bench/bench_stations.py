"""Stations benchmark: GET /api/v1/stations on a large demo store, against a hand-written GROUP BY.

    .venv/bin/python bench/bench_stations.py --db PATH [--repeat 9] [--requests 200]
    .venv/bin/python bench/bench_stations.py --build-reports 1110000 --db /tmp/bench10m.duckdb

``--build-reports N`` first builds the store with ``python -m ingest demo --reports N`` (N failure
reports; the demo adds about eight 'all good' samples per failure, so N = 1,110,000 gives about
10 M rows in ``reports``). Then, in one run, interleaved:

  (a) baseline: ONE hand-written DuckDB query a person would write for one window -- the station
      discs joined to the reports, ``GROUP BY station, network`` with failures, samples and
      ``count(DISTINCT reporter)`` -- for the weekday rush hours, and for the whole week;
  (s) our scan alone (store.stations_sql.station_counts): every station x network x window in one
      query;
  (b) cold: the API answer for line 2 at rush hour with the counts cache emptied first, i.e. the
      one scan behind every line, carrier and window (store.stations_sql), the shrinkage of every
      station and the JSON;
  (c) warm: API answers for random lines x carriers x windows from the cache kept per data
      version (what a visitor gets until a new report arrives, and at most
      DROPMAP_CACHE_SECONDS after it);
  (d) during a refresh: one report is added to the store (source 'bench'; the store keeps it) with
      DROPMAP_CACHE_SECONDS=0, then the same kind of requests run while the background scan counts
      afresh -- answered from the kept counts, competing with the scan for the cores.

Prints p50 / p95 in ms of each and the ratio (b)/(a). Requests go through Starlette's test client
(the same route code, no sockets).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASELINE = """
SELECT c.sid, r.network,
       count(*) FILTER (WHERE kind <> 'ok') AS failures,
       count(*) FILTER (WHERE kind = 'ok') AS samples,
       count(DISTINCT reporter) AS reporters
FROM reports r JOIN bench_cells c ON r.h3_r10 = c.cell
WHERE status = 'ok' {hours}
GROUP BY 1, 2
"""
RUSH = "AND local_dow <= 5 AND (local_hour BETWEEN 7 AND 9 OR local_hour BETWEEN 18 AND 20)"


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def _during_refresh(client, stations, db: Path, requests: int, rng: random.Random) -> tuple[list[float], float]:
    """Requests answered while a background scan counts afresh after one new report."""
    import pandas as pd

    from ingest.loader import Origin, load_frame
    from store.db import shared_connection

    os.environ["DROPMAP_CACHE_SECONDS"] = "0"
    row = pd.DataFrame([{"lat": 37.4979, "lon": 127.0276, "carrier": "KT", "kind": "ok", "reporter_code": "BENCH",
                         "observed_at": "2021-10-20T08:00:00+09:00"}])
    load_frame(shared_connection(db).cursor(), row, Origin(source="bench"))
    started = time.perf_counter()
    times = []
    for i in range(requests):
        params = {"line": rng.choice(stations.LINES), "hours": rng.choice(list(stations.WINDOWS))}
        t = time.perf_counter()
        assert client.get("/api/v1/stations", params=params).status_code == 200
        times.append(time.perf_counter() - t)
        if i > 0 and not stations.COUNTS._refreshing:
            break  # the refresh has finished: later answers are warm again
    stations.COUNTS.wait()
    return times, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="the store to read (built first with --build-reports)")
    parser.add_argument("--build-reports", type=int, default=None,
                        help="build --db with `python -m ingest demo --reports N` first")
    parser.add_argument("--repeat", type=int, default=9, help="rounds of (a) and (b)")
    parser.add_argument("--requests", type=int, default=200, help="warm requests (c)")
    args = parser.parse_args()
    db = Path(args.db)
    if args.build_reports:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ingest", "demo", "--reports", str(args.build_reports),
                        "--db", str(db)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"built {db} in {time.perf_counter() - started:.0f} s")
    os.environ["DROPMAP_DB"] = str(db)
    os.environ.setdefault("DROPMAP_SECRET", "bench")

    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from api import stations as stations_api
    from geo import stations
    from store import stations_sql
    from store.db import shared_connection

    cur = shared_connection(db).cursor()
    rows = cur.execute("SELECT count(*) FROM reports").fetchone()[0]
    print(f"{rows:,} rows in reports; load average {os.getloadavg()[0]:.1f}; "
          f"{len(stations.station_cells()):,} station cells")
    cur.register("bench_cells", stations.station_cells()[["sid", "cell"]])

    baseline, baseline_all, scan, cold, warm = [], [], [], [], []
    cells = stations.station_cells()[["sid", "cell"]]
    with TestClient(Starlette(routes=stations_api.ROUTES)) as client:
        for _ in range(args.repeat):
            t = time.perf_counter()
            cur.execute(BASELINE.format(hours=RUSH)).fetchall()
            baseline.append(time.perf_counter() - t)
            t = time.perf_counter()
            cur.execute(BASELINE.format(hours="")).fetchall()
            baseline_all.append(time.perf_counter() - t)
            t = time.perf_counter()
            stations_sql.station_counts(cur, cells, seconds=60)
            scan.append(time.perf_counter() - t)
            stations.COUNTS.clear()
            t = time.perf_counter()
            response = client.get("/api/v1/stations", params={"line": "2", "hours": "rush"})
            cold.append(time.perf_counter() - t)
            assert response.status_code == 200, response.text
        rng = random.Random(7)
        for _ in range(args.requests):
            params = {"line": rng.choice(stations.LINES), "hours": rng.choice(list(stations.WINDOWS))}
            if rng.random() < 0.5:
                params["carrier"] = rng.choice(["SKT", "KT", "LGU+"])
            t = time.perf_counter()
            response = client.get("/api/v1/stations", params=params)
            warm.append(time.perf_counter() - t)
            assert response.status_code == 200, response.text
        during, refresh = _during_refresh(client, stations, db, args.requests, rng)
    shown = sum(r["failure_rate"] is not None for r in response.json()["stations"])
    print(f"last answer: line {params['line']}, {shown} of {len(response.json()['stations'])} rates shown")
    print(f"{'':38} {'p50 ms':>9} {'p95 ms':>9}")
    print(f"(a) baseline GROUP BY, rush window     {_p(baseline, 50):9.0f} {_p(baseline, 95):9.0f}")
    print(f"(a) baseline GROUP BY, whole week      {_p(baseline_all, 50):9.0f} {_p(baseline_all, 95):9.0f}")
    print(f"(s) our scan alone (all 5 windows)     {_p(scan, 50):9.0f} {_p(scan, 95):9.0f}")
    print(f"(b) API, cold (one scan, all windows)  {_p(cold, 50):9.0f} {_p(cold, 95):9.0f}")
    print(f"(c) API, warm ({args.requests} mixed requests)    {_p(warm, 50):9.1f} {_p(warm, 95):9.1f}")
    print(f"(d) API during a refresh ({len(during)} requests) {_p(during, 50):9.1f} {_p(during, 95):9.1f}"
          f"   (the background scan took {refresh:.1f} s)")
    print(f"medians: (b)/(a rush) {np.median(cold) / np.median(baseline):.2f}, "
          f"(s)/(a week) {np.median(scan) / np.median(baseline_all):.2f}; load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
