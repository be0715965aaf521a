"""Reports are stored in time order, so a view of some weeks reads only their row groups: a batch goes
in sorted by observed_at, ``time_order`` says how well the store keeps that order, and
``python -m store order --fix`` restores it without changing a row."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ingest.loader import Origin, load_frame
from store import cli
from store.db import connect
from store.reports import store_in_time_order, time_order

SEOUL = ZoneInfo("Asia/Seoul")


def test_a_batch_in_no_order_is_stored_in_time_order(tmp_path):
    rng = np.random.default_rng(3)
    start = datetime(2021, 10, 1, tzinfo=SEOUL)
    times = [start + timedelta(minutes=int(m)) for m in rng.permutation(3000)]
    frame = pd.DataFrame({"lat": 37.5665 + rng.normal(0, 0.01, 3000), "lon": 126.978 + rng.normal(0, 0.01, 3000),
                          "carrier": "KT", "kind": "dropped_call", "observed_at": [t.isoformat() for t in times],
                          "reporter_code": [f"ORDER-{i % 40:03d}" for i in range(3000)]})
    con = connect(tmp_path / "order.duckdb")
    try:
        load_frame(con, frame, Origin(source="upload:csv", file_name="shuffled.csv"))
        stored = [r[0] for r in con.execute("SELECT observed_at FROM reports ORDER BY rowid").fetchall()]
        assert len(stored) == 3000 and stored == sorted(stored)
    finally:
        con.close()


def _shuffled_store(path, rows: int = 400_000):
    """A store whose reports (three row groups and more) were written in no order of time."""
    con = connect(path)
    con.execute("INSERT INTO batches VALUES (uuid(), 'web', NULL, NULL, NULL, now(), 1, 1, 0, 0, NULL, NULL)")
    con.execute(
        "INSERT INTO reports (report_id, observed_at, received_at, lat, lon, h3_r6, h3_r7, h3_r8, h3_r9, h3_r10, "
        "network, brand, mvno, tech, kind, reporter, source, batch_id, fingerprint, local_hour, local_dow, "
        "local_date, source_id) "
        "SELECT uuid(), t, t, 37.5, 127.0, 1, 2, 3, 4, 5, 'KT', 'KT', false, 'LTE', 'dropped_call', i, 'web', "
        "(SELECT any_value(batch_id) FROM batches), i, 0, 0, DATE '2021-10-01', i "
        "FROM (SELECT i, TIMESTAMPTZ '2021-01-01 00:00:00+00' + to_minutes(i) AS t FROM range(?) r(i)) "
        "ORDER BY hash(i)", [rows])
    con.execute("CHECKPOINT")
    return con


def _one(con, sql: str) -> tuple:
    """One row read on a cursor of its own, closed at once (a result left open on the connection
    keeps its transaction alive, and a checkpoint would refuse to run)."""
    cur = con.cursor()
    try:
        return cur.execute(sql).fetchone()
    finally:
        cur.close()


def test_the_order_is_measured_and_restored_without_changing_a_row(tmp_path):
    con = _shuffled_store(tmp_path / "shuffled.duckdb")
    try:
        before = time_order(con.cursor())
        assert before["row_groups"] >= 3 and before["overlap"] > 2.5  # every view reads every row group
        signature = "SELECT count(*), sum(hash(report_id, observed_at, reporter)) FROM reports"
        rows = _one(con, signature)
        store_in_time_order(con)
        after = time_order(con.cursor())
        assert after["overlap"] < 1.05 and after["wide_row_groups"] == 0
        assert _one(con, signature) == rows
        # The table itself is unchanged: defaults and NOT NULL hold.
        assert con.execute("SELECT column_default, is_nullable FROM information_schema.columns"
                           " WHERE table_name = 'reports' AND column_name = 'status'").fetchone() == ("'ok'", "NO")
    finally:
        con.close()


def test_the_command_prints_the_order_and_fixes_it(tmp_path, capsys):
    path = tmp_path / "shuffled.duckdb"
    _shuffled_store(path, rows=300_000).close()
    assert cli.main(["order", "--db", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["overlap"] > 2
    assert cli.main(["order", "--db", str(path), "--fix"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["before"]["overlap"] > 2 and done["after"]["overlap"] < 1.05


def test_the_command_refuses_a_store_the_site_holds(tmp_path, capsys):
    path = tmp_path / "held.duckdb"
    connect(path).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
                               " print('held', flush=True); time.sleep(60)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.main(["order", "--db", str(path), "--fix"]) == 1
        assert "is held by" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
