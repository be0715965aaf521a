"""The detector against a real store: scans as of a moment, replays, moderation, MVNOs, the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from outage_data import SEOUL, load, private_copy, quiet_city, quiet_db_file, surge

from ingest.loader import Origin, load_frame
from outages.scan import replay, scan
from store import outages_sql
from store.db import connect

ROOT = Path(__file__).resolve().parent.parent

OUTAGE = datetime(2021, 10, 20, 11, 16, tzinfo=SEOUL)  # a Wednesday, after three quiet weeks


@pytest.fixture(scope="module")
def quiet_db(tmp_path_factory) -> Path:
    """Four weeks of ordinary KT and SKT reports, built once for this module."""
    return quiet_db_file(tmp_path_factory, "outages", quiet_city(seed=1),
                         quiet_city(carrier="SKT", per_hour=15, seed=5))


@pytest.fixture
def city(quiet_db, tmp_path, monkeypatch):
    """A private copy of the quiet city, open read-write."""
    con = connect(private_copy(quiet_db, tmp_path, monkeypatch))
    yield con
    con.close()


def _incidents(con) -> list[dict]:
    return outages_sql.list_incidents(con.cursor())


def test_a_scan_sees_the_outage_as_of_its_moment(city):
    load(city, surge(OUTAGE, 60, reporters=300))
    scan(city, OUTAGE + timedelta(minutes=4))
    early = _incidents(city)
    assert [(i["network"], i["status"], i["scope"]) for i in early] == [("KT", "suspected", "city")]
    scan(city, OUTAGE + timedelta(minutes=30))
    assert _incidents(city)[0]["status"] == "ongoing"
    scan(city, OUTAGE + timedelta(hours=3))
    final = _incidents(city)
    assert len(final) == 1 and final[0]["incident_id"] == early[0]["incident_id"]  # the same incident, updated
    row = final[0]
    assert row["status"] == "resolved" and row["confirmed"]
    assert abs((row["onset_at"] - OUTAGE).total_seconds()) <= 180
    assert abs((row["ended_at"] - (OUTAGE + timedelta(minutes=60))).total_seconds()) <= 300
    assert row["reporters"] >= 295  # the surge's people, plus a few usual ones
    history = outages_sql.history_of(city.cursor(), [row["incident_id"]])[row["incident_id"]]
    assert [h[0] for h in history] == ["suspected", "ongoing", "recovering", "resolved"]
    assert row["incident_id"] == "KT-20211020-1116"


def test_scanning_step_by_step_gives_the_batch_result(city, tmp_path):
    load(city, surge(OUTAGE, 45, reporters=200))
    batch_path = tmp_path / "batch.duckdb"
    city.close()
    shutil.copy(tmp_path / "city.duckdb", batch_path)
    live = connect(tmp_path / "city.duckdb")
    seen = []
    t = OUTAGE - timedelta(minutes=10)
    while t <= OUTAGE + timedelta(minutes=120):
        scan(live, t)
        seen.append(tuple(i["status"] for i in _incidents(live)))
        t += timedelta(minutes=10)
    batch = connect(batch_path)
    replay(batch, OUTAGE - timedelta(hours=6), t - timedelta(minutes=10))
    keys = ("incident_id", "status", "onset_at", "detected_at", "ended_at", "resolved_at", "reporters", "scope")
    assert [{k: i[k] for k in keys} for i in _incidents(live)] == [{k: i[k] for k in keys} for i in _incidents(batch)]
    statuses = [s[0] for s in seen if s]
    assert all(len(s) <= 1 for s in seen)  # never a duplicate
    order = ["suspected", "ongoing", "recovering", "resolved"]
    assert statuses == sorted(statuses, key=order.index)  # the status only moves forward
    live.close()
    batch.close()


def test_flagged_reports_never_count_and_withdraw_an_incident(city):
    frame = surge(OUTAGE, 60, reporters=300)
    load_frame(city, frame, Origin(source="web"), status=pd.Series(["flagged"] * len(frame)),
               now=datetime(2021, 12, 1, tzinfo=SEOUL))
    scan(city, OUTAGE + timedelta(hours=3))
    assert _incidents(city) == []
    load(city, surge(OUTAGE, 60, reporters=300, prefix="REAL"))
    scan(city, OUTAGE + timedelta(hours=3))
    assert [i["status"] for i in _incidents(city)] == ["resolved"]
    # Moderation flags those reports afterwards: the next scan withdraws the incident.
    city.execute("UPDATE reports SET status = 'flagged' WHERE observed_at BETWEEN ? AND ?",
                 [OUTAGE, OUTAGE + timedelta(minutes=61)])
    scan(city, OUTAGE + timedelta(hours=4))
    assert [i["status"] for i in _incidents(city)] == ["withdrawn"]


def test_mvno_reports_count_toward_their_host_network(city):
    load(city, surge(OUTAGE, 40, reporters=200, carrier="KT M모바일"))
    scan(city, OUTAGE + timedelta(hours=2))
    assert [i["network"] for i in _incidents(city)] == ["KT"]


def test_a_district_outage_is_named_by_district(city):
    load(city, surge(OUTAGE, 180, reporters=250, districts=("마포구", "서대문구")))
    scan(city, OUTAGE + timedelta(hours=5))
    incidents = _incidents(city)
    assert len(incidents) == 1 and incidents[0]["scope"] == "districts"
    areas = outages_sql.areas_of(city.cursor(), [incidents[0]["incident_id"]])[incidents[0]["incident_id"]]
    assert {a["sig_cd"] for a in areas} == {"11440", "11410"}  # 마포구, 서대문구


def test_replay_jumps_over_time_without_reports(city):
    load(city, surge(OUTAGE, 60, reporters=300))
    result = replay(city, datetime(2015, 1, 1, tzinfo=SEOUL), OUTAGE + timedelta(hours=3))
    assert [i["status"] for i in _incidents(city)] == ["resolved"]
    assert result.incident_ids == ["KT-20211020-1116"]
    scanned, _ = outages_sql.scan_state(city.cursor())
    assert scanned == OUTAGE + timedelta(hours=3)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "outages", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_cli_scan_prints_the_incidents_as_json(city, tmp_path):
    load(city, surge(OUTAGE, 60, reporters=300))
    city.close()
    done = _cli("scan", "--db", str(tmp_path / "city.duckdb"), "--at", "2021-10-20T11:40")
    assert done.returncode == 0, done.stderr
    incidents = json.loads(done.stdout)
    assert [(i["id"], i["carrier"], i["status"]) for i in incidents] == [("KT-20211020-1116", "KT", "ongoing")]
    assert incidents[0]["onset"].startswith("2021-10-20T11:1") and incidents[0]["onset"].endswith("+09:00")
    text = done.stdout
    assert "USUAL-" not in text and "SURGE-" not in text and '"lat"' not in text  # no reporter, no coordinate


@pytest.mark.parametrize(("args", "code", "says"), [
    (["scan", "--at", "yesterday"], 2, "ISO 8601"),
    (["replay", "--since", "2021-13-01"], 2, "ISO 8601"),
    (["frobnicate"], 2, "invalid choice"),
])
def test_cli_rejects_bad_arguments(args, code, says, tmp_path):
    done = _cli(*args[:1], "--db", str(tmp_path / "x.duckdb"), *args[1:]) if args[0] != "frobnicate" else _cli(*args)
    assert done.returncode == code and says in done.stderr


def test_cli_refuses_a_database_held_by_another_process(city, tmp_path):
    done = _cli("scan", "--db", str(tmp_path / "city.duckdb"))  # the fixture's connection holds it
    assert done.returncode == 1 and "held by" in done.stderr


def test_the_live_detector_catches_up_scans_now_and_queues_webhooks(tmp_path, monkeypatch):
    from outages import service

    now = datetime.now(SEOUL).replace(second=0, microsecond=0)
    start = (now - timedelta(days=22)).replace(hour=0, minute=0)
    path = tmp_path / "live.duckdb"
    monkeypatch.setenv("DROPMAP_DB", str(path))
    hooks = tmp_path / "hooks.json"
    hooks.write_text(json.dumps({"hooks": [{"url": "http://127.0.0.1:9/x", "secret": "s"}]}))
    monkeypatch.setenv("DROPMAP_WEBHOOKS", str(hooks))
    con = connect(path)
    quiet = quiet_city(days=22, start=start)
    load_frame(con, quiet[pd.to_datetime(quiet["observed_at"]) < now - timedelta(minutes=40)], Origin(source="web"))
    load_frame(con, surge(now - timedelta(minutes=25), 20, reporters=150), Origin(source="web"))
    result = service.tick(con)
    [incident] = _incidents(con)
    assert incident["status"] in ("suspected", "ongoing") and incident["network"] == "KT"
    assert (incident["incident_id"], "opened") in [(i, e) for i, e, _ in result.events]
    assert outages_sql.deliveries(con.cursor())["event"].tolist() == ["opened"]  # queued, not sent by the scan
    scanned, received = outages_sql.scan_state(con.cursor())
    assert scanned is not None and received is not None
    con.close()
