"""GET /api/v1/hexes and POST /api/v1/snapshots: answers, paging, status codes; the real site serves the files."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import urllib.request

import httpx
import pandas as pd
import pytest
from opendata_data import CITY_HALL_R8, build_store
from starlette.applications import Starlette
from starlette.testclient import TestClient

from api import hexes
from api.openapi import document
from geo.aggregate import ExportQuery, build


@pytest.fixture(scope="module")
def api_db(tmp_path_factory):
    """One small store for the module (the API only reads it)."""
    from store.db import close_shared

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DROPMAP_MIN_REPORTERS", "5")
        path = build_store(tmp_path_factory.mktemp("api") / "api.duckdb", seed=9, n=2000, reporters=30)
    yield path
    close_shared()


@pytest.fixture
def client(api_db, monkeypatch):
    monkeypatch.setenv("DROPMAP_DB", str(api_db))
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "5")
    monkeypatch.setenv("DROPMAP_HEAVY_PER_MINUTE", "0")  # every test asks from the one test client address
    with TestClient(Starlette(routes=hexes.ROUTES)) as test_client:
        yield test_client


def test_json_answer_carries_rows_and_metadata(client):
    answer = client.get("/api/v1/hexes", params={"res": 8, "by": "hour"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    meta = body["metadata"]
    assert meta["licence"]["name"] == "CC BY 4.0" and meta["k_min_reporters"] == 5
    assert meta["query"]["res"] == 8 and meta["period"]["since"] == "2021-10-11"
    assert meta["rows"] == meta["total_rows"] == len(body["rows"]) == int(answer.headers["x-total-rows"])
    assert meta["next"] is None and "link" not in answer.headers
    a = next(r for r in body["rows"] if r["h3_cell"] == CITY_HALL_R8 and r["network"] == "LGU+" and r["hour"] == 20)
    assert a["reports"] is None and a["ok_samples"] >= 12  # suppressed figures are null
    assert set(body["rows"][0]) == {"h3_cell", "resolution", "center_lat", "center_lon", "area_km2", "network",
                                    "hour", "kind", "reports", "reporters", "ok_samples", "ok_reporters",
                                    "observations", "failure_rate", "rate_low", "rate_high", "is_synthetic"}


def test_date_buckets_are_iso_strings(client):
    rows = client.get("/api/v1/hexes", params={"by": "date", "carrier": "SKT"}).json()["rows"]
    assert rows and all(len(r["date"]) == 10 and r["date"].startswith("2021-10-") for r in rows)
    assert {r["network"] for r in rows} == {"SKT"}


def test_lgu_plus_survives_the_url(client):
    # A raw '+' in a query string means a space; both spellings must select LG U+.
    plain = client.get("/api/v1/hexes?carrier=LGU+").json()
    encoded = client.get("/api/v1/hexes?carrier=LGU%2B").json()
    assert plain["rows"] == encoded["rows"] and {r["network"] for r in plain["rows"]} == {"LGU+"}


def test_paging_with_link_header(client):
    total = client.get("/api/v1/hexes").json()["metadata"]["total_rows"]
    first = client.get("/api/v1/hexes", params={"limit": 5})
    assert len(first.json()["rows"]) == 5 and int(first.headers["x-total-rows"]) == total
    next_url = first.json()["metadata"]["next"]
    assert first.headers["link"] == f'<{next_url}>; rel="next"' and "offset=5" in next_url
    second = client.get(next_url)
    assert second.status_code == 200
    everything = client.get("/api/v1/hexes").json()["rows"]
    assert first.json()["rows"] + second.json()["rows"] == everything[:10]
    last = client.get("/api/v1/hexes", params={"limit": 5, "offset": total - 2}).json()
    assert len(last["rows"]) == 2 and last["metadata"]["next"] is None


@pytest.mark.parametrize("fmt, media", [
    ("csv", "text/csv"), ("geojson", "application/geo+json"), ("parquet", "application/vnd.apache.parquet"),
    ("geoparquet", "application/vnd.apache.parquet"),
])
def test_file_formats(client, fmt, media):
    answer = client.get("/api/v1/hexes", params={"format": fmt, "carrier": "KT", "limit": 40})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(media)
    assert answer.headers["content-disposition"].startswith('attachment; filename="dropmap_r8_hour_kt')
    if fmt == "csv":
        frame = pd.read_csv(io.BytesIO(answer.content))
        assert len(frame) == min(40, int(answer.headers["x-total-rows"])) and set(frame.network) == {"KT"}
    elif fmt == "geojson":
        document_ = json.loads(answer.content)
        assert document_["type"] == "FeatureCollection" and "crs" not in document_
        assert document_["metadata"]["total_rows"] == int(answer.headers["x-total-rows"])
    else:
        assert pd.read_parquet(io.BytesIO(answer.content)).network.eq("KT").all()


def test_answer_matches_the_export(client, api_db):
    from store.db import shared_connection

    rows = client.get("/api/v1/hexes", params={"res": 9, "by": "weekday_hour"}).json()["rows"]
    frame = build(shared_connection(api_db).cursor(), ExportQuery(res=9, by="weekday_hour")).frame()
    assert [r["h3_cell"] for r in rows] == list(frame.h3_cell)
    assert [r["reports"] for r in rows] == [None if pd.isna(v) else int(v) for v in frame.reports]


BAD = [
    ({"res": "10"}, ["res"]),
    ({"res": "x", "by": "week"}, ["res", "by"]),
    ({"carrier": "Verizon"}, ["carrier"]),
    ({"since": "2021-10-32"}, ["since"]),
    ({"until": "9999-12-31"}, ["until"]),  # was a 500: the week around it overflows
    ({"since": "2021-10-20", "until": "2021-10-01"}, ["since"]),
    ({"format": "xlsx"}, ["format"]),
    ({"limit": "50001"}, ["limit"]),
    ({"limit": "0"}, ["limit"]),
    ({"offset": "-1"}, ["offset"]),
    ({"demo": "maybe"}, ["demo"]),
    ({"carier": "KT"}, ["carier"]),
    ([("carrier", "KT"), ("carrier", "SKT")], ["carrier"]),
]


@pytest.mark.parametrize("params, fields", BAD)
def test_bad_parameters_get_400_naming_each(client, params, fields):
    answer = client.get("/api/v1/hexes", params=params)
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert [e["field"] for e in errors] == fields
    assert all(set(e) == {"field", "value", "message"} and e["message"] for e in errors)


def test_too_many_rows_says_how_to_get_more(client):
    message = client.get("/api/v1/hexes", params={"limit": 10**6}).json()["errors"][0]["message"]
    assert "50,000" in message and "offset" in message and "opendata" in message and "python -m geo export" in message


def test_incomplete_week_gets_400(client):
    answer = client.get("/api/v1/hexes", params={"since": "2999-01-01"})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "since"


def test_openapi_documents_the_routes():
    paths = document()["paths"]
    names = {p["name"] for p in paths["/api/v1/hexes"]["get"]["parameters"]}
    assert names == {"res", "carrier", "since", "until", "by", "demo", "format", "limit", "offset"}
    assert "400" in paths["/api/v1/hexes"]["get"]["responses"] and "post" in paths["/api/v1/snapshots"]


def test_snapshot_needs_the_operator_token(client, tmp_path, monkeypatch):
    from core.operator import operator_token
    from geo import snapshot
    from store.limits import GUARD

    GUARD.clear()
    monkeypatch.setattr(snapshot, "SNAPSHOT_DIR", tmp_path / "opendata")
    assert client.post("/api/v1/snapshots").status_code == 401
    assert client.post("/api/v1/snapshots", headers={"Authorization": "Bearer nope"}).status_code == 401
    answer = client.post("/api/v1/snapshots", headers={"Authorization": f"Bearer {operator_token()}"})
    assert answer.status_code == 200 and len(answer.json()["files"]) == 12
    assert (tmp_path / "opendata" / "index.json").exists()
    # Wrong tokens are limited as on every operator route: after a few, even guessing stops being answered.
    statuses = [client.post("/api/v1/snapshots", headers={"Authorization": f"Bearer guess{i}"}).status_code
                for i in range(6)]
    assert statuses[-1] == 429 and 401 in statuses
    GUARD.clear()


# --- the real site -----------------------------------------------------------------------


@pytest.fixture
def served_snapshot_dir():
    """The site serves ROOT/static/opendata; keep whatever an operator had there."""
    from geo.snapshot import SNAPSHOT_DIR

    backup = SNAPSHOT_DIR.with_name("opendata.test-backup")
    if SNAPSHOT_DIR.exists():
        shutil.move(SNAPSHOT_DIR, backup)
    yield SNAPSHOT_DIR
    shutil.rmtree(SNAPSHOT_DIR, ignore_errors=True)
    if backup.exists():
        shutil.move(backup, SNAPSHOT_DIR)


def test_site_answers_and_serves_the_snapshot(site, served_snapshot_dir):
    from geo.cli import main

    base = site["url"]
    answer = httpx.get(base + "/api/v1/hexes", params={"res": 8, "carrier": "KT", "by": "hour"}, timeout=120)
    assert answer.status_code == 200 and answer.json()["metadata"]["synthetic"] is True
    assert httpx.get(base + "/api/v1/hexes", params={"res": 5}, timeout=30).status_code == 400
    assert main(["snapshot", "--site", base]) == 0  # what the nightly cron line runs
    with urllib.request.urlopen(base + "/app/static/opendata/index.json", timeout=30) as r:
        assert r.headers["Content-Type"].startswith("application/json")
        index = json.loads(r.read())
    assert index["synthetic"] is True and index["period"]["until"] == "2021-10-31"
    for entry in index["files"]:
        if entry["network"] != "KT":
            continue
        with urllib.request.urlopen(base + entry["url"], timeout=30) as r:
            data = r.read()
            kind = r.headers["Content-Type"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert kind.split(";")[0] in {"csv": ["text/csv"], "geojson": ["application/geo+json"],
                                      "parquet": ["application/octet-stream", "application/vnd.apache.parquet"],
                                      "geoparquet": ["application/octet-stream", "application/vnd.apache.parquet"],
                                      }[entry["format"]]


def test_links_are_not_built_from_the_host_header(client):
    first = client.get("/api/v1/hexes", params={"limit": 5}, headers={"Host": "evil.example"})
    next_url = first.json()["metadata"]["next"]
    assert next_url.startswith("/api/v1/hexes?") and "evil" not in first.headers["link"]


def test_new_aggregates_are_limited_per_address(client, monkeypatch):
    """A new `since` each time used to re-aggregate everything for anyone; now an address may have
    DROPMAP_HEAVY_PER_MINUTE aggregates built a minute (pages of a held aggregate are free)."""
    from api import _budget

    _budget.clear()
    monkeypatch.setenv("DROPMAP_HEAVY_PER_MINUTE", "2")
    first = client.get("/api/v1/hexes", params={"limit": 5, "since": "2021-10-04", "until": "2022-01-02"})
    assert first.status_code == 200
    next_url = first.json()["metadata"]["next"]
    assert "since=2021-10-04" in next_url and "until=2022-01-02" in next_url
    assert client.get(next_url).status_code == 200  # the next page: from the cache
    assert client.get("/api/v1/hexes", params={"limit": 5, "since": "2021-10-05"}).status_code == 200
    refused = client.get("/api/v1/hexes", params={"limit": 5, "since": "2021-10-06"})
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    _budget.clear()


def _counting_builds(monkeypatch, *, builder_fails: bool = False) -> list:
    """Builds of aggregates, counted (their ``by``). A build asked within a request never ends (it runs
    until the request's time limit, DROPMAP_QUERY_MS, stops it); the background worker's builds are
    real, or fail when ``builder_fails``."""
    import threading

    import store.aggregate_sql

    builds = []
    real = store.aggregate_sql.build_aggregate

    def counted(cur, **kwargs):
        builds.append(kwargs.get("by"))
        if threading.current_thread().name != "aggregate-builder":
            return cur.execute("SELECT sum(i) FROM range(1000000000000) t(i)").fetchone()[0]
        if builder_fails:
            raise RuntimeError("the disk is full")
        return real(cur, **kwargs)

    monkeypatch.setattr(store.aggregate_sql, "build_aggregate", counted)
    monkeypatch.setenv("DROPMAP_QUERY_MS", "300")
    return builds


def test_an_aggregate_past_the_time_limit_is_built_in_the_background_and_served_after(client, api_db, monkeypatch):
    """At 100 M reports a whole history takes longer than the API's time limit: stopped there, it is
    built once in the background and kept, and the same request asked again gets it, rows as built."""
    from geo.aggregate import AGGREGATES
    from store.db import shared_connection

    with shared_connection(api_db).cursor() as cur:
        expected = build(cur, ExportQuery(res=8, by="weekday_hour")).records(limit=7)
    builds = _counting_builds(monkeypatch)
    params = {"res": 8, "by": "weekday_hour", "limit": 7}
    stopped = client.get("/api/v1/hexes", params=params)
    assert stopped.status_code == 503 and stopped.headers["Retry-After"] == "60"
    assert "being built in the background" in stopped.json()["errors"][0]["message"]
    AGGREGATES.wait()
    assert builds[-1] == "weekday_hour"
    built = len(builds)
    served = client.get("/api/v1/hexes", params=params)
    assert served.status_code == 200 and len(builds) == built  # from the kept copy
    assert served.json()["rows"] == expected
    following = client.get(served.json()["metadata"]["next"])  # the next page asks with its period written out
    assert following.status_code == 200 and following.json()["rows"] and len(builds) == built


def test_an_empty_aggregate_built_in_the_background_is_served_too(client, monkeypatch):
    from geo.aggregate import AGGREGATES

    builds = _counting_builds(monkeypatch)
    params = {"res": 8, "since": "2021-01-04", "until": "2021-01-10"}  # a week without reports
    assert client.get("/api/v1/hexes", params=params).status_code == 503
    AGGREGATES.wait()
    built = len(builds)
    empty = client.get("/api/v1/hexes", params=params)
    assert empty.status_code == 200 and empty.json()["rows"] == [] and len(builds) == built


def test_a_request_for_an_aggregate_being_built_is_answered_at_once(client, monkeypatch):
    """While the background worker builds (or is about to build) an aggregate, asking for it again costs
    nothing: 503 with Retry-After, no build of its own, nothing charged."""
    from geo.aggregate import AGGREGATES, parse_query

    builds = _counting_builds(monkeypatch)
    query = parse_query({"res": "7", "by": "all"})
    with AGGREGATES._lock:
        AGGREGATES._queued[tuple(query.as_params().items())] = query  # queued; no worker runs it
    try:
        waiting = client.get("/api/v1/hexes", params={"res": 7, "by": "all"})
    finally:
        with AGGREGATES._lock:
            AGGREGATES._queued.clear()
    assert waiting.status_code == 503 and waiting.headers["Retry-After"] == "60" and builds == []
    assert "being built in the background" in waiting.json()["errors"][0]["message"]


def test_a_background_build_that_fails_is_not_queued_again_at_once(client, monkeypatch):
    from geo.aggregate import AGGREGATES

    builds = _counting_builds(monkeypatch, builder_fails=True)
    first = client.get("/api/v1/hexes", params={"res": 9})
    assert "being built in the background" in first.json()["errors"][0]["message"]
    AGGREGATES.wait()
    built = len(builds)
    again = client.get("/api/v1/hexes", params={"res": 9})
    assert again.status_code == 503 and "could not be built" in again.json()["errors"][0]["message"]
    assert 60 < int(again.headers["Retry-After"]) <= 600  # when it may be tried again
    assert len(builds) == built and AGGREGATES._worker is None  # no build of its own, nothing queued


def test_stopping_the_site_interrupts_a_background_build(client, monkeypatch):
    """The site's shutdown (AGGREGATES.stop) does not wait out a long build (DROPMAP_BUILD_MS, 10 min)."""
    import threading

    import store.aggregate_sql
    from geo.aggregate import AGGREGATES, parse_query

    started = threading.Event()

    def endless(cur, **kwargs):
        started.set()
        return cur.execute("SELECT sum(i) FROM range(1000000000000) t(i)").fetchone()[0]

    monkeypatch.setattr(store.aggregate_sql, "build_aggregate", endless)
    query = parse_query({"res": "8", "by": "date"})
    assert AGGREGATES.build_later(query)
    assert started.wait(30)
    AGGREGATES.stop()
    assert AGGREGATES._worker is None
    assert tuple(query.as_params().items()) in AGGREGATES._failed  # interrupted, not finished


def test_an_aggregate_too_large_to_keep_is_refused_naming_the_fix(client, monkeypatch):
    """Built in the background, an aggregate with more rows than the site keeps is not built again for
    every request (each one a time limit's worth of work): the API says what to ask instead."""
    from geo.aggregate import AGGREGATES

    monkeypatch.setattr(AGGREGATES, "max_rows", 5)
    params = {"res": 8, "by": "hour", "since": "2021-10-11"}
    builds = _counting_builds(monkeypatch)
    assert client.get("/api/v1/hexes", params=params).status_code == 503
    AGGREGATES.wait()
    built = len(builds)
    refused = client.get("/api/v1/hexes", params=params)
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["field"] == "since" and error["value"] == "2021-10-11"
    assert "more than the API serves (5)" in error["message"] and "python -m geo export" in error["message"]
    assert len(builds) == built  # refused without building it again


def test_no_background_build_when_it_is_turned_off_or_the_queue_is_full(client, monkeypatch):
    from geo.aggregate import AGGREGATES

    _counting_builds(monkeypatch)
    monkeypatch.setenv("DROPMAP_BUILD_MS", "0")
    off = client.get("/api/v1/hexes", params={"res": 8})
    assert off.status_code == 503 and "background" not in off.json()["errors"][0]["message"]
    monkeypatch.setenv("DROPMAP_BUILD_MS", "600000")
    monkeypatch.setattr(AGGREGATES, "queue", 0)
    full = client.get("/api/v1/hexes", params={"res": 8})
    assert full.status_code == 503 and "background" not in full.json()["errors"][0]["message"]
