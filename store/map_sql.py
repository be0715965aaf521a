"""All SQL behind the failure map (the explore page).

Every query starts from a ``ReportFilter`` (values bound with ``?``); the only
identifier formatted in is the H3 column from ``core.cells.column_for`` (an
allow-list).

Counting rules (see docs/METHODOLOGY.md):
- ``failures``: reports of the chosen failure kinds (all kinds when none chosen);
- ``samples``: 'all good' reports; ``reports``: every report (failures of any
  kind plus samples) -- the attempts behind a failure rate;
- ``reporters``: distinct reporters behind the number shown: of all reports
  (``of_failures=False``, for rates) or of the counted failures only
  (``of_failures=True``, for densities; then samples and other kinds are not
  read at all). Exact wherever it is below k; from k up, a lower bound (at
  least k). It is only ever compared with k.
- ``failure_reporters`` / ``rest_reporters`` (``sources=True``): the reporters behind the
  counted failures and behind the other reports, the same way (geo.privacy.counts_shown:
  a rate's "failures / all" is shown only when both are 0 or reach k). They come from the same
  single scan, each part's reporters counted with FILTER; the parts and wholes the bound leaves
  open are counted exactly together, in one narrow query.

What keeps one view near DuckDB's plain GROUP BY speed on 10 M reports
(bench/bench_map.py, docs/BENCHMARKS.md):
- Distinct reporters are first bounded from below in the same scan as the
  counts: each group ORs one bit per source (``source_id & 63``; reporters are
  keyed hashes, so evenly spread) into a 64-bit word, and the number of bits set
  can never exceed the number of distinct reporters. A group with k bits set
  certainly has k reporters; a group with as many bits as reports has one
  reporter per report. Only the other groups are counted exactly, in a second,
  narrow query joined to their hexes. So the privacy threshold always rests on
  exact counts, and the bound costs a fraction of ``approx_count_distinct``
  (the previous estimate) or of an exact count.
- A view expected to select few rows (under ``EXACT_SCAN_ROWS``, judged from
  a 1 % sample of the table's vectors) is counted exactly in one scan instead:
  for an hour of one carrier the filters cost more than the counting.
- Hours and weekdays come from the stored ``local_hour`` / ``local_dow`` /
  ``local_date`` columns (store/filters.py), never from a time zone per row.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from core.cellkey import KEY_MODULUS, cell_key_sql, perturbed, record_key_sql, with_noise
from core.cells import column_for
from core.city import load_city
from store.filters import PUBLIC_STATUS, ReportFilter
from store.reports import observed_span

EXACT_BELOW_FACTOR = 1  # groups with fewer than this many times k bits set are counted exactly
# A view expected to select fewer rows than this is counted exactly in one scan: there the
# filters cost more than the counting, and the bound plus a recount would pay for them twice.
EXACT_SCAN_ROWS = 500_000
_SAMPLE_PERCENT = 1  # of the table's vectors, read to expect a view's rows (~2-9 ms on 10 M rows)

# One scan per view. Samples and failures are ``count_if`` in the same pass as
# ``count(*)``: on 10 M rows that costs less than a ``FILTER`` clause per count
# (about a third of the scan) or a grouping by kind summed afterwards.
# ``reporters`` is exact for one hex and views of few rows, else the bound.
_COUNTS = """
SELECT {select}{failures} AS failures, count_if(kind = 'ok')::BIGINT AS samples, count(*) AS reports,
       {reporters} AS reporters, {cell_key} AS cell_key, {failure_key} AS failure_key, {ok_key} AS ok_key
FROM reports WHERE {where} {group}
"""
# Cell keys (core.cellkey) of a group's reports, of its counted failures and of its samples: the
# noise each published count carries (``_with_noise``), the same as the downloads give the same reports.
_RECORD_KEY = record_key_sql("source_id")
_CELL_KEY = cell_key_sql(f"sum({_RECORD_KEY})")
_OK_KEY = cell_key_sql(f"sum({_RECORD_KEY}) FILTER (WHERE kind = 'ok')")
_BOUND = "coalesce(bit_count(bit_or(1::UBIGINT << (source_id & 63))), 0)::BIGINT"
_EXACT = "count(DISTINCT source_id)"
_KEYS = ("cell_key", "failure_key", "ok_key")


def _where(flt: ReportFilter, cell: tuple[int, int] | None = None, *, of_failures: bool = False,
           of_rest: bool = False) -> tuple[str, list]:
    """The rows behind the counts: failures of every kind and 'all good' samples, only the counted
    failures, or only the rest (``of_rest``: the reports that are not counted failures)."""
    base = dataclasses.replace(flt, kinds=(), failures_only=False)
    where, values = base.where()
    parts, extra = [where], []
    if of_failures or of_rest:
        failure, failure_values = _failure_condition(flt.kinds)
        parts.append(f"NOT ({failure})" if of_rest else failure)
        extra.extend(failure_values)
    if cell is not None:
        # First, so the scan can skip rows of other hexes before anything else.
        return " AND ".join([f"{column_for(cell[0])} = ?", *parts]), [int(cell[1]), *values, *extra]
    return " AND ".join(parts), values + extra


def _failure_condition(kinds: tuple[str, ...]) -> tuple[str, list]:
    failure_kinds = [k for k in kinds if k != "ok"]
    if failure_kinds:
        return f"kind IN ({', '.join('?' * len(failure_kinds))})", list(failure_kinds)
    return "kind <> 'ok'", []


def _open_part(bound: pd.Series, rows: pd.Series, k: int) -> pd.Series:
    """Groups (or parts) whose reporter bound leaves them open against k: to be counted exactly.

    Bits set <= distinct reporters <= reports: exact when the bound meets the count of reports.
    A group of fewer than k reports has fewer than k reporters: hidden whatever the exact count.
    """
    return (bound < EXACT_BELOW_FACTOR * k) & (bound < rows) & (rows >= k)


def _thin_join(keys: dict[str, str], cells) -> tuple[str, list]:
    """A join restricting a recount to ``cells`` when the keys have hexes (else none). An inner join on the
    thin hexes lets DuckDB filter the scan by them (semi-join: 2x the time; a literal IN list: 25x)."""
    if "cell" not in keys:
        return "", []
    return (f" JOIN (SELECT unnest(?::UBIGINT[]) AS thin_cell) ON {keys['cell']} = thin_cell",
            [[int(c) for c in pd.unique(cells)]])


def _grouped(cur: duckdb.DuckDBPyConnection, keys: dict[str, str], flt: ReportFilter, *, k: int,
             cell: tuple[int, int] | None = None, of_failures: bool = False, of_rest: bool = False,
             key_values: list | None = None) -> pd.DataFrame:
    """Counts per group of ``keys`` (name -> SQL), with distinct reporters exact wherever below k.

    One hex (``cell``), and a view expected to select few rows, is counted
    exactly throughout; other views get the bound and a recount of the groups
    it leaves open. Both give the same counts and the same groups at or above k.
    """
    failure, failure_values = _failure_condition(flt.kinds)
    where, values = _where(flt, cell, of_failures=of_failures, of_rest=of_rest)
    select = "".join(f"{sql} AS {name}, " for name, sql in keys.items())
    group = "GROUP BY ALL" if keys else ""
    exact = cell is not None or _expected_rows(cur, where, values) < EXACT_SCAN_ROWS
    # Every count but the failures of chosen kinds: failures are the reports that are not samples.
    failures = "count(*) - count_if(kind = 'ok')" if failure == "kind <> 'ok'" else f"count_if({failure})::BIGINT"
    failure_key = cell_key_sql(f"sum({_RECORD_KEY}) FILTER (WHERE {failure})")
    sql = _COUNTS.format(select=select, failures=failures, reporters=_EXACT if exact else _BOUND,
                         where=where, group=group, cell_key=_CELL_KEY, failure_key=failure_key, ok_key=_OK_KEY)
    key_values = list(key_values or [])  # values bound in the keys' SQL (it comes first)
    # The chosen kinds are bound twice: in the failures' count and in their cell key.
    frame = cur.execute(sql, key_values + failure_values * 2 + values).df()
    for name in ("failures", "samples", "reports", "reporters", *_KEYS):
        frame[name] = frame[name].fillna(0).astype("int64")  # an empty view without keys: NULL sums
    if not exact:
        thin = _open_part(frame["reporters"], frame["reports"], k)
        if thin.any():
            frame = _count_exactly(cur, frame, thin, keys, flt, of_failures, of_rest, key_values)
    names = list(keys)
    return frame.sort_values(names).reset_index(drop=True) if names else frame


def _expected_rows(cur: duckdb.DuckDBPyConnection, where: str, values: list) -> int:
    """Rows the view selects, expected from a sample of the table's vectors (it only picks the faster plan)."""
    sql = f"SELECT count(*) FROM reports TABLESAMPLE {_SAMPLE_PERCENT}% (system, 7) WHERE {where}"
    return int(cur.execute(sql, values).fetchone()[0]) * 100 // _SAMPLE_PERCENT


def _count_exactly(cur, frame, thin, keys, flt, of_failures, of_rest=False, key_values=()) -> pd.DataFrame:
    where, values = _where(flt, of_failures=of_failures, of_rest=of_rest)
    join, join_values = _thin_join(keys, frame.loc[thin, "cell"] if "cell" in keys else ())
    select = ", ".join(f"{sql} AS {name}" for name, sql in keys.items())
    group = "GROUP BY ALL" if keys else ""
    sql = f"SELECT {select + ', ' if keys else ''}{_EXACT} AS reporters FROM reports{join} WHERE {where} {group}"
    exact = cur.execute(sql, list(key_values) + join_values + values).df()
    names = list(keys)
    if not names:
        frame["reporters"] = exact["reporters"].to_numpy().astype("int64")
        return frame
    merged = frame.merge(exact, on=names, how="left", suffixes=("", "_exact"))
    merged["reporters"] = merged["reporters_exact"].where(thin.to_numpy(), merged["reporters"]).astype("int64")
    return merged.drop(columns=["reporters_exact"])


def hex_counts(cur, res: int, flt: ReportFilter, *, k: int, by_network: bool = False,
               of_failures: bool = False, sources: bool = False) -> pd.DataFrame:
    """Counts per hex (and per host network): cell, [network,] failures, samples, reports, reporters
    (with ``sources``: failure_reporters, rest_reporters too)."""
    keys = {"cell": column_for(res)} | ({"network": "network"} if by_network else {})
    if sources and not of_failures:
        return _with_noise(_split_counts(cur, keys, flt, k=k), k)
    return _with_noise(_grouped(cur, keys, flt, k=k, of_failures=of_failures), k)


# The split counts of ``_split_counts``: one scan, each part's reporters (the counted failures, the rest)
# and the whole's, with FILTER; as bounds, or exact in the exact plan.
_SPLIT = """
SELECT {select}{failures} AS failures, count_if(kind = 'ok')::BIGINT AS samples, count(*) AS reports,
       {part_reporters} AS failure_reporters, {rest_reporters} AS rest_reporters, {whole} AS whole,
       {cell_key} AS cell_key, {failure_key} AS failure_key, {ok_key} AS ok_key
FROM reports{join} WHERE {where} {group}
"""
_BOUND_OF = "coalesce(bit_count(bit_or(1::UBIGINT << (source_id & 63)) FILTER (WHERE {condition})), 0)::BIGINT"
_EXACT_OF = "count(DISTINCT source_id) FILTER (WHERE {condition})"


def _split_counts(cur, keys: dict[str, str], flt: ReportFilter, *, k: int,
                  cell: tuple[int, int] | None = None) -> pd.DataFrame:
    """``_grouped`` with failure_reporters and rest_reporters (the reporters behind the counted failures and
    behind the other reports), in ONE scan grouped by the keys, each part's reporters counted with FILTER.

    The reporters of a group are at least those of its larger part: k or more there, the group has k;
    below (and for one hex, always), where both parts have reporters, they are those of the whole (the
    same person may be in both parts). In the bound plan, the parts the bound leaves open and the wholes
    that may need it are counted exactly in one more, narrow query (``_split_exactly``).
    """
    failure, failure_values = _failure_condition(flt.kinds)
    where, values = _where(flt, cell)
    exact = cell is not None or _expected_rows(cur, where, values) < EXACT_SCAN_ROWS
    frame = _split_scan(cur, keys, where, values, failure, failure_values, exact=exact)
    names = list(keys)
    rest_rows = frame["reports"] - frame["failures"]
    if not exact:
        open_failure = _open_part(frame["failure_reporters"], frame["failures"], k)
        open_rest = _open_part(frame["rest_reporters"], rest_rows, k)
        both = (frame["failure_reporters"] > 0) & (frame["rest_reporters"] > 0)
        # A bound never exceeds its exact count: the wholes counted below are among these.
        maybe = both & (frame[["failure_reporters", "rest_reporters"]].max(axis=1) < k)
        recount = open_failure | open_rest | maybe
        if recount.any():
            counted = _split_exactly(cur, frame[recount], keys, flt, failure, failure_values)
            if names:
                counted = frame[names].merge(counted, on=names, how="left")
            for name, opened in (("failure_reporters", open_failure), ("rest_reporters", open_rest)):
                frame[name] = np.where(opened.to_numpy(), counted[name], frame[name])
            frame["whole"] = np.where(maybe.to_numpy(), counted["whole"], frame["whole"])
    for name in ("failures", "samples", "reports", "failure_reporters", "rest_reporters", "whole", *_KEYS):
        frame[name] = frame[name].fillna(0).astype("int64")
    frame["reporters"] = frame[["failure_reporters", "rest_reporters"]].max(axis=1).astype("int64")
    both = (frame["failure_reporters"] > 0) & (frame["rest_reporters"] > 0)
    thin = both & ((frame["reporters"] < k) | (cell is not None))
    frame["reporters"] = np.where(thin.to_numpy(), frame["whole"], frame["reporters"]).astype("int64")
    frame = frame.drop(columns="whole")
    return frame.sort_values(names).reset_index(drop=True) if names else frame


def _split_scan(cur, keys: dict[str, str], where: str, values: list, failure: str, failure_values: list, *,
                exact: bool, join: str = "", join_values: list | None = None) -> pd.DataFrame:
    """One scan of ``_SPLIT``: counts, cell keys, and the parts' and the whole's reporters (bounds unless
    ``exact``)."""
    select = "".join(f"{sql} AS {name}, " for name, sql in keys.items())
    of = _EXACT_OF if exact else _BOUND_OF
    failures = "count(*) - count_if(kind = 'ok')" if failure == "kind <> 'ok'" else f"count_if({failure})::BIGINT"
    sql = _SPLIT.format(
        select=select, failures=failures, part_reporters=of.format(condition=failure),
        rest_reporters=of.format(condition=f"NOT ({failure})"), whole=_EXACT if exact else _BOUND,
        cell_key=_CELL_KEY, failure_key=cell_key_sql(f"sum({_RECORD_KEY}) FILTER (WHERE {failure})"),
        ok_key=_OK_KEY, join=join, where=where, group="GROUP BY ALL" if keys else "")
    # The chosen kinds are bound where the failures are counted, in both parts' reporters and in their key.
    uses = (0 if failure == "kind <> 'ok'" else 1) + 3
    frame = cur.execute(sql, failure_values * uses + list(join_values or []) + values).df()
    if not keys and frame.empty:
        frame = pd.DataFrame([dict.fromkeys(frame.columns, 0)])
    return frame


def _split_exactly(cur, groups: pd.DataFrame, keys: dict[str, str], flt: ReportFilter, failure: str,
                   failure_values: list) -> pd.DataFrame:
    """The parts' and the wholes' exact reporters for ``groups`` (names only needed), in one scan joined to
    their hexes when the keys have them (a narrow query, as ``_count_exactly``)."""
    where, values = _where(flt)
    join, join_values = _thin_join(keys, groups["cell"] if "cell" in keys else ())
    exact = _split_scan(cur, keys, where, values, failure, failure_values, exact=True, join=join,
                        join_values=join_values)
    return exact[[*keys, "failure_reporters", "rest_reporters", "whole"]]


def _with_noise(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """The counts as published (core.cellkey): failures with the key of the counted failures,
    samples with the key of the samples, the other reports with theirs (reports = failures + the
    rest), and the reporters behind each with the same key as their count.

    A count that is 0 stays 0, one under k stays as it is and one of k or more stays at k or more,
    so every comparison with k (reporters against k; whether failures, samples or the rest are 0)
    comes out as on the exact counts. Which of several smallest parts ``suppress`` hides is read
    from these counts.
    """
    out = frame.copy()
    failures, samples = out["failures"].to_numpy(), out["samples"].to_numpy()
    rest = out["reports"].to_numpy() - failures
    failure_key, everyone_key = out["failure_key"].to_numpy(), out["cell_key"].to_numpy()
    rest_key = (everyone_key - failure_key) % KEY_MODULUS
    out["failures"] = perturbed(failures, failure_key, k)
    out["samples"] = perturbed(samples, out["ok_key"].to_numpy(), k)
    out["reports"] = out["failures"] + perturbed(rest, rest_key, k)
    if "failure_reporters" in out.columns:
        out["failure_reporters"] = perturbed(out["failure_reporters"].to_numpy(), failure_key, k)
        out["rest_reporters"] = perturbed(out["rest_reporters"].to_numpy(), rest_key, k)
    # never more people than reports (the reports' noise is the sum of two)
    out["reporters"] = np.minimum(perturbed(out["reporters"].to_numpy(), everyone_key, k),
                                  np.maximum(out["reports"].to_numpy(), k))
    return out.drop(columns=list(_KEYS))


def hour_counts(cur, flt: ReportFilter, *, k: int, of_failures: bool = False, sources: bool = False) -> pd.DataFrame:
    """Counts per local hour of day and host network, over the whole view."""
    keys = {"hour": "local_hour::INTEGER", "network": "network"}
    if sources and not of_failures:
        return _with_noise(_split_counts(cur, keys, flt, k=k), k)
    return _with_noise(_grouped(cur, keys, flt, k=k, of_failures=of_failures), k)


def day_counts(cur, flt: ReportFilter, *, k: int, of_failures: bool = False, sources: bool = False) -> pd.DataFrame:
    """Counts per local date and host network, over the whole view."""
    keys = {"day": "local_date", "network": "network"}
    if sources and not of_failures:
        frame = _split_counts(cur, keys, flt, k=k)
    else:
        frame = _grouped(cur, keys, flt, k=k, of_failures=of_failures)
    frame["day"] = pd.to_datetime(frame["day"])
    return _with_noise(frame, k)


def cell_counts(cur, res: int, cell: int, flt: ReportFilter, *, k: int, by_network: bool = True,
                by_hour: bool = False) -> pd.DataFrame:
    """Counts of one hex, per host network (and local hour), or in total, with failure and rest reporters."""
    keys = ({"network": "network"} if by_network else {}) | \
        ({"hour": "local_hour::INTEGER"} if by_hour else {})
    return _with_noise(_split_counts(cur, keys, flt, k=k, cell=(res, cell)), k)


def cell_kinds(cur, res: int, cell: int, flt: ReportFilter) -> pd.DataFrame:
    """Failure reports of one hex per kind and host network, with distinct reporters and the cell key
    (exact: the detail hides small parts first, then ``failures_with_noise``)."""
    where, values = _where(flt, (res, cell))
    failure, failure_values = _failure_condition(flt.kinds)
    sql = (f"SELECT kind, network, count(*) AS failures, count(DISTINCT source_id) AS reporters, "
           f"{_CELL_KEY} AS cell_key FROM reports WHERE {where} AND {failure} GROUP BY ALL ORDER BY ALL")
    return cur.execute(sql, values + failure_values).df()


def cell_devices(cur, res: int, cell: int, flt: ReportFilter, *, min_reporters: int, limit: int = 5) -> pd.DataFrame:
    """Device models most often named in one hex's failure reports, each named by >= min_reporters
    people, with the cell key (exact, as ``cell_kinds``)."""
    failure, failure_values = _failure_condition(flt.kinds)
    where, values = _where(flt, (res, cell))
    sql = (f"SELECT device_model, count(*) AS failures, count(DISTINCT source_id) AS reporters, "
           f"{_CELL_KEY} AS cell_key FROM reports WHERE {where} AND {failure} AND device_model IS NOT NULL "
           f"GROUP BY ALL HAVING count(DISTINCT source_id) >= ? ORDER BY failures DESC, device_model LIMIT ?")
    return cur.execute(sql, values + failure_values + [int(min_reporters), int(limit)]).df()


def failures_with_noise(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """``failures`` and their ``reporters`` as published (core.cellkey), from the frame's ``cell_key``."""
    return with_noise(frame, {"failures": "cell_key", "reporters": "cell_key"}, k)


def data_period(cur) -> tuple[date | None, date | None]:
    """First and last local date of the stored reports (the period densities are spread over)."""
    first, last = observed_span(cur)  # only the two results are converted to local dates
    if first is None:
        return None, None
    tz = load_city().tz
    return first.astimezone(tz).date(), last.astimezone(tz).date()


def last_busy_day(cur, k: int) -> date | None:
    """The local date of the latest public report in the latest Monday-Sunday week that has reports
    from ``k`` or more independent sources; None when no week has. The map's recent window ends there,
    so a stray report or two after a quiet spell (a test report on the 2021 demo) does not move the
    map onto weeks where nothing can be shown."""
    # The latest two weeks first (the reports are stored about in time order, so DuckDB reads only their
    # row groups); the whole history only when none of them is busy.
    latest = cur.execute("SELECT max(observed_at) FROM reports").fetchone()[0]  # from row-group statistics
    if latest is None:
        return None
    for since in (latest - timedelta(weeks=2), None):
        bound = "AND observed_at >= ?" if since is not None else ""  # a plain bound: row groups are skipped
        row = cur.execute(
            f"""
            SELECT max(last_day) FROM (
                SELECT date_trunc('week', local_date) AS week, max(local_date) AS last_day,
                       count(DISTINCT source_id) AS sources
                FROM reports
                WHERE {PUBLIC_STATUS} {bound}
                GROUP BY week
            ) WHERE sources >= ?
            """,
            [since, k] if since is not None else [k],
        ).fetchone()
        if row and row[0] is not None:
            return row[0]
    return None


def demo_truth(cur) -> pd.DataFrame:
    """The demo generator's true failure rate per (network, res-8 hex)."""
    return cur.execute("SELECT network, h3_r8 AS cell, failure_rate FROM demo_truth").df()
