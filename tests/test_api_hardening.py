"""Issue 11, items 4 and 5: no client can stall the site, and one bad record never fails another request.

Each test names the attack it repeats; each fails when its defence is taken out.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from stored import route_client, stored_reports

from api import _budget
from api import codes as api_codes
from api import reports as api_reports
from api import stations as api_stations
from api import status as status_api
from core.errors import InputError
from ingest import submit
from ingest.abuse import LIMITER


@pytest.fixture
def client(db_path, monkeypatch):
    monkeypatch.setattr(api_reports, "TARPIT_SECONDS", 0.01)
    LIMITER.clear()
    _budget.clear()
    with route_client(api_reports.ROUTES + status_api.ROUTES + api_codes.ROUTES + api_stations.ROUTES) as c:
        yield c
    LIMITER.clear()
    _budget.clear()


@pytest.fixture
def parses(monkeypatch):
    """How often a request body reached json.loads."""
    calls = []
    real = json.loads

    def counting(text, *args, **kwargs):
        calls.append(len(text))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(api_reports.json, "loads", counting)
    return calls


def report(n: int = 0, **more) -> dict:
    base = {"lat": 37.50 + 0.003 * n, "lon": 126.978, "carrier": "KT", "kind": "dropped_call",
            "observed_at": f"2021-10-25T{10 + n // 6:02d}:{n % 6 * 10:02d}:00+09:00"}
    return {**base, **more}


def post(client, body: bytes, **headers):
    return client.post("/api/v1/reports", content=body, headers={"Content-Type": "application/json", **headers})


# --- the quota is charged before the parse ---------------------------------------------

def test_request_budget_answers_429_without_parsing_the_body(client, parses, monkeypatch):
    monkeypatch.setenv("DROPMAP_API_REQUESTS_PER_MINUTE", "2")
    hostile = b"[" + b",".join([b"{}"] * 500)  # cut short
    assert post(client, hostile).status_code == 400  # parsed: not valid JSON
    assert post(client, hostile).status_code == 400
    parsed = len(parses)
    r = post(client, hostile)
    assert len(parses) == parsed  # refused before json.loads saw it
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 60
    assert "per minute" in r.json()["errors"][0]["message"]


def test_byte_budget_answers_429_before_the_parse(client, parses, monkeypatch):
    monkeypatch.setenv("DROPMAP_API_BYTES_PER_HOUR", "3000")
    body = json.dumps([report(n) for n in range(12)]).encode()
    assert 1000 < len(body) < 1500
    assert post(client, body).status_code == 201
    assert post(client, body).status_code == 200  # the same reports again: nothing new
    parsed = len(parses)
    r = post(client, body)
    assert len(parses) == parsed
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_a_body_with_two_codes_pays_its_request(client, monkeypatch):
    """Refused before the report quota (nothing stored), but not free: it spends the request budget."""
    monkeypatch.setenv("DROPMAP_API_REQUESTS_PER_MINUTE", "3")
    two = json.dumps([report(0, reporter_code="AAAA-BBBB-CCCC"), report(1, reporter_code="DDDD-EEEE-FFFF")])
    assert [post(client, two.encode()).status_code for _ in range(4)] == [400, 400, 400, 429]


# --- bounded parse: items, nesting, values ---------------------------------------------

def test_huge_list_of_empty_objects_is_413_without_a_parse(client, parses):
    """The attack of issue 11: a 4.8 MB ``[{},{},...]`` used to be parsed on the event loop."""
    body = b"[" + b",".join([b"{}"] * 1_600_000) + b"]"
    assert len(body) > 4_800_000
    r = post(client, body)
    assert parses == []
    assert r.status_code == 413 and "DROPMAP_MAX_ITEMS" in r.json()["errors"][0]["message"]


def test_item_limit(client, db_path, monkeypatch):
    monkeypatch.setenv("DROPMAP_MAX_ITEMS", "3")
    r = post(client, json.dumps([report(n) for n in range(4)]).encode())
    assert r.status_code == 413 and r.json()["errors"][0]["field"] == "(body)"
    assert post(client, json.dumps([report(n) for n in range(3)]).encode()).status_code == 201
    assert len(stored_reports(db_path)) == 3


@pytest.mark.parametrize("body", [
    b"[" * 10_000 + b"]" * 10_000,                # RecursionError in json.loads
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    json.dumps(report(0, note=[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]])).encode(),  # past 16 levels
])
def test_deep_nesting_is_400_naming_the_body(client, body):
    r = post(client, body)
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["field"] == "(body)" and "nested deeper than 16" in error["message"]


def test_a_feature_collection_is_not_too_deep(client):
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {
        "type": "Point", "coordinates": [126.978, 37.5665]}, "properties": {"carrier": "SKT", "kind": "no_data",
                                                                             "time": "2021-10-25 11:20"}}]}
    assert post(client, json.dumps(doc).encode()).status_code == 201


def test_the_parse_runs_off_the_event_loop(client, monkeypatch):
    seen = []
    real = api_reports._parse

    def recording(body):
        seen.append(threading.current_thread() is threading.main_thread() or _in_event_loop())
        return real(body)

    monkeypatch.setattr(api_reports, "_parse", recording)
    assert post(client, json.dumps(report()).encode()).status_code == 201
    assert seen == [False]


def _in_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# --- one poisoned record ---------------------------------------------------------------

def test_a_lone_surrogate_is_400_naming_the_field(client, db_path):
    body = json.dumps([report(0), report(1, note="\ud800")]).encode()  # json.dumps writes it as \ud800
    assert b"\\ud800" in body
    r = post(client, body)
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert (error["row"], error["field"]) == (2, "note")
    assert len(stored_reports(db_path)) == 0


def _frame(n: int, **more) -> pd.DataFrame:
    return pd.DataFrame([report(n, **more)], dtype=object)


def _poisoned_together(con, monkeypatch, honest: int = 6):
    """``honest`` clean submissions and one with a lone surrogate in its note, queued while the writer is
    busy so that they are stored as one merged batch; returns (honest futures, poisoned future)."""
    monkeypatch.setenv("DROPMAP_RATE_PER_IP", "0")
    monkeypatch.setenv("DROPMAP_RATE_PER_CODE", "0")
    with submit.writer_gate():  # the writer takes the first and waits here; the rest queue up together
        first = submit.start_submission(con, _frame(20), source="api", ip="10.0.0.20")
        for _ in range(500):
            if first.running():
                break
            threading.Event().wait(0.01)
        assert first.running()
        futures = [submit.start_submission(con, _frame(n), source="api", ip=f"10.0.0.{n}") for n in range(honest)]
        poisoned = submit.start_submission(con, _frame(9, note="before \ud800 after"), source="api", ip="10.0.0.9")
        more = [submit.start_submission(con, _frame(n), source="api", ip=f"10.0.1.{n}")
                for n in range(honest, honest + 2)]
    return [first, *futures, *more], poisoned


def test_a_poisoned_submission_fails_only_itself(con, monkeypatch):
    honest, poisoned = _poisoned_together(con, monkeypatch)
    assert [f.result(timeout=60).accepted for f in honest] == [1] * len(honest)
    with pytest.raises(InputError) as caught:
        poisoned.result(timeout=60)
    assert caught.value.field == "note" and "\\ud800" in caught.value.value
    assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == len(honest)


def test_when_a_merged_batch_fails_each_submission_is_stored_on_its_own(con, monkeypatch):
    """The safety net: with the text check taken out, the merged load fails; the others still succeed."""
    monkeypatch.setattr(submit, "unencodable_field", lambda record: None)
    honest, poisoned = _poisoned_together(con, monkeypatch)
    assert [f.result(timeout=60).accepted for f in honest] == [1] * len(honest)
    with pytest.raises(UnicodeError):
        poisoned.result(timeout=60)
    assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == len(honest)


# --- time limit of public reads --------------------------------------------------------

SLOW = "SELECT sum(hash(a.range + b.range)) FROM range(10000) a, range(10000) b"  # seconds of work


def test_a_slow_read_is_stopped_with_query_timeout(db_path):
    from store.db import close_shared
    from store.read import QueryTimeout, run_read

    try:
        with pytest.raises(QueryTimeout):
            run_read(lambda cur: cur.execute(SLOW).fetchall(), limit_ms=100)
        assert run_read(lambda cur: cur.execute("SELECT 42").fetchone()[0], limit_ms=100) == 42
    finally:
        close_shared()


def test_a_slow_public_query_is_503_with_retry_after(client, monkeypatch):
    monkeypatch.setenv("DROPMAP_QUERY_MS", "100")
    monkeypatch.setattr(status_api, "_status", lambda cur, base_url: cur.execute(SLOW).fetchall())
    r = client.get("/api/v1/status")
    assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
    assert "100 ms" in r.json()["errors"][0]["message"]


def test_503_names_neither_the_database_path_nor_a_pid(client, db_path):
    """Another process holds the database: the answer says so in plain words, the log keeps the details."""
    from store.db import close_shared, connect

    connect(db_path).close()
    close_shared()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)"),
        str(db_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        answers = [client.get("/api/v1/status"), post(client, json.dumps(report()).encode()),
                   client.post("/api/v1/codes"), client.get("/api/v1/stations?line=2")]
    finally:
        holder.kill()
        holder.wait()
    for r in answers:
        assert r.status_code == 503 and r.headers["Retry-After"]
        text = r.text
        assert str(db_path) not in text and db_path.name not in text
        assert "PID" not in text and str(holder.pid) not in text and "process" not in text.lower()


# --- robustness: links, webhook URLs ---------------------------------------------------

def test_links_ignore_the_host_header(client, monkeypatch):
    evil = {"Host": "evil.example"}
    doc = client.get("/api/v1/status", headers=evil).json()
    assert doc["links"]["atom"] == "/api/v1/incidents.atom"  # relative without DROPMAP_BASE_URL
    atom = client.get("/api/v1/incidents.atom", headers=evil)
    assert b"evil.example" not in atom.content
    monkeypatch.setenv("DROPMAP_BASE_URL", "https://dropmap.example/")
    doc = client.get("/api/v1/status", headers=evil).json()
    assert set(doc["links"].values()) == {"https://dropmap.example/api/v1/incidents.atom",
                                         "https://dropmap.example/api/v1/incidents", "https://dropmap.example/outages"}
    feed = ET.fromstring(client.get("/api/v1/incidents.atom", headers=evil).content)
    hrefs = [link.get("href") for link in feed.iter("{http://www.w3.org/2005/Atom}link")]
    assert hrefs and all(h.startswith("https://dropmap.example/") for h in hrefs)


def test_webhook_urls_are_not_logged(con, caplog):
    from datetime import UTC, datetime

    from conftest import free_port

    from outages import webhooks
    from store import outages_sql

    url = f"http://127.0.0.1:{free_port()}/hooks/T0SECRET/B0TOKEN?key=hunter2"  # nothing listens there
    hook = webhooks.Hook(url=url, secret=b"s", events=webhooks.EVENTS)
    now = datetime.now(UTC)
    outages_sql.add_deliveries(con, [("00000000-0000-0000-0000-000000000001", "KT-20211025-1116", "opened", url, "{}",
                               now, now)])
    with caplog.at_level(logging.DEBUG):
        assert webhooks.deliver_due(con, [hook], now=now, timeout=2) == [
            ("00000000-0000-0000-0000-000000000001", "pending")]
    assert "webhook opened" in caplog.text and "127.0.0.1" in caplog.text
    for secret in ("T0SECRET", "B0TOKEN", "hunter2"):
        assert secret not in caplog.text


def test_bad_webhook_url_is_not_echoed(tmp_path):
    from outages import webhooks

    path = tmp_path / "hooks.json"
    path.write_text(json.dumps({"hooks": [{"url": "ftp://files.example/T0SECRET", "secret": "s"}]}))
    with pytest.raises(InputError) as caught:
        webhooks.load_hooks(path)
    assert "T0SECRET" not in str(caught.value) and caught.value.field == "hooks[0].url"


# --- uploads ---------------------------------------------------------------------------

def test_uploads_are_limited_per_address(con, monkeypatch):
    from ingest import upload
    from ingest.abuse import RateLimitedError

    monkeypatch.setenv("DROPMAP_UPLOADS_PER_HOUR", "2")
    upload.UPLOADS.clear()
    data = b"lat,lon,carrier,kind,observed_at\n37.55,126.98,KT,no_data,2021-10-25 11:00\n"
    for _ in range(2):
        upload.load_upload(con, data, "a.csv", ip="10.0.0.7")
    with pytest.raises(RateLimitedError) as caught:
        upload.load_upload(con, data, "a.csv", ip="10.0.0.7")
    assert caught.value.retry_after > 0
    assert upload.load_upload(con, data, "a.csv", ip="10.0.0.8").rows_read == 1  # another address may
    upload.UPLOADS.clear()


def test_uploads_are_never_one_whole_file_dataframe(con, monkeypatch):
    """A file is stored chunk by chunk from the scratch store; no step holds all its rows in pandas."""
    from ingest import upload
    from store import ingest_sql

    monkeypatch.setattr(upload, "CHUNK_ROWS", 5)
    sizes = []
    real = ingest_sql.raw_chunk
    monkeypatch.setattr(ingest_sql, "raw_chunk", lambda cur, after, rows: sizes.append(rows) or real(cur, after, rows))
    monkeypatch.setattr(ingest_sql, "raw_frame", lambda cur: pytest.fail("the whole file was read into one DataFrame"))
    rows = "\n".join(f"37.{5000 + i * 10},127.0,KT,no_data,2021-10-{1 + i % 28:02d} 12:00" for i in range(23))
    result = upload.load_upload(con, ("lat,lon,carrier,kind,observed_at\n" + rows).encode(), "big.csv")
    assert result.accepted == 23 and sizes == [5] * 5



def test_a_body_past_the_value_bound_is_not_read_to_its_end(monkeypatch):
    """The 4.8 MB ``[{},{},...]`` is refused once its first chunks pass the bound; the rest stays unread."""
    import asyncio

    from starlette.requests import Request

    _budget.clear()
    monkeypatch.setattr(api_reports, "run_in_threadpool", lambda *a: pytest.fail("the body reached the parse"))
    chunk = b"{}," * 20_000  # 60 kB, 40,000 values
    messages = [{"type": "http.request", "body": b"[" + chunk, "more_body": True}]
    messages += [{"type": "http.request", "body": chunk, "more_body": True} for _ in range(78)]
    messages.append({"type": "http.request", "body": b"{}]", "more_body": False})
    total = len(messages)

    async def receive():
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/reports", "headers": [
        (b"content-type", b"application/json")], "client": ("127.0.0.1", 1)}
    response = asyncio.run(api_reports.post_reports(Request(scope, receive)))
    assert response.status_code == 413 and response.headers["connection"] == "close"
    assert total - len(messages) == 2  # 64,000 values allowed: refused in the second chunk
    _budget.clear()


def test_a_limit_inside_a_longer_one_is_reported_by_the_one_that_fired(db_path):
    """The station counts run under their own 20 s limit inside the API's 10 s read: the answer names
    the limit that stopped the query, not the other one."""
    from store.db import close_shared
    from store.read import QueryTimeout, run_read, time_limit

    def nested(cur):
        with time_limit(cur, 60_000):
            return cur.execute(SLOW).fetchall()

    try:
        with pytest.raises(QueryTimeout) as caught:
            run_read(nested, limit_ms=100)
        assert caught.value.limit_ms == 100
    finally:
        close_shared()
