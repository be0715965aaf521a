"""What a visitor waits for the map's views when they are kept per data version (store.cache), while
reports keep arriving, by the size of the history.

    .venv/bin/python bench/bench_served.py [--sizes 10000000,100000000] [--seconds 60] [--every 0.5]
                                           [--arrivals 2] [--cache bench/out/history]

The stores are bench/history_sizes.py's (two years of synthetic reports, built once into ``--cache``).
For each size, with DROPMAP_CACHE_SECONDS at its default (30):

- ``computed``: each documented view computed directly (``geo.mapview.level_view``), median of 3:
  what the first visitor ever to ask waits, and what each background refresh costs;
- ``served``: for ``--seconds``, a visitor asks every ``--every`` seconds for one of the views (in
  turn) through ``store.cache.RESULTS``, while a writer stores ``--arrivals`` new batches per second
  (a batch row: the data version moves as it does with every report). The kept copies were
  computed once before the clock starts. Median, p95 and max of the visitor's wait. Once reports
  have arrived, no visitor is served a view computed more than 3 x DROPMAP_CACHE_SECONDS before
  (store.cache).

Views: the map's opening view (all carriers, res 8, its recent window), KT at 18 h over the same
window, SKT on weekdays 8-9 h at res 9, and the whole history at res 8.

``--keep-views``: only the two views a visitor gets without choosing (the opening view and the whole
record, as the map page asks for them), while the site's keeper (``geo.mapview.keep_views``) runs as
it does on the site. With ``--every`` longer than 3 x DROPMAP_CACHE_SECONDS, a visitor without the
keeper would wait for each computation; with it, none should.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from history_sizes import add_store_arguments, store_for  # noqa: E402


def views(cur) -> dict:
    from geo.mapquery import MapQuery, recent_window
    from geo.privacy import min_reporters
    from store import map_sql

    first, last = map_sql.data_period(cur)
    since, until = recent_window(first, map_sql.last_busy_day(cur, min_reporters()) or last)
    return {
        "opening view": MapQuery(res=8, since=since, until=until),
        "KT 18 h": MapQuery(res=8, since=since, until=until, carrier="KT", hours=(18, 18)),
        "SKT weekdays 8-9 h res 9": MapQuery(res=9, since=since, until=until, carrier="SKT", hours=(8, 9),
                                             day_type="weekday"),
        "whole history": MapQuery(res=8),
    }


def measure(path: Path, seconds: float, every: float, arrivals: float, keep: bool = False,
            keeper_runs: bool = True) -> dict:
    os.environ["DROPMAP_DB"] = str(path)
    from geo import mapview
    from store.cache import RESULTS
    from store.db import close_shared, shared_connection

    cur = shared_connection(path).cursor()
    if keep:  # the two views the site keeps computed, as the pages ask for them
        asked = dict(zip(("opening view", "whole record"), mapview.kept_views(cur), strict=False))
    else:
        asked = views(cur)
    computed = {}
    for name, q in asked.items():
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            mapview.level_view(cur, q)
            runs.append((time.perf_counter() - t0) * 1000)
        computed[name] = statistics.median(runs)
    RESULTS.clear()
    for q in asked.values():
        RESULTS.read(mapview.level_view, q)

    stop = threading.Event()

    def writer() -> None:
        w = shared_connection(path).cursor()
        while not stop.is_set():
            w.execute("INSERT INTO batches VALUES (uuid(), 'bench', NULL, NULL, NULL, now(), 0, 0, 0, 0, NULL, NULL)")
            stop.wait(1 / arrivals)
        w.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    keeper_stop = threading.Event()
    keeper = mapview.keep_views(keeper_stop) if keep and keeper_runs else None
    waits = []
    names = list(asked)
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < seconds:
        q = asked[names[i % len(names)]]
        t0 = time.perf_counter()
        RESULTS.read(mapview.level_view, q)
        waits.append((time.perf_counter() - t0) * 1000)
        i += 1
        time.sleep(every)
    stop.set()
    thread.join()
    if keeper is not None:
        keeper_stop.set()
        keeper.join()
    RESULTS.wait()
    stats = RESULTS.stats()
    refresh_ms = max(computed.values())
    cur.execute("DELETE FROM batches WHERE source = 'bench'")
    cur.close()
    close_shared()
    return {"rows": path.name, "computed": computed, "waits": waits, "stats": stats, "refresh_ms": refresh_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store_arguments(parser, sizes="10000000,100000000")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--every", type=float, default=0.5)
    parser.add_argument("--arrivals", type=float, default=2)
    parser.add_argument("--keep-views", action="store_true",
                        help="ask only for the opening and whole-record views, with the site's keeper of them "
                             "(geo.mapview.keep_views) running; try --every 100, longer than the 90 s a view "
                             "is served out of date")
    parser.add_argument("--no-keeper", action="store_true",
                        help="with --keep-views: the same two views without the keeper, for comparison")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        r = measure(store_for(args.cache, int(size), args.days), args.seconds, args.every, args.arrivals,
                    keep=args.keep_views, keeper_runs=not args.no_keeper)
        w = np.array(r["waits"])
        s = r["stats"]
        print(f"\n{int(size):,} reports ({r['rows']})")
        for name, ms in r["computed"].items():
            print(f"  computed  {name:<26} {ms:>8.0f} ms")
        print(f"  served    {len(w)} requests in {args.seconds:.0f} s with {args.arrivals:g} new batches/s: "
              f"p50 {np.median(w):.1f} ms, p95 {np.percentile(w, 95):.1f} ms, max {w.max():.0f} ms")
        print(f"  cache     hits {s.hits}, served out of date {s.stale_hits}, computed while waiting {s.misses}, "
              f"computed again in the background {s.refreshes}; {s.entries} entries, "
              f"{s.bytes / 2**20:.1f} of {s.max_bytes / 2**20:.0f} MB")
        print(f"  the slowest computation, which the background worker repeats: {r['refresh_ms'] / 1000:.1f} s")


if __name__ == "__main__":
    main()
