"""The 2021 replay, on the default demo city: the site's own detector finds KT's outage of
2021-10-25 (11:16-12:45 KST) and the outages page tells it, with its timeline; the status API and
the Atom feed agree. (A fresh `make run` scans in the background; here every 2 s.)"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import start_site

pytestmark = pytest.mark.browser
SEOUL = ZoneInfo("Asia/Seoul")


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def kst(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(SEOUL)


@pytest.fixture(scope="module")
def replay_site(real_demo_db_file, tmp_path_factory):
    """The real site over the default demo city with its background detector on."""
    no_hooks = tmp_path_factory.mktemp("hooks") / "none.json"
    site = start_site(real_demo_db_file, tmp_path_factory, DROPMAP_SCAN_SECONDS="2",
                      DROPMAP_WEBHOOKS=str(no_hooks))
    info = next(site)
    try:
        deadline = time.time() + 180
        query = "/api/v1/incidents?carrier=KT&since=2021-10-25&until=2021-10-25"
        while time.time() < deadline:  # the detector's first run replays the stored history
            try:
                status = json.loads(get(info["url"] + "/api/v1/status")[2])
                found = json.loads(get(info["url"] + query)[2])["incidents"]
                if status["detector"]["scanned_until"] and found:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(1)
        else:
            pytest.fail("the detector did not find the 2021-10-25 KT outage in the default demo city")
        yield {**info, "incident": found[0]}
    finally:
        site.close()


def test_the_2021_kt_outage_replays_on_the_outages_page(replay_site, page, screenshot_dir):
    incident = replay_site["incident"]
    onset, ended = kst(incident["onset"]), kst(incident["ended_at"])
    # The demo replays KT's real outage: failures from 11:16, recovery at 12:45 (docs/DEMO.md).
    assert datetime(2021, 10, 25, 11, 16, tzinfo=SEOUL) <= onset <= datetime(2021, 10, 25, 11, 30, tzinfo=SEOUL)
    assert datetime(2021, 10, 25, 12, 40, tzinfo=SEOUL) <= ended <= datetime(2021, 10, 25, 13, 10, tzinfo=SEOUL)
    assert incident["status"] == "resolved" and incident["scope"] == "city" and incident["synthetic"] is True

    # The status API: everything is normal now (2021 is long over), the detector has scanned.
    status = json.loads(get(replay_site["url"] + "/api/v1/status")[2])
    assert status["status"] == "normal" and status["detector"]["scanned_until"]
    assert set(status["carriers"]) == {"SKT", "KT", "LGU+"}
    # The Atom feed carries the incident.
    code, ctype, body = get(replay_site["url"] + "/api/v1/incidents.atom")
    assert code == 200 and ctype.startswith("application/atom+xml")
    feed = ET.fromstring(body)
    entries = [e for e in feed.iter("{http://www.w3.org/2005/Atom}entry")]
    assert any(incident["id"] in ET.tostring(e, encoding="unicode") for e in entries)

    # The page: the list names it, its own view shows start and end times and the timeline.
    page.set_viewport_size({"width": 1280, "height": 2600})
    page.goto(replay_site["url"] + "/outages")
    page.locator('[data-testid="stDataFrame"] [role="gridcell"]', has_text=re.compile(r"2021-10-25 11:[123]\d")
                 ).first.wait_for(state="attached", timeout=60_000)  # a canvas grid: cells are not "visible"
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=60_000)
    page.screenshot(path=str(screenshot_dir / "story_outage_1_list.png"))

    page.goto(f"{replay_site['url']}/outages?incident={incident['id']}")
    start = page.locator('[data-testid="stMetric"]').filter(has_text="추정 시작").locator(
        '[data-testid="stMetricValue"]')
    start.wait_for(timeout=60_000)
    assert start.inner_text() == f"{onset:%H:%M}"
    end = page.locator('[data-testid="stMetric"]').filter(has_text="추정 종료").locator(
        '[data-testid="stMetricValue"]')
    assert end.inner_text() == f"{ended:%H:%M}"
    page.get_by_text("KT 해소 — 서울 전역").first.wait_for(timeout=30_000)
    page.get_by_text("분당 제보자 수와 평소 범위").first.wait_for(timeout=30_000)
    timeline = page.locator('[data-testid="stVegaLiteChart"]').first
    timeline.wait_for(timeout=30_000)
    timeline.locator("canvas, svg.marks").first.wait_for(timeout=30_000)  # the chart drew its marks
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=60_000)
    box = timeline.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for(timeout=30_000)  # tables drew too
    page.wait_for_timeout(1500)
    timeline.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "story_outage_2_incident.png"))
