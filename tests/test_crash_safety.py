"""Crash safety: the real site killed with -9 while clients post, three times, restarted on the same file;
every acknowledged report id is in the store, none twice (bench/crash_soak.py runs the same with 10 kills)."""

from __future__ import annotations

from collections import Counter

from bench.crash_soak import soak
from store.db import connect


def test_every_acknowledged_report_survives_kill_9(tmp_path):
    db = tmp_path / "crash.duckdb"
    connect(db).close()
    result = soak(db, kills=3, clients=3, log=tmp_path / "site.log")
    acked, stored = result["acked"], result["stored_ids"]
    assert all(n > 0 for n in result["acked_per_round"]), result["acked_per_round"]  # killed under traffic
    assert not set(acked) - set(stored)  # nothing acknowledged is lost
    assert max(Counter(acked).values()) == 1 and max(Counter(stored).values()) == 1  # nothing twice
    assert result["duplicate_fingerprints"] == 0
