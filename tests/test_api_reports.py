"""POST /api/v1/reports: every status code, the stored rows, client IPs, the OpenAPI entry."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request
from stored import issued_code, route_client, stored_reports

from api import _budget
from api import reports as api_reports
from api.openapi import document
from core.errors import StoreError
from ingest.abuse import LIMITER
from ingest.identity import code_key, keyed_hash

CODE = issued_code()


@pytest.fixture
def client(db_path):
    LIMITER.clear()
    _budget.clear()
    with route_client(api_reports.ROUTES) as c:
        yield c
    LIMITER.clear()
    _budget.clear()


def report(**more):
    base = {"lat": 37.5665, "lon": 126.978, "carrier": "KT", "kind": "dropped_call",
            "observed_at": "2021-10-25T11:20:00+09:00"}
    return {**base, **more}


def rows(db_path, columns="*"):
    return stored_reports(db_path, columns, order_by="observed_at")


def test_one_report_201_with_its_id(client, db_path):
    r = client.post("/api/v1/reports", json=report(note="private", device_model="SM-G991N"))
    assert r.status_code == 201
    body = r.json()
    assert body["accepted"] == 1 and len(body["ids"]) == 1
    assert body["reports"] == [{"row": 1, "id": body["ids"][0], "status": "ok"}]
    stored = rows(db_path, "report_id::VARCHAR AS id, source, reporter, ip_hash, note, network")
    assert stored["id"].tolist() == body["ids"]
    assert stored["source"].tolist() == ["api"]
    # No code: the reporter is the client's IP, stored only as a keyed hash.
    assert int(stored["reporter"][0]) == keyed_hash("ip", "testclient") == int(stored["ip_hash"][0])
    assert stored["note"][0] == "private"


def test_a_list_and_the_code_header(client, db_path):
    r = client.post("/api/v1/reports", json=[report(), report(lat=37.50, kind="no_data")],
                    headers={"X-Reporter-Code": CODE})
    assert r.status_code == 201 and r.json()["accepted"] == 2
    reporters = set(rows(db_path, "reporter")["reporter"].astype("uint64"))
    assert reporters == {keyed_hash("code", code_key(CODE))}


def test_records_may_name_fields_differently(client, db_path):
    # One client says lat/lon, the next latitude/lng, a third 통신사: all three are reports.
    second = {"latitude": 37.57, "lng": 126.98, "carrier": "SKT", "kind": "no_data",
              "observed_at": "2021-10-25T11:21:00+09:00"}
    third = {"위도": 37.58, "경도": 126.99, "통신사": "엘지유플러스", "유형": "먹통",
             "time": "2021-10-25 11:22"}
    r = client.post("/api/v1/reports", json=[report(), second, third])
    assert r.status_code == 201, r.json()
    assert r.json()["accepted"] == 3
    stored = rows(db_path, "lat, network, kind")
    assert stored.to_dict("list") == {"lat": [37.5665, 37.57, 37.58], "network": ["KT", "SKT", "LGU+"],
                                      "kind": ["dropped_call", "no_data", "no_service"]}


def test_geojson_feature_collection(client, db_path):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [126.978, 37.5665]},
         "properties": {"carrier": "SKT", "kind": "통화끊김", "time": "2021-10-25 11:20"}},
    ]}
    r = client.post("/api/v1/reports", content=json.dumps(doc), headers={"Content-Type": "application/geo+json"})
    assert r.status_code == 201
    stored = rows(db_path, "lat, lon, network, kind")
    assert stored.iloc[0].tolist() == [37.5665, 126.978, "SKT", "dropped_call"]


def test_partly_good_list_is_201_with_errors_for_the_bad_rows(client):
    r = client.post("/api/v1/reports", json=[report(), report(lat="north", carrier="Vodafone")])
    assert r.status_code == 201
    body = r.json()
    assert body["accepted"] == 1 and body["rejected"] == 1
    assert {(e["row"], e["field"]) for e in body["errors"]} == {(2, "lat"), (2, "carrier")}


@pytest.mark.parametrize("payload, field", [
    (report(lat=None), "lat"),
    (report(kind="meteor strike"), "kind"),
    (report(observed_at="2099-01-01T00:00:00+09:00"), "observed_at"),
    (report(lat=48.85, lon=2.35), "lat/lon"),
    ({"carrier": "KT"}, "lat"),
    ({"foo": "bar"}, "lat"),  # no field named at all: still a report to reject, not "nothing new"
    ([{"foo": 1}, {}], "kind"),
])
def test_nothing_valid_is_400_with_per_field_errors(client, payload, field):
    r = client.post("/api/v1/reports", json=payload)
    assert r.status_code == 400
    assert field in {e["field"] for e in r.json()["errors"]}
    assert r.json()["rejected"] == (len(payload) if isinstance(payload, list) else 1)


@pytest.mark.parametrize("content, message", [
    (b"{not json", "not valid JSON"),
    (b"[]", "no reports"),
    (b'{"type": "FeatureCollection", "features": 3}', "features"),
])
def test_unreadable_body_is_400(client, content, message):
    r = client.post("/api/v1/reports", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert message in r.json()["errors"][0]["message"]


def test_two_codes_in_one_request_are_400(client):
    r = client.post("/api/v1/reports", json=[report(reporter_code=issued_code()),
                                             report(reporter_code=issued_code())])
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "reporter_code"


def test_a_retry_is_200_and_stores_nothing_twice(client, db_path):
    assert client.post("/api/v1/reports", json=report()).status_code == 201
    r = client.post("/api/v1/reports", json=report())
    assert r.status_code == 200
    assert r.json()["duplicates"] == 1 and r.json()["ids"] == []
    assert len(rows(db_path)) == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post("/api/v1/reports", content=json.dumps(report()).encode(), headers=headers)
    assert r.status_code == 415


def test_declared_oversize_body_is_413(client, monkeypatch):
    monkeypatch.setenv("DROPMAP_MAX_BODY_BYTES", "100")
    r = client.post("/api/v1/reports", json=[report()] * 5)
    assert r.status_code == 413


def test_streamed_oversize_body_is_413_without_content_length(client, monkeypatch):
    monkeypatch.setenv("DROPMAP_MAX_BODY_BYTES", "1000")

    def chunks():
        yield b"["
        for _ in range(100):
            yield json.dumps(report()).encode() + b","
        yield b"{}]"

    r = client.post("/api/v1/reports", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_lying_content_length_is_caught_while_streaming(monkeypatch):
    """A client that declares a small body and sends a big one is stopped at the limit."""
    import asyncio

    monkeypatch.setenv("DROPMAP_MAX_BODY_BYTES", "50")
    body = json.dumps([report()] * 10).encode()
    messages = [{"type": "http.request", "body": body[i:i + 40], "more_body": i + 40 < len(body)}
                for i in range(0, len(body), 40)]

    async def receive():
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/reports", "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"10")], "client": ("127.0.0.1", 1)}
    response = asyncio.run(api_reports.post_reports(Request(scope, receive)))
    assert response.status_code == 413


def test_rate_limit_per_ip_is_429_with_retry_after(client, monkeypatch, db_path):
    monkeypatch.setenv("DROPMAP_RATE_PER_IP", "2")
    assert client.post("/api/v1/reports", json=report()).status_code == 201
    assert client.post("/api/v1/reports", json=report(lat=37.50)).status_code == 201
    r = client.post("/api/v1/reports", json=report(lat=37.45))
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    assert "per hour" in r.json()["errors"][0]["message"]
    assert len(rows(db_path)) == 2


def test_rate_limit_per_code_follows_the_code_across_ips(client, monkeypatch):
    monkeypatch.setenv("DROPMAP_RATE_PER_CODE", "1")
    headers = {"X-Reporter-Code": CODE}
    assert client.post("/api/v1/reports", json=report(), headers=headers).status_code == 201
    r = client.post("/api/v1/reports", json=report(lat=37.5, reporter_code=CODE))
    assert r.status_code == 429
    assert "reporter code" in r.json()["errors"][0]["message"]


def test_store_unavailable_is_503(client, monkeypatch):
    def broken(*args, **kwargs):
        raise StoreError("database is held by another process")

    monkeypatch.setattr(api_reports, "start_submission", broken)
    r = client.post("/api/v1/reports", json=report())
    assert r.status_code == 503


def test_wrong_method_is_405(client):
    assert client.get("/api/v1/reports").status_code == 405


def request_from(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "client": (peer, 5000)})


@pytest.mark.parametrize("hops, forwarded, expected", [
    ("0", "203.0.113.9", "10.0.0.1"),                    # the header is ignored unless configured
    ("1", "203.0.113.9", "203.0.113.9"),
    ("1", "198.51.100.7, 203.0.113.9", "203.0.113.9"),  # the left part is what the client claimed
    ("2", "198.51.100.7, 203.0.113.9", "198.51.100.7"),
    ("1", "not-an-ip", "10.0.0.1"),
    ("1", None, "10.0.0.1"),
])
def test_client_ip(monkeypatch, hops, forwarded, expected):
    monkeypatch.setenv("DROPMAP_TRUSTED_PROXIES", hops)
    assert api_reports.client_ip(request_from("10.0.0.1", forwarded)) == expected


def test_openapi_documents_every_status_code():
    post = document()["paths"]["/api/v1/reports"]["post"]
    assert set(post["responses"]) >= {"200", "201", "400", "413", "415", "429", "503"}
    assert "application/geo+json" in post["requestBody"]["content"]


def test_keep_alive_connections_get_tcp_nodelay():
    """Streamlit's listening socket has proto 0; asyncio would leave Nagle on (a 40 ms stall per response)."""
    import asyncio.base_events
    import socket

    from api import _tcp

    _tcp.enable()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.proto == 0
        asyncio.base_events._set_nodelay(sock)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
