"""The static status files the detector writes after each scan, for a static server or a CDN:
the API's own answers byte for byte, a self-contained page, atomic and only-when-changed writes,
and a folder that cannot be written never stopping the scan."""

from __future__ import annotations

import errno
import html
import itertools
import json
import os
import re
import shutil
import time
import tomllib
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import start_site
from outage_data import SEOUL, load, private_copy, quiet_city, quiet_db_file, surge
from stored import route_client

import core.files
import outages.public
from api import status as status_api
from core.settings import ROOT, SETTINGS
from outages import feeds, service, static_status
from store import outages_sql
from store.db import connect

KT_MINUTE = datetime(2021, 10, 25, 11, 45, tzinfo=SEOUL)  # half an hour into the demo city's KT outage
FILES = ("status.json", "feed.atom", "feed-en.atom", "index.html")
HOSTILE = '<script>alert("x")</script>&'


def _freeze(monkeypatch, at: datetime) -> None:
    """GET /api/v1/status says when it was made: make the API's clock the scan's moment."""
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return at if tz is None else at.astimezone(tz)

    monkeypatch.setattr(feeds, "datetime", Frozen)


def _stats(folder: Path) -> dict[str, tuple[int, int]]:
    return {name: ((folder / name).stat().st_ino, (folder / name).stat().st_mtime_ns) for name in FILES}


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "status"
    monkeypatch.setenv("DROPMAP_STATUS_DIR", str(path))
    monkeypatch.setattr(static_status, "_failing", None)
    return path


@pytest.fixture
def replayed(demo_db, folder):
    """The small demo city, scanned by the live detector's tick as of 11:45 on 2021-10-25."""
    con = connect(demo_db)
    result = service.tick(con, now=KT_MINUTE)
    yield con, result
    con.close()


def test_a_scan_writes_the_status_files(replayed, folder):
    _, result = replayed
    opened = [i for i, event, _ in result.events if event == "opened"]
    assert [i for i in opened if i.startswith("KT-20211025-11")], opened
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)  # no temporary file left behind
    document = json.loads((folder / "status.json").read_bytes())
    assert document["generated_at"] == "2021-10-25T02:45:00Z"  # the scan's moment
    assert document["carriers"]["KT"]["status"] == "ongoing" and document["status"] == "outage"
    # Public files: a web server running as another user may read them, whatever the site's umask.
    assert folder.stat().st_mode & 0o777 == 0o755
    assert all((folder / name).stat().st_mode & 0o777 == 0o644 for name in FILES)


def test_the_files_are_the_apis_answers_byte_for_byte(replayed, folder, monkeypatch):
    con, _ = replayed
    monkeypatch.setenv("DROPMAP_BASE_URL", "https://dropmap.example/")
    service.tick(con, now=KT_MINUTE)  # the same moment, other links: written again
    con.close()
    _freeze(monkeypatch, KT_MINUTE)
    with route_client(status_api.ROUTES) as client:
        answers = {"status.json": client.get("/api/v1/status"), "feed.atom": client.get("/api/v1/incidents.atom"),
                   "feed-en.atom": client.get("/api/v1/incidents.atom?lang=en")}
    for name, answer in answers.items():
        assert answer.status_code == 200
        assert answer.content == (folder / name).read_bytes(), name
    assert answers["status.json"].headers["content-type"] == "application/json"
    assert json.loads(answers["status.json"].content)["links"]["atom"] == "https://dropmap.example/api/v1/incidents.atom"
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert 'href="https://dropmap.example/outages?incident=KT-20211025-11' in page


def test_the_page_tells_the_incident_korean_first(replayed, folder):
    page = (folder / "index.html").read_text(encoding="utf-8")
    ko, en = page.index('<section id="ko" lang="ko">'), page.index('<section id="en" lang="en">')
    korean, english = page[ko:en], page[en:]
    assert ko < en and 'href="#en"' in korean and 'href="#ko"' in english  # the switch is a link, not a script
    assert "<tr><td>KT</td><td><span class=\"state ongoing\">장애 진행 중</span></td></tr>" in korean
    assert "<tr><td>SK텔레콤</td><td><span class=\"state normal\">정상</span></td></tr>" in korean
    assert "<tr><td>KT</td><td><span class=\"state ongoing\">Ongoing outage</span></td></tr>" in english
    assert re.search(r"<dt>추정 시작</dt><dd><time>2021-10-25 11:[12]\d KST</time>", korean)
    assert re.search(r"<dt>Estimated start</dt><dd><time>2021-10-25 11:[12]\d KST</time>", english)
    assert "<dd>서울 전역</dd>" in korean and "<dd>all of Seoul</dd>" in english
    assert "마지막 확인: <time>2021-10-25 11:45 KST</time>" in korean
    assert "Last checked: <time>2021-10-25 11:45 KST</time>" in english
    assert "합성 데이터" in korean and "Synthetic demo data" in english  # demo data says so
    for link in ('href="feed.atom"', 'href="status.json"', 'href="/outages?incident=KT-20211025-11', 'href="/"'):
        assert link in korean, link  # no DROPMAP_BASE_URL: relative links
    assert 'href="feed-en.atom"' in english and 'href="/outages?lang=en"' in english
    # Self-contained: nothing fetched, nothing run.
    lowered = page.lower()
    for outside in ("<script", " src=", "url(", "@import", "http://", "https://", "<img", "<iframe"):
        assert outside not in lowered, outside
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


def test_a_second_scan_with_nothing_new_rewrites_nothing(replayed, folder):
    con, _ = replayed
    before = _stats(folder)
    service.tick(con, now=KT_MINUTE)
    assert _stats(folder) == before
    service.tick(con, now=KT_MINUTE + timedelta(minutes=1))
    after = _stats(folder)
    assert after["status.json"] != before["status.json"] and after["index.html"] != before["index.html"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)


def _read_only(prefix="", suffix="", dir=None):  # noqa: A002 - tempfile.mkstemp's own names
    """What the kernel answers on a read-only file system, naming a new temporary file each time."""
    raise OSError(errno.EROFS, "Read-only file system", f"{dir}/{prefix}{next(_names)}{suffix}")


_names = itertools.count()


@pytest.mark.parametrize("broken", ["a file where the folder should be", "a read-only folder",
                                    "a read-only file system"])
def test_a_folder_that_cannot_be_written_is_logged_and_the_scan_goes_on(broken, demo_db, folder, tmp_path,
                                                                         monkeypatch, caplog):
    if broken.startswith("a file"):
        (tmp_path / "taken").write_text("not a folder")
        monkeypatch.setenv("DROPMAP_STATUS_DIR", str(tmp_path / "taken" / "status"))
    else:
        folder.mkdir()
        (folder / "status.json").write_bytes(b"{}")
    if broken == "a read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only folder; the read-only file system case stands for it")
        folder.chmod(0o555)
    if broken == "a read-only file system":
        monkeypatch.setattr(core.files.tempfile, "mkstemp", _read_only)
    con = connect(demo_db)
    try:
        result = service.tick(con, now=KT_MINUTE)
        assert any(i.startswith("KT-20211025-11") for i, _, _ in result.events)  # the scan's result stands
        assert outages_sql.scan_state(con.cursor())[0] == KT_MINUTE
        [record] = [r for r in caplog.records if r.name == "dropmap.outages" and r.levelname == "ERROR"]
        assert "could not write the status files" in record.getMessage() and record.exc_info
        if folder.exists():
            assert [p.name for p in folder.iterdir()] == ["status.json"]  # the old file whole, no partial one
            assert (folder / "status.json").read_bytes() == b"{}"
        caplog.clear()
        service.tick(con, now=KT_MINUTE + timedelta(minutes=1))
        assert not [r for r in caplog.records if r.levelname == "ERROR"]  # a lasting failure is logged once
    finally:
        con.close()
        if folder.exists():
            folder.chmod(0o755)


def test_off_writes_nothing(monkeypatch):
    monkeypatch.setenv("DROPMAP_STATUS_DIR", "off")
    assert static_status.publish(None, KT_MINUTE) == []


# --- escaping ------------------------------------------------------------------------------------

OUTAGE = datetime(2021, 10, 20, 11, 16, tzinfo=SEOUL)  # a Wednesday, after three quiet weeks


@pytest.fixture(scope="module")
def quiet_db(tmp_path_factory) -> Path:
    """Three weeks of ordinary KT reports (tests/outage_data.py), built once for this module."""
    start = OUTAGE.replace(hour=0, minute=0) - timedelta(days=21)
    return quiet_db_file(tmp_path_factory, "static-status", quiet_city(days=21, start=start))


def test_a_hostile_district_name_is_escaped(quiet_db, tmp_path, folder, monkeypatch):
    """District names come from a data file (data/seoul_gu.geojson, or another city's): shown as text."""
    con = connect(private_copy(quiet_db, tmp_path, monkeypatch))
    try:
        load(con, surge(OUTAGE, 60, reporters=250, districts=("마포구", "서대문구")))
        monkeypatch.setattr(outages.public, "district_by_code",
                            lambda code: SimpleNamespace(name_ko=f"{HOSTILE}{code}", name_en=f"{HOSTILE}{code}"))
        service.tick(con, now=OUTAGE + timedelta(minutes=40))
    finally:
        con.close()
    document = json.loads((folder / "status.json").read_bytes())
    [incident] = document["open_incidents"]
    assert incident["scope"] == "districts" and incident["districts"][0]["name_ko"].startswith(HOSTILE)
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert HOSTILE not in page and "<script" not in page
    assert f"<dd>{html.escape(HOSTILE)}11440·{html.escape(HOSTILE)}11410</dd>" in page or \
        f"<dd>{html.escape(HOSTILE)}11410·{html.escape(HOSTILE)}11440</dd>" in page


def test_every_value_of_the_page_is_escaped():
    base = '"><script>alert(1)</script>'
    document = {
        "generated_at": HOSTILE, "status": "outage", "synthetic": True,
        "carriers": {"KT": {"status": HOSTILE, "incidents": [HOSTILE]}},
        "open_incidents": [{
            "id": HOSTILE, "carrier": HOSTILE, "carrier_name": {"ko": HOSTILE, "en": HOSTILE}, "status": HOSTILE,
            "status_name": {"ko": HOSTILE, "en": HOSTILE}, "scope": "districts", "onset": HOSTILE,
            "detected_at": HOSTILE, "districts": [{"code": HOSTILE, "name_ko": HOSTILE, "name_en": HOSTILE}],
            "last_15min": {"reporters": HOSTILE}, "synthetic": True,
        }],
    }
    page = static_status.status_page_html(document, base_url=base)
    assert "<script" not in page and 'alert("x")' not in page
    assert page.count(html.escape(HOSTILE)) >= 10
    assert 'href="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;/outages?incident=' in page


# --- served ----------------------------------------------------------------------------------------

def test_the_default_folder_is_one_the_site_serves():
    [setting] = [s for s in SETTINGS if s.name == "DROPMAP_STATUS_DIR"]
    assert Path(setting.default) == ROOT / "static" / "status"
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["enableStaticServing"] is True  # ./static is served at /app/static/
    assert "static/status/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


@pytest.fixture
def served_status_dir():
    """A folder of its own under ROOT/static (which the site serves), so a site running from this checkout keeps
    its static/status untouched."""
    import uuid

    served = ROOT / "static" / f"status-test-{uuid.uuid4().hex[:12]}"
    yield served
    shutil.rmtree(served, ignore_errors=True)


def test_the_running_site_serves_the_files_beside_its_other_static_files(demo_db_file, tmp_path_factory,
                                                                          served_status_dir):
    sites = start_site(demo_db_file, tmp_path_factory, DROPMAP_SCAN_SECONDS="2",
                       DROPMAP_STATUS_DIR=str(served_status_dir))
    site = next(sites)
    try:
        deadline = time.time() + 120
        while not (served_status_dir / "index.html").exists() and time.time() < deadline:
            time.sleep(0.5)  # the detector's first run replays the stored history, then writes the files
        answers = {}
        for path in [f"{served_status_dir.name}/{name}" for name in FILES] + ["vendor/leaflet/leaflet.js"]:
            with urllib.request.urlopen(f"{site['url']}/app/static/{path}", timeout=30) as r:
                answers[path.replace(served_status_dir.name, "status")] = (r.headers["Content-Type"].split(";")[0],
                                                                          r.read())
    finally:
        sites.close()
    assert answers["status/status.json"][0] == "application/json"
    assert json.loads(answers["status/status.json"][1])["detector"]["scanned_until"]
    assert answers["status/feed.atom"][0] == answers["status/feed-en.atom"][0] == "application/atom+xml"
    assert answers["status/index.html"][0] == "text/html" and "끊김지도".encode() in answers["status/index.html"][1]
    assert answers["vendor/leaflet/leaflet.js"][1]  # the site's other static files are served as before


@pytest.mark.browser
def test_the_page_fits_a_phone_and_fetches_nothing(replayed, folder, browser):
    from conftest import PHONE

    context = browser.new_context(viewport=PHONE, locale="ko-KR")
    page = context.new_page()
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    try:
        page.goto((folder / "index.html").as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
        assert page.locator("#ko h1").inner_text() == "서울 통신 장애 현황"
        page.get_by_role("link", name="English").click()  # the switch needs no script
        assert page.url.endswith("#en") and page.locator("#en h1").is_visible()
    finally:
        context.close()
    assert asked == [(folder / "index.html").as_uri()]
