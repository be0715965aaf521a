"""Crash safety: kill -9 the running site while clients post, restart it on the same file, lose nothing.

Starts the real site (`streamlit run app.py`) on a free loopback port over one
database file, lets ``--clients`` threads post single reports through
POST /api/v1/reports (code-less: their identity is the address), and after
each round kills the site with SIGKILL (its whole process group) in the middle
of the traffic, then starts it again on the same file. At the end the site is
started once more (it must open the file the kills left behind) and stopped
normally, and the store is read directly:

  acknowledged  ids the API answered 201 for
  lost          acknowledged ids missing from the store (must be 0)
  duplicated    ids or report contents stored more than once (must be 0)

    .venv/bin/python bench/crash_soak.py [--kills 10] [--clients 4] [--hold-seconds 8] [--db PATH]

prints one JSON object. tests/test_crash_safety.py runs the same with 3 kills.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._site import Site, start_site  # noqa: E402

BASE_TIME = datetime(2026, 1, 5, 0, 0)
START_SECONDS = 120
ACKS_PER_ROUND = 25  # a round is killed only after this many new acknowledgements (bounded by ROUND_SECONDS)
ROUND_SECONDS = 60
SITE_ENV = {"DROPMAP_SCAN_SECONDS": "0", "DROPMAP_RATE_PER_IP": "0", "DROPMAP_RATE_PER_CODE": "0",
            "DROPMAP_SECRET": os.environ.get("DROPMAP_SECRET", "bench-secret")}


def launch(db: Path, log: Path) -> Site:
    """The site on a free port over ``db`` itself (no copy), in its own process group; waits until healthy."""
    return start_site(db, env=SITE_ENV, log=log, append_log=True, timeout=START_SECONDS, new_session=True)


def report(n: int) -> dict:
    """One walker, 220 m every 6 minutes: never a near-duplicate of another, never implausible travel."""
    return {"lat": 37.45 + 0.002 * (n % 100), "lon": 126.85 + 0.0001 * (n // 100), "carrier": "KT",
            "kind": "dropped_call", "observed_at": (BASE_TIME + timedelta(minutes=6 * n)).isoformat() + "+09:00"}


class Clients:
    """Threads posting reports to whichever site is up (``self.address``), recording acknowledged ids."""

    def __init__(self, count: int):
        self.address: str | None = None
        self.acked: list[str] = []
        self.failures = 0
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self) -> None:
        conn, connected_to = None, None
        while not self._stop.is_set():
            address = self.address
            if address is None:
                time.sleep(0.05)
                continue
            with self._lock:
                n = next(self._numbers)
            try:
                if conn is None or connected_to != address:
                    host, port = address.split(":")
                    conn, connected_to = http.client.HTTPConnection(host, int(port), timeout=30), address
                conn.request("POST", "/api/v1/reports", json.dumps(report(n)), {"Content-Type": "application/json"})
                answer = conn.getresponse()
                body = answer.read()
                if answer.status == 201:
                    ids = json.loads(body)["ids"]
                    with self._lock:
                        self.acked.extend(ids)
            except (OSError, http.client.HTTPException):
                conn = None  # the site is gone (killed) or restarting: a fresh connection next time
                with self._lock:
                    self.failures += 1
                time.sleep(0.05)


def soak(db: Path, *, kills: int, clients: int, log: Path, hold_seconds: float = 0.5, seed: int = 1) -> dict:
    """Kill the site ``kills`` times under ``clients`` posting threads, each time a random 0..``hold_seconds``
    after its first ``ACKS_PER_ROUND`` acknowledgements; returns what was acknowledged and stored."""
    rng = random.Random(seed)
    posting = Clients(clients)
    posting.start()
    acked_at_kill = []
    try:
        for _ in range(kills):
            site = launch(db, log)  # SIGKILL to its process group below: as in a power cut or the OOM killer
            before = len(posting.acked)
            posting.address = site.address
            deadline = time.monotonic() + ROUND_SECONDS
            while len(posting.acked) < before + ACKS_PER_ROUND and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0, hold_seconds))  # anywhere in the traffic, not at a quiet moment
            site.kill()
            posting.address = None
            acked_at_kill.append(len(posting.acked) - before)
    finally:
        posting.stop()
    launch(db, log).stop()  # the file every kill left behind must open again
    return {"kills": kills, "clients": clients, "acked": list(posting.acked), "acked_per_round": acked_at_kill,
            "failed_requests": posting.failures, **stored(db)}


def stored(db: Path) -> dict:
    """Ids and content fingerprints in the store, read directly (the site is stopped)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        ids = [str(r[0]) for r in con.execute("SELECT report_id FROM reports").fetchall()]
        fingerprints = con.execute("SELECT count(*) - count(DISTINCT fingerprint) FROM reports").fetchone()[0]
    finally:
        con.close()
    return {"stored_ids": ids, "duplicate_fingerprints": int(fingerprints)}


def summary(result: dict) -> dict:
    acked, ids = result["acked"], result["stored_ids"]
    twice = (len(acked) - len(set(acked))) + (len(ids) - len(set(ids))) + result["duplicate_fingerprints"]
    return {"kills": result["kills"], "clients": result["clients"], "acknowledged": len(acked),
            "acknowledged_per_round": result["acked_per_round"], "failed_requests": result["failed_requests"],
            "stored": len(ids), "lost": len(set(acked) - set(ids)),
            "duplicated": twice}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--hold-seconds", type=float, default=8.0,
                        help="each round posts for a random 0..this many seconds before the kill")
    parser.add_argument("--db", help="database file to use (default: a fresh one in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(args.db) if args.db else Path(folder) / "soak.duckdb"
        from store.db import connect

        connect(db).close()
        started = time.monotonic()
        result = summary(soak(db, kills=args.kills, clients=args.clients, log=Path(folder) / "site.log",
                                hold_seconds=args.hold_seconds))
        result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    if result["lost"] or result["duplicated"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
