"""Reports, page sessions and status files per second with 1, 2 and 3 replicas behind nginx (`make cluster`),
against the embedded file in one process, in one run on this machine.

Each configuration starts from a store of its own holding the default demo city (as `make run` and
`make cluster` build it), with the rate limits, per-address budgets and the outage detector off (as in
bench/bench_api.py):

  file        `streamlit run app.py` over a DuckDB file (bench/_site.py); clients straight to it: the baseline
  replicas=N  `python -m cluster --replicas N` (PostgreSQL, DuckLake, nginx); clients through the balancer

and in each, measured one after the other once every process is idle:

  posts     8 client processes posting single reports (bench/bench_api.py's clients and reports), each from a
            loopback address of its own, picked so that the balancer's hash sends as many clients to each
            replica (many real addresses spread about evenly; 8 taken at random need not); then the same
            with 32 clients (--more-clients), whose requests wait on each other more and batch together more.
            The balancer sends posted reports to one replica (the cluster's default); with 2 replicas or
            more, both runs again once nginx sends them by client address (`--spread-writes`, nginx's
            configuration written again and read again on SIGHUP)
  health    8 client processes GET /_stcore/health: the floor of any request that reaches a replica
  sessions  8 visitors at once, each in a loop: GET / then Streamlit's websocket and one run of the home page to
            its end (the server's share of a first visit, without a browser)
  status    (the cluster) 8 client processes GET /status/status.json: nginx from disk, no replica

and the CPU seconds each part used during each run (replicas, PostgreSQL, nginx, the clients), from /proc,
with the catalog's transactions (committed, and rolled back: mostly a DuckLake commit that met another one,
tried again) while posting. The store must then hold exactly the reports the API accepted; reports per batch
are counted.
In-process, one merged batch of 8 reports is timed step by step on the file and on the shared store
(bench_api.batch_breakdown, CPU and wall time), with the replicas idle.

    .venv/bin/python bench/bench_cluster.py [--replicas 1 2 3] [--seconds 40] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._clients import count_by_replica, free_run, sessions, spread_sources  # noqa: E402
from bench._site import start_site  # noqa: E402
from bench.bench_api import BASE_TIME, RUN_DAYS, SITE_ENV, batch_breakdown, drive, drive_processes, post  # noqa: E402

# The posting runs: (name, run of bench_api.report, days its reports are dated on, whether with --more-clients).
POSTS = (("posts", "concurrent", 10, False), ("posts_more_clients", "threads", 20, True),
         ("posts_spread", "spread", 30, False), ("posts_spread_more_clients", "spread_more", 40, True))
RUN_DAYS.update({run: days for _, run, days, _ in POSTS})  # before the client processes are forked

TICKS = os.sysconf("SC_CLK_TCK")
MANY = 10**6  # GET runs are bounded by time, not by count


# --- processes and their CPU ------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            found.setdefault(int(fields[1]), []).append(int(entry.name))
    return found


def tree_cpu(pid: int, children: dict[int, list[int]] | None = None) -> float:
    """CPU seconds used by ``pid`` and everything under it, living or reaped."""
    children = _children() if children is None else children
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        fields = _stat(current)
        if fields:
            total += sum(int(x) for x in fields[11:15]) / TICKS  # utime stime cutime cstime
        todo += children.get(current, [])
    return total


def parts_cpu(parts: dict[str, list[int]]) -> dict[str, float]:
    children = _children()
    return {name: sum(tree_cpu(pid, children) for pid in pids) for name, pids in parts.items()}


def wait_quiet(parts: dict[str, list[int]], seconds: float = 600) -> float:
    """Wait until the processes use under 10 % of a core over 3 s (their start-up counts and kept views
    done); how long it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        before = sum(parts_cpu(parts).values())
        time.sleep(3)
        if sum(parts_cpu(parts).values()) - before < 0.3:
            break
    return round(time.monotonic() - started, 1)


def measured(parts: dict[str, list[int]], run) -> tuple[dict, dict]:
    """``run()``'s result and the CPU seconds each part and the clients (client processes, and this one)
    used meanwhile."""
    before, clients = parts_cpu(parts), _own_cpu()
    result = run()
    after, clients_after = parts_cpu(parts), _own_cpu()
    cpu = {name: round(after[name] - before[name], 1) for name in parts}
    cpu["clients"] = round(clients_after - clients, 1)
    return result, cpu


def _own_cpu() -> float:
    """CPU seconds of this process and of its finished children (the client processes)."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


# --- the configurations ------------------------------------------------------------------------------

def catalog_transactions(folder: Path | None) -> dict[str, int]:
    """Transactions committed and rolled back so far in the cluster's PostgreSQL database (a DuckLake commit that
    meets another replica's is rolled back and tried again); {} for the file."""
    if folder is None:
        return {}
    from cluster.postgres import DATABASE, PORT, USER, binaries

    done = subprocess.run([str(binaries() / "psql"), "-X", "-A", "-t", "-h", str(folder / "pg"), "-p", str(PORT),
                           "-U", USER, "-d", DATABASE, "-c", "SELECT xact_commit, xact_rollback FROM pg_stat_database"
                           f" WHERE datname = '{DATABASE}'"], check=True, capture_output=True, text=True)
    committed, rolled_back = done.stdout.strip().split("|")
    return {"committed": int(committed), "rolled_back": int(rolled_back)}


def measure(port: int, sources: list[str], parts: dict[str, list[int]], args, *, status_path: str | None,
            folder: Path | None = None, spread_writes=None) -> dict:
    """The measurements against ``port``, each once every part is idle again (``folder``: the cluster's, whose
    PostgreSQL counts its transactions during the posting runs; ``spread_writes()``: have the balancer send
    posted reports by client address, for two more posting runs)."""
    found = {"idle_wait_s": wait_quiet(parts)}
    for name, run, _, more in POSTS:
        clients = args.more_clients if more else args.clients
        if not clients or (name.startswith("posts_spread") and spread_writes is None):
            continue
        if name == "posts_spread":
            spread_writes()
        before = catalog_transactions(folder)
        found[name], cpu = measured(parts, lambda n=clients, r=run: drive_processes(
            port, n, args.per_client, args.seconds, ("POST", r), sources[:n]))
        found[name + "_cpu_s"] = {**cpu, "available": round(found[name]["seconds"] * os.cpu_count(), 1)}
        if folder is not None:  # the statistics collector reports within about a second
            time.sleep(2)
            after = catalog_transactions(folder)
            found[name + "_catalog_transactions"] = {k: after[k] - before[k] for k in after}
        wait_quiet(parts)
    sources = sources[:args.clients]
    found["health"], found["health_cpu_s"] = measured(parts, lambda: drive_processes(
        port, args.clients, MANY, args.get_seconds, ("GET", "/_stcore/health"), sources))
    wait_quiet(parts)
    found["sessions"], found["sessions_cpu_s"] = measured(parts, lambda: sessions(port, sources, args.session_seconds))
    if status_path:
        found["status_files"], found["status_files_cpu_s"] = measured(parts, lambda: drive_processes(
            port, args.clients, MANY, args.get_seconds, ("GET", status_path), sources))
    return found


def stored_reports(con) -> tuple[int, dict[str, float]]:
    """Reports the API stored, and reports per batch in each posting run (each dated 10 days after the one
    before, bench_api.report)."""
    stored = con.execute("SELECT count(*) FROM reports WHERE source = 'api'").fetchone()[0]
    per_batch = {}
    for name, _, days, _ in POSTS:
        batches, rows = con.execute(
            "SELECT count(DISTINCT batch_id), count(*) FROM reports WHERE source = 'api' AND observed_at >= ?"
            " AND observed_at < ?", [(BASE_TIME + timedelta(days=d, hours=-9)).isoformat() + "+00:00"
                                     for d in (days, days + 10)]).fetchone()
        if batches:
            per_batch[name] = round(rows / batches, 2)
    return stored, per_batch


def run_file(args, tmp: Path) -> dict:
    """The baseline: one process over the embedded file, clients straight to it."""
    from store.db import connect

    db = tmp / "file.duckdb"
    subprocess.run([sys.executable, "-m", "ingest", "demo", "--db", str(db)], cwd=ROOT, check=True,
                   capture_output=True, env={**os.environ, **SITE_ENV})
    site = start_site(db, env=SITE_ENV, log=tmp / "file-site.log", timeout=300)
    try:
        parts = {"site": [site.proc.pid]}
        warm = drive(site.base, 2, 5, 30, post("serial"))
        sources = [f"127.0.0.{n}" for n in range(10, 10 + max(args.clients, args.more_clients))]
        result = {"name": "file", "processes": 1, **measure(site.port, sources, parts, args, status_path=None)}
    finally:
        site.stop(timeout=60)
    con = connect(db, read_only=True)
    try:
        stored, per_batch = stored_reports(con)
    finally:
        con.close()
    result["batch_breakdown"] = batch_breakdown(tmp, batches=40, store=str(db))
    return _checked(result, stored, warm["accepted"] + _posted(result), per_batch)


def _posted(result: dict) -> int:
    return sum(result[name]["accepted"] for name, *_ in POSTS if name in result)


def run_cluster(args, tmp: Path, replicas: int, *, breakdown: bool) -> dict:
    """``replicas`` replicas behind nginx on a new shared store with the demo city; clients through nginx."""
    from cluster.postgres import Postgres
    from store.db import connect

    folder = tmp / f"cluster-{replicas}"
    port = free_run(replicas + 1)
    env = {**os.environ, **SITE_ENV, "DROPMAP_STATUS_DIR": str(folder / "status")}
    with (tmp / f"cluster-{replicas}.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cluster", "--replicas", str(replicas), "--port", str(port),
                                 "--address", "127.0.0.1", "--folder", str(folder)], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        state = _wait_for_state(proc, folder / "cluster.json", tmp / f"cluster-{replicas}.log")
        parts = {"replicas": [r["pid"] for r in state["replicas"]], "postgres": [state["postgres"]["pid"]],
                 "nginx": [state["balancer"]["pid"]]}
        location = Postgres(folder).location()
        _publish_status(location, folder / "status")
        warm = {"accepted": sum(drive(f"http://127.0.0.1:{r['port']}", 2, 5, 30, post("serial"))["accepted"]
                                for r in state["replicas"])}
        sources = spread_sources(port, replicas, max(args.clients, args.more_clients),
                                 Path(state["balancer"]["access_log"]))
        def spread_writes() -> None:  # nginx's configuration written again, and read again on SIGHUP
            subprocess.run([sys.executable, "-m", "cluster", "--write-nginx", "--spread-writes", "--replicas",
                            str(replicas), "--port", str(port), "--address", "127.0.0.1", "--folder", str(folder)],
                           cwd=ROOT, check=True, capture_output=True, env=env)
            os.kill(state["balancer"]["pid"], signal.SIGHUP)
            time.sleep(3)  # new workers up, the old ones gone

        result = {"name": f"replicas={replicas}", "processes": replicas,
                  **measure(port, sources, parts, args, status_path="/status/status.json", folder=folder,
                            spread_writes=spread_writes if replicas > 1 else None)}
        result["clients_per_replica"] = sorted(count_by_replica(port, sources[:args.clients],
                                                                 Path(state["balancer"]["access_log"])))
        con = connect(location, read_only=True)
        try:
            stored, per_batch = stored_reports(con)
        finally:
            con.close()
        if breakdown:  # the replicas idle meanwhile
            result["batch_breakdown"] = batch_breakdown(tmp, batches=40, store=location)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return _checked(result, stored, warm["accepted"] + _posted(result), per_batch)


def _wait_for_state(proc: subprocess.Popen, state_file: Path, log: Path) -> dict:
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the cluster exited with {proc.returncode}; see {log}")
        if state_file.exists():
            return json.loads(state_file.read_text())
        time.sleep(1)
    raise RuntimeError(f"the cluster did not start within 900 s; see {log}")


def _publish_status(location: str, folder: Path) -> None:
    """The status files as the detector writes them after a scan (the detector is off while measuring)."""
    from outages import static_status
    from store.db import connect, cursor

    os.environ["DROPMAP_STATUS_DIR"] = str(folder)
    con = connect(location, read_only=True)
    try:
        with cursor(con) as cur:
            static_status.publish(cur, datetime.now(UTC))
    finally:
        con.close()


def _checked(result: dict, stored: int, accepted: int, per_batch: dict[str, float]) -> dict:
    result.update({"store_count": stored, "accepted_count": accepted, "store_equals_accepted": stored == accepted,
                   "reports_per_batch": per_batch})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--more-clients", type=int, default=32,
                        help="a second posting run with this many clients (0: none; default 32)")
    parser.add_argument("--per-client", type=int, default=150, help="most reports one client posts (default 150)")
    parser.add_argument("--seconds", type=float, default=40, help="longest posting run (default 40)")
    parser.add_argument("--get-seconds", type=float, default=10, help="each GET run (default 10)")
    parser.add_argument("--session-seconds", type=float, default=30, help="the page sessions' run (default 30)")
    parser.add_argument("--no-file", dest="file", action="store_false", help="leave out the file's baseline")
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))  # PostgreSQL's user enters it: not under /root
    tmp.chmod(0o711)
    results = []
    try:
        if args.file:
            results.append(run_file(args, tmp))
            print(json.dumps(results[-1]), flush=True)
        for replicas in args.replicas:
            results.append(run_cluster(args, tmp, replicas, breakdown=replicas == args.replicas[0]))
            print(json.dumps(results[-1]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {"machine": f"{os.cpu_count()} cores, shared", "clients": args.clients,
               "load_average_before_after": [load_before, [round(x, 2) for x in os.getloadavg()]],
               "reports_per_second": {r["name"]: r["posts"]["per_second"] for r in results},
               "reports_per_second_more_clients": {r["name"]: r["posts_more_clients"]["per_second"]
                                                   for r in results if "posts_more_clients" in r},
               "reports_per_second_spread_writes": {r["name"]: [r[name]["per_second"] for name in (
                   "posts_spread", "posts_spread_more_clients") if name in r] for r in results if "posts_spread" in r},
               "sessions_per_second": {r["name"]: r["sessions"]["per_second"] for r in results},
               "health_per_second": {r["name"]: r["health"]["per_second"] for r in results},
               "status_files_per_second": {r["name"]: r["status_files"]["per_second"]
                                           for r in results if "status_files" in r},
               "configurations": results}
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_cluster.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "configurations"}, indent=2))
    if not all(r["store_equals_accepted"] for r in results):
        raise SystemExit("a store does not hold what the API accepted")


if __name__ == "__main__":
    main()
