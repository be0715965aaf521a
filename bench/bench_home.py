"""The home page in a real browser: how long until each carrier's state shows, and until the map's hexes.

    .venv/bin/python bench/bench_home.py            # builds the default demo (as `make run`) in a temp dir
    .venv/bin/python bench/bench_home.py --db data/dropmap.duckdb --repeats 7

Starts `streamlit run app.py` on a free loopback port over a copy of the database (the outage detector on,
as `make run` has it; the measurement waits until its first scan is done), then opens the home page in
Debian's chromium (Playwright) at desktop size (1280x900) and phone size (390x844), each time in a new
browser context (a new visitor). Times are from navigation start to:

- status: the line at the top shows the three carriers' states (normal / suspected / ongoing / recovering);
- hexes:  the map's iframe has drawn its hexes (at least 100 Leaflet paths).

In the same run, a baseline: the methodology page's title (the floor of any page: Streamlit's own start
in the browser) and the failure map page's hexes (the same map, drawn by that page).

The first visit after the site starts fills the server's caches (24-hour series, map); it is reported
apart from the later visits (p50/p95 over the repeats). Targets (issue 12): status < 2 s, hexes < 3 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._site import start_site  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
STATES = ("정상", "장애 의심", "장애 진행 중", "복구 중")


def _wait_first_scan(base: str, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with urllib.request.urlopen(base + "/api/v1/status", timeout=30) as response:
            if json.loads(response.read())["detector"]["scanned_until"]:
                return time.monotonic() - start
        time.sleep(2)
    raise SystemExit("the outage detector's first scan did not finish")


def _visit(browser, base: str, viewport: dict) -> tuple[float, float]:
    phone = viewport["width"] < 500
    context = browser.new_context(viewport=viewport, locale="ko-KR", is_mobile=phone, has_touch=phone)
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(base + "/", wait_until="commit")
        # The line at the top naming all three carriers' states (the cards below repeat them).
        page.wait_for_function(
            "(states) => { const e = document.querySelector('.st-key-home_states');"
            "  return !!e && states.reduce((n, s) => n + e.innerText.split(s).length - 1, 0) >= 3; }",
            arg=list(STATES), timeout=60_000, polling=20)
        status = time.perf_counter() - start
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('iframe')).some(f => {"
            "  try { return f.contentDocument.querySelectorAll('path.leaflet-interactive').length >= 100; }"
            "  catch (e) { return false; } })", timeout=60_000, polling=50)
        hexes = time.perf_counter() - start
        return status, hexes
    finally:
        context.close()


def _baseline(browser, base: str, viewport: dict) -> tuple[float, float]:
    """The same run's floor: the methodology page's title (a page with no data), and the failure map
    page's hexes (the same map on its own page)."""
    context = browser.new_context(viewport=viewport, locale="ko-KR")
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(base + "/methodology", wait_until="commit")
        page.get_by_role("heading", name="방법론").first.wait_for(timeout=60_000)
        title = time.perf_counter() - start
        start = time.perf_counter()
        page.goto(base + "/explore", wait_until="commit")
        page.frame_locator('iframe[title="streamlit_folium.st_folium"]').locator("path.leaflet-interactive") \
            .nth(99).wait_for(state="attached", timeout=60_000)
        return title, time.perf_counter() - start
    finally:
        context.close()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database to serve (a copy is used; default: build the default demo)")
    parser.add_argument("--repeats", type=int, default=5, help="visits per viewport after the first (default 5)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench-home-"))
    db = work / "site.duckdb"
    if args.db:
        shutil.copy(args.db, db)
    else:
        subprocess.run([sys.executable, "-m", "ingest", "demo", "--db", str(db)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    site = start_site(db, ready="/api/v1/status", timeout=120)  # the outage detector on, as `make run` has it
    base = site.base
    try:
        scan = _wait_first_scan(base, 600)
        print(f"site up; first outage scan done after {scan:.1f} s more")
        results: dict[str, list[tuple[float, float]]] = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            first = _visit(browser, base, VIEWPORTS["desktop"])
            print(f"first visit (server caches cold, desktop): status {first[0]:.2f} s, hexes {first[1]:.2f} s")
            for name, viewport in VIEWPORTS.items():
                results[name] = [_visit(browser, base, viewport) for _ in range(args.repeats)]
            _baseline(browser, base, VIEWPORTS["desktop"])  # fills the map page's caches
            results["baseline"] = [_baseline(browser, base, VIEWPORTS["desktop"]) for _ in range(args.repeats)]
            browser.close()
        print(f"{'viewport':8} {'n':>2} {'status p50':>10} {'p95':>6} {'hexes p50':>10} {'p95':>6}")
        print("(baseline, desktop, same run: 'status' = the methodology page's title, a page without data; "
              "'hexes' = the failure map page's own map)")
        for name, runs in results.items():
            status, hexes = [r[0] for r in runs], [r[1] for r in runs]
            print(f"{name:8} {len(runs):>2} {statistics.median(status):>9.2f}s {_p(status, 0.95):>5.2f}s "
                  f"{statistics.median(hexes):>9.2f}s {_p(hexes, 0.95):>5.2f}s")
    finally:
        site.stop(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
