"""Differencing /api/v1/hexes over two periods: weeks 1-2 minus week 1 against week 2 alone.

    .venv/bin/python bench/hexes_two_periods.py DB [--week 2021-10-04] [--carrier KT] [--res 9] [--by all]

Builds the aggregates the hex API serves (``geo.aggregate.build``, as ``GET /api/v1/hexes``
does) for three periods: two whole weeks from ``--week`` (a Monday), the first week alone,
the second week alone. It counts the cells whose ``all_failures`` row shows its failures for
both the two weeks and the first week while the second week's figure is not published (row
absent or suppressed: fewer than k people), and whose difference is at least one failure:
week 2's failures, from fewer than k people, recovered by subtraction (docs/SECURITY.md,
"Differencing"). Since the figures carry cell-key noise (core.cellkey), the subtraction is
compared with week 2's true failures, counted from the reports: ``exact`` is how many
subtractions hit the true count (the attacker cannot tell which), ``errors`` how far the others
are off.
Prints one JSON object with the counts and the first few cells. Reads DB only (temporary
tables on a read-only connection): stop the site that holds it, or give a copy.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import h3  # noqa: E402

from core.cells import column_for  # noqa: E402
from geo.aggregate import ExportQuery, Period, build, report_filter  # noqa: E402
from geo.privacy import min_reporters  # noqa: E402
from store.db import connect  # noqa: E402


def failures_by_cell(con, query: ExportQuery) -> dict[str, tuple[int | None, int | None]]:
    """{h3_cell: (failures, reporters)} of the all_failures rows (None where suppressed)."""
    cur = con.cursor()
    try:
        rows = build(cur, query).records()
    finally:
        cur.close()
    return {r["h3_cell"]: (r["reports"], r["reporters"]) for r in rows if r["kind"] == "all_failures"}


def true_failures(con, query: ExportQuery, period: Period) -> dict[str, int]:
    """{h3_cell: failure reports} counted straight from the reports (what the attacker is after)."""
    where, values = report_filter(query, period).where()
    rows = con.execute(f"SELECT {column_for(query.res)}, count(*) FILTER (WHERE kind <> 'ok') FROM reports "
                       f"WHERE {where} GROUP BY 1", values).fetchall()
    return {h3.int_to_str(int(cell)): int(n) for cell, n in rows}


def differenced(db: Path, week: date, *, carrier: str, res: int, by: str) -> dict:
    con = connect(db, read_only=True)
    try:
        def period(since: date, until: date) -> dict:
            return failures_by_cell(con, ExportQuery(res=res, by=by, carrier=carrier, since=since, until=until))

        both = period(week, week + timedelta(days=13))
        first = period(week, week + timedelta(days=6))
        second = period(week + timedelta(days=7), week + timedelta(days=13))
        true_second = true_failures(con, ExportQuery(res=res, by=by, carrier=carrier),
                                    Period(week + timedelta(days=7), week + timedelta(days=13)))
    finally:
        con.close()
    k = min_reporters()
    found = []
    for cell, (failures, reporters) in sorted(both.items()):
        before = first.get(cell, (0, 0))  # a cell absent from week 1 shows nothing there: not subtractable
        if failures is None or before[0] is None or cell not in first:
            continue
        if second.get(cell, (None, None))[0] is not None:
            continue  # week 2 is published anyway
        if failures - before[0] >= 1:
            found.append({"h3_cell": cell, "both_weeks": [failures, reporters], "week_1": list(before),
                          "week_2_derived_failures": failures - before[0],
                          "week_2_true_failures": true_second.get(cell, 0),
                          # at most one person per failure, and fewer than k (suppressed)
                          "week_2_reporters_at_most": min(failures - before[0], k - 1)})
    return {"carrier": carrier, "res": res, "by": by, "k": k,
            "weeks": [week.isoformat(), (week + timedelta(days=7)).isoformat()],
            "cells_both": len(both), "cells_differenced": len(found),
            "exact": sum(f["week_2_derived_failures"] == f["week_2_true_failures"] for f in found),
            "errors": dict(sorted(Counter(f["week_2_derived_failures"] - f["week_2_true_failures"]
                                          for f in found).items())),
            "examples": found[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", type=Path)
    parser.add_argument("--week", type=date.fromisoformat, default=date(2021, 10, 4), help="a Monday")
    parser.add_argument("--carrier", default="KT")
    parser.add_argument("--res", type=int, default=9)
    parser.add_argument("--by", default="all")
    args = parser.parse_args()
    print(json.dumps(differenced(args.db, args.week, carrier=args.carrier, res=args.res, by=args.by), indent=1))


if __name__ == "__main__":
    main()
