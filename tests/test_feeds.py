"""Feeds and the outage API: valid Atom 1.0, status JSON, status codes, escaping, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from outage_data import SEOUL
from stored import route_client

from api import status as status_api
from outages import webhooks
from outages.feeds import atom_feed, incident_urn
from outages.public import summary_text
from store import outages_sql

A = "{http://www.w3.org/2005/Atom}"
ONSET = datetime(2021, 10, 25, 11, 16, tzinfo=SEOUL)


def _row(incident_id: str, *, status: str = "resolved", network: str = "KT", scope: str = "city",
         onset: datetime = ONSET, synthetic: bool = False) -> dict:
    ended = onset + timedelta(minutes=89) if status in ("recovering", "resolved") else None
    return {
        "incident_id": incident_id, "network": network, "status": status, "confirmed": True, "scope": scope,
        "onset_at": onset, "detected_at": onset + timedelta(minutes=3), "ended_at": ended,
        "resolved_at": onset + timedelta(minutes=120) if status == "resolved" else None,
        "changed_at": onset + timedelta(minutes=120 if status == "resolved" else 8),
        "as_of": onset + timedelta(minutes=130 if status == "resolved" else 15),
        "peak_at": onset + timedelta(minutes=20), "peak_ratio": 38.2, "peak_reporters": 312,
        "recent_reporters": 312, "recent_expected": 8.2, "reporters": 900, "reports": 1100, "expected": 20.0,
        "synthetic": synthetic, "created_at": onset, "updated_at": onset,
    }


def _save(con, row: dict, areas=()) -> None:
    history = [("suspected", row["detected_at"], None)]
    if row["status"] != "suspected":
        history.append(("ongoing", row["detected_at"] + timedelta(minutes=5), None))
    if row["status"] == "resolved":
        history += [("recovering", row["ended_at"], None), ("resolved", row["resolved_at"], None)]
    outages_sql.save_incident(con.cursor(), row, history, list(areas))


@pytest.fixture
def incidents(con):
    _save(con, _row("KT-20211025-1116", synthetic=True))
    _save(con, _row("SKT-20211026-0900", status="ongoing", network="SKT", scope="districts",
                    onset=ONSET + timedelta(days=1)), areas=[("11440", 12, 14, 0.5), ("11410", 9, 10, 0.4)])
    return con


def test_atom_feed_is_valid_atom_1_0(incidents):
    body = atom_feed(incidents.cursor(), base_url="http://127.0.0.1:9999/")
    feed = ET.fromstring(body)
    assert feed.tag == f"{A}feed"
    for required in ("id", "title", "updated", "author"):
        assert feed.find(f"{A}{required}") is not None, required
    assert feed.find(f"{A}author/{A}name").text
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")}
    assert links["self"] == "http://127.0.0.1:9999/api/v1/incidents.atom"
    entries = feed.findall(f"{A}entry")
    assert len(entries) == 2
    for entry in entries:
        for required in ("id", "title", "updated", "summary", "link"):
            assert entry.find(f"{A}{required}") is not None, required
        datetime.strptime(entry.find(f"{A}updated").text, "%Y-%m-%dT%H:%M:%SZ")
    newest = entries[0]
    assert newest.find(f"{A}id").text == incident_urn("SKT-20211026-0900")
    assert newest.find(f"{A}link").get("href") == "http://127.0.0.1:9999/outages?incident=SKT-20211026-0900"
    assert "마포구" in newest.find(f"{A}title").text and "진행 중" in newest.find(f"{A}title").text
    assert "합성" in entries[1].find(f"{A}title").text  # synthetic data is labelled
    assert feed.find(f"{A}updated").text == "2021-10-26T02:24:00Z"  # the latest change: SKT 11:24 KST


def test_atom_in_english_labels_synthetic_data(incidents):
    feed = ET.fromstring(atom_feed(incidents.cursor(), base_url="http://h", lang="en"))
    titles = [entry.find(f"{A}title").text for entry in feed.findall(f"{A}entry")]
    assert [t.endswith(" [synthetic]") for t in titles] == [False, True]  # only the KT incident is synthetic
    assert titles[1].startswith("KT Resolved — all of Seoul")


def test_atom_ids_are_stable_and_distinct():
    assert incident_urn("KT-20211025-1116") == incident_urn("KT-20211025-1116")
    assert incident_urn("KT-20211025-1116") != incident_urn("KT-20211025-1117")
    assert incident_urn("KT-20211025-1116").startswith("urn:uuid:")


_MAPO = [{"sig_cd": "11440", "reporters": 12, "observed": 14, "expected": 0.5}]


@pytest.mark.parametrize(("row", "areas", "lang", "expected"), [
    (_row("KT-1", synthetic=True), [], "ko",
     "KT 장애 제보 급증: 서울 전역. 추정 시작 2021-10-25 11:16, 감지 11:19, 추정 종료 12:45 (지속 1시간 29분). "
     "제보자 900명, 제보 1100건, 최대 평소의 38배. 상태: 해소. 시연용 합성 데이터입니다(실제 장애가 아님)."),
    (_row("KT-1", synthetic=True), [], "en",
     "Surge of KT failure reports in all of Seoul. Estimated start 2021-10-25 11:16, detected 11:19, "
     "estimated end 12:45 (1 h 29 min). 900 reporters, 1100 reports, peak 38× the usual. Status: Resolved. "
     "Synthetic demo data (not a real outage)."),
    (_row("SKT-1", status="ongoing", network="SKT", scope="districts"), _MAPO, "ko",
     "SK텔레콤 장애 제보 급증: 마포구. 추정 시작 2021-10-25 11:16, 감지 11:19 (지속 0시간 15분). "
     "제보자 900명, 제보 1100건, 최대 평소의 38배. 상태: 장애 진행 중."),
    (_row("SKT-1", status="ongoing", network="SKT", scope="districts"), _MAPO, "en",
     "Surge of SK Telecom failure reports in Mapo-gu. Estimated start 2021-10-25 11:16, detected 11:19 "
     "(0 h 15 min). 900 reporters, 1100 reports, peak 38× the usual. Status: Ongoing outage."),
])
def test_feed_summary_text(row, areas, lang, expected):
    assert summary_text(row, areas, lang) == expected


def test_atom_escapes_every_text(con):
    _save(con, _row('KT-<b>&"x</b>'))
    body = atom_feed(con.cursor(), base_url="http://h/?a=<1>&b")
    assert b"<b>" not in body
    entry = ET.fromstring(body).find(f"{A}entry")
    assert entry.find(f"{A}link").get("href") == "http://h/?a=<1>&b/outages?incident=KT-%3Cb%3E%26%22x%3C%2Fb%3E"


def test_atom_of_an_empty_site_is_still_valid(con):
    feed = ET.fromstring(atom_feed(con.cursor(), base_url="http://h", lang="en"))
    assert feed.find(f"{A}entry") is None and feed.find(f"{A}updated").text
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"


@pytest.fixture
def client(incidents):
    incidents.close()
    with route_client(status_api.ROUTES) as test_client:
        yield test_client


def test_status_lists_open_incidents_per_carrier(client):
    answer = client.get("/api/v1/status")
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["status"] == "outage"
    assert doc["carriers"]["SKT"] == {"status": "ongoing", "incidents": ["SKT-20211026-0900"]}
    assert doc["carriers"]["KT"]["status"] == "normal" and doc["carriers"]["LGU+"]["status"] == "normal"
    [incident] = doc["open_incidents"]
    assert [d["name_ko"] for d in incident["districts"]] == ["마포구", "서대문구"]
    assert incident["last_15min"] == {"reporters": 312, "usual": 8.2, "ratio": 38.0}
    text = json.dumps(doc)
    for private in ('"lat"', '"lon"', '"reporter"', '"note"', "ip_hash"):
        assert private not in text


@pytest.mark.parametrize(("query", "ids"), [
    ("", ["SKT-20211026-0900", "KT-20211025-1116"]),
    ("?carrier=KT", ["KT-20211025-1116"]),
    ("?carrier=케이티,SKT", ["SKT-20211026-0900", "KT-20211025-1116"]),
    ("?status=resolved", ["KT-20211025-1116"]),
    ("?scope=districts", ["SKT-20211026-0900"]),
    ("?since=2021-10-26", ["SKT-20211026-0900"]),
    ("?until=2021-10-25", ["KT-20211025-1116"]),
    ("?limit=1&offset=1", ["KT-20211025-1116"]),
])
def test_incident_list_filters(client, query, ids):
    answer = client.get("/api/v1/incidents" + query)
    assert answer.status_code == 200
    assert [i["id"] for i in answer.json()["incidents"]] == ids


@pytest.mark.parametrize(("query", "field"), [
    ("?carrier=AT%26T", "carrier"),
    ("?status=broken", "status"),
    ("?scope=planet", "scope"),
    ("?since=yesterday", "since"),
    ("?since=2021-10-27&until=2021-10-01", "since"),
    ("?limit=0", "limit"),
    ("?limit=100000", "limit"),
    ("?offset=-1", "offset"),
])
def test_incident_list_rejects_bad_parameters(client, query, field):
    answer = client.get("/api/v1/incidents" + query)
    assert answer.status_code == 400
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_one_incident_and_a_missing_one(client):
    assert client.get("/api/v1/incidents/KT-20211025-1116").json()["status"] == "resolved"
    missing = client.get("/api/v1/incidents/KT-19990101-0000")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "incident_id"


def test_atom_route(client):
    answer = client.get("/api/v1/incidents.atom?lang=en")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/atom+xml")
    assert ET.fromstring(answer.content).find(f"{A}title").text.startswith("DropMap")
    assert client.get("/api/v1/incidents.atom?lang=fr").status_code == 400


def test_openapi_documents_every_outage_route():
    from api.openapi import document

    paths = document()["paths"]
    for route in status_api.ROUTES:
        assert route.path in paths


# --- webhooks ---------------------------------------------------------------------------

class _Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple] = []

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers, body))  # case-insensitive, like HTTP
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.answers, _Receiver.received = [500], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_webhooks_are_signed_and_retried(incidents, receiver, tmp_path, monkeypatch):
    config = tmp_path / "webhooks.json"
    config.write_text(json.dumps({"hooks": [{"url": receiver, "secret": "s3cret", "events": ["opened"]}]}))
    monkeypatch.setenv("DROPMAP_WEBHOOKS", str(config))
    hooks = webhooks.load_hooks()
    now = datetime.now(UTC)
    cur = incidents.cursor()
    events = [("KT-20211025-1116", "opened", now), ("KT-20211025-1116", "resolved", now),
              ("SKT-20211026-0900", "opened", now - timedelta(days=2))]  # too old: never sent
    assert webhooks.enqueue(cur, events, hooks, now=now) == 1
    assert [outcome for _, outcome in webhooks.deliver_due(cur, hooks, now=now, base_seconds=0.01)] == ["pending"]
    first = outages_sql.deliveries(cur)
    assert first["status"].tolist() == ["pending"] and first["attempts"].tolist() == [1]
    assert first["last_error"].tolist() == ["HTTP 500"]
    assert webhooks.deliver_due(cur, hooks, now=now + timedelta(seconds=1), base_seconds=0.01)[0][1] == "delivered"
    assert outages_sql.deliveries(cur)["status"].tolist() == ["delivered"]
    assert len(_Receiver.received) == 2
    headers, body = _Receiver.received[-1]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-DropMap-Signature"] == expected and headers["X-DropMap-Event"] == "opened"
    payload = json.loads(body)
    assert payload["incident"]["id"] == "KT-20211025-1116" and payload["incident"]["synthetic"] is True


def test_a_failing_receiver_is_given_up_after_the_last_attempt(incidents, tmp_path, monkeypatch):
    hooks = [webhooks.Hook(url="http://127.0.0.1:9/nothing-listens", secret=b"x", events=webhooks.EVENTS)]
    now = datetime.now(UTC)
    cur = incidents.cursor()
    webhooks.enqueue(cur, [("KT-20211025-1116", "opened", now)], hooks, now=now)
    for attempt in range(webhooks.MAX_ATTEMPTS):
        webhooks.deliver_due(cur, hooks, now=now + timedelta(hours=attempt + 1), timeout=0.5)
    assert outages_sql.deliveries(cur)["status"].tolist() == ["failed"]


@pytest.mark.parametrize(("config", "field"), [
    ({"hooks": [{"url": "ftp://x", "secret": "s"}]}, "hooks[0].url"),
    ({"hooks": [{"url": "https://x"}]}, "hooks[0].secret"),
    ({"hooks": [{"url": "https://x", "secret": "s", "events": ["exploded"]}]}, "hooks[0].events"),
])
def test_bad_webhook_configuration_names_the_field(config, field, tmp_path):
    from core.errors import InputError

    path = tmp_path / "hooks.json"
    path.write_text(json.dumps(config))
    with pytest.raises(InputError) as caught:
        webhooks.load_hooks(path)
    assert caught.value.field == field


def test_no_configuration_means_no_webhooks(tmp_path):
    assert webhooks.load_hooks(tmp_path / "absent.json") == []


def test_backoff_doubles_up_to_an_hour():
    assert [webhooks.backoff(n, 30).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert webhooks.backoff(20, 30).total_seconds() == 3600


@pytest.mark.parametrize(("row", "areas", "lang", "expected"), [
    # An ended incident shows its span, not "from ..." as if it were still going on.
    (_row("KT-1", synthetic=True), [], "ko", "KT 해소 — 서울 전역 (2021-10-25 11:16–12:45)"),
    (_row("KT-1", synthetic=True), [], "en", "KT Resolved — all of Seoul (2021-10-25 11:16–12:45)"),
    (_row("SKT-1", status="ongoing", network="SKT", scope="districts"), _MAPO, "ko",
     "SK텔레콤 장애 진행 중 — 마포구 (2021-10-25 11:16부터)"),
    (_row("SKT-1", status="ongoing", network="SKT", scope="districts"), _MAPO, "en",
     "SK Telecom Ongoing outage — Mapo-gu (from 2021-10-25 11:16)"),
])
def test_incident_title(row, areas, lang, expected):
    from outages.public import title_text

    assert title_text(row, areas, lang) == expected
