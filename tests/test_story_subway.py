"""Story: a commuter on a phone opens Subway lines, chooses line 2 at rush hour, and reads each carrier's
failure rate station by station, in line order, with the worst stretches. On the default demo city."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from conftest import choose, settle

from geo import stations

# The strip is drawn only once the page has counted the reports: it carries the line and window it shows.
_STRIP_READY_JS = """([line, window, n]) => {
  const strip = document.querySelector(`.dm-strip[data-line='${line}'][data-window='${window}']`);
  return !!strip && strip.querySelectorAll('.dm-st').length === n
      && strip.querySelectorAll('.dm-rate b').length > 0;
}"""


def _settle(page) -> None:
    settle(page, 120_000)


@pytest.mark.browser
def test_line_two_at_rush_hour_on_a_phone(real_site, phone, screenshot_dir):
    page = phone
    page.goto(real_site["url"] + "/subway?line=1&hours=all")
    page.wait_for_function(_STRIP_READY_JS, arg=["1", "all", 10], timeout=180_000)

    # choose line 2 ...
    choose(page, page.locator(".st-key-subway_line input[role=combobox]"), "2호선", timeout_ms=120_000)
    page.wait_for_url(re.compile(r".*line=2.*"), timeout=60_000)
    # ... at rush hour
    _settle(page)
    page.locator(".st-key-subway_hours").get_by_text(re.compile(r"^출퇴근 시간 \(")).click()
    page.wait_for_url(re.compile(r".*hours=rush.*"), timeout=60_000)

    line_two = [s.station for s in stations.line_order()["2"]]
    page.wait_for_function(_STRIP_READY_JS, arg=["2", "rush", len(line_two)], timeout=180_000)
    strip = page.locator(".dm-strip")
    assert strip.locator(".dm-name").all_inner_texts() == line_two  # every station, in line order
    rates = strip.locator(".dm-rate").all_inner_texts()
    assert len(rates) == 3 * len(line_two)
    shown = [r for r in rates if re.search(r"\d+\.\d%", r)]
    assert len(shown) > len(rates) // 2, rates[:6]  # the default demo has enough reporters at most stations
    assert page.get_by_role("heading", name="가장 나쁜 구간").is_visible()
    assert page.get_by_text("제보자 5명 미만").first.is_visible()  # says which k
    page.screenshot(path=str(screenshot_dir / "story_subway_line2_rush.png"))
    page.get_by_role("heading", name="역별 장애 비율").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshot_dir / "story_subway_line2_chart.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways page scroll
    assert not page.outside_requests


def test_the_same_line_over_http(real_site):
    """A newsroom asks the API for line 2 at rush hour: the page's stations, in order, with rates."""
    with urllib.request.urlopen(real_site["url"] + "/api/v1/stations?line=2&hours=rush", timeout=180) as r:
        body = json.loads(r.read())
    line_two = [s.station for s in stations.line_order()["2"]]
    assert [row["station"] for row in body["stations"][::3]] == line_two
    assert sum(row["failure_rate"] is not None for row in body["stations"]) > len(body["stations"]) // 2
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(real_site["url"] + "/api/v1/stations?line=10", timeout=60)
    assert err.value.code == 400
    assert json.loads(err.value.read())["errors"][0]["field"] == "line"
