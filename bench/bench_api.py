"""POST /api/v1/reports under load: 8 clients on loopback, each posting single reports.

Starts the real site (`streamlit run app.py`) on a free loopback port over a
fresh temporary database, with the hourly rate limits and per-address budgets off
(every client is 127.0.0.1), and measures

  baseline   8 clients GET /_stcore/health, then GET /api/v1/openapi.json (the server's floor: a
             trivial answer, and one of our JSON routes)
  serial     1 client posting single reports
  floor      in-process: one ingest.loader.load_frame call for one report (what each batch costs)
  breakdown  in-process: CPU per merged batch of 8 single reports, by step (ingest.submit._store)
  concurrent 8 clients posting single reports (the target: >= 300 reports/s, p95 < 50 ms)
  threads    the same from 8 threads of this process (httpx), the harness used before

Clients are separate processes with kept-alive stdlib HTTP connections (``drive_processes``), so
one client's Python work never holds up another's request; the old threaded driver (``drive``)
is run as well, for comparison with earlier results.

then stops the server and checks that the store holds exactly the reports the
API said it accepted. Loops are bounded by a count and a time limit.

    .venv/bin/python bench/bench_api.py [--per-client 150] [--seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._site import start_site  # noqa: E402

BASE_TIME = datetime(2021, 10, 1, 0, 0)
SECRET = os.environ.get("DROPMAP_SECRET", "bench-secret")  # the site's, so the clients' codes verify
# Hourly report limits and per-address budgets off: every client is 127.0.0.1.
SITE_ENV = {"DROPMAP_SCAN_SECONDS": "0", "DROPMAP_RATE_PER_IP": "0", "DROPMAP_RATE_PER_PREFIX": "0",
            "DROPMAP_RATE_PER_CODE": "0", "DROPMAP_API_REQUESTS_PER_MINUTE": "0", "DROPMAP_API_BYTES_PER_HOUR": "0",
            "DROPMAP_SECRET": SECRET}


# Each run's reports are dated apart, so each run has its own batches (bench_cluster.py adds its runs).
RUN_DAYS = {"serial": 0, "concurrent": 10, "threads": 20}


def report(client: int, n: int, run: str) -> dict:
    """A reporter walking 220 m every 6 minutes: never a near-duplicate, never implausible travel."""
    at = BASE_TIME + timedelta(minutes=6 * n) + timedelta(days=RUN_DAYS[run])
    return {"lat": 37.45 + 0.002 * (n % 100), "lon": 126.85 + 0.02 * client + 0.0001 * (n // 100),
            "carrier": "KT", "kind": "dropped_call", "observed_at": at.isoformat() + "+09:00"}


def drive(url: str, clients: int, per_client: int, seconds: float, make_request) -> dict:
    """Run ``clients`` threads of this process, each sending up to ``per_client`` requests with httpx;
    latencies in ms. (The threads share this process's interpreter lock, so with several clients
    the driver's own Python work delays their requests: see ``drive_processes``.)"""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def one_client(c: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for n in range(per_client):
                if time.perf_counter() > stop_at:
                    return
                t0 = time.perf_counter()
                response = make_request(http, c, n)
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code == 201:
                        accepted[0] += response.json()["accepted"]

    threads = [threading.Thread(target=one_client, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _summary(clients, latencies, statuses, accepted[0], time.perf_counter() - t0)


def _summary(clients: int, latencies: list[float], statuses: dict, accepted: int, wall: float) -> dict:
    latencies = sorted(latencies)
    return {
        "clients": clients, "requests": len(latencies), "seconds": round(wall, 2),
        "per_second": round(len(latencies) / wall, 1), "accepted": accepted,
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1), "statuses": statuses,
    }


def client_code(run: str, c: int) -> str:
    """Client ``c``'s reporter code in ``run``: issued form (the site's MAC with the bench's secret), made
    again by each client process from its run and number."""
    from ingest.codes import mint_code

    return mint_code(secret=SECRET.encode(), seed=f"{run}:{c}")


def _client_process(port: int, c: int, per_client: int, seconds: float, what: tuple, start, out,
                    source: str | None = None) -> None:
    """One client of ``drive_processes``: a kept-alive stdlib HTTP connection, one request at a time (from the
    loopback address ``source`` when given)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0) if source else None)
    latencies, statuses, accepted = [], {}, 0
    start.wait()
    stop_at = time.perf_counter() + seconds
    for n in range(per_client):
        if time.perf_counter() > stop_at:
            break
        if what[0] == "GET":
            t0 = time.perf_counter()
            conn.request("GET", what[1])
        else:
            run = what[1]
            body = json.dumps(report(c, n, run))
            t0 = time.perf_counter()
            conn.request("POST", "/api/v1/reports", body=body, headers={
                "Content-Type": "application/json", "X-Reporter-Code": client_code(run, c)})
        response = conn.getresponse()
        data = response.read()
        latencies.append((time.perf_counter() - t0) * 1000)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.status == 201:
            accepted += json.loads(data)["accepted"]
    conn.close()
    out.put((latencies, statuses, accepted))


def drive_processes(port: int, clients: int, per_client: int, seconds: float, what: tuple,
                    sources: list[str] | None = None) -> dict:
    """``clients`` client PROCESSES (each its own interpreter, as separate clients are), started
    together; ``what`` is ("GET", path) or ("POST", run); client c connects from ``sources[c]`` when given
    (bench_cluster.py: addresses a balancer spreads over its replicas). Latencies in ms."""
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_client_process, args=(port, c, per_client, seconds, what, start, out,
                                                       sources[c] if sources else None))
             for c in range(clients)]
    for p in procs:
        p.start()
    time.sleep(0.5)  # every process up and connected before the clock starts
    t0 = time.perf_counter()
    start.set()
    parts = [out.get(timeout=seconds + 120) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    statuses: dict[int, int] = {}
    for _, st, _ in parts:
        for code, n in st.items():
            statuses[code] = statuses.get(code, 0) + n
    return _summary(clients, [x for lat, _, _ in parts for x in lat], statuses, sum(a for *_, a in parts), wall)


def post(run: str):
    def make(http: httpx.Client, c: int, n: int):
        return http.post("/api/v1/reports", json=report(c, n, run),
                         headers={"X-Reporter-Code": client_code(run, c)})
    return make


def load_frame_floor(tmp: Path, calls: int = 40) -> dict:
    """In-process cost of one ingest.loader.load_frame call for a single report: what every request pays."""
    import pandas as pd

    from ingest.loader import Origin, load_frame
    from store.db import connect

    con = connect(tmp / "floor.duckdb")
    times = []
    for n in range(calls + 3):
        raw = pd.DataFrame([{k: str(v) for k, v in report(0, n, "serial").items()}])
        t0 = time.perf_counter()
        load_frame(con, raw, Origin(source="api", reporter_code="BNCH-FLOR-0000"), return_ids=True)
        if n >= 3:  # the first calls import and warm caches
            times.append((time.perf_counter() - t0) * 1000)
    con.close()
    return {"calls": calls, "median_ms": round(statistics.median(times), 1)}


def batch_breakdown(tmp: Path, batches: int = 100, clients: int = 8, store: str | None = None) -> dict:
    """In-process CPU per merged batch of ``clients`` single reports, by step (ms; steps nest:
    ``load_clean`` holds the flagger, the insert and the staging steps; the flagger holds the abuse checks,
    which hold their stored-neighbours query), into a new file in ``tmp`` or into the store ``store``
    (bench_cluster.py: a shared store); and the wall time of each step and of the batch."""
    from collections import defaultdict

    import ingest.abuse
    import ingest.loader
    import ingest.readers
    import ingest.submit
    from ingest.codes import mint_code
    from store.db import connect

    cpu: dict[str, float] = defaultdict(float)
    wall: dict[str, float] = defaultdict(float)
    steps = [(ingest.readers, "records_to_columns"), (ingest.submit, "_merge"), (ingest.loader, "_load_clean"),
             (ingest.loader.quick, "clean_rows"), (ingest.loader, "insert_small_batch"),
             (ingest.loader, "_staged_fingerprints"), (ingest.loader, "_district_codes"),
             (ingest.abuse, "stored_reports_near"), (ingest.submit._IdentityThenChecks, "rows"),
             (ingest.abuse.AbuseChecks, "rows")]
    originals = [(owner, name, getattr(owner, name)) for owner, name in steps]

    def timed(label, fn):
        def run(*args, **kwargs):
            t0, w0 = time.process_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                cpu[label] += time.process_time() - t0
                wall[label] += time.perf_counter() - w0
        return run

    for owner, name, fn in originals:
        label = {"_IdentityThenChecks": "flagger", "AbuseChecks": "abuse_checks"}.get(
            getattr(owner, "__name__", ""), name)
        setattr(owner, name, timed(label, fn))
    con = connect(store or tmp / "breakdown.duckdb")
    codes = [mint_code(seed=f"breakdown:{c}") for c in range(clients)]  # issued form, this process's secret
    try:
        def batch(n: int) -> None:
            subs = [ingest.submit._Submission(ingest.readers.records_to_columns([report(c, n, "serial")])[0], "api",
                                              codes[c], f"10.0.0.{c}", con) for c in range(clients)]
            ingest.submit._store(subs)
            if subs[0].error is not None:
                raise subs[0].error

        for n in range(3):  # warm-up
            batch(n)
        cpu.clear()
        wall.clear()
        t0, w0 = time.process_time(), time.perf_counter()
        for n in range(3, 3 + batches):
            batch(n)
        total, elapsed = time.process_time() - t0, time.perf_counter() - w0
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
        con.close()
    ranked = sorted(cpu.items(), key=lambda kv: -kv[1])
    steps_ms = {label: round(seconds / batches * 1000, 2) for label, seconds in ranked}
    return {"batches": batches, "reports_per_batch": clients, "cpu_ms_per_batch": round(total / batches * 1000, 2),
            "steps_cpu_ms_per_batch": steps_ms, "wall_ms_per_batch": round(elapsed / batches * 1000, 2),
            "steps_wall_ms_per_batch": {label: round(wall[label] / batches * 1000, 2) for label, _ in ranked}}


def _station_counts_ready(url: str) -> bool:
    try:
        return httpx.get(url + "/api/v1/stations?line=2", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-client", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--db", type=Path, help="post into a copy of this store (e.g. bench/history_sizes.py's "
                        "100 M reports) instead of an empty one; the site's start-up counts are awaited first")
    parser.add_argument("--tmp", type=Path, help="folder for the copy (default: a new temporary folder)")
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-", dir=args.tmp))
    db = tmp / "bench.duckdb"
    if args.db:
        shutil.copyfile(args.db, db)
    site = start_site(db, env=SITE_ENV, log=tmp / "streamlit.log", timeout=90)
    port, url = site.port, site.base
    if args.db:  # the subway counts the site makes when it starts: a whole-store scan, not the load measured
        started = time.monotonic()
        while not _station_counts_ready(url) and time.monotonic() - started < 1800:
            time.sleep(5)
        print(f"start-up counts ready after {time.monotonic() - started:.0f} s", flush=True)
    try:
        drive(url, 2, 5, 30, post("serial"))  # warm-up: first import, first connection
        health = drive_processes(port, 8, args.per_client, args.seconds, ("GET", "/_stcore/health"))
        baseline = drive_processes(port, 8, args.per_client, args.seconds, ("GET", "/api/v1/openapi.json"))
        serial = drive_processes(port, 1, args.per_client, args.seconds, ("POST", "serial"))
        concurrent = drive_processes(port, 8, args.per_client, args.seconds, ("POST", "concurrent"))
        # The same load from 8 httpx threads of one process (this script's harness until 2026-11-22).
        threads = drive(url, 8, args.per_client, args.seconds, post("threads"))
    finally:
        site.stop(timeout=30)
    floor = load_frame_floor(tmp)
    breakdown = batch_breakdown(tmp)
    from store.db import connect

    con = connect(db, read_only=True)
    stored = con.execute("SELECT count(*) FROM reports WHERE source = 'api'").fetchone()[0]
    batches = con.execute("SELECT count(*) FROM batches WHERE source = 'api'").fetchone()[0]
    # The concurrent run's reports are dated 10 days after the others: its own batches.
    concurrent_batches, concurrent_stored = con.execute(
        "SELECT count(DISTINCT batch_id), count(*) FROM reports WHERE source = 'api' AND observed_at >= ? "
        "AND observed_at < ?", [(BASE_TIME + timedelta(days=days, hours=-9)).isoformat() + "+00:00"
                                for days in (10, 20)]).fetchone()
    con.close()
    shutil.rmtree(tmp, ignore_errors=True)  # the copy of --db is as large as the store
    accepted = serial["accepted"] + concurrent["accepted"] + threads["accepted"] + 10  # + warm-up
    result = {
        "machine": f"{os.cpu_count()} cores, shared", "baseline_get_health": health,
        "baseline_get_openapi": baseline, "serial_post": serial,
        "concurrent_post": concurrent, "concurrent_post_threads_one_process": threads,
        "ratio_concurrent_to_serial_throughput": round(concurrent["per_second"] / serial["per_second"], 2),
        "ratio_concurrent_post_to_baseline_get": round(concurrent["per_second"] / baseline["per_second"], 3),
        "ratio_concurrent_post_to_health": round(concurrent["per_second"] / health["per_second"], 3),
        "load_frame_single_report": floor,
        "batch_breakdown": breakdown,
        "ratio_serial_p50_to_load_frame": round(serial["p50_ms"] / floor["median_ms"], 2),
        "mean_reports_per_batch": round(stored / batches, 2) if batches else None,
        "concurrent_reports_per_batch": (round(concurrent_stored / concurrent_batches, 2)
                                         if concurrent_batches else None),
        "load_average_before_after": [load_before, [round(x, 2) for x in os.getloadavg()]],
        "store_count": stored, "accepted_count": accepted, "store_equals_accepted": stored == accepted,
    }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_api.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if stored != accepted:
        raise SystemExit("the store does not hold what the API accepted")


if __name__ == "__main__":
    main()
