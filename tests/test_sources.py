"""Independent sources: codes minted by one network count as one source; an alarm needs distinct
networks as well as distinct codes; limits hold per network prefix (docs/SECURITY.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from outage_data import SEOUL, private_copy, quiet_city, quiet_db_file
from stored import route_client, stored_reports

from api import codes as api_codes
from api import reports as api_reports
from core.network import host_of, network_prefix
from ingest.abuse import LIMITER
from ingest.sources import prefix_hash
from outages.scan import scan
from store import outages_sql
from store.db import close_shared, connect

OUTAGE = datetime(2021, 10, 20, 11, 16, tzinfo=SEOUL)  # a Wednesday, after three quiet weeks
# Around 강남역 (one district): each report a few hundred metres from the last, so none collapses.
PLACE = (37.4979, 127.0276)


@pytest.fixture(scope="module")
def quiet_db(tmp_path_factory):
    return quiet_db_file(tmp_path_factory, "sources", quiet_city(seed=3))


@pytest.fixture
def city(quiet_db, tmp_path, monkeypatch):
    """A private copy of the quiet city as DROPMAP_DB, the API behind one trusted proxy."""
    path = private_copy(quiet_db, tmp_path, monkeypatch)
    monkeypatch.setenv("DROPMAP_TRUSTED_PROXIES", "1")
    LIMITER.clear()
    yield path
    LIMITER.clear()
    close_shared()


def _client():
    return route_client([*api_reports.ROUTES, *api_codes.ROUTES])


def _post_failures(client, addresses: list[str]) -> None:
    """One client per address: gets a code, then reports a KT failure near 강남역 at the outage."""
    for i, address in enumerate(addresses):
        headers = {"X-Forwarded-For": address}
        got = client.post("/api/v1/codes", headers=headers)
        assert got.status_code == 201, got.json()
        report = {"lat": PLACE[0] + 0.001 * (i % 7), "lon": PLACE[1] + 0.001 * (i // 7), "carrier": "KT",
                  "kind": "no_service", "observed_at": (OUTAGE + timedelta(seconds=3 * i)).isoformat()}
        sent = client.post("/api/v1/reports", json=report, headers={**headers, "X-Reporter-Code": got.json()["code"]})
        assert sent.status_code == 201, sent.json()


def _posted(path):
    """The reports that came through the API (the quiet city was loaded without client addresses)."""
    rows = stored_reports(path, "reporter, source_id, prefix_hash", "observed_at")
    rows = rows[rows["prefix_hash"].notna()]
    assert len(rows) == 40
    return rows


def _called(path, minutes=(2, 4, 6)) -> list[dict]:
    con = connect(path)
    try:
        for m in minutes:
            scan(con, OUTAGE + timedelta(minutes=m))
        return outages_sql.list_incidents(con.cursor())
    finally:
        con.close()


def test_forty_fresh_codes_from_one_address_are_not_an_outage(city, monkeypatch):
    monkeypatch.setenv("DROPMAP_CODES_PER_PREFIX", "40")  # the attacker's whole hourly allowance and more
    with _client() as client:
        _post_failures(client, ["203.0.113.9"] * 40)  # 40 codes and 40 reports in 2 minutes
    rows = _posted(city)
    assert rows["reporter"].nunique() == 40  # forty codes ...
    assert rows["source_id"].nunique() == 1 and rows["prefix_hash"].nunique() == 1  # ... one source
    assert [i for i in _called(city, (2, 4, 6, 10, 30)) if i["network"] == "KT"] == []

    # The same rows counted per code, as before independent sources: an outage is called.
    con = connect(city)
    con.execute("UPDATE reports SET source_id = reporter, prefix_hash = NULL")
    con.close()
    assert [i["network"] for i in _called(city)] == ["KT"]


def test_forty_reporters_from_forty_networks_are_called_within_three_scans(city):
    with _client() as client:
        _post_failures(client, [f"198.{18 + i // 200}.{i % 200}.7" for i in range(40)])
    rows = _posted(city)
    assert rows["source_id"].nunique() == 40 and rows["prefix_hash"].nunique() == 40
    called = _called(city, (2, 4, 6))
    assert [i["network"] for i in called] == ["KT"] and called[0]["status"] in ("suspected", "ongoing")
    assert called[0]["reporters"] >= 40


def test_aged_codes_from_one_network_still_need_distinct_networks(city, monkeypatch):
    """Codes older than DROPMAP_CODE_MATURE_HOURS count as their own sources, but not as many networks."""
    monkeypatch.setenv("DROPMAP_CODES_PER_PREFIX", "40")
    monkeypatch.setenv("DROPMAP_CODE_MATURE_HOURS", "0")  # every code counts as aged at once
    with _client() as client:
        _post_failures(client, [f"203.0.113.{i + 1}" for i in range(40)])
    rows = _posted(city)
    assert rows["source_id"].nunique() == 40 and rows["prefix_hash"].nunique() == 1
    assert [i for i in _called(city, (2, 4, 6, 10)) if i["network"] == "KT"] == []


def test_codes_are_limited_per_network_prefix(city, monkeypatch):
    monkeypatch.setenv("DROPMAP_CODES_PER_PREFIX", "3")
    with _client() as client:
        for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
            assert client.post("/api/v1/codes", headers={"X-Forwarded-For": address}).status_code == 201
        refused = client.post("/api/v1/codes", headers={"X-Forwarded-For": "203.0.113.250"})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "network prefix" in refused.json()["errors"][0]["message"]
        assert client.post("/api/v1/codes", headers={"X-Forwarded-For": "203.0.114.1"}).status_code == 201
        for address in ("2001:db8:1:2::1", "2001:db8:1:ffff::9", "2001:db8:1:7::3"):  # one /48
            assert client.post("/api/v1/codes", headers={"X-Forwarded-For": address}).status_code == 201
        assert client.post("/api/v1/codes", headers={"X-Forwarded-For": "2001:db8:1:abcd::1"}).status_code == 429


def test_reports_are_limited_per_network_prefix(city, monkeypatch):
    monkeypatch.setenv("DROPMAP_RATE_PER_PREFIX", "2")
    report = {"lat": 37.5665, "lon": 126.978, "carrier": "KT", "kind": "no_data",
              "observed_at": OUTAGE.isoformat()}
    with _client() as client:
        for i, address in enumerate(("203.0.113.1", "203.0.113.2")):
            sent = client.post("/api/v1/reports", json={**report, "lat": 37.5 + i / 100},
                               headers={"X-Forwarded-For": address})
            assert sent.status_code == 201, sent.json()
        refused = client.post("/api/v1/reports", json={**report, "lat": 37.53},
                              headers={"X-Forwarded-For": "203.0.113.3"})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "network prefix" in refused.json()["errors"][0]["message"]
        other = client.post("/api/v1/reports", json={**report, "lat": 37.54}, headers={"X-Forwarded-For": "192.0.2.1"})
        assert other.status_code == 201


def test_network_prefixes():
    assert network_prefix("203.0.113.77") == "203.0.113.0/24"
    assert network_prefix("::ffff:203.0.113.77") == "203.0.113.0/24"
    assert network_prefix("2001:db8:1:2:3:4:5:6") == "2001:db8:1::/48"
    assert network_prefix("testclient") is None and prefix_hash(None) is None
    assert prefix_hash("203.0.113.1") == prefix_hash("203.0.113.200") != prefix_hash("203.0.112.1")


def test_a_host_is_an_ipv4_address_or_an_ipv6_64():
    assert host_of("203.0.113.77") == "203.0.113.77/32" != host_of("203.0.113.78")
    assert host_of("::ffff:203.0.113.77") == "203.0.113.77/32"
    assert host_of("2001:db8:1:2:3:4:5:6") == host_of("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert host_of("2001:db8:1:3::1") != host_of("2001:db8:1:2::1") and host_of("testclient") is None


def test_the_request_budget_counts_an_ipv6_host_once_whatever_address_of_its_64(monkeypatch):
    """One host holds a whole /64: rotating through its addresses must not give it a new budget each time."""
    from api import _budget

    monkeypatch.setenv("DROPMAP_API_REQUESTS_PER_MINUTE", "3")
    _budget.clear()
    try:
        for i in range(3):
            _budget.charge_request(f"2001:db8:1:2::{i + 1:x}")
        with pytest.raises(_budget.BudgetExceeded):
            _budget.charge_request("2001:db8:1:2:dead:beef::1")
        _budget.charge_request("2001:db8:1:3::1")  # another host
    finally:
        _budget.clear()


def test_demo_data_counts_as_before(demo_db):
    """The demo has no client addresses: every row is its own reporter's source and network, so
    every count of distinct sources (map, exports, My reports groups, outages) is the count of
    distinct reporters it was before sources existed."""
    con = connect(demo_db)
    try:
        total, differing, with_prefix = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE source_id <> reporter), count(prefix_hash) FROM reports"
        ).fetchone()
        assert total > 0 and differing == 0 and with_prefix == 0
    finally:
        con.close()


def test_migration_counts_rows_stored_before_it_as_their_reporter(db_path, monkeypatch):
    from test_local_time import SEOUL_TIMES, _load_old_schema

    import store.migrations

    monkeypatch.setattr(store.migrations, "MIGRATIONS", [m for m in store.migrations.MIGRATIONS if m[0] < "0003"])
    con = connect(db_path)
    _load_old_schema(con, SEOUL_TIMES)
    con.close()
    monkeypatch.undo()
    con = connect(db_path)  # applies 0003 and 0005_codes_and_sources
    try:
        rows = con.execute("SELECT reporter, source_id, prefix_hash FROM reports").fetchall()
        assert len(rows) == len(SEOUL_TIMES) and all(s == r and p is None for r, s, p in rows)
        assert con.execute("SELECT count(*) FROM codes").fetchone()[0] == 0
    finally:
        con.close()


@pytest.mark.parametrize("networks, published", [(1, False), (5, True)])
def test_fresh_codes_fill_k_on_the_map_only_from_k_networks(db_path, monkeypatch, networks, published):
    """Five fresh codes in one hex count five sources (k=5: published) only from five networks."""
    from store.filters import ReportFilter
    from store.map_sql import hex_counts

    monkeypatch.setenv("DROPMAP_TRUSTED_PROXIES", "1")
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "5")
    addresses = [f"198.51.{100 + i % networks}.{i + 1}" for i in range(5)]
    LIMITER.clear()
    with _client() as client:
        for i, address in enumerate(addresses):
            code = client.post("/api/v1/codes", headers={"X-Forwarded-For": address}).json()["code"]
            report = {"lat": 37.5665 + 0.0003 * i, "lon": 126.978, "carrier": "KT", "kind": "no_data",
                      "observed_at": (OUTAGE + timedelta(minutes=i)).isoformat()}
            sent = client.post("/api/v1/reports", json=report, headers={"X-Forwarded-For": address,
                                                                          "X-Reporter-Code": code})
            assert sent.status_code == 201
    con = connect(db_path)
    try:
        counts = hex_counts(con.cursor(), 7, ReportFilter(), k=5)
        assert con.execute("SELECT count(DISTINCT reporter) FROM reports").fetchone()[0] == 5
    finally:
        con.close()
    assert len(counts) == 1 and int(counts["reports"].iloc[0]) == 5
    # geo.mapview publishes a hex only with >= k: five fresh codes from one network are one source.
    assert int(counts["reporters"].iloc[0]) == (5 if published else 1)
