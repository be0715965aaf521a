"""The failure map in headless Chromium against the real site: hexes, filters, URL, reopening, clicking."""

from __future__ import annotations

import re

import pytest

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
HEXES = "path.leaflet-interactive"

# Number of hexes and the fill colours of the first 400, read inside the map's iframe.
_SIGNATURE_JS = """sel => { const f = document.querySelector(sel); const d = f && f.contentDocument;
    if (!d) return ''; const ps = [...d.querySelectorAll('path.leaflet-interactive')];
    return ps.length + ':' + ps.slice(0, 400).map(p => p.getAttribute('fill')).join(','); }"""
_CHANGED_JS = """([sel, old]) => { const f = document.querySelector(sel); const d = f && f.contentDocument;
    if (!d) return false; const ps = [...d.querySelectorAll('path.leaflet-interactive')];
    if (!ps.length) return false;
    return (ps.length + ':' + ps.slice(0, 400).map(p => p.getAttribute('fill')).join(',')) !== old; }"""


def _signature(page) -> str:
    return page.evaluate(_SIGNATURE_JS, MAP_FRAME)


# True once the map has hexes and their number is the one of the previous poll (Leaflet finished the layer).
_STABLE_JS = """sel => { const f = document.querySelector(sel); const d = f && f.contentDocument;
    const n = d ? d.querySelectorAll('path.leaflet-interactive').length : 0;
    const done = n > 0 && n === window.__dropmapHexes; window.__dropmapHexes = n; return done; }"""


def _wait_until_drawn(page) -> int:
    """The number of hexes, once it has stayed the same over two polls half a second apart
    (not as soon as the first hex appears: Leaflet draws a layer in parts)."""
    page.evaluate("() => { window.__dropmapHexes = -1; }")
    page.wait_for_function(_STABLE_JS, arg=MAP_FRAME, polling=500, timeout=60_000)
    return page.frame_locator(MAP_FRAME).locator(HEXES).count()


def _wait_for_hexes(page) -> int:
    page.frame_locator(MAP_FRAME).locator(HEXES).first.wait_for(timeout=60_000)
    return _wait_until_drawn(page)


def _wait_for_change(page, old: str) -> None:
    page.wait_for_function(_CHANGED_JS, arg=[MAP_FRAME, old], timeout=60_000)
    _wait_until_drawn(page)


def filter_carrier(page, carrier: str, before: str) -> None:
    """Choose ``carrier`` in the map's carrier box; returns once the URL says so and other hexes are drawn."""
    page.locator(".st-key-explore_carrier input[role=combobox]").click()
    page.get_by_role("option", name=carrier, exact=True).click()
    page.wait_for_url(re.compile(f".*carrier={re.escape(carrier)}.*"), timeout=60_000)
    _wait_for_change(page, before)


@pytest.mark.browser
def test_failure_map_in_a_browser(site, page, browser, screenshot_dir):
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(site["url"]) and not r.url.startswith(("data:", "blob:", "about:")) else None)
    page.goto(site["url"] + "/explore")
    assert _wait_for_hexes(page) > 100
    page.screenshot(path=str(screenshot_dir / "map_default.png"))
    first = _signature(page)

    # carrier -> KT: other hexes, and the URL says so
    filter_carrier(page, "KT", first)
    page.screenshot(path=str(screenshot_dir / "map_kt.png"))
    kt = _signature(page)

    # hours -> 23:00 only
    page.locator(".st-key-explore_hours input[type=range]").first.focus()
    page.keyboard.press("End")
    page.wait_for_url(re.compile(r".*hours=23.*"), timeout=60_000)
    _wait_for_change(page, kt)
    page.screenshot(path=str(screenshot_dir / "map_kt_23h.png"))
    late = _signature(page)
    url = page.url
    assert "carrier=KT" in url and "hours=23" in url and "z=" in url

    # the URL reopens the same view in a fresh tab
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    again = context.new_page()
    again.goto(url)
    _wait_for_hexes(again)
    assert _signature(again) == late
    assert again.locator(".st-key-explore_carrier input[role=combobox]").input_value() == "KT"
    again.screenshot(path=str(screenshot_dir / "map_reopened.png"))

    # clicking a hex opens its detail panel and puts the hex in the URL
    again.frame_locator(MAP_FRAME).locator(HEXES).nth(_signature(again).count(",") // 2).click(force=True)
    again.get_by_role("heading", name="선택한 육각형").wait_for(timeout=60_000)
    again.wait_for_url(re.compile(r".*cell=8[0-9a-f]{14}.*"), timeout=60_000)
    again.get_by_role("heading", name="선택한 육각형").scroll_into_view_if_needed()
    again.wait_for_timeout(1500)  # charts in the panel
    again.screenshot(path=str(screenshot_dir / "map_detail.png"))
    context.close()

    assert outside == [], f"third-party requests: {outside[:5]}"
