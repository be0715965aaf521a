"""In headless Chromium at a phone's size: tap the map, send a report, get a code, see it in "My reports"."""

from __future__ import annotations

import re
import time

import pytest
from conftest import PHONE, choose, settle

pytestmark = pytest.mark.browser

def failures_on_overview(page, url, *, timeout_s: float = 60.0) -> int:
    """The home page's count of failure reports, once the page has its data.

    The metric is found by its label (not by position: the home page's layout may move it),
    and read only when it shows a non-zero number that stays the same across a rerun's end:
    a value read as soon as the first element appears can be a placeholder (it read 0 once).
    """
    page.goto(url + "/")
    value = page.locator('[data-testid="stMetric"]').filter(has_text="장애 제보").locator(
        '[data-testid="stMetricValue"]').first
    value.wait_for(timeout=timeout_s * 1000)
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        settle(page)
        text = value.inner_text().replace(",", "").strip()
        if text.isdigit() and int(text) > 0:
            if text == last:
                return int(text)
            last = text
        page.wait_for_timeout(250)
    raise AssertionError(f"the home page never showed a count of failure reports (last read: {last!r})")


def test_tap_report_code_my_reports(site, phone, screenshot_dir):
    page = phone
    before = failures_on_overview(page, site["url"])

    page.goto(site["url"] + "/report")
    map_frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]').first
    map_frame.locator(".leaflet-container").wait_for(timeout=60_000)
    map_frame.locator(".dropmap-locate").wait_for()  # the locate button is there
    box = page.locator('iframe[title="streamlit_folium.st_folium"]').first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)  # tap Seoul
    page.get_by_text(re.compile("선택한 위치:")).wait_for(timeout=30_000)

    choose(page, "통신사", "KT")
    settle(page)
    page.get_by_role("radio", name="통화 끊김").click()
    settle(page)
    page.locator("h1").first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "report_phone_form.png"))
    page.get_by_role("button", name="제보하기").click()

    code_block = page.locator('[data-testid="stCode"]').first
    code_block.wait_for(timeout=30_000)
    code = re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code_block.inner_text()).group(0)
    page.get_by_text("제보가 저장되었습니다").wait_for()
    code_block.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "report_phone_code.png"))

    # A new session (a fresh page load) finds the report by the code alone.
    page.goto(site["url"] + "/my_reports")
    box = page.get_by_label("제보자 코드")
    box.wait_for(timeout=60_000)
    box.fill(code)
    box.press("Enter")
    metric = page.locator('[data-testid="stMetricValue"]').first
    metric.wait_for(timeout=60_000)
    assert metric.inner_text() == "1"
    page.frame_locator('iframe[title="streamlit_folium.st_folium"]').first.locator(
        ".leaflet-interactive").first.wait_for(state="attached", timeout=30_000)  # my report's dot
    page.get_by_role("button", name="문서(HTML) 받기").wait_for()
    page.locator("h1").first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "my_reports_phone.png"))
    page.get_by_role("button", name="문서(HTML) 받기").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "my_reports_phone_end.png"))

    # Counted at once: the overview reads the store without a cache.
    assert failures_on_overview(page, site["url"]) == before + 1
    assert page.outside_requests == []  # nothing fetched from third parties


def test_locate_button_uses_the_device_position(site, browser, screenshot_dir):
    """Where the browser allows it, '📍 내 위치' picks the device's position (here: at 강남역)."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="ko-KR",
                                  geolocation={"latitude": 37.4979, "longitude": 127.0276},
                                  permissions=["geolocation"])
    page = context.new_page()
    try:
        page.goto(site["url"] + "/report")
        map_frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]').first
        map_frame.locator(".dropmap-locate").wait_for(timeout=60_000)
        settle(page)
        map_frame.locator(".dropmap-locate").click()
        chosen = page.get_by_text(re.compile("선택한 위치:"))
        chosen.wait_for(timeout=30_000)
        # 강남역 sits on the 강남구/서초구 border; the point is a few metres from the station.
        metres = int(re.search(r"강남역 (\d+) m", chosen.inner_text()).group(1))
        assert metres < 50
        page.screenshot(path=str(screenshot_dir / "report_phone_located.png"))
    finally:
        context.close()
