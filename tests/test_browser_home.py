"""The home page in a real browser on the default demo city, on a phone (issue 12): the carriers' states,
their 24-hour lines, the map's hexes and the report button; no request fails (Leaflet's marker images)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

STATES = ("정상", "장애 의심", "장애 진행 중", "복구 중")


def _wait_for_hexes(page, at_least: int = 100) -> int:
    page.wait_for_function(
        "(n) => Array.from(document.querySelectorAll('iframe')).some(f => {"
        "  try { return f.contentDocument.querySelectorAll('path.leaflet-interactive').length >= n; }"
        "  catch (e) { return false; } })", arg=at_least, timeout=90_000)
    return page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll('iframe')).map(f => {"
        "  try { return f.contentDocument.querySelectorAll('path.leaflet-interactive').length; }"
        "  catch (e) { return 0; } }))")


def test_home_on_a_phone_answers_phone_or_carrier(real_site, phone, screenshot_dir):
    failed = []
    phone.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    phone.goto(real_site["url"] + "/")
    states = phone.locator(".st-key-home_states")
    states.wait_for(timeout=90_000)
    line = states.inner_text()
    for carrier in ("SK텔레콤", "KT", "LG U+"):
        assert carrier in line
    assert sum(line.count(s) for s in STATES) == 3
    # All three states and the report button are on the first screen of a 390x844 phone.
    box = states.bounding_box()
    assert box["y"] + box["height"] <= 844
    button = phone.get_by_role("button", name="📣 제보하기")
    assert button.bounding_box()["y"] + button.bounding_box()["height"] <= 844
    # One 24-hour line per carrier (Vega draws into each card), and the map's hexes.
    for key in ("SKT", "KT", "LGUplus"):
        phone.locator(f".st-key-home_carrier_{key} canvas, .st-key-home_carrier_{key} svg").first.wait_for(
            timeout=90_000)
    assert _wait_for_hexes(phone) > 500
    phone.screenshot(path=str(screenshot_dir / "home_phone.png"))
    assert failed == [], failed[:5]
    assert phone.outside_requests == []
    button.click()
    phone.wait_for_url("**/report**", timeout=30_000)


def test_leaflet_marker_images_load_on_the_report_map(real_site, page):
    # Issue 12: st_folium's map asked for /app/static/vendor/leafletmarker-icon.png (a slash missing): a 404.
    asked, failed = [], []
    page.on("request", lambda r: asked.append(r.url) if "marker-" in r.url else None)
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and "/app/static/" in r.url else None)
    page.goto(real_site["url"] + "/report")
    page.frame_locator('iframe[title="streamlit_folium.st_folium"]').first.locator(
        ".leaflet-marker-icon").first.wait_for(state="attached", timeout=90_000)
    page.wait_for_timeout(1000)
    assert asked and all("/app/static/vendor/leaflet/images/marker-" in url for url in asked), asked
    assert failed == []
