"""Many API clients and site sessions at once: nothing lost, nothing stored twice (exact counts)."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from stored import issued_code

from api import reports as api_reports
from ingest.abuse import LIMITER
from ingest.submit import submit_reports
from ingest.web_form import form_row
from store.db import close_shared, connect, shared_connection

THREADS = 8
PER_THREAD = 12
THREAD_CODES = [issued_code() for _ in range(THREADS + 2)]  # codes as the site issues them (ingest.codes)


@pytest.fixture
def app(db_path, monkeypatch):
    monkeypatch.setenv("DROPMAP_RATE_PER_IP", "0")
    monkeypatch.setenv("DROPMAP_RATE_PER_CODE", "0")
    monkeypatch.setenv("DROPMAP_API_REQUESTS_PER_MINUTE", "0")  # one test client's address sends them all
    LIMITER.clear()
    yield Starlette(routes=api_reports.ROUTES)
    close_shared()


def report(thread: int, n: int) -> dict:
    # Each thread is a reporter walking ~200 m per report, one report every 7 minutes: no near-duplicates.
    return {"lat": 37.50 + 0.002 * n, "lon": 126.90 + 0.01 * thread, "carrier": "KT", "kind": "no_data",
            "observed_at": f"2021-10-25T{9 + n * 7 // 60:02d}:{n * 7 % 60:02d}:00+09:00",
            "reporter_code": THREAD_CODES[thread]}


def run_threads(target) -> list:
    results, errors = [], []

    def guarded(t):
        try:
            results.extend(target(t))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def stored_counts(db_path) -> tuple[int, int, int]:
    close_shared()
    con = connect(db_path, read_only=True)
    try:
        return con.execute("SELECT count(*), count(DISTINCT report_id), count(DISTINCT reporter) FROM reports"
                           ).fetchone()
    finally:
        con.close()


def test_api_clients_at_once_lose_nothing(app, db_path):
    def client_posts(t):
        with TestClient(app) as client:
            return [client.post("/api/v1/reports", json=report(t, n)) for n in range(PER_THREAD)]

    responses = run_threads(client_posts)
    assert [r.status_code for r in responses] == [201] * THREADS * PER_THREAD
    ids = [i for r in responses for i in r.json()["ids"]]
    assert len(ids) == len(set(ids)) == THREADS * PER_THREAD
    assert stored_counts(db_path) == (THREADS * PER_THREAD, THREADS * PER_THREAD, THREADS)


def test_the_same_report_sent_by_every_thread_is_stored_once(app, db_path):
    barrier = threading.Barrier(THREADS)

    def same_report(t):
        with TestClient(app) as client:
            barrier.wait()
            return [client.post("/api/v1/reports", json=report(0, 0))]

    responses = run_threads(same_report)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * (THREADS - 1) + [201]
    assert stored_counts(db_path)[0] == 1


def test_site_sessions_and_api_clients_together(app, db_path):
    con = shared_connection(db_path)

    def mixed(t):
        if t % 2:
            with TestClient(app) as client:
                return [client.post("/api/v1/reports", json=report(t, n)).json()["accepted"]
                        for n in range(PER_THREAD)]
        out = []
        for n in range(PER_THREAD):
            r = report(t, n)
            row = form_row(lat=r["lat"], lon=r["lon"], carrier="KT", kind="no_data",
                           observed_at=pd.Timestamp(r["observed_at"]).to_pydatetime())
            out.append(submit_reports(con, row, source="web", reporter_code=r["reporter_code"]).accepted)
        return out

    accepted = run_threads(mixed)
    assert sum(accepted) == THREADS * PER_THREAD
    assert stored_counts(db_path) == (THREADS * PER_THREAD, THREADS * PER_THREAD, THREADS)


def test_a_merged_batch_gives_each_submission_its_own_rows_and_identity(con):
    """Group commit, made deterministic: three submissions stored as one batch (ingest.submit._store)."""
    from ingest import submit
    from ingest.identity import code_key, keyed_hash

    def frame(*rows):
        return pd.DataFrame(list(rows), dtype=object)

    bad = {**report(9, 0), "lat": "north"}
    coded = submit._Submission(frame(report(1, 0), bad), "api", THREAD_CODES[1], "10.0.0.1", con)
    by_ip = submit._Submission(frame({k: v for k, v in report(2, 0).items() if k != "reporter_code"}), "api",
                               None, "10.0.0.2", con)
    # No code, no IP: its own request identity; its second row is a near-duplicate of its first.
    anonymous = submit._Submission(frame({k: v for k, v in report(3, 0).items() if k != "reporter_code"},
                                         {k: v for k, v in report(3, 0).items() if k != "reporter_code"}
                                         | {"lat": 37.5001}), "api", None, None, con)
    submit._store([coded, by_ip, anonymous])
    results = [s.result for s in (coded, by_ip, anonymous)]
    assert [(r.rows, r.accepted, r.rejected, r.duplicates) for r in results] == [(2, 1, 1, 0), (1, 1, 0, 0),
                                                                                  (2, 1, 0, 1)]
    assert [[p["row"] for p in r.reports] for r in results] == [[1], [1], [1]]
    assert {e["row"] for e in coded.result.errors} == {2} and not by_ip.result.errors
    assert [c["row"] for c in anonymous.result.collapsed] == [2]
    assert con.execute("SELECT count(*) FROM batches").fetchone()[0] == 1
    stored = dict(con.execute("SELECT CAST(report_id AS VARCHAR), reporter FROM reports").fetchall())
    assert stored[coded.result.reports[0]["id"]] == keyed_hash("code", code_key(THREAD_CODES[1]))
    assert stored[by_ip.result.reports[0]["id"]] == keyed_hash("ip", "10.0.0.2")
    assert stored[anonymous.result.reports[0]["id"]] == keyed_hash("request", anonymous.identity)


def test_the_writer_drops_a_submission_whose_waiter_left_and_keeps_serving(con, monkeypatch):
    """An API client that disconnects while its report waits: never stored, never answered; the next are."""
    from ingest import submit

    monkeypatch.setenv("DROPMAP_RATE_PER_IP", "0")
    monkeypatch.setenv("DROPMAP_RATE_PER_CODE", "0")

    def rows(thread):
        return pd.DataFrame([report(thread, 0)], dtype=object)

    with submit.writer_gate():  # the writer takes the first submission and waits at the gate
        first = submit.start_submission(con, rows(1), source="api")
        for _ in range(200):
            if first.running():
                break
            threading.Event().wait(0.01)
        assert first.running()
        gone = submit.start_submission(con, rows(2), source="api")
        assert gone.cancel()  # still pending: its client went away
    assert first.result(timeout=60).accepted == 1
    assert submit.submit_reports(con, rows(3), source="api").accepted == 1  # the writer still serves
    stored = sorted(r for (r,) in con.execute("SELECT lon FROM reports").fetchall())
    assert stored == [pytest.approx(126.91), pytest.approx(126.93)]
