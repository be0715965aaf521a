"""Map benchmark: the data query behind one map view against a hand-written GROUP BY, on 10 M reports.

    .venv/bin/python bench/bench_map.py [--reports 10000000] [--repeat 15] [--db PATH] [--keep]
                                        [--browser] [--skip-query]

Builds a bench-only DuckDB file in a temporary directory (or reuses ``--db``):
plausible Seoul reports drawn with numpy (reporters living near subway
stations, carrier-specific weak spots, 'all good' samples), H3-indexed with
core.cells and bulk-inserted through Arrow. It is a load test, not a validation
test: rows skip ingest.validate on purpose.

Then, in the same run, for several views:
  (a) baseline: ONE hand-written DuckDB ``GROUP BY h3_rN`` computing the same
      counts (failures, samples, reports, distinct reporters) with ``HAVING >= k``,
      hours and weekdays read from the stored ``local_hour`` / ``local_dow`` columns;
      and "lean": the same without any reporter count (a floor, not privacy-safe);
  (b) ours: ``geo.mapview.level_view`` / ``compare_view`` -- everything the map
      page asks of the store and computes for one view (period, counts,
      empirical-Bayes fit, privacy, classes, district names).
Prints p50 / p95 in ms and the ratios of the medians b/a and b/lean (target: b
within 1.5x of a, p95 under 300 ms), and the HTML size of the default map
(target < 5 MB).

``--browser`` also serves the bench database with ``streamlit run app.py`` on a
free port and times, in headless Chromium, how long the map takes to show
hexes after a filter change (target < 3 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DROPMAP_SECRET", "bench-secret")

NETWORKS = np.array(["SKT", "KT", "LGU+"])
NETWORK_SHARE = [0.44, 0.31, 0.25]
MVNO_BRAND = {"SKT": "SK 세븐모바일", "KT": "KT M모바일", "LGU+": "U+유모바일"}
FAILURE_KINDS = np.array(["dropped_call", "call_setup_failure", "no_service", "no_data", "slow_data",
                          "sms_failure", "other"])
FAILURE_KIND_SHARE = [0.30, 0.12, 0.15, 0.18, 0.17, 0.05, 0.03]
DEVICES = np.array(["SM-S918N", "SM-G991N", "iPhone 13", "iPhone 14 Pro", "SM-A536N", "LM-V500N", "SM-F936N"])
TECHS = np.array(["5G", "LTE", "3G", "unknown"])
# Share of reports per local hour (commutes and evenings are busy).
HOUR_SHARE = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.6, 1.5, 3, 4.5, 3.5, 3, 3,
                       3.5, 3, 3, 3, 3.5, 4, 4.5, 4, 3.5, 3, 2.5, 1.8])
HOUR_SHARE = HOUR_SHARE / HOUR_SHARE.sum()
START = pd.Timestamp("2021-09-27T00:00:00+09:00")
DAYS = 35


def _stations() -> pd.DataFrame:
    stations = pd.read_csv(ROOT / "data" / "seoul_subway_stations.csv")
    return stations[stations["sig_cd"].notna()].drop_duplicates("name").reset_index(drop=True)


def synthetic_chunks(reports: int, *, seed: int = 11, chunk: int = 1_000_000, days: int = DAYS,
                     start: pd.Timestamp = START, ordered: bool = False):
    """Yields Arrow tables of synthetic reports (the reports columns without report_id) over ``days``
    from ``start``. ``ordered``: chunk by chunk in time (each chunk covers the next stretch of days), as
    a live site stores its reports; otherwise every chunk spreads over all the days."""
    from core.cells import latlngs_to_cell_columns
    from geo.places import cells_to_district_codes

    rng = np.random.default_rng(seed)
    st = _stations()
    n_people = max(reports // 40, 200)
    home = rng.integers(0, len(st), n_people)
    person_lat = st["lat"].to_numpy()[home] + rng.normal(0, 0.008, n_people)
    person_lon = st["lon"].to_numpy()[home] + rng.normal(0, 0.010, n_people)
    person_net = rng.choice(3, n_people, p=NETWORK_SHARE)
    person_mvno = rng.random(n_people) < 0.13
    person_device = rng.integers(0, len(DEVICES), n_people)
    person_hash = rng.integers(1, 2**63, n_people, dtype=np.int64).astype(np.uint64)
    # Weak spots: per network, 15 stations where failures are three times as likely.
    weak = {n: rng.choice(len(st), 15, replace=False) for n in range(3)}
    base = np.array([0.10, 0.12, 0.11])
    activity = rng.pareto(1.5, n_people) + 1
    activity /= activity.sum()
    batch = "00000000-0000-4000-8000-000000000001"
    for first_row in range(0, reports, chunk):
        n = min(chunk, reports - first_row)
        who = rng.choice(n_people, n, p=activity)
        near_home = rng.random(n) < 0.5
        anchor = rng.integers(0, len(st), n)
        lat = np.where(near_home, person_lat[who], st["lat"].to_numpy()[anchor]) + rng.normal(0, 0.006, n)
        lon = np.where(near_home, person_lon[who], st["lon"].to_numpy()[anchor]) + rng.normal(0, 0.0075, n)
        lat, lon = np.clip(lat, 37.43, 37.70), np.clip(lon, 126.77, 127.18)
        net = person_net[who]
        p = base[net].copy()
        for n_idx, spots in weak.items():
            d2 = ((lat[:, None] - st["lat"].to_numpy()[spots]) / 0.006) ** 2 + \
                 ((lon[:, None] - st["lon"].to_numpy()[spots]) / 0.0075) ** 2
            p = np.where(net == n_idx, p * (1 + 2 * np.exp(-d2 / 2).max(axis=1)), p)
        failed = rng.random(n) < p
        kind = np.where(failed, rng.choice(FAILURE_KINDS, n, p=FAILURE_KIND_SHARE), "ok")
        if ordered:
            chunks, index = -(-reports // chunk), first_row // chunk
            lo = index * days // chunks
            day = rng.integers(lo, max(lo + 1, (index + 1) * days // chunks), n)
        else:
            day = rng.integers(0, days, n)
        hour = rng.choice(24, n, p=HOUR_SHARE)
        seconds = day * 86400 + hour * 3600 + rng.integers(0, 3600, n)
        if ordered:
            seconds = np.sort(seconds)
        observed = (start + pd.to_timedelta(seconds, unit="s")).tz_convert("UTC")
        cells = latlngs_to_cell_columns(lat, lon)
        networks = NETWORKS[net]
        brand = np.where(person_mvno[who], pd.Series(networks).map(MVNO_BRAND).to_numpy(), networks)
        yield pa.table({
            "observed_at": pa.array(observed),
            "received_at": pa.array(observed),
            "lat": lat, "lon": lon,
            "accuracy_m": rng.integers(3, 60, n).astype(np.float32),
            **cells,
            "sig_cd": cells_to_district_codes(cells["h3_r9"]),
            "network": networks, "brand": brand, "mvno": person_mvno[who],
            "tech": TECHS[rng.choice(4, n, p=[0.35, 0.55, 0.03, 0.07])],
            "kind": kind,
            "device_model": DEVICES[person_device[who]],
            "reporter": person_hash[who],
            "ip_hash": pa.nulls(n, pa.uint64()),
            "source": np.full(n, "bench"),
            "batch_id": np.full(n, batch),
            "status": np.full(n, "ok"),
            "flag_reason": pa.nulls(n, pa.string()),
            "note": pa.nulls(n, pa.string()),
            "fingerprint": rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64),
        })


_COLUMNS = ("observed_at, received_at, lat, lon, accuracy_m, h3_r6, h3_r7, h3_r8, h3_r9, h3_r10, sig_cd, network, "
            "brand, mvno, tech, kind, device_model, reporter, ip_hash, source, batch_id, status, flag_reason, note, "
            "fingerprint")


def _insert_sql() -> str:
    """The bench's own fill, with the stored local-time columns computed as store/reports.py does."""
    from store.filters import local_time_columns_sql

    local = local_time_columns_sql("observed_at")
    # source_id (migration 0004): no client address, so each report is its reporter's source.
    return (f"INSERT INTO reports (report_id, {_COLUMNS}, source_id, {', '.join(local)}) "
            f"SELECT uuid(), {_COLUMNS.replace('batch_id', 'batch_id::UUID')}, reporter, "
            f"{', '.join(local.values())} FROM chunk")


def build_bench_db(path: Path, reports: int, *, seed: int = 11, **shape) -> float:
    """Fills a fresh database file with ``reports`` synthetic rows (``shape``: ``synthetic_chunks``'s
    days, start, ordered); returns seconds taken."""
    from store.db import connect

    started = time.perf_counter()
    con = connect(path)
    for i, chunk in enumerate(synthetic_chunks(reports, seed=seed, **shape)):
        con.register("chunk", chunk)
        con.execute(_insert_sql())
        con.unregister("chunk")
        print(f"  inserted {(i + 1) * 1_000_000 if (i + 1) * 1_000_000 < reports else reports:,} rows", flush=True)
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - started


def _bring_up_to_date(path: Path) -> None:
    """Apply pending migrations to a reused bench database (the queries open it read-only)."""
    from store.db import connect

    started = time.perf_counter()
    con = connect(path)
    con.execute("CHECKPOINT")
    con.close()
    if (seconds := time.perf_counter() - started) > 1:
        print(f"  migrated the bench database in {seconds:.0f} s", flush=True)


def _baseline_sql(res: int, where: str) -> str:
    # What a person would write by hand for the same published numbers.
    return f"""
        SELECT h3_r{res} AS cell,
               count(*) FILTER (WHERE kind <> 'ok') AS failures,
               count(*) FILTER (WHERE kind = 'ok') AS samples,
               count(*) AS reports,
               count(DISTINCT reporter) AS reporters
        FROM reports
        WHERE status = 'ok' {where}
        GROUP BY 1
        HAVING count(DISTINCT reporter) >= 5
    """


def _lean_sql(baseline: str) -> str:
    """The same GROUP BY without distinct reporters: a floor no privacy-safe query can beat."""
    return baseline.replace(",\n               count(DISTINCT reporter) AS reporters", "").replace(
        "HAVING count(DISTINCT reporter) >= 5", "")


def _views():
    from geo.mapquery import MapQuery

    return [
        ("default: all carriers, all hours, res 8", MapQuery(res=8), _baseline_sql(8, "")),
        ("KT, 18 h, res 8", MapQuery(carrier="KT", hours=(18, 18), res=8),
         _baseline_sql(8, "AND network = 'KT' AND local_hour = 18")),
        ("SKT weekdays 8-9 h, res 9", MapQuery(carrier="SKT", hours=(8, 9), day_type="weekday", res=9),
         _baseline_sql(9, "AND network = 'SKT' AND local_hour IN (8, 9) AND local_dow <= 5")),
        ("compare KT vs others, res 8", MapQuery(carrier="KT", mode="compare", res=8),
         _baseline_sql(8, "").replace("GROUP BY 1", "GROUP BY 1, network").replace(
             "AS cell,", "AS cell, network,")),
    ]


def _ms(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _interleaved(fns: dict, repeat: int, every: dict) -> dict[str, list[float]]:
    """Times each function in turn, round after round, so all share the machine's load alike.

    ``every[name] = n`` runs that one only every n-th round (the slow exact baseline).
    """
    for fn in fns.values():
        fn()  # warm-up: file cache, DuckDB's first-use costs
    out: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(repeat):
        for name, fn in fns.items():
            if i % every.get(name, 1) == 0:
                out[name].append(_ms(fn))
    return out


def _p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def bench_queries(path: Path, repeat: int) -> None:
    from core.settings import one_blas_thread
    from geo import mapview

    one_blas_thread()  # as the site runs (app.py)
    from store.db import connect
    from ui import mapdraw

    con = connect(path, read_only=True)
    cur = con.cursor()
    rows = cur.execute("SELECT count(*) FROM reports").fetchone()[0]
    print(f"\nreports in the bench database: {rows:,}")
    print(f"{'view':40} {'baseline':>9} {'lean':>7} {'ours p50':>9} {'ours p95':>9} {'ours/base':>9} "
          f"{'ours/lean':>9} {'hexes':>6} {'alone p50':>9} {'alone p95':>9}")
    for name, query, sql in _views():
        compare = query.mode == "compare"
        view_fn = mapview.compare_view if compare else mapview.level_view
        fns = {
            "base": lambda sql=sql: cur.execute(sql).fetchall(),
            "lean": lambda sql=_lean_sql(sql): cur.execute(sql).fetchall(),
            "ours": lambda q=query, f=view_fn: f(cur, q),
        }
        if not compare:  # the same view with each hex alone (no neighbours): the estimate before pooling
            fns["alone"] = lambda q=query: mapview.level_view(cur, q, pooled=False)
        runs = _interleaved(fns, repeat, every={"base": 3})
        base, lean, ours = statistics.median(runs["base"]), statistics.median(runs["lean"]), runs["ours"]
        hexes = len(view_fn(cur, query).frame)
        p50 = statistics.median(ours)
        alone = (f"{statistics.median(runs['alone']):6.0f} ms {_p95(runs['alone']):6.0f} ms" if "alone" in runs
                 else f"{'-':>9} {'-':>9}")
        print(f"{name:40} {base:6.0f} ms {lean:4.0f} ms {p50:6.0f} ms {_p95(ours):6.0f} ms {p50 / base:9.2f} "
              f"{p50 / lean:9.2f} {hexes:6d} {alone}")
    print("baseline: one hand-written GROUP BY with count(DISTINCT reporter) and HAVING >= 5 (exact privacy);\n"
          "lean: the same GROUP BY without any reporter count (not privacy-safe; a floor);\n"
          "alone: the same view with each hex's estimate alone (geo.mapview.level_view(pooled=False)), "
          "the estimate before neighbours were pooled (geo.spatial).")
    view = mapview.level_view(cur, _views()[0][1])
    started = time.perf_counter()
    html = mapdraw.map_html(mapdraw.build_map(view, lang="ko", center=(37.5665, 126.978), zoom=11))
    print(f"\ndefault map: {len(view.frame)} hexes, HTML {len(html) / 1e6:.2f} MB, "
          f"built in {(time.perf_counter() - started) * 1000:.0f} ms")
    res9 = mapview.level_view(cur, _views()[0][1].with_changes(res=9))
    html9 = mapdraw.map_html(mapdraw.build_map(res9, lang="ko", center=(37.5665, 126.978), zoom=13))
    print(f"res-9 map:   {len(res9.frame)} hexes, HTML {len(html9) / 1e6:.2f} MB")
    con.close()


def compare_anatomy(path: Path, repeat: int = 9) -> None:
    """Why compare mode costs what it does: its groups, the ones the reporter bound leaves open, and
    the counting scan against the scan plus the exact recount (medians; KT vs others, res 8)."""
    from geo.mapquery import MapQuery
    from geo.privacy import min_reporters
    from store import map_sql
    from store.db import connect

    con = connect(path, read_only=True)
    cur = con.cursor()
    k = min_reporters()
    flt = MapQuery(carrier="KT", mode="compare", res=8).report_filter(carrier=False)
    stats = cur.execute(f"""
        WITH g AS (
            SELECT h3_r8, network, count(*) AS n, bit_count(bit_or(1::UBIGINT << (reporter & 63))) AS bits,
                   count(DISTINCT reporter) AS people
            FROM reports WHERE status = 'ok' GROUP BY ALL)
        SELECT count(*), count(*) FILTER (WHERE bits < {k} AND bits < n AND n >= {k}),
               count(*) FILTER (WHERE bits < {k} AND bits < n AND n >= {k} AND people >= {k}),
               count(DISTINCT h3_r8) FILTER (WHERE bits < {k} AND bits < n AND n >= {k})
        FROM g""").fetchone()

    def median_ms(factor: int) -> float:
        saved, map_sql.EXACT_BELOW_FACTOR = map_sql.EXACT_BELOW_FACTOR, factor  # 0: nothing left to recount
        try:
            map_sql.hex_counts(cur, 8, flt, k=k, by_network=True)
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                map_sql.hex_counts(cur, 8, flt, k=k, by_network=True)
                times.append((time.perf_counter() - t0) * 1000)
            return statistics.median(times)
        finally:
            map_sql.EXACT_BELOW_FACTOR = saved

    scan, full = median_ms(0), median_ms(map_sql.EXACT_BELOW_FACTOR)
    forms = _scan_forms(cur, repeat)
    fits = _prior_fits(cur, k, repeat)
    con.close()
    print(f"\ncompare mode (KT vs others, res 8): {stats[0]:,} hex x carrier groups; {stats[1]} with at least k reports"
          f" left open by the reporter bound, of which {stats[2]} bitmap collisions (really k reporters or more),"
          f" in {stats[3]} hexes")
    print(f"  counting scan alone {scan:.0f} ms; with the exact recount {full:.0f} ms (medians of {repeat})")
    print(f"  the counting scan written other ways (interleaved, medians of {repeat}):")
    for name, ms in forms.items():
        print(f"    {name:58} {ms:6.0f} ms")
    print(f"  beta prior of SKT weekdays 08-09 h, res 9 ({fits['hexes']:,} hexes; medians of {repeat}):")
    print(f"    per hex, finite-difference gradient (the earlier fit)        {fits['per_hex']:6.1f} ms")
    print(f"    distinct pairs, exact gradient (geo.stats.fit_beta_prior)     {fits['now']:6.1f} ms")


# The compare view's counting scan (hex x carrier, every report) in the forms measured while
# choosing the one in store/map_sql.py: how public rows are selected, how samples are counted.
_BITS = "bit_count(bit_or(1::UBIGINT << (reporter & 63)))"
_SCAN_FORMS = {
    "count_if, WHERE status <> 'flagged' (store/map_sql.py)":
        f"SELECT h3_r8, network, count(*) - count_if(kind = 'ok'), count_if(kind = 'ok'), count(*), {_BITS} "
        "FROM reports WHERE status <> 'flagged' GROUP BY ALL",
    "count_if, WHERE status = 'ok'":
        f"SELECT h3_r8, network, count(*) - count_if(kind = 'ok'), count_if(kind = 'ok'), count(*), {_BITS} "
        "FROM reports WHERE status = 'ok' GROUP BY ALL",
    "count_if, no status filter at all (a floor)":
        f"SELECT h3_r8, network, count(*) - count_if(kind = 'ok'), count_if(kind = 'ok'), count(*), {_BITS} "
        "FROM reports GROUP BY ALL",
    "grouped by kind, then summed (the earlier form), status <> 'flagged'":
        "WITH p AS (SELECT h3_r8, network, kind, count(*) AS n, bit_or(1::UBIGINT << (reporter & 63)) AS s "
        "FROM reports WHERE status <> 'flagged' GROUP BY ALL) "
        "SELECT h3_r8, network, sum(n) FILTER (WHERE kind <> 'ok'), sum(n) FILTER (WHERE kind = 'ok'), sum(n), "
        "bit_count(bit_or(s)) FROM p GROUP BY ALL",
    "count(*) FILTER (WHERE ...), status <> 'flagged'":
        "SELECT h3_r8, network, count(*) FILTER (WHERE kind <> 'ok'), count(*) FILTER (WHERE kind = 'ok'), "
        f"count(*), {_BITS} FROM reports WHERE status <> 'flagged' GROUP BY ALL",
}


def _scan_forms(cur, repeat: int) -> dict[str, float]:
    runs = _interleaved({name: (lambda sql=sql: cur.execute(sql).fetchall()) for name, sql in _SCAN_FORMS.items()},
                        repeat, every={})
    return {name: statistics.median(times) for name, times in runs.items()}


def _prior_fits(cur, k: int, repeat: int) -> dict:
    """The beta prior's fit now against the earlier one (one likelihood term per hex, L-BFGS-B estimating
    the gradient by finite differences), on the counts of the SKT res-9 view."""
    from scipy import optimize, special

    from geo import stats
    from geo.mapquery import MapQuery
    from store import map_sql

    q = MapQuery(carrier="SKT", hours=(8, 9), day_type="weekday", res=9)
    counts = map_sql.hex_counts(cur, 9, q.report_filter(), k=k)
    f, n = counts["failures"].to_numpy(dtype=float), counts["reports"].to_numpy(dtype=float)
    f, n = f[n > 0], n[n > 0]
    pooled = (f.sum() + 0.5) / (n.sum() + 1.0)

    def per_hex(x):
        a, b = special.expit(x[0]) * np.exp(x[1]), (1 - special.expit(x[0])) * np.exp(x[1])
        return -float(np.sum(special.betaln(f + a, n - f + b) - special.betaln(a, b)))

    def earlier():
        start = stats._grid_start(lambda log_s: per_hex([special.logit(pooled), log_s]))
        optimize.minimize(per_hex, x0=[special.logit(pooled), start], method="L-BFGS-B",
                          bounds=[(-12, 12), (np.log(stats._MIN_STRENGTH), np.log(stats._MAX_STRENGTH))])

    runs = _interleaved({"per_hex": earlier, "now": lambda: stats.fit_beta_prior(f, n)}, repeat, every={})
    return {"hexes": len(f), **{name: statistics.median(times) for name, times in runs.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--db", type=Path, help="reuse (or create) this bench database file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary bench database")
    parser.add_argument("--browser", action="store_true", help="also time the map in headless Chromium")
    parser.add_argument("--skip-query", action="store_true", help="only the browser timing")
    parser.add_argument("--anatomy", action="store_true",
                        help="also break compare mode's cost down, time other forms of its scan and the prior fit")
    args = parser.parse_args()
    work = None if args.db else Path(tempfile.mkdtemp(prefix="dropmap-bench-map-"))
    path = args.db or work / "bench.duckdb"
    if not path.exists():
        print(f"building {args.reports:,} synthetic reports in {path} ...", flush=True)
        print(f"  built in {build_bench_db(path, args.reports):.0f} s", flush=True)
    else:
        _bring_up_to_date(path)
    try:
        if not args.skip_query:
            bench_queries(path, args.repeat)
        if args.anatomy:
            compare_anatomy(path)
        if args.browser:
            from _map_browser import time_filter_change

            time_filter_change(path)
    finally:
        if work is not None and not args.keep:
            for f in work.iterdir():
                f.unlink()
            work.rmdir()
    print("\n(results belong in docs/BENCHMARKS.md, section 'Map'; the machine may be shared while measuring)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
