"""The shared store (DROPMAP_STORE: DuckLake with its catalog in PostgreSQL) holds the same schema and gives
the same answers as the embedded file, and several processes use it at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
import pytest
from conftest import ROOT, SMALL_DEMO, start_site

from core.errors import StoreError
from store.db import connect, cursor, is_shared
from store.migrations import current_schema, portable


def _columns(con) -> pd.DataFrame:
    """Every table's columns, types, nullability and defaults (the schema as the code sees it)."""
    # DuckLake's catalog says 'NULL' where a column has no default; DuckDB's, NULL.
    return con.execute(
        "SELECT table_name, column_name, data_type, is_nullable, nullif(column_default, 'NULL') AS column_default"
        " FROM information_schema.columns WHERE table_catalog = current_database() AND table_schema = 'main'"
        " ORDER BY ALL").df()


def test_key_constraints_are_left_out_only_in_a_shared_store():
    sql = "CREATE TABLE t (a VARCHAR PRIMARY KEY, b INTEGER NOT NULL, c INTEGER, PRIMARY KEY (b, c))"
    assert portable(sql, False) == sql
    assert portable(sql, True) == "CREATE TABLE t (a VARCHAR NOT NULL, b INTEGER NOT NULL, c INTEGER)"
    assert portable("CREATE TABLE u (a INTEGER NOT NULL PRIMARY KEY, b INTEGER UNIQUE)", True) == (
        "CREATE TABLE u (a INTEGER NOT NULL, b INTEGER)")
    assert all("PRIMARY KEY" not in portable(s, True) for s in current_schema())


def test_a_new_shared_store_has_the_schema_a_migrated_file_has(shared_store, tmp_path):
    shared = connect()
    assert is_shared(shared_store)
    file = connect(tmp_path / "file.duckdb")
    try:
        pd.testing.assert_frame_equal(_columns(shared), _columns(file))
        recorded = "SELECT name FROM schema_migrations ORDER BY name"
        assert shared.execute(recorded).fetchall() == file.execute(recorded).fetchall()
    finally:
        shared.close()
        file.close()
    again = connect()  # opening it again changes nothing
    try:
        pd.testing.assert_frame_equal(_columns(again), _columns(connect(tmp_path / "file.duckdb", read_only=True)))
    finally:
        again.close()


def test_the_extensions_come_from_their_packages_and_are_never_downloaded(shared_store):
    con = connect()
    try:
        rows = con.execute("SELECT extension_name, install_path FROM duckdb_extensions()"
                           " WHERE extension_name IN ('ducklake', 'postgres_scanner') AND loaded").fetchall()
        assert {name for name, _ in rows} == {"ducklake", "postgres_scanner"}
        assert all(".cache/duckdb-extensions" in path for _, path in rows)
        assert con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()[0] is False
    finally:
        con.close()


def test_a_code_and_the_detector_state_are_written_once_in_both_stores(shared_store, tmp_path):
    from store import codes_sql, outages_sql

    now = datetime(2021, 10, 25, 3, 0, tzinfo=UTC)
    for con in (connect(), connect(tmp_path / "file.duckdb")):
        try:
            with cursor(con) as cur:
                codes_sql.record_code(cur, 42, now, 7)
                codes_sql.record_code(cur, 42, now + timedelta(hours=1), 8)  # the first stays
                assert cur.execute("SELECT code_hash, issued_at, prefix_hash FROM codes").fetchall() == [(42, now, 7)]
                outages_sql.save_scan_state(cur, None, None, now)
                outages_sql.save_scan_state(cur, now, now - timedelta(minutes=1), now + timedelta(minutes=1))
                assert outages_sql.scan_state(cur) == (now, now - timedelta(minutes=1))
                assert cur.execute("SELECT count(*) FROM outage_scan_state").fetchone()[0] == 1
                outages_sql.save_history_state(cur, kept_from=1, kept_until=2, dedup_minutes=3, reports_seen=4,
                                               now=now)
                outages_sql.save_history_state(cur, kept_from=5, kept_until=6, dedup_minutes=7, reports_seen=8,
                                               now=now)
                assert outages_sql.history_state(cur) == {"kept_from": 5, "kept_until": 6, "dedup_minutes": 7,
                                                          "reports_seen": 8}
        finally:
            con.close()


def _build_small_demo(location) -> None:
    from ingest.demo import DemoOptions, build_demo

    con = connect(location)
    try:
        build_demo(con, DemoOptions(**SMALL_DEMO))
    finally:
        con.close()


def test_the_demo_city_gives_the_same_map_counts_and_outage_in_both_stores(shared_store, tmp_path):
    """The same demo, built into each store: the same totals, the same map, the same 2021 KT outage found."""
    from geo import mapview
    from geo.mapquery import MapQuery
    from outages.scan import replay
    from store.summary import overview

    file = tmp_path / "file.duckdb"
    _build_small_demo(shared_store)
    _build_small_demo(file)
    start = datetime(2021, 10, 25, 9, 0, tzinfo=UTC) - timedelta(hours=9)
    seen = {}
    for name, location in (("shared", shared_store), ("file", file)):
        con = connect(location)
        try:
            replay(con, start, start + timedelta(hours=6))
            with cursor(con) as cur:
                queries = (MapQuery(res=8), MapQuery(res=9, carrier="KT", hours=(18, 18)),
                           MapQuery(res=7, mode="compare"))
                views = [mapview.level_view(cur, q).frame for q in queries]
                incidents = cur.execute("SELECT incident_id, network, status, scope, onset_at FROM incidents"
                                        " ORDER BY incident_id").df()
                seen[name] = (overview(cur), views, incidents)
        finally:
            con.close()
    assert seen["shared"][0] == seen["file"][0]
    assert seen["file"][0]["failures"] > 0
    for shared_view, file_view in zip(seen["shared"][1], seen["file"][1], strict=True):
        assert len(file_view) > 0
        pd.testing.assert_frame_equal(shared_view.sort_values(list(shared_view.columns[:2])).reset_index(drop=True),
                                      file_view.sort_values(list(file_view.columns[:2])).reset_index(drop=True))
    pd.testing.assert_frame_equal(seen["shared"][2], seen["file"][2])
    assert (seen["file"][2]["network"] == "KT").any()  # the 2021 outage was found


def test_two_processes_write_and_read_one_shared_store_at_once(shared_store):
    """What a file cannot do: a second process stores reports while this one holds the store open."""
    con = connect()
    try:
        with cursor(con) as cur:
            before = cur.execute("SELECT count(*) FROM reports").fetchone()[0]
        script = ("from ingest.demo import DemoOptions, build_demo; from store.db import connect; "
                  "con = connect(); build_demo(con, DemoOptions(reports=2000, days=7, seed=3, kt_outage=False)); "
                  "con.close()")
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, capture_output=True, timeout=300)
        with cursor(con) as cur:
            after, demo = cur.execute("SELECT count(*), count_if(source = 'demo') FROM reports").fetchone()
        assert before == 0
        assert after == demo > 2000
    finally:
        con.close()


def test_a_shared_store_that_cannot_be_reached_says_so_and_names_nothing_of_it(postgres, tmp_path, monkeypatch,
                                                                                caplog):
    location = f"ducklake:postgres:dbname=missing host={postgres.folder} port={postgres.port} user=dropmap"
    monkeypatch.setenv("DROPMAP_LAKE_DATA", str(tmp_path / "lake"))
    with pytest.raises(StoreError, match="cannot open the shared store named by DROPMAP_STORE") as refused:
        connect(location)
    assert "missing" not in str(refused.value) and str(postgres.folder) not in str(refused.value)  # pages show it
    assert "missing" in caplog.text  # the operator's log says why
    assert not isinstance(StoreError("x"), duckdb.Error)


@pytest.mark.parametrize("location", ["ducklake:postgres:dbname=d user=u password=hunter2",
                                      "ducklake:postgres:dbname=d user=u password = 'hunter2 x'",
                                      "ducklake:postgres:postgresql://u:hunter2@localhost/d"])
def test_a_password_in_the_location_is_refused_without_being_repeated(location):
    """The location names the store's database in DuckDB: a password there would show wherever the name does."""
    with pytest.raises(StoreError, match="must not carry a password.*PGPASSWORD") as refused:
        connect(location)
    assert "hunter2" not in str(refused.value)


def test_only_a_catalog_in_postgresql_makes_a_shared_store(tmp_path):
    with pytest.raises(StoreError, match="must start with ducklake:postgres:"):
        connect(f"ducklake:{tmp_path / 'x.ducklake'}")


def _in_processes(count: int, script: str) -> list[subprocess.CompletedProcess]:
    """``script`` in ``count`` processes started together (DROPMAP_STORE from the environment); waits for all."""
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(count)]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=300), p.stdout.read(), p.stderr.read())
            for p in procs]


def test_replicas_opening_a_new_shared_store_at_once_all_open_it(shared_store):
    done = _in_processes(3, "from store.db import connect; connect().close(); print('opened')")
    assert [d.stdout.strip() for d in done] == ["opened"] * 3, [d.stderr[-500:] for d in done]


def test_two_replicas_storing_the_same_reports_at_once_store_each_once(shared_store):
    """The duplicate check and the insert hold the store's writer lock (store.pg.writer_lock) across processes."""
    from ingest.codes import mint_code

    connect().close()
    script = ("import pandas as pd; from ingest.loader import Origin, load_frame; from store.db import connect\n"
              "rows = [{'lat': 37.45 + 0.002 * (n % 100), 'lon': 126.85 + 0.0001 * (n // 100), 'carrier': 'KT',"
              f" 'kind': 'dropped_call', 'reporter_code': '{mint_code()}',"  # one reporter: equal rows are repeats
              " 'observed_at': f'2026-01-05T{n // 60 % 24:02d}:{n % 60:02d}:00+09:00'} for n in range(1200)]\n"
              "con = connect(); r = load_frame(con, pd.DataFrame(rows), Origin(source='cli:csv')); print(r.accepted)")
    done = _in_processes(2, script)
    assert all(d.returncode == 0 for d in done), [d.stderr[-800:] for d in done]
    con = connect()
    try:
        rows, distinct = con.execute("SELECT count(*), count(DISTINCT fingerprint) FROM reports").fetchone()
    finally:
        con.close()
    assert rows == distinct == 1200
    assert sorted(int(d.stdout.split()[-1]) for d in done) == [0, 1200]


def test_moderation_and_reports_arriving_at_once_both_succeed(shared_store, tmp_path):
    """In DuckLake an UPDATE of reports conflicts with a concurrent insert; under the writer lock neither fails."""
    import threading

    import pandas as pd

    from ingest.loader import Origin, load_frame
    from store.moderation import flag_reports, restore_reports

    con = connect()
    report = {"lat": 37.5, "lon": 127.0, "carrier": "KT", "kind": "dropped_call",
              "observed_at": "2026-01-05T09:00:00+09:00"}
    ((first, _),) = load_frame(con, pd.DataFrame([report]), Origin(source="web"), return_ids=True).report_ids
    failures: list[BaseException] = []

    def moderate() -> None:
        try:
            with cursor(con) as cur:
                for _ in range(8):
                    flag_reports(cur, [first], operator="op", reason="test")
                    restore_reports(cur, [first], operator="op", reason="test")
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    thread = threading.Thread(target=moderate)
    thread.start()
    try:
        for n in range(12):
            load_frame(con, pd.DataFrame([{**report, "lat": 37.45 + 0.003 * n,
                                           "observed_at": f"2026-01-05T{10 + n}:00:00+09:00"}]), Origin(source="api"))
    finally:
        thread.join()
        con.close()
    assert failures == []


def test_small_writes_of_codes_and_detector_state_leave_no_data_file(shared_store, tmp_path):
    from store import codes_sql, outages_sql

    con = connect()
    try:
        with cursor(con) as cur:
            now = datetime(2026, 1, 5, tzinfo=UTC)
            for n in range(15):
                codes_sql.record_code(cur, 1000 + n, now, None)
                outages_sql.save_scan_state(cur, now, now, now + timedelta(minutes=n))
            assert cur.execute("SELECT count(*) FROM codes").fetchone()[0] == 15
    finally:
        con.close()
    assert not list((tmp_path / "lake").rglob("*.parquet"))


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.loads(answer.read())


def test_the_site_serves_and_stores_through_a_shared_store_only(shared_store, tmp_path, tmp_path_factory):
    """`streamlit run app.py` with DROPMAP_STORE set: the API answers from the shared store, a posted report lands
    there, the outage detector scans it, and the file DROPMAP_DB is never created."""
    _build_small_demo(shared_store)
    env = {"DROPMAP_STORE": shared_store, "DROPMAP_LAKE_DATA": str(tmp_path / "lake"), "DROPMAP_CACHE_SECONDS": "0",
           "DROPMAP_SCAN_SECONDS": "1"}
    sites = start_site(tmp_path / "unused.duckdb", tmp_path_factory, **env)
    site = next(sites)
    try:
        before = _get(site["url"] + "/api/v1/stats")
        assert before["reports"] > 0 and before["synthetic"] is True
        request = urllib.request.Request(
            site["url"] + "/api/v1/reports", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"lat": 37.5665, "lon": 126.978, "carrier": "KT", "kind": "dropped_call",
                             "observed_at": "2021-10-30T12:00:00+09:00"}).encode())
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert answer.status == 201
            (stored,) = json.loads(answer.read())["ids"]
        deadline = time.time() + 60  # the data version is read again at most once a second (store.cache)
        while _get(site["url"] + "/api/v1/stats")["reports"] == before["reports"] and time.time() < deadline:
            time.sleep(0.5)
        assert _get(site["url"] + "/api/v1/stats")["reports"] == before["reports"] + 1
        while _get(site["url"] + "/api/v1/status")["detector"]["scanned_until"] is None and time.time() < deadline:
            time.sleep(1)
        assert _get(site["url"] + "/api/v1/status")["detector"]["scanned_until"] is not None
    finally:
        sites.close()
    con = connect()
    try:
        with cursor(con) as cur:
            assert cur.execute("SELECT count(*) FROM reports WHERE report_id = ?", [stored]).fetchone()[0] == 1
            assert cur.execute("SELECT count(*) FROM outage_scan_state").fetchone()[0] == 1
    finally:
        con.close()
    assert not site["db"].exists()  # DROPMAP_DB: never opened


def test_tasks_for_the_file_refuse_a_shared_store_and_say_how(monkeypatch, tmp_path):
    from store.cli import backup, order

    monkeypatch.setenv("DROPMAP_STORE", "ducklake:postgres:dbname=anything")
    for task in (lambda: backup(str(tmp_path / "copy.duckdb"), None, None), lambda: order(None, False)):
        with pytest.raises(StoreError, match="DROPMAP_STORE names a shared store.*pg_dump"):
            task()
