"""Outage detection, measured on synthetic Seoul: delay, onset/end error, areas, false alarms, floods.

    .venv/bin/python bench/detect_eval.py [--reports 100000] [--seed 20211025] [--out bench/out/detect_eval.json]
                                          [--base PATH]  (reuse a base database built by an earlier run)

Builds 35 days of ordinary synthetic traffic (2021-09-27 .. 10-31, Seoul time;
``ingest.demo.ordinary_traffic``, without the demo's own KT outage): one week
of warm-up for the baseline, then four quiet weeks (10-04 .. 10-31). On copies
of it, replays four scenarios with ``outages.scan.replay``:

1. KT nationwide, 2021-10-25 11:16-12:45 KST (3% of the ordinary failure
   reports, like the demo): detection delay, onset and end error, scope.
2. A district outage like the KT Ahyeon office fire of 2018-11-24, replayed on
   Saturday 2021-10-23 from 11:12 to Sunday 18:00 in 중구, 용산구, 서대문구,
   마포구, 은평구: detected, districts named, none outside.
3. False alarms over the four quiet weeks, per carrier (every incident counts,
   confirmed or not).
4. A fake campaign: five reporters sending 100 reports each within 20 minutes.

It also runs the best sequential test for scenario 1's report rate: a Poisson
CUSUM on raw per-minute KT reports that knows the generator's true baseline
and the surge's true rate, with its threshold set so that it too raises at most
one false alarm over the four quiet weeks; the delay ratio is ours / its. The
same comparison is repeated for smaller outages (1%, 0.3% and 0.1% of the
ordinary reports instead of 3%), and the cost of one live scan is timed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEOUL = ZoneInfo("Asia/Seoul")
PERIOD = (datetime(2021, 9, 27, tzinfo=SEOUL), datetime(2021, 11, 1, tzinfo=SEOUL))
QUIET = (datetime(2021, 10, 4, tzinfo=SEOUL), datetime(2021, 11, 1, tzinfo=SEOUL))
KT_OUTAGE = (datetime(2021, 10, 25, 11, 16, tzinfo=SEOUL), datetime(2021, 10, 25, 12, 45, tzinfo=SEOUL))
AHYEON = (datetime(2021, 10, 23, 11, 12, tzinfo=SEOUL), datetime(2021, 10, 24, 18, 0, tzinfo=SEOUL))
AHYEON_DISTRICTS = ("중구", "용산구", "서대문구", "마포구", "은평구")
CAMPAIGN_START = datetime(2021, 10, 20, 15, 0, tzinfo=SEOUL)


def build_base(path: Path, reports: int, seed: int) -> dict:
    """Four quiet weeks (plus one of warm-up) of ordinary traffic, no outage."""
    from ingest.demo import DemoOptions, load_raw, ordinary_traffic
    from store.db import connect

    options = DemoOptions(reports=reports, days=35, seed=seed, kt_outage=False)
    traffic = ordinary_traffic(options, np.random.default_rng(seed))
    con = connect(path)
    for i in range(0, len(traffic), 250_000):
        load_raw(con, traffic.iloc[i:i + 250_000], label="bench: ordinary traffic")
    counts = dict(con.execute(
        "SELECT network, count(*) FROM reports WHERE kind <> 'ok' GROUP BY network").fetchall())
    con.close()
    return {"failures": counts, "rows": len(traffic)}


def _failures(path: Path) -> dict:
    from store.db import connect

    con = connect(path, read_only=True)
    counts = dict(con.execute("SELECT network, count(*) FROM reports WHERE kind <> 'ok' GROUP BY network").fetchall())
    con.close()
    return counts


def with_frame(base: Path, workdir: Path, name: str, frame: pd.DataFrame) -> Path:
    """A copy of the base database with ``frame`` (raw rows) added."""
    from ingest.demo import load_raw
    from store.db import connect

    path = workdir / f"{name}.duckdb"
    shutil.copy(base, path)
    con = connect(path)
    load_raw(con, frame, label=f"bench: {name}")
    con.close()
    return path


def replay_incidents(path: Path, since: datetime, until: datetime) -> tuple[list[dict], float]:
    from outages.scan import replay
    from store import outages_sql
    from store.db import connect

    con = connect(path)
    started = time.perf_counter()
    replay(con, since, until)
    seconds = time.perf_counter() - started
    cur = con.cursor()
    rows = outages_sql.list_incidents(cur, limit=10_000)
    areas = outages_sql.areas_of(cur, [r["incident_id"] for r in rows])
    for row in rows:
        row["areas"] = [a["sig_cd"] for a in areas[row["incident_id"]]]
    con.close()
    return rows, seconds


def _minutes(a: datetime | None, b: datetime) -> float | None:
    return None if a is None else round((a - b).total_seconds() / 60, 1)


def _overlapping(rows: list[dict], network: str, span: tuple[datetime, datetime]) -> list[dict]:
    return [r for r in rows if r["network"] == network and r["onset_at"] <= span[1] + timedelta(hours=1)
            and (r["ended_at"] or r["as_of"]) >= span[0]]


def scenario_kt(base: Path, workdir: Path, reports: int, seed: int, share: float = 0.03) -> dict:
    from ingest.demo import surge

    size = max(20, round(reports * share))
    frame = surge(network="KT", start=KT_OUTAGE[0], end=KT_OUTAGE[1], reports=size, reporters=round(size * 0.8),
                  rng=np.random.default_rng(seed + 1))
    path = with_frame(base, workdir, f"kt_nationwide_{share}", frame)
    rows, seconds = replay_incidents(path, KT_OUTAGE[0] - timedelta(days=1), KT_OUTAGE[1] + timedelta(hours=6))
    hits = _overlapping(rows, "KT", KT_OUTAGE)
    first = min(hits, key=lambda r: r["onset_at"]) if hits else None
    return {
        "surge_reports": size, "detected": bool(hits), "incidents": len(hits),
        "delay_min": _minutes(first["detected_at"], KT_OUTAGE[0]) if first else None,
        "onset_error_min": _minutes(first["onset_at"], KT_OUTAGE[0]) if first else None,
        "end_error_min": _minutes(first["ended_at"], KT_OUTAGE[1]) if first else None,
        "resolved_after_end_min": _minutes(first["resolved_at"], KT_OUTAGE[1]) if first else None,
        "scope": first["scope"] if first else None, "replay_seconds": round(seconds, 2),
        "other_incidents": len(rows) - len(hits), "path": str(path),
    }


def scenario_ahyeon(base: Path, workdir: Path, reports: int, seed: int) -> dict:
    from geo.places import districts
    from ingest.demo import surge

    size = max(300, round(reports * 0.06))
    frame = surge(network="KT", start=AHYEON[0], end=AHYEON[1], reports=size, reporters=round(size * 0.75),
                  districts=list(AHYEON_DISTRICTS), rng=np.random.default_rng(seed + 2))
    path = with_frame(base, workdir, "ahyeon", frame)
    rows, seconds = replay_incidents(path, AHYEON[0] - timedelta(days=1), AHYEON[1] + timedelta(hours=6))
    hits = _overlapping(rows, "KT", AHYEON)
    names = {a.code: a.name_ko for a in districts()}
    named = sorted({names[c] for r in hits for c in r["areas"]})
    first = min(hits, key=lambda r: r["onset_at"]) if hits else None
    return {
        "surge_reports": size, "detected": bool(hits), "incidents": len(hits),
        "delay_min": _minutes(first["detected_at"], AHYEON[0]) if first else None,
        "onset_error_min": _minutes(first["onset_at"], AHYEON[0]) if first else None,
        "end_error_min": _minutes(first["ended_at"], AHYEON[1]) if first else None,
        "scope": first["scope"] if first else None,
        "named": named, "missed": sorted(set(AHYEON_DISTRICTS) - set(named)),
        "named_outside": sorted(set(named) - set(AHYEON_DISTRICTS)), "replay_seconds": round(seconds, 2),
    }


def campaign_frame(start: datetime, *, reporters: int = 5, each: int = 100, minutes: int = 20,
                   seed: int = 5) -> pd.DataFrame:
    """``reporters`` people sending ``each`` reports within ``minutes``, around 강남역."""
    rng = np.random.default_rng(seed)
    n = reporters * each
    offsets = np.sort(rng.integers(0, minutes * 60, n))
    times = [(start + timedelta(seconds=int(s))).isoformat() for s in offsets]
    return pd.DataFrame({
        "lat": 37.4979 + rng.normal(0, 0.004, n), "lon": 127.0276 + rng.normal(0, 0.004, n),
        "carrier": "KT", "kind": rng.choice(["no_service", "no_data", "dropped_call"], n),
        "observed_at": times, "reporter_code": [f"FLOOD-{i % reporters}" for i in range(n)],
    })


def scenario_campaign(base: Path, workdir: Path) -> dict:
    path = with_frame(base, workdir, "campaign", campaign_frame(CAMPAIGN_START))
    rows, _ = replay_incidents(path, CAMPAIGN_START - timedelta(days=1), CAMPAIGN_START + timedelta(hours=6))
    hits = _overlapping(rows, "KT", (CAMPAIGN_START, CAMPAIGN_START + timedelta(minutes=20)))
    return {"reports": 500, "reporters": 5, "declared_outage": bool(hits), "incidents": len(hits)}


def bare_count_seconds(path: Path) -> float:
    """Speed baseline: DuckDB alone counting failure reports per network, district and minute over the weeks."""
    from store.db import connect

    con = connect(path, read_only=True)
    started = time.perf_counter()
    con.execute(
        "SELECT network, sig_cd, date_trunc('minute', observed_at) AS m, count(*) FROM reports"
        " WHERE kind <> 'ok' AND status = 'ok' AND observed_at >= ? AND observed_at < ? GROUP BY ALL",
        [QUIET[0], QUIET[1]],
    ).fetchall()
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def scenario_quiet(base: Path, workdir: Path) -> dict:
    path = workdir / "quiet.duckdb"
    shutil.copy(base, path)
    bare = bare_count_seconds(path)
    rows, seconds = replay_incidents(path, QUIET[0], QUIET[1])
    per_carrier = {n: sum(1 for r in rows if r["network"] == n) for n in ("SKT", "KT", "LGU+")}
    confirmed = {n: sum(1 for r in rows if r["network"] == n and r["confirmed"]) for n in ("SKT", "KT", "LGU+")}
    return {"false_alarms": per_carrier, "confirmed_false_alarms": confirmed, "replay_seconds": round(seconds, 2),
            "bare_count_seconds": round(bare, 3), "replay_over_bare_count": round(seconds / bare, 1),
            "replayed_minutes": int((QUIET[1] - QUIET[0]).total_seconds() // 60),
            "details": [{"id": r["incident_id"], "scope": r["scope"], "peak_ratio": round(r["peak_ratio"], 1),
                         "reporters": r["reporters"]} for r in rows]}


# --- the best possible: a CUSUM that knows the true rates ------------------------------

def true_rates_per_minute(total: int, start: datetime, minutes: int) -> np.ndarray:
    """The generator's expected ordinary reports per minute (its hour-of-day and day-type profile)."""
    from ingest.demo_people import WEEKDAY_HOURS, WEEKEND_DAY_WEIGHT, WEEKEND_HOURS, is_weekday

    days = (PERIOD[1] - PERIOD[0]).days
    weights = [WEEKDAY_HOURS if is_weekday((PERIOD[0] + timedelta(days=d)).date())
               else WEEKEND_HOURS * WEEKEND_DAY_WEIGHT for d in range(days)]
    per_hour = total * np.concatenate(weights) / np.concatenate(weights).sum()
    first_hour = int((start - PERIOD[0]).total_seconds() // 3600)
    hours = first_hour + np.arange(minutes) // 60
    return per_hour[hours] / 60.0


def minute_counts(path: Path, network: str, start: datetime, minutes: int) -> np.ndarray:
    from store.db import connect

    con = connect(path, read_only=True)
    rows = con.execute(
        "SELECT (epoch_ms(observed_at) - ?) // 60000 AS m, count(*) FROM reports"
        " WHERE network = ? AND kind <> 'ok' AND status = 'ok' AND observed_at >= ? AND observed_at < ?"
        " GROUP BY m", [int(start.timestamp() * 1000), network, start, start + timedelta(minutes=minutes)],
    ).fetchall()
    con.close()
    out = np.zeros(minutes)
    for m, n in rows:
        out[int(m)] = n
    return out


def cusum_alarms(counts: np.ndarray, rate0: np.ndarray, rate1: np.ndarray, threshold: float) -> list[int]:
    """Minutes where a Poisson CUSUM for rate0 -> rate1 crosses ``threshold`` (restarting after each)."""
    step = counts * np.log(rate1 / rate0) - (rate1 - rate0)
    alarms, s = [], 0.0
    for i, x in enumerate(step):
        s = max(0.0, s + x)
        if s >= threshold:
            alarms.append(i)
            s = 0.0
    return alarms


def scan_cost(path: Path, scans: int = 10) -> float:
    """Seconds per live scan (6 hours looked at, 4 weeks of baseline), during the KT outage."""
    from outages.scan import scan
    from store.db import connect

    con = connect(path)
    scan(con, KT_OUTAGE[0])  # warm: imports, first query plans
    started = time.perf_counter()
    for minute in range(scans):
        scan(con, KT_OUTAGE[0] + timedelta(minutes=minute + 1))
    seconds = (time.perf_counter() - started) / scans
    con.close()
    return round(seconds, 3)


def sweep(base: Path, workdir: Path, reports: int, seed: int, kt_total: int) -> list[dict]:
    """Detection delay against the best sequential test as the outage's report rate falls."""
    rows = []
    for share in (0.01, 0.003, 0.001):
        found = scenario_kt(base, workdir, reports, seed, share)
        best = oracle(base, Path(found.pop("path")), kt_total, found["surge_reports"])
        ratio = (round(found["delay_min"] / best["delay_min"], 2)
                 if found["delay_min"] is not None and best["delay_min"] else None)
        rows.append({"share": share, "surge_reports": found["surge_reports"],
                     "plateau_per_min": best["plateau_per_min"], "detected": found["detected"],
                     "delay_min": found["delay_min"],
                     "onset_error_min": found["onset_error_min"], "end_error_min": found["end_error_min"],
                     "oracle_delay_min": best["delay_min"], "delay_ratio": ratio})
    return rows


def oracle(base: Path, kt_path: Path, kt_total: int, surge_reports: int) -> dict:
    minutes = int((QUIET[1] - QUIET[0]).total_seconds() // 60)
    rate0 = true_rates_per_minute(kt_total, QUIET[0], minutes)
    plateau = surge_reports / ((KT_OUTAGE[1] - KT_OUTAGE[0]).total_seconds() / 60 + 5)
    rate1 = rate0 + plateau
    quiet = minute_counts(base, "KT", QUIET[0], minutes)
    threshold = 0.05  # the smallest threshold that keeps the quiet weeks to one false alarm at most
    while len(cusum_alarms(quiet, rate0, rate1, threshold)) > 1:
        threshold *= 1.1
    day = KT_OUTAGE[0].replace(hour=0, minute=0)
    offset = int((day - QUIET[0]).total_seconds() // 60)
    counts = minute_counts(kt_path, "KT", day, 24 * 60)
    alarms = [a for a in cusum_alarms(counts, rate0[offset:offset + 1440], rate1[offset:offset + 1440], threshold)
              if a >= (KT_OUTAGE[0] - day).total_seconds() // 60]
    delay = None if not alarms else alarms[0] + 1 - (KT_OUTAGE[0] - day).total_seconds() / 60
    return {"threshold": round(threshold, 2), "false_alarms_quiet": len(cusum_alarms(quiet, rate0, rate1, threshold)),
            "plateau_per_min": round(plateau, 2), "delay_min": delay}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=100_000, help="ordinary failure reports over 35 days")
    parser.add_argument("--seed", type=int, default=20211025)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "detect_eval.json"))
    parser.add_argument("--base", help="base database to build (if missing) and keep for later runs")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="detect_eval_"))
    started = time.perf_counter()
    base = Path(args.base) if args.base else workdir / "base.duckdb"
    if base.exists():
        info = {"failures": _failures(base), "reused": str(base)}
    else:
        info = build_base(base, args.reports, args.seed)
    built = time.perf_counter() - started
    kt = scenario_kt(base, workdir, args.reports, args.seed)
    results = {
        "reports": args.reports, "seed": args.seed, "base": info, "build_seconds": round(built, 1),
        "kt_nationwide": kt,
        "ahyeon": scenario_ahyeon(base, workdir, args.reports, args.seed),
        "quiet_weeks": scenario_quiet(base, workdir),
        "campaign": scenario_campaign(base, workdir),
    }
    kt_path = Path(kt.pop("path"))
    results["oracle"] = oracle(base, kt_path, info["failures"]["KT"], kt["surge_reports"])
    if kt["delay_min"] is not None and results["oracle"]["delay_min"]:
        results["delay_ratio"] = round(kt["delay_min"] / results["oracle"]["delay_min"], 2)
    results["scan_seconds"] = scan_cost(kt_path)
    results["sweep"] = sweep(base, workdir, args.reports, args.seed, info["failures"]["KT"])
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    print(json.dumps({k: v for k, v in results.items() if k != "base"}, ensure_ascii=False, indent=1, default=str))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
