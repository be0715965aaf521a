"""The subway page in AppTest: URL state, stations in line order, rates with intervals, k said, escaping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from geo import stations

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


@pytest.fixture(autouse=True)
def _fresh_counts():
    stations.COUNTS.clear()
    yield
    stations.COUNTS.clear()


def _page(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page("ui/subway.py")
    return at.run()


def _param(at: AppTest, name: str):
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def _strip(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "dm-strip" in m.value)


def _strip_names(at: AppTest) -> list[str]:
    return re.findall(r"<div class='dm-name'>([^<]*)</div>", _strip(at))


def test_line_two_at_rush_hour_in_order_with_rates(demo_db):
    at = _page(line="2", hours="rush")
    assert not at.exception
    assert at.title[0].value == "지하철 노선"
    assert _strip_names(at) == [s.station for s in stations.line_order()["2"]]
    assert "data-window='rush'" in _strip(at)
    assert "line-height:1.35}.dm-name{font-weight:700" in _strip(at)  # the style sheet is well formed
    assert re.search(r"<b>\d+\.\d%</b>", _strip(at))  # some rates shown
    caption = at.caption[0].value
    assert "95%" in caption and "제보자 5명 미만" in caption and "300 m" in caption
    table = at.dataframe[0].value
    assert len(table) == 3 * 51 and list(table["순서"]) == sorted(table["순서"])


def test_widgets_write_the_url_and_switch_line_and_carrier(demo_db):
    at = _page()
    assert _param(at, "line") == "2" and _param(at, "hours") == "rush"
    at.selectbox(key="subway_line").set_value("9")
    at.radio(key="subway_carrier").set_value("KT")
    at.radio(key="subway_hours").set_value("all")
    at.run()
    assert not at.exception
    assert (_param(at, "line"), _param(at, "carrier"), _param(at, "hours")) == ("9", "KT", "all")
    names = _strip_names(at)
    assert names[0] == "개화" and len(names) == 38
    assert set(re.findall(r"data-network='([^']*)'", _strip(at))) == {"KT"}


def test_english_names_and_bad_url_values_shown_plainly(demo_db):
    at = _page(line="2", hours="<b>x</b>", lang="en")
    assert not at.exception
    assert at.title[0].value == "Subway lines"
    assert "Sicheong" in _strip_names(at)
    warnings = [e.value for e in at.warning]
    assert warnings and "<b>x</b>" not in warnings[0] and "hours" in warnings[0]
    assert warnings[0].startswith("Ignored one value in the address")
    assert _param(at, "hours") == "rush"  # fell back to the default


def test_a_bad_url_value_is_said_in_korean_first(demo_db):
    # The Korean page showed only the API's English message, in red, for a value it had simply ignored.
    at = _page(line="경의중앙")
    assert not at.exception and not at.error
    warnings = [e.value for e in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith("주소의 값 하나를 무시하고 기본값을 씁니다")
    assert "경의중앙" in warnings[0] and _param(at, "line") == "2"


def _chart_height(at: AppTest) -> int:
    import json

    charts = at.get("vega_lite_chart")
    assert charts, "no chart on the page"
    return json.loads(charts[0].proto.spec)["height"]


@pytest.mark.parametrize(("carrier", "networks"), [("all", 3), ("KT", 1)])
def test_chart_leaves_room_for_every_station(demo_db, carrier, networks):
    # One carrier's chart was 12 px a station in all, legend and axis included: the rows overlapped
    # and only every sixth station's name was drawn.
    at = _page(line="2", hours="all", carrier=carrier)
    assert not at.exception
    count = len(_strip_names(at))
    assert count > 40
    assert _chart_height(at) >= 100 + count * max(24, 12 * networks)
