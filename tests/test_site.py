"""The real site, as a person meets it: one process serving pages, API and static Leaflet."""

from __future__ import annotations

import json
import urllib.request

import pytest


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def test_api_and_static_files_are_served_beside_the_ui(site):
    status, _, body = _get(site["url"] + "/api/v1/openapi.json")
    doc = json.loads(body)
    assert status == 200 and doc["openapi"].startswith("3.")
    assert "/api/v1/openapi.json" in doc["paths"]
    status, ctype, body = _get(site["url"] + "/app/static/vendor/leaflet/leaflet.js")
    assert status == 200 and "javascript" in ctype and b"Leaflet" in body[:500]


@pytest.mark.browser
def test_overview_page_in_a_browser(site, page, screenshot_dir):
    requests_outside = []
    page.on("request", lambda r: requests_outside.append(r.url)
            if not r.url.startswith(site["url"]) and not r.url.startswith("data:") else None)
    page.goto(site["url"] + "/")
    page.get_by_text("장애 제보").first.wait_for(timeout=30_000)
    page.get_by_text("합성 데이터").first.wait_for(timeout=10_000)
    page.screenshot(path=str(screenshot_dir / "overview.png"), full_page=True)
    assert page.title().startswith("DropMap")
    assert requests_outside == [], f"third-party requests: {requests_outside[:5]}"
