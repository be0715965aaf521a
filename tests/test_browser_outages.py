"""The real site with its background detector on: it finds the demo's KT outage by itself and shows it.

One `streamlit run app.py` over a copy of the demo city with DROPMAP_SCAN_SECONDS=2:
the detector's first run replays the stored history (the demo's 2021 data),
so the KT outage of 2021-10-25 appears in the API, the Atom feed and the page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT, free_port


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


@pytest.fixture(scope="module")
def scanning_site(demo_db_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("outage-site") / "site.duckdb"
    shutil.copy(demo_db_file, path)
    port = free_port()
    env = {**os.environ, "DROPMAP_DB": str(path), "DROPMAP_SCAN_SECONDS": "2",
           "DROPMAP_WEBHOOKS": str(path.parent / "no-webhooks.json")}
    log = open(path.parent / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if json.loads(_get(base + "/api/v1/incidents")[2])["incidents"]:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(1)
        else:
            raise RuntimeError(f"the detector found nothing; see {log.name}")
        found = json.loads(_get(base + "/api/v1/incidents?carrier=KT&since=2021-10-25&until=2021-10-25")[2])
        yield {"url": base, "incident": found["incidents"][0]["id"] if found["incidents"] else None}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_background_detector_finds_the_demo_outage(scanning_site):
    status, _, body = _get(scanning_site["url"] + "/api/v1/incidents")
    incidents = json.loads(body)["incidents"]
    kt = [i for i in incidents if i["carrier"] == "KT" and i["onset"].startswith("2021-10-25T11:")]
    assert [i["id"] for i in kt] == [scanning_site["incident"]]
    assert scanning_site["incident"].startswith("KT-20211025-11")
    assert kt[0]["status"] == "resolved" and kt[0]["scope"] == "city" and kt[0]["synthetic"] is True
    status, ctype, body = _get(scanning_site["url"] + "/api/v1/incidents.atom")
    assert status == 200 and ctype.startswith("application/atom+xml")
    ids = [e.text for e in ET.fromstring(body).iter("{http://www.w3.org/2005/Atom}id")]
    assert len(ids) == len(incidents) + 1
    doc = json.loads(_get(scanning_site["url"] + "/api/v1/status")[2])
    assert doc["status"] == "normal" and doc["detector"]["scanned_until"]  # 2021 is long over


@pytest.mark.browser
def test_incident_page_in_a_browser(scanning_site, page, screenshot_dir):
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(scanning_site["url"]) and not r.url.startswith("data:") else None)
    page.set_viewport_size({"width": 1280, "height": 3400})  # Streamlit scrolls inside the page: show it all
    page.goto(f"{scanning_site['url']}/outages?incident={scanning_site['incident']}")
    page.get_by_text("분당 제보자 수와 평소 범위").first.wait_for(timeout=60_000)
    page.get_by_text("배상 시계").first.wait_for(timeout=30_000)
    page.locator("canvas, svg.marks").first.wait_for(timeout=30_000)  # the Vega charts drew
    page.get_by_label("월 요금(원)").wait_for(timeout=30_000)
    page.get_by_text("확인된(").first.wait_for(timeout=30_000)  # the page's last line
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=60_000)
    time.sleep(5)  # tables draw on a canvas a moment after the page settles
    page.screenshot(path=str(screenshot_dir / "outage_incident.png"))
    assert page.get_by_text("KT 해소 — 서울 전역").first.is_visible()
    assert page.get_by_text("약관 기준 미달").first.is_visible()  # 89 minutes owed nothing in 2021
    page.goto(f"{scanning_site['url']}/outages?lang=en")
    page.get_by_text("Monthly outage time per carrier").first.wait_for(timeout=60_000)
    time.sleep(2)
    page.screenshot(path=str(screenshot_dir / "outage_list_en.png"))
    assert outside == [], f"third-party requests: {outside[:5]}"
