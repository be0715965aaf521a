"""The outage detector's counting query with and without independent sources, timed on one database.

    .venv/bin/python bench/first_reports_cost.py DB [--repeat 5]

DB is any DropMap database (e.g. the base kept by ``bench/detect_eval.py --base PATH``). The
query of ``store.outages_sql.first_report_counts`` (first reports per source and network) and the
form it had before sources (first reports per reporter) are run alternately over the whole
period; medians are printed with the first reports each counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from store import outages_sql  # noqa: E402

BEFORE_LAGS = "           lag(observed_at) OVER (PARTITION BY network, reporter ORDER BY observed_at) AS previous\n"
NOW_LAGS = """           lag(observed_at) OVER (PARTITION BY network, source_id ORDER BY observed_at) AS previous,
           lag(observed_at) OVER (PARTITION BY network, coalesce(prefix_hash, reporter)
                                  ORDER BY observed_at) AS previous_net
"""
NOW_CONDITION = "  AND (previous_net IS NULL OR observed_at - previous_net >= to_minutes($dedup_minutes))\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    assert NOW_LAGS in outages_sql._FIRST_REPORTS and NOW_CONDITION in outages_sql._FIRST_REPORTS, "the query changed"
    now = outages_sql._FIRST_REPORTS.format(bucket="(epoch_ms(observed_at) - $origin_ms) // 60000 AS minute")
    before = now.replace(NOW_LAGS, BEFORE_LAGS).replace(NOW_CONDITION, "")
    con = duckdb.connect(args.db, read_only=True)
    start, end = con.execute("SELECT min(observed_at), max(observed_at) FROM reports").fetchone()
    params = {"lead_in": start, "start": start, "end": end, "origin_ms": int(start.timestamp() * 1000),
              "dedup_minutes": 60, "network": None}
    seconds: dict[str, list[float]] = {"before": [], "now": []}
    counted = {}
    for _ in range(args.repeat):
        for name, sql in (("before", before), ("now", now)):
            t = time.perf_counter()
            counted[name] = int(con.execute(sql, params).df()["n"].sum())
            seconds[name].append(time.perf_counter() - t)
    rows = con.execute("SELECT count(*) FROM reports").fetchone()[0]
    print({"rows": rows, **{f"{k}_median_s": round(statistics.median(v), 3) for k, v in seconds.items()},
           **{f"{k}_first_reports": v for k, v in counted.items()}})


if __name__ == "__main__":
    main()
