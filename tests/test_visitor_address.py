"""A site visitor through a proxy on the same machine (a loopback peer) is placed at an address, as the API
places the same connection: Streamlit gives None for it, which means "no address" (the operator's own rows),
whose rows count as their own reporter, escape the upload limit and make any typed code a stored code."""

from __future__ import annotations

import duckdb
import pytest
from conftest import settle, start_site

from core.network import visitor_address

pytestmark = pytest.mark.browser


def test_a_live_session_from_loopback_has_an_address(monkeypatch):
    monkeypatch.delenv("DROPMAP_TRUSTED_PROXIES", raising=False)
    assert visitor_address(None, {"Host": "127.0.0.1:8501"}) == "127.0.0.1"
    assert visitor_address("198.51.100.7", {"Host": "x"}) == "198.51.100.7"
    assert visitor_address(None, {}) is None  # no session at all (a script run, a test harness)
    monkeypatch.setenv("DROPMAP_TRUSTED_PROXIES", "1")
    assert visitor_address(None, {"Host": "x", "X-Forwarded-For": "203.0.113.4"}) == "203.0.113.4"


def test_files_uploaded_from_loopback_count_as_one_network(demo_db_file, tmp_path_factory, browser):
    """Before: every file uploaded through a local proxy was its own source and its own 'network' for the
    outage detector, without any upload limit (12 files, 12 sources, measured on the demo site)."""
    sites = start_site(demo_db_file, tmp_path_factory)
    site = next(sites)
    page = browser.new_page()
    try:
        page.goto(site["url"] + "/upload")
        page.wait_for_selector('input[type=file]', state="attached", timeout=60_000)
        for i in range(3):
            csv = f"lat,lon,carrier,kind,observed_at\n37.61{i},126.91,LGU+,no_service,2021-10-20 10:0{i}\n"
            page.set_input_files('input[type=file]', files=[{"name": f"f{i}.csv", "mimeType": "text/csv",
                                                             "buffer": csv.encode()}])
            page.wait_for_timeout(1000)
            settle(page)  # the file has reached the server
            button = page.get_by_role("button", name="올리기")
            button.wait_for(timeout=30_000)
            button.click()
            settle(page)
            page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=30_000)
    finally:
        page.close()
        next(sites, None)  # stops the site
    con = duckdb.connect(str(site["db"]), read_only=True)
    try:
        rows = con.execute("SELECT count(*), count(DISTINCT source_id), count(prefix_hash), count(ip_hash) "
                           "FROM reports WHERE source LIKE 'upload:%'").fetchone()
    finally:
        con.close()
    assert rows == (3, 1, 3, 3), rows
