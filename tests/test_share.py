"""Views ready to share (issue 12): PNG images with their caption, the embed snippet, the buttons on the pages."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from geo import mapview
from geo.mapquery import MapQuery
from store.db import connect
from ui import share_image as share
from ui.mapdraw import LEVEL_COLOURS

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
QUERY = MapQuery(carrier="KT", kinds=("dropped_call",), hours=(7, 9), day_type="weekday",
                 since=date(2021, 10, 4), until=date(2021, 10, 10), res=8)


@pytest.fixture
def korean(monkeypatch):
    if share.cjk_font() is None:
        pytest.skip("no CJK font on this system (fonts-noto-cjk)")


@pytest.fixture
def no_cjk_font(monkeypatch):
    monkeypatch.setattr(share, "cjk_font", lambda: None)


def _view(db_path):
    con = connect(db_path, read_only=True)
    try:
        return mapview.level_view(con.cursor(), MapQuery(res=8))
    finally:
        con.close()


def _decoded(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.width >= 600 and image.height >= 400
    return image


# --- the caption -----------------------------------------------------------------------

def test_the_caption_names_period_filters_k_synthetic_and_licence(korean):
    view = type("View", (), {"measure": "rate", "ratio_of": None, "focus": None})()
    cap = share.map_caption(view, QUERY, first=date(2021, 9, 27), last=date(2021, 10, 31), k=5, synthetic=True,
                            lang="ko", url="http://x/explore?carrier=KT")
    assert cap.lines() == [
        "장애 비율 (소표본 보정)",
        "기간: 2021-10-04 – 2021-10-10 (서울 시각) · 조건: 통신사: KT, 유형: 통화 끊김, 시간대: 07–09시, 요일: 평일, "
        "H3 해상도 8",
        "제보자 5명 미만인 수치는 숨김(k = 5)",
        "시연용 합성 데이터 포함 — 실제 제보가 아님",
        "끊김지도 · 라이선스 CC BY 4.0 · http://x/explore?carrier=KT",
    ]


def test_the_caption_in_english_without_synthetic_data_uses_the_data_period():
    view = type("View", (), {"measure": "density", "ratio_of": None, "focus": None})()
    cap = share.map_caption(view, MapQuery(), first=date(2021, 9, 27), last=date(2021, 10, 31), k=7,
                            synthetic=False, lang="en")
    assert cap.lines() == [
        "Failure density (small counts shrunk)",
        "Period: 2021-09-27 – 2021-10-31 (Seoul time) · Filters: carrier: all, hours: all day, H3 resolution 8",
        "Figures from fewer than 7 reporters are hidden (k = 7)",
        "DropMap · Licence CC BY 4.0",
    ]


def test_without_a_cjk_font_the_caption_is_english_never_boxes(no_cjk_font):
    cap = share.caption(title={"ko": "지도", "en": "Map"}, period="p", filters=[{"ko": "통신사", "en": "carrier"}],
                        k=5, synthetic=True, lang="ko")
    assert cap.lang == "en" and cap.title == "Map"
    assert not any("\uac00" <= ch <= "\ud7a3" for ch in cap.text())


def test_the_cjk_font_found_draws_hangul(korean):
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(font_manager.FontProperties(family=share.cjk_font()), fallback_to_default=False)
    assert ord("끊") in FT2Font(path).get_charmap()


# --- the images ------------------------------------------------------------------------

def test_the_map_png_decodes_and_shows_the_web_maps_colours(demo_db_file):
    view = _view(demo_db_file)
    assert len(view.frame) > 10
    cap = share.map_caption(view, MapQuery(), first=date(2021, 9, 27), last=date(2021, 10, 31), k=5,
                            synthetic=True, lang="ko")
    image = _decoded(share.map_png(view, cap)).convert("RGB")
    pixels = {tuple(p) for p in np.asarray(image).reshape(-1, 3)[::7]}
    used = {share_colour for share_colour in LEVEL_COLOURS if share_colour in set(view.frame["cls"].map(
        lambda c: LEVEL_COLOURS[c] if 0 <= c < len(LEVEL_COLOURS) else None))}
    assert used
    # Hexes are drawn at alpha 0.85 over white: each used class colour appears nearly as on the web map.
    for colour in used:
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        blended = np.round(rgb * 0.85 + 255 * 0.15)
        assert any(np.abs(np.array(p) - blended).max() <= 3 for p in pixels), colour


def test_chart_pngs_decode_and_leave_hidden_values_out():
    days = pd.date_range("2021-10-01", periods=10, freq="D")
    frame = pd.DataFrame({"network": ["KT"] * 10 + ["SKT"] * 10, "day": list(days) * 2,
                          "value": np.linspace(0.1, 0.2, 20), "low": 0.05, "high": 0.3,
                          "hidden": [False] * 19 + [True]})
    shown = share.hidden_as_gaps(frame)
    assert np.isnan(shown["value"].iloc[-1]) and np.isnan(shown["high"].iloc[-1])
    assert shown["value"].notna().sum() == 19
    cap = share.caption(title={"ko": "일별", "en": "Daily"}, period="p", filters=[], k=5, synthetic=False, lang="en")
    _decoded(share.lines_png(shown, cap=cap, x="day", y="value", group="network", low="low", high="high",
                             y_title="rate", x_format="%m-%d"))
    hours = pd.DataFrame({"network": ["KT"] * 24, "hour": range(24), "value": np.arange(24.0)})
    _decoded(share.heatmap_png(hours, cap=cap, rows="network", columns="hour", values="value"))


def test_the_embed_snippet_is_an_escaped_iframe_of_the_view():
    url = share.view_url("http://news.example:8501", "explore", {"carrier": "KT", "hours": "7-9", "x": ""})
    assert url == "http://news.example:8501/explore?carrier=KT&hours=7-9"
    snippet = share.embed_snippet(url, title='지도 "KT"')
    assert snippet.startswith('<iframe src="http://news.example:8501/explore?carrier=KT&amp;hours=7-9&amp;'
                              'embed=true"')
    assert 'title="지도 &quot;KT&quot;"' in snippet and "<script" not in snippet
    assert share.embed_snippet("http://h/outages", title="t").startswith('<iframe src="http://h/outages?embed=true"')


# --- the pages -------------------------------------------------------------------------

def test_the_map_page_offers_png_caption_and_embed(demo_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["carrier"] = "KT"
    at.session_state["explore_panel"] = "days"
    at.switch_page("ui/explore.py")
    at.run()
    assert not at.exception
    ids = [b.proto.id for b in at.get("download_button")]
    assert any("share_map_png" in i for i in ids) and any("share_days_png" in i for i in ids)
    codes = [c.value for c in at.code]
    caption = next(c for c in codes if "CC BY 4.0" in c)  # the caption names the filter and k in either language
    assert ("통신사: KT" if share.cjk_font() is not None else "carrier: KT") in caption and "k = 5" in caption
    assert any(c.startswith("<iframe src=") and "&amp;embed=true" in c and "carrier=KT" in c for c in codes)
    # A filter changed on the page is in the shared address at once (not one change behind).
    at.selectbox(key="explore_carrier").set_value("SKT").run()
    codes = [c.value for c in at.code]
    assert any(c.startswith("<iframe src=") and "carrier=SKT" in c for c in codes)
    assert not any("carrier=KT" in c for c in codes)


def test_the_shared_address_is_the_sites_public_one(demo_db, monkeypatch):
    """With DROPMAP_BASE_URL set, the permanent address and the embed snippet use it, as every link the
    API publishes does, not whatever address this visitor reached the site at."""
    monkeypatch.setenv("DROPMAP_BASE_URL", "https://dropmap.example.kr/")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["carrier"] = "KT"
    at.switch_page("ui/explore.py")
    at.run()
    assert not at.exception
    codes = [c.value for c in at.code]
    assert any(c.startswith('<iframe src="https://dropmap.example.kr/explore?') for c in codes), codes
    assert not any("localhost" in c for c in codes)


def test_the_selected_hex_offers_its_24_hour_chart_as_png(demo_db):
    import h3

    from store.db import connect

    con = connect(demo_db)
    busiest = con.execute("SELECT h3_r8 FROM reports GROUP BY 1 ORDER BY count(DISTINCT source_id) DESC "
                          "LIMIT 1").fetchone()[0]
    con.close()
    cell = h3.int_to_str(busiest)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["cell"] = cell
    at.switch_page("ui/explore.py")
    at.run()
    assert not at.exception
    ids = [b.proto.id for b in at.get("download_button")]
    assert any("share_hex_hours_png" in i for i in ids)
    codes = [c.value for c in at.code]
    assert any(cell in c and "CC BY 4.0" in c and "k = " in c for c in codes)


def test_the_incident_page_offers_a_png(con):
    from datetime import datetime

    from outage_data import SEOUL, load, quiet_city, surge

    from outages.scan import scan

    onset = datetime(2021, 10, 20, 11, 16, tzinfo=SEOUL)
    load(con, quiet_city(days=21, start=onset.replace(hour=0, minute=0) - timedelta(days=21)),
         surge(onset, 60, reporters=300))
    scan(con, onset + timedelta(minutes=20))
    incident = con.execute("SELECT incident_id FROM incidents").fetchone()[0]
    con.close()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["incident"] = incident
    at.switch_page("ui/outages.py")
    at.run()
    assert not at.exception
    assert any("share_incident_png" in b.proto.id for b in at.get("download_button"))
    assert any(f"outages?incident={incident}&amp;embed=true" in c.value for c in at.code), [c.value for c in at.code]


def _line_frame() -> pd.DataFrame:
    from geo import stations

    rows = []
    for s in stations.line_order()["2"][:20]:
        for j, network in enumerate(("SKT", "KT", "LGU+")):
            rate = 0.05 + 0.01 * j + 0.002 * s.order
            hidden = s.order % 4 == 0
            rows.append({"station": s.station, "station_en": s.station_en, "order": s.order, "network": network,
                         "failure_rate": np.nan if hidden else rate, "rate_low": np.nan if hidden else rate - 0.02,
                         "rate_high": np.nan if hidden else rate + 0.03})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_stations_png_decodes_in_the_web_charts_carrier_colours(lang):
    from ui.map_charts import CARRIER_COLOURS

    frame = _line_frame()
    assert frame["failure_rate"].isna().any()  # hidden figures are in the frame, simply not drawn
    cap = share.caption(title={"ko": "지하철 2호선 역별 장애 비율", "en": "Line 2: failure rate by station"},
                        period="2021-09-27 – 2021-10-31", filters=["carrier: all"], k=5, synthetic=True, lang=lang)
    image = _decoded(share.stations_png(frame, cap=cap, colours=CARRIER_COLOURS, x_title="rate")).convert("RGB")
    pixels = {tuple(p) for p in np.asarray(image).reshape(-1, 3)}
    assert len(pixels) > 50
    for colour in CARRIER_COLOURS.values():  # each network's dots, as on the web chart
        assert tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5)) in pixels, colour


def test_the_subway_page_offers_a_png_with_its_caption(demo_db):
    from geo import stations

    stations.COUNTS.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in {"line": "3", "carrier": "KT", "hours": "rush"}.items():
        at.query_params[key] = value
    at.switch_page("ui/subway.py")
    at.run()
    stations.COUNTS.clear()
    assert not at.exception
    assert any("share_stations_png" in b.proto.id for b in at.get("download_button"))
    codes = [c.value for c in at.code]
    caption = next(c for c in codes if "CC BY 4.0" in c)
    if share.cjk_font() is not None:
        assert caption.startswith("지하철 3호선 역별 장애 비율\n")
        assert "통신사: KT" in caption and "시간대: 출퇴근 시간" in caption and "시연용 합성 데이터" in caption
    else:
        assert caption.startswith("Line 3: failure rate by station\n")
        assert "carrier: KT" in caption and "hours: rush hours" in caption and "synthetic" in caption
    assert "k = 5" in caption and "/subway?line=3&carrier=KT&hours=rush" in caption
    assert any(c.startswith("<iframe src=") and "subway?line=3&amp;carrier=KT&amp;hours=rush&amp;embed=true" in c
               for c in codes)


def test_the_stations_png_draws_a_real_line_view(demo_db_file):
    from geo import stations

    stations.COUNTS.clear()
    con = connect(demo_db_file, read_only=True)
    try:
        view = stations.line_view(con.cursor(), "2", window="rush")
    finally:
        con.close()
        stations.COUNTS.clear()
    assert view.frame["failure_rate"].notna().any()
    cap = share.caption(title={"ko": "지하철 2호선", "en": "Line 2"}, period="p", filters=[], k=view.k,
                        synthetic=True, lang="en")
    image = _decoded(share.stations_png(view.frame, cap=cap))
    assert image.height > 1000  # 51 stations, a row each
