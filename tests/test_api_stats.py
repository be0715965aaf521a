"""GET /api/v1/stats: the overview's totals over HTTP -- the same figures as the page shows, no finer,
kept per data version, stopped at the read's time limit."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from stored import issued_code, route_client
from streamlit.testing.v1 import AppTest

from api import _budget, routes
from api.openapi import document
from core import settings
from ingest.abuse import LIMITER
from ingest.loader import Origin, load_frame
from store import summary
from store.db import close_shared

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
SCHEMA = document()["paths"]["/api/v1/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
# The overview's period line: "기간: 2021-09-27 00:00 ~ 2021-10-31 23:59 (서울 시각)"
PERIOD = re.compile(r"기간: (\d{4}-\d{2}-\d{2}) \d\d:\d\d ~ (\d{4}-\d{2}-\d{2}) \d\d:\d\d \(서울 시각\)")
SLOW = "SELECT sum(hash(a.range + b.range)) FROM range(10000) a, range(10000) b"  # seconds of work


@pytest.fixture
def client():
    LIMITER.clear()
    _budget.clear()
    with route_client(routes()) as c:
        yield c
    LIMITER.clear()
    _budget.clear()


@pytest.fixture
def real_demo(real_demo_db_file, tmp_path, monkeypatch) -> Path:
    """A private copy of the default demo city (what `make run` serves), set as DROPMAP_DB."""
    path = tmp_path / "dropmap.duckdb"
    shutil.copy(real_demo_db_file, path)
    monkeypatch.setenv("DROPMAP_DB", str(path))
    return path


@pytest.fixture
def counted(monkeypatch) -> list:
    """One entry per count of the overview's totals (store.summary.overview)."""
    calls = []
    real = summary.overview
    monkeypatch.setattr(summary, "overview", lambda cur: calls.append(1) or real(cur))
    return calls


def overview_as_shown() -> tuple[dict, tuple[str, str] | None, list[int]]:
    """The overview page (the site's front door) run once: its metrics by label, the days of its period
    line, and the percentages of its synthetic-data notice."""
    at = AppTest.from_file(APP, default_timeout=180).run()
    try:
        assert not at.exception, at.exception
        metrics = {m.label: m.value for m in at.metric}
        periods = [found.groups() for m in at.markdown if (found := PERIOD.search(m.value))]
        notices = [int(p) for i in at.info if "합성" in i.value for p in re.findall(r"(\d+)%", i.value)]
    finally:
        close_shared()
    return metrics, (periods[0] if periods else None), notices


def _rows(n: int, *, kind: str = "dropped_call") -> pd.DataFrame:
    return pd.DataFrame({"lat": [37.5665 + i * 1e-3 for i in range(n)], "lon": [126.978] * n,
                         "carrier": ["KT"] * n, "kind": [kind] * n,
                         "observed_at": [f"2021-10-20T0{i}:00:00+09:00" for i in range(n)],
                         "reporter_code": [f"CODE{i}" for i in range(n)]})


def test_the_demo_totals_are_the_overviews(real_demo, client):
    metrics, period, notices = overview_as_shown()
    answer = client.get("/api/v1/stats")
    assert answer.status_code == 200
    body = answer.json()
    # Every figure the page shows, as it shows it.
    assert metrics["장애 제보"] == f"{body['reports']:,}"
    assert metrics["'정상' 표본"] == f"{body['samples']:,}"
    assert metrics["제보자(익명)"] == f"{body['reporters']:,}"
    assert metrics["검토 대상(비공개)"] == f"{body['flagged']:,}"
    assert period == (body["period"]["first"], body["period"]["last"])
    assert notices == [round(body["synthetic_share"] * 100)]
    # Known answers of the default demo: 35 days up to 2021-10-31 (Seoul), every row synthetic.
    assert body["period"] == {"first": "2021-09-27", "last": "2021-10-31"}
    assert body["synthetic"] is True and body["synthetic_share"] == 1.0
    assert body["reports"] > 100_000 and body["samples"] > body["reports"] and body["reporters"] > 10_000
    # Nothing beyond the documented fields; the cache may keep the answer public for its cache time.
    assert set(body) == set(SCHEMA["properties"]) and set(body["period"]) == {"first", "last"}
    assert answer.headers["Cache-Control"] == f"public, max-age={settings.get_int('DROPMAP_CACHE_SECONDS')}"


def test_the_share_is_the_notices_whole_percent(con, client):
    load_frame(con, _rows(2), Origin(source="demo"))
    load_frame(con, _rows(1, kind="no_data"), Origin(source="web"))
    con.close()
    body = client.get("/api/v1/stats").json()
    _, period, notices = overview_as_shown()
    assert notices == [67]  # 2 of 3 rows
    assert body["synthetic"] is True and body["synthetic_share"] == 0.67
    assert body["reports"] == 3 and body["samples"] == 0 and body["reporters"] == 2  # CODE0 (in both loads) and CODE1
    assert period == ("2021-10-20", "2021-10-20") == (body["period"]["first"], body["period"]["last"])


def test_an_empty_store_has_nothing_to_count(db_path, client):
    answer = client.get("/api/v1/stats")
    assert answer.status_code == 200
    assert answer.json() == {"reports": 0, "samples": 0, "flagged": 0, "reporters": 0,
                             "period": {"first": None, "last": None}, "synthetic": False, "synthetic_share": 0.0}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_get_405_with_allow(db_path, client, method):
    answer = client.request(method, "/api/v1/stats")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert answer.json()["errors"][0] == {"field": "method", "value": method,
                                          "message": "this path serves GET, HEAD, OPTIONS"}


@pytest.mark.parametrize("query, field", [("since=2021-10-01", "since"), ("carrier=KT", "carrier"), ("x=", "x")])
def test_a_parameter_is_refused_naming_it(db_path, client, query, field):
    """A filter the route does not have must not look applied: 400, not the totals of everything."""
    answer = client.get(f"/api/v1/stats?{query}")
    assert answer.status_code == 400
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_the_answer_changes_once_a_report_is_stored(db_path, client, counted, monkeypatch):
    monkeypatch.setenv("DROPMAP_CACHE_SECONDS", "0")  # never served out of date
    monkeypatch.setattr("store.cache.VERSION_SECONDS", 0.0)  # every request sees the newest data version
    report = {"lat": 37.5665, "lon": 126.978, "carrier": "KT", "kind": "dropped_call",
              "observed_at": "2021-10-25T11:20:00+09:00"}
    assert client.post("/api/v1/reports", json=report).status_code == 201
    first = client.get("/api/v1/stats").json()
    assert first == {"reports": 1, "samples": 0, "flagged": 0, "reporters": 1,
                     "period": {"first": "2021-10-25", "last": "2021-10-25"}, "synthetic": False,
                     "synthetic_share": 0.0}
    assert client.get("/api/v1/stats").json() == first
    assert len(counted) == 1  # the data have not changed: answered from the kept count

    sample = {**report, "kind": "ok", "observed_at": "2021-10-26T09:00:00+09:00"}
    stored = client.post("/api/v1/reports", json=sample, headers={"X-Reporter-Code": issued_code()})
    assert stored.status_code == 201
    after = client.get("/api/v1/stats").json()
    assert len(counted) == 2
    assert after == {**first, "samples": 1, "reporters": 2, "period": {"first": "2021-10-25", "last": "2021-10-26"}}


def test_a_slow_count_is_503_with_retry_after_and_not_kept(db_path, client, monkeypatch):
    monkeypatch.setenv("DROPMAP_QUERY_MS", "100")
    real = summary.overview
    monkeypatch.setattr(summary, "overview", lambda cur: cur.execute(SLOW).fetchall())
    stopped = client.get("/api/v1/stats")
    assert stopped.status_code == 503 and int(stopped.headers["Retry-After"]) > 0
    assert "100 ms" in stopped.json()["errors"][0]["message"]
    monkeypatch.setattr(summary, "overview", real)
    assert client.get("/api/v1/stats").status_code == 200  # the failure was not kept


def test_the_route_is_in_the_openapi_document(client):
    assert "/api/v1/stats" in {route.path for route in routes()}
    operation = document()["paths"]["/api/v1/stats"]["get"]
    assert set(operation["responses"]) == {"200", "400", "503"} and "parameters" not in operation
    assert client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/stats"] == {"get": operation}
