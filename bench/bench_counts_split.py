"""Times the map's rate view with the counts split into failure and rest reporters (docs/SECURITY.md, Differencing).

Usage: .venv/bin/python bench/bench_counts_split.py DB  (a database made with `python -m ingest demo`)
"""

import statistics
import sys
import time

sys.path.insert(0, ".")
from geo import mapdetail, mapview  # noqa: E402
from geo.mapquery import MapQuery  # noqa: E402
from geo.privacy import min_reporters  # noqa: E402
from store import map_sql  # noqa: E402
from store.db import connect  # noqa: E402

con = connect(sys.argv[1], read_only=True)
cur = con.cursor()
k = min_reporters()


def best(fn, n=7):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


rows = cur.execute("SELECT count(*) FROM reports").fetchone()[0]
flt = MapQuery(measure="rate").report_filter()
print(f"reports: {rows}")
print(f"hex_counts res 8, rate, counts only:          {best(lambda: map_sql.hex_counts(cur, 8, flt, k=k)):.0f} ms")
print(f"hex_counts res 8, rate, with split sources:   "
      f"{best(lambda: map_sql.hex_counts(cur, 8, flt, k=k, sources=True)):.0f} ms")
print(f"level_view, all carriers:                     "
      f"{best(lambda: mapview.level_view(cur, MapQuery(measure='rate'))):.0f} ms")
print(f"level_view, KT (carrier family check):        "
      f"{best(lambda: mapview.level_view(cur, MapQuery(measure='rate', carrier='KT'))):.0f} ms")
view = mapview.level_view(cur, MapQuery(measure="rate"))
cell = view.frame.sort_values("reports").iloc[-1]["cell_id"]
print(f"cell_detail (busiest hex):                    "
      f"{best(lambda: mapdetail.cell_detail(cur, MapQuery(), cell)):.0f} ms")
shown = view.frame["counts_shown"].mean()
print(f"hexes drawn: {len(view.frame)}, with counts shown: {shown:.0%}")
