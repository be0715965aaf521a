"""All SQL behind the failure map (the explore page).

Every query starts from a ``ReportFilter`` (values bound with ``?``); the only
identifiers formatted in are the H3 column from ``geo.cells.column_for`` (an
allow-list), the city's zone and its fixed UTC offset from configuration.

Counting rules (see docs/METHODOLOGY.md):
- ``failures``: reports of the chosen failure kinds (all kinds when none chosen);
- ``samples``: 'all good' reports; ``reports``: every report (failures of any
  kind plus samples) -- the attempts behind a failure rate;
- ``reporters``: distinct reporters behind the number shown: of all reports
  (``of_failures=False``, for rates) or of the counted failures only
  (``of_failures=True``, for densities; then samples and other kinds are not
  read at all). Exact below 2k and for one hex; above 2k over many groups a
  HyperLogLog estimate (a few per cent off), used only to compare with k.

Two measured shortcuts keep one view near DuckDB's plain GROUP BY speed on
10 M reports (bench/bench_map.py):
- Distinct reporters are first estimated with ``approx_count_distinct``
  (HyperLogLog, ~8x cheaper than an exact distinct count here). A group whose
  estimate reaches ``2 * k`` certainly has k reporters (the estimate never
  exceeds the true count at small counts; tests/test_mapview.py checks that on
  this DuckDB); every other group is counted exactly in a second, narrow query.
  So the privacy threshold is applied to exact counts wherever it matters.
- Local hour and weekday come from integer arithmetic on epoch milliseconds
  when the city's zone kept one UTC offset over all valid observation times
  (Asia/Seoul: +9 since 1988); DuckDB's ICU ``timezone()`` costs ~10x more per
  row. Other zones fall back to ``store.filters.local_time_sql``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import duckdb
import numpy as np
import pandas as pd

from core.city import load_city
from geo.cells import column_for
from store.filters import WEEKDAY, WEEKEND, ReportFilter, local_time_sql

EXACT_BELOW_FACTOR = 2  # groups estimated under this many times k are counted exactly
_MS_PER_HOUR, _MS_PER_DAY = 3_600_000, 86_400_000

# One distinct count per query: a second, filtered one tripled the time on 10 M rows.
_COUNTS = """
    count(*) FILTER (WHERE {failure}) AS failures,
    count(*) FILTER (WHERE kind = 'ok') AS samples,
    count(*) AS reports,
    approx_count_distinct(reporter) AS reporters
"""
_EXACT = "count(DISTINCT reporter) AS reporters"


@lru_cache(maxsize=4)
def _fixed_offset_ms(zone_name: str) -> int | None:
    """The zone's UTC offset in ms if it never changed from the oldest valid observation to 2 years ahead."""
    tz = load_city().tz
    start = load_city().oldest_observation.astimezone(UTC)
    end = datetime.now(UTC) + timedelta(days=730)
    offsets = {tz.utcoffset(start + timedelta(days=d)) for d in range(0, (end - start).days + 1, 7)}
    if len(offsets) != 1:
        return None
    return int(offsets.pop().total_seconds() * 1000)


def _local_ms() -> str | None:
    offset = _fixed_offset_ms(load_city().timezone)
    return None if offset is None else f"(epoch_ms(observed_at) + {offset})"


def local_hour_sql() -> str:
    """SQL for the local hour of day (0-23) of ``observed_at``."""
    ms = _local_ms()
    return f"hour({local_time_sql()})" if ms is None else f"(({ms} // {_MS_PER_HOUR}) % 24)"


def local_day_sql() -> str:
    """SQL for the local date of ``observed_at`` as days since 1970-01-01 (an integer)."""
    ms = _local_ms()
    return f"(CAST({local_time_sql()} AS DATE) - DATE '1970-01-01')" if ms is None else f"({ms} // {_MS_PER_DAY})"


def _where(flt: ReportFilter, cell: tuple[int, int] | None = None, *, of_failures: bool = False) -> tuple[str, list]:
    """The rows behind the counts: failures of every kind and 'all good' samples, or only the counted failures.

    Hours and weekdays are expressed with the fast local clock; everything else
    is ``ReportFilter.where`` itself.
    """
    base = dataclasses.replace(flt, kinds=(), failures_only=False, hours=(), day_type=None)
    where, values = base.where()
    parts, extra = [where], []
    if of_failures:
        failure, failure_values = _failure_condition(flt.kinds)
        parts.append(failure)
        extra.extend(failure_values)
    if flt.hours:
        parts.append(f"{local_hour_sql()} IN ({', '.join('?' * len(flt.hours))})")
        extra.extend(int(h) for h in flt.hours)
    if flt.day_type in (WEEKDAY, WEEKEND):
        # 1970-01-01 was a Thursday: ISO weekday = (days + 3) % 7 + 1
        isodow = f"(({local_day_sql()} + 3) % 7 + 1)"
        parts.append(f"{isodow} <= 5" if flt.day_type == WEEKDAY else f"{isodow} >= 6")
    if cell is not None:
        # First, so the scan can skip rows of other hexes before anything else.
        return " AND ".join([f"{column_for(cell[0])} = ?", *parts]), [int(cell[1]), *values, *extra]
    return " AND ".join(parts), values + extra


def _failure_condition(kinds: tuple[str, ...]) -> tuple[str, list]:
    failure_kinds = [k for k in kinds if k != "ok"]
    if failure_kinds:
        return f"kind IN ({', '.join('?' * len(failure_kinds))})", list(failure_kinds)
    return "kind <> 'ok'", []


def _grouped(cur: duckdb.DuckDBPyConnection, keys: dict[str, str], flt: ReportFilter, *, k: int,
             cell: tuple[int, int] | None = None, of_failures: bool = False) -> pd.DataFrame:
    """Counts per group of ``keys`` (name -> SQL), with distinct reporters exact wherever below 2k.

    One hex (``cell``) is counted exactly throughout: it is cheap there.
    """
    failure, failure_values = _failure_condition(flt.kinds)
    where, values = _where(flt, cell, of_failures=of_failures)
    select = ", ".join(f"{sql} AS {name}" for name, sql in keys.items())
    group = "GROUP BY ALL" if keys else ""
    counts = _COUNTS if cell is None else _COUNTS.replace("approx_count_distinct(reporter)", "count(DISTINCT reporter)")
    sql = f"SELECT {select + ', ' if keys else ''}{counts.format(failure=failure)} FROM reports WHERE {where} {group}"
    frame = cur.execute(sql, failure_values + values).df()
    thin = frame["reporters"] < EXACT_BELOW_FACTOR * k
    if thin.any() and cell is None:
        frame = _count_exactly(cur, frame, thin, keys, flt, of_failures)
    names = list(keys)
    return frame.sort_values(names).reset_index(drop=True) if names else frame


def _count_exactly(cur, frame, thin, keys, flt, of_failures) -> pd.DataFrame:
    where, values = _where(flt, of_failures=of_failures)
    restrict, restrict_values = "", []
    if "cell" in keys:
        # A semi-join on the thin hexes: ~0.3 s on 10 M rows (a literal IN list took 12 s).
        restrict = f" AND {keys['cell']} IN (SELECT unnest(?::UBIGINT[]))"
        restrict_values = [[int(c) for c in frame.loc[thin, "cell"].unique()]]
    select = ", ".join(f"{sql} AS {name}" for name, sql in keys.items())
    group = "GROUP BY ALL" if keys else ""
    sql = f"SELECT {select + ', ' if keys else ''}{_EXACT} FROM reports WHERE {where}{restrict} {group}"
    exact = cur.execute(sql, values + restrict_values).df()
    names = list(keys)
    if not names:
        frame["reporters"] = exact["reporters"].to_numpy()
        return frame
    merged = frame.merge(exact, on=names, how="left", suffixes=("", "_exact"))
    merged["reporters"] = merged["reporters_exact"].where(thin.to_numpy(), merged["reporters"]).astype("int64")
    return merged.drop(columns=["reporters_exact"])


def hex_counts(cur, res: int, flt: ReportFilter, *, k: int, by_network: bool = False,
               of_failures: bool = False) -> pd.DataFrame:
    """Counts per hex (and per host network): cell, [network,] failures, samples, reports, reporters."""
    keys = {"cell": column_for(res)} | ({"network": "network"} if by_network else {})
    return _grouped(cur, keys, flt, k=k, of_failures=of_failures)


def hour_counts(cur, flt: ReportFilter, *, k: int, of_failures: bool = False) -> pd.DataFrame:
    """Counts per local hour of day and host network, over the whole view."""
    keys = {"hour": f"{local_hour_sql()}::INTEGER", "network": "network"}
    return _grouped(cur, keys, flt, k=k, of_failures=of_failures)


def day_counts(cur, flt: ReportFilter, *, k: int, of_failures: bool = False) -> pd.DataFrame:
    """Counts per local date and host network, over the whole view."""
    frame = _grouped(cur, {"day_number": local_day_sql(), "network": "network"}, flt, k=k, of_failures=of_failures)
    frame.insert(0, "day", pd.to_datetime(frame.pop("day_number").astype("int64"), unit="D"))
    return frame


def cell_counts(cur, res: int, cell: int, flt: ReportFilter, *, k: int, by_network: bool = True,
                by_hour: bool = False) -> pd.DataFrame:
    """Counts of one hex, per host network (and local hour), or in total."""
    keys = ({"network": "network"} if by_network else {}) | \
        ({"hour": f"{local_hour_sql()}::INTEGER"} if by_hour else {})
    return _grouped(cur, keys, flt, k=k, cell=(res, cell))


def cell_kinds(cur, res: int, cell: int, flt: ReportFilter) -> pd.DataFrame:
    """Failure reports of one hex per kind and host network, with distinct reporters."""
    where, values = _where(flt, (res, cell))
    failure, failure_values = _failure_condition(flt.kinds)
    sql = (f"SELECT kind, network, count(*) AS failures, count(DISTINCT reporter) AS reporters "
           f"FROM reports WHERE {where} AND {failure} GROUP BY ALL ORDER BY ALL")
    return cur.execute(sql, values + failure_values).df()


def cell_devices(cur, res: int, cell: int, flt: ReportFilter, *, min_reporters: int, limit: int = 5) -> pd.DataFrame:
    """Device models most often named in one hex's failure reports, each named by >= min_reporters people."""
    failure, failure_values = _failure_condition(flt.kinds)
    where, values = _where(flt, (res, cell))
    sql = (f"SELECT device_model, count(*) AS failures, count(DISTINCT reporter) AS reporters "
           f"FROM reports WHERE {where} AND {failure} AND device_model IS NOT NULL "
           f"GROUP BY ALL HAVING count(DISTINCT reporter) >= ? ORDER BY failures DESC, device_model LIMIT ?")
    return cur.execute(sql, values + failure_values + [int(min_reporters), int(limit)]).df()


def data_period(cur) -> tuple[date | None, date | None]:
    """First and last local date of the stored reports (the period densities are spread over)."""
    # Unfiltered: DuckDB answers min/max from row-group statistics (4 ms on 10 M
    # rows, against 230 ms with a status filter); only the two results are
    # converted to local dates.
    first, last = cur.execute("SELECT min(observed_at), max(observed_at) FROM reports").fetchone()
    if first is None:
        return None, None
    tz = load_city().tz
    return first.astimezone(tz).date(), last.astimezone(tz).date()


def demo_truth(cur) -> pd.DataFrame:
    """The demo generator's true failure rate per (network, res-8 hex)."""
    return cur.execute("SELECT network, h3_r8 AS cell, failure_rate FROM demo_truth").df()


def approx_distinct_never_overcounts(cur, max_true: int = 7, groups: int = 2000, seed: int = 1) -> bool:
    """Checks, on this DuckDB, that approx_count_distinct never exceeds the true count at small counts."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_true + 1, groups)
    group = np.repeat(np.arange(groups), sizes * 3)
    values = rng.integers(1, 2**63, int(sizes.sum()), dtype=np.int64).astype(np.uint64)
    values = np.repeat(values, 3)  # each reporter three times, as real groups repeat people
    probe = pd.DataFrame({"g": group, "v": values})  # noqa: F841 (read by DuckDB)
    worst = cur.execute("SELECT max(d) FROM (SELECT approx_count_distinct(v) - count(DISTINCT v) AS d "
                        "FROM probe GROUP BY g)").fetchone()[0]
    return worst <= 0
