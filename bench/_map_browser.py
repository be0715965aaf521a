"""Browser timing for bench/bench_map.py --browser (not run on its own by bench/run_all.py).

Serves a database with ``streamlit run app.py`` on a free loopback port and
drives Debian's chromium: how long after a filter change until the map shows
the new hexes (wall clock, from the click to the changed SVG paths in the
st_folium iframe).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._site import start_site  # noqa: E402

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
# Hexes on screen: SVG paths (their count and first fills) or, for big views, Leaflet's canvas.
_SIGNATURE_JS = """sel => { const f = document.querySelector(sel); const d = f && f.contentDocument;
    if (!d) return ''; const ps = [...d.querySelectorAll('path.leaflet-interactive')];
    return ps.length + ':' + ps.slice(0, 400).map(p => p.getAttribute('fill')).join(',')
        + ':' + d.querySelectorAll('canvas.leaflet-zoom-animated').length; }"""
_CHANGED_JS = """([sel, old]) => { const f = document.querySelector(sel); const d = f && f.contentDocument;
    if (!d) return false; const ps = [...d.querySelectorAll('path.leaflet-interactive')];
    const canvases = d.querySelectorAll('canvas.leaflet-zoom-animated').length;
    const now = ps.length + ':' + ps.slice(0, 400).map(p => p.getAttribute('fill')).join(',') + ':' + canvases;
    return (ps.length > 0 || canvases > 0) && now !== old; }"""


def _pick(page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} input[role=combobox]").click()
    page.get_by_role("option", name=option, exact=True).click()


def _hour_end(page) -> None:
    page.locator(".st-key-explore_hours input[type=range]").first.focus()
    page.keyboard.press("End")


def time_filter_change(db: Path) -> dict:
    """Seconds from a filter change to the new hexes on screen, for a few changes; prints a table."""
    from playwright.sync_api import sync_playwright

    site = start_site(db, env={"DROPMAP_SCAN_SECONDS": "0"}, timeout=90)
    base = site.base
    results = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            page.goto(base + "/explore")
            page.frame_locator(MAP_FRAME).locator("path.leaflet-interactive").first.wait_for(timeout=180_000)
            results["first load (cold caches)"] = time.perf_counter() - started
            changes = [
                ("carrier -> KT", lambda: _pick(page, "explore_carrier", "KT")),
                ("carrier -> SK텔레콤", lambda: _pick(page, "explore_carrier", "SK텔레콤")),
                ("hours -> 23 h", lambda: _hour_end(page)),
                ("days -> 주말", lambda: page.locator(".st-key-explore_days label").nth(2).click()),
                ("resolution -> 9", lambda: _pick(page, "explore_res", "9 (~0.1 km²)")),
            ]
            for name, act in changes:
                page.wait_for_timeout(4000)  # let the page settle (charts below the map)
                old = page.evaluate(_SIGNATURE_JS, MAP_FRAME)
                started = time.perf_counter()
                act()
                page.wait_for_function(_CHANGED_JS, arg=[MAP_FRAME, old], timeout=180_000)
                results[name] = time.perf_counter() - started
            browser.close()
    finally:
        site.stop(timeout=30)
    print("\nbrowser: seconds from a filter change to the new hexes on screen")
    for name, seconds in results.items():
        print(f"  {name:28} {seconds:6.2f} s")
    changes_only = [v for k, v in results.items() if not k.startswith("first")]
    print(f"  median of the changes        {statistics.median(changes_only):6.2f} s (target < 3 s)")
    return results
