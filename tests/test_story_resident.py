"""The resident's story, on a phone, on the default demo city (as `make run` builds it).

Report a failure with a tap on the map, get a code, find the report under that code in
"My reports"; then open the documented demo subscriber (DEMO-KTKT-2021), whose drops are a
KT network effect along his commute: the page answers "network" and shows the test's numbers;
the dossier downloads, opens as a file in the browser, and says the same.
"""

from __future__ import annotations

import re

import duckdb
import pytest
from conftest import choose, settle

from evidence import compare_nearby, failures_of, my_reports, phone_or_network
from ingest.demo_personas import PERSONAS

pytestmark = pytest.mark.browser

NETWORK_PERSONA = next(p for p in PERSONAS if p.answer == "network")
NETWORK_ANSWER_KO = "망 쪽 원인을 확인할 근거"  # evidence.compare.phone_or_network, "network"


def shot(page, path) -> None:
    page.screenshot(path=str(path))


def open_my_reports(page, url: str, code: str) -> None:
    """Type ``code`` into My reports and wait until the page's data is there (the metrics, non-empty)."""
    page.goto(url + "/my_reports")
    box = page.get_by_label("제보자 코드")
    box.wait_for(timeout=60_000)
    box.fill(code)
    box.press("Enter")
    page.locator('[data-testid="stMetric"]').filter(has_text="장애 제보").locator(
        '[data-testid="stMetricValue"]').wait_for(timeout=60_000)
    settle(page)


def metric(page, label: str) -> int:
    value = page.locator('[data-testid="stMetric"]').filter(has_text=label).locator('[data-testid="stMetricValue"]')
    return int(value.first.inner_text().replace(",", ""))


def test_resident_reports_gets_a_code_and_downloads_a_dossier_that_opens(real_site, real_demo_db_file, phone,
                                                                          screenshot_dir, tmp_path):
    page, url = phone, real_site["url"]

    # 1. Report a failure: tap the map where I am, carrier, what happened, send.
    page.goto(url + "/report")
    map_frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]').first
    map_frame.locator(".leaflet-container").wait_for(timeout=60_000)
    map_frame.locator(".leaflet-tile-container, .leaflet-overlay-pane").first.wait_for(state="attached")
    settle(page)
    box = page.locator('iframe[title="streamlit_folium.st_folium"]').first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
    page.get_by_text(re.compile("선택한 위치:")).wait_for(timeout=30_000)
    choose(page, "통신사", "KT")
    settle(page)
    page.get_by_role("radio", name="통화 끊김").click()
    settle(page)
    shot(page, screenshot_dir / "story_resident_1_report.png")
    page.get_by_role("button", name="제보하기").click()

    # 2. The page hands out a code.
    page.get_by_text("제보가 저장되었습니다").wait_for(timeout=30_000)
    code_block = page.locator('[data-testid="stCode"]').first
    code_block.wait_for(timeout=30_000)
    code = re.search(r"(?:[A-Z0-9]{4}-){3}[A-Z0-9]{4}", code_block.inner_text()).group(0)
    code_block.scroll_into_view_if_needed()
    shot(page, screenshot_dir / "story_resident_2_code.png")

    # 3. My reports, in a fresh page load, finds my one report under the code.
    open_my_reports(page, url, code)
    assert metric(page, "장애 제보") == 1
    page.locator('[data-testid="stDataFrame"] [role="gridcell"]', has_text="통화 끊김").first.wait_for(
        state="attached", timeout=30_000)  # my report in the table (a canvas grid: its cells are not "visible")
    page.locator("h1").first.scroll_into_view_if_needed()
    shot(page, screenshot_dir / "story_resident_3_my_reports.png")

    # 4. The subscriber with daily drops: the answer is "network", with the test's numbers.
    con = duckdb.connect(str(real_demo_db_file), read_only=True)
    try:
        mine = my_reports(con, NETWORK_PERSONA.code)
        expected = phone_or_network(compare_nearby(con, NETWORK_PERSONA.code, mine))
    finally:
        con.close()
    failures = len(failures_of(mine))
    assert expected.code == "network" and failures >= 20  # the demo's own truth, read from its database

    open_my_reports(page, url, NETWORK_PERSONA.code)
    assert metric(page, "장애 제보") == int((mine["kind"] != "ok").sum())
    answer = page.get_by_text(NETWORK_ANSWER_KO)
    answer.wait_for(timeout=60_000)
    carrier_test = page.get_by_text(re.compile(r"^통신사 검정.*vs.*p [<=] "))
    carrier_test.wait_for(timeout=30_000)
    numbers = carrier_test.inner_text()
    group = next(t for t in expected.tests if t["what"] == "network")["group"]
    assert f"({group.failures:,}/{group.total:,})" in numbers
    answer.scroll_into_view_if_needed()
    shot(page, screenshot_dir / "story_resident_4_network_answer.png")

    # 5. The dossier downloads and opens in the browser as a file.
    button = page.get_by_role("button", name="문서(HTML) 받기")
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=60_000) as download_info:
        button.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".html")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    page.goto(saved.as_uri())
    assert page.title() == "이동통신 장애 기록 — 끊김지도"
    page.locator("h1", has_text="이동통신 장애 기록").wait_for()
    meta = page.locator("p.meta", has_text="장애 제보").inner_text()
    assert f"장애 제보 {failures}건" in meta
    assert "통계적으로 뚜렷이 높았다" in page.locator("h2 + p").first.inner_text()  # the summary's network line
    assert page.get_by_text(NETWORK_ANSWER_KO).count() == 1  # the answer in section 4
    assert page.locator("li", has_text=re.compile(r"^통신사 검정")).count() == 1
    assert page.locator("table").last.locator("tbody tr").count() == len(mine)  # every report listed
    assert page.get_by_text("시연용 합성 데이터").count() >= 1  # labelled synthetic
    shot(page, screenshot_dir / "story_resident_5_dossier.png")
    page.get_by_text(NETWORK_ANSWER_KO).scroll_into_view_if_needed()
    shot(page, screenshot_dir / "story_resident_6_dossier_answer.png")
    # Nothing fetched from third parties, the dossier included (it is self-contained: its own file only).
    assert [u for u in page.outside_requests if u != saved.as_uri()] == []

