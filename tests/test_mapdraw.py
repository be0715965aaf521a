"""The folium map: offline Leaflet, no third-party requests, escaping, legend, districts, size."""

from __future__ import annotations

import json
import re

import h3
import numpy as np
import pandas as pd
import pytest

from geo.mapquery import MapQuery
from geo.mapview import DENSITY, GREY, RATE, RATIO, HexView
from ui import mapdraw

SEOUL = (37.5665, 126.978)
HALL_HEX = "8830e1d8c1fffff"


def _view(n: int = 3, *, measure: str = RATE, res: int = 8, gu: str = "종로구", **extra) -> HexView:
    cells = list(h3.grid_disk(h3.latlng_to_cell(*SEOUL, res), 60))[:n]
    frame = pd.DataFrame({
        "cell": [h3.str_to_int(c) for c in cells], "cell_id": cells,
        "failures": np.arange(n) + 5, "samples": 40, "reports": np.arange(n) + 45, "reporters": 12,
        "estimate": np.linspace(0.08, 0.2, n), "low": 0.05, "high": 0.3,
        "observed": np.linspace(0.08, 0.2, n), "observed_others": 0.1, "failures_others": 7,
        "uncertain": False, "cls": np.arange(n) % 5, "gu_ko": gu, "gu_en": "Jongno-gu",
    })
    return HexView(MapQuery(res=res), res, measure, frame, breaks=(0.1, 0.12, 0.14, 0.16), hidden=4, k=5, **extra)


def _html(view: HexView, **kwargs) -> str:
    return mapdraw.map_html(mapdraw.build_map(view, lang=kwargs.pop("lang", "ko"), center=SEOUL, zoom=11, **kwargs))


def test_leaflet_comes_from_the_site_and_nothing_from_third_parties():
    html = _html(_view())
    assert '<script src="/app/static/vendor/leaflet/leaflet.js"' in html
    assert 'href="/app/static/vendor/leaflet/leaflet.css"' in html
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert external == []
    assert "tile.openstreetmap" not in html  # no base-map tiles unless asked for


def test_streamlit_folium_gets_only_local_assets():
    # st_folium collects default_js/default_css of every element and loads them in its iframe.
    m = mapdraw.build_map(_view(), lang="ko", center=SEOUL, zoom=11)
    links = []

    def walk(element):
        links.extend(url for _, url in getattr(element, "default_js", []))
        links.extend(url for _, url in getattr(element, "default_css", []))
        for child in getattr(element, "_children", {}).values():
            walk(child)

    walk(m)
    assert links and all(url.startswith("/app/static/") for url in links)


def test_tiles_only_when_asked_for():
    assert "tile.openstreetmap.org" in _html(_view(), tiles=True)


def test_untrusted_text_is_escaped_in_tooltips():
    view = _view(gu="<script>alert(1)</script>")
    props = mapdraw.hex_features(view, "ko")["features"][0]["properties"]
    assert props["gu"] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    html = _html(view)
    assert "<script>alert(1)" not in html


def test_hex_features_carry_colour_and_hover_values():
    view = _view(3)
    view.frame.loc[2, "cls"] = GREY
    view.frame.loc[2, "uncertain"] = True
    features = mapdraw.hex_features(view, "en")["features"]
    assert [f["properties"]["cell"] for f in features] == list(view.frame["cell_id"])
    five = mapdraw.LEVEL_COLOURS[-5:]  # 4 breaks: 5 classes, from the palette's darker end
    assert [f["properties"]["c"] for f in features] == [five[0], five[1], mapdraw.GREY_COLOUR]
    first = features[0]["properties"]
    assert first["v"] == "8.0% (5.0%–30.0%)" and first["n"] == "5 / 45"
    assert features[2]["properties"]["note"] == "too few reports to rate"
    ring = features[0]["geometry"]["coordinates"][0]
    assert len(ring) == 7 and ring[0] == ring[-1]


@pytest.mark.parametrize(("measure", "unit"), [
    (RATE, "장애 ÷ 전체 제보(장애+정상)"),
    (DENSITY, "장애 제보 건수 / km² / 시간"),
    (RATIO, "배 (1 = 다른 통신사와 같음)"),
])
def test_legend_states_what_is_shown_and_its_unit(measure, unit):
    view = _view(measure=measure, ratio_of=RATE if measure == RATIO else None, focus="KT" if measure == RATIO else None)
    legend = mapdraw.legend_html(view, "ko", synthetic=True)
    assert unit in legend
    assert "제보자 5명 미만 육각형 4개는 표시하지 않음" in legend
    assert "합성 데이터" in legend
    assert mapdraw.measure_title(view, "ko") in legend


def test_legend_classes_follow_the_breaks():
    labels = [label for _, label in mapdraw.class_labels(_view(), "en")]
    assert labels[:5] == ["< 10.0%", "10.0% – 12.0%", "12.0% – 14.0%", "14.0% – 16.0%", "≥ 16.0%"]
    assert labels[5] == "too few reports to rate"


def test_districts_are_drawn_with_names():
    html = _html(_view(), lang="ko")
    outlines, labels = mapdraw.district_shapes()
    assert len(outlines["features"]) == 25 and len(labels) == 25
    for name in ("종로구", "강남구", "송파구"):
        assert json.dumps(name)[1:-1] in html  # Korean is \u-escaped inside folium's JSON
    assert "Gangnam-gu" in _html(_view(), lang="en")


@pytest.mark.parametrize(("value", "measure", "text"), [
    (0.1234, RATE, "12.3%"), (0.0004, RATE, "0.04%"), (1.5, RATIO, "1.50"), (0.012345, DENSITY, "0.0123"),
    (float("nan"), RATE, "–"),
])
def test_format_value(value, measure, text):
    assert mapdraw.format_value(value, measure) == text


def test_an_empty_view_still_draws_a_map():
    view = _view(0)
    assert view.frame.empty
    assert "leaflet.js" in _html(view)


def test_ten_thousand_hexes_stay_under_five_megabytes():
    # About the most one view may draw (geo.mapview.MAX_HEXES), in Korean (the larger text).
    html = _html(_view(10_000, res=9))
    assert len(html.encode("utf-8")) < 5_000_000


def test_data_is_never_evaluated_as_a_template():
    # branca renders scripts through Jinja; the hex data must bypass that.
    html = _html(_view(gu="{{ 7 * 7 }}{% if true %}x{% endif %}"))
    assert "{{ 7 * 7 }}" in html and "{% if true %}" in html


def test_hex_data_cannot_close_the_script_tag():
    view = _view(gu="</script><b>")
    html = _html(view)
    assert "</script><b>" not in html and "&lt;/script&gt;" in html


def test_big_views_draw_on_a_canvas():
    assert "L.canvas(" not in _html(_view(50))
    assert "L.canvas(" in _html(_view(mapdraw.CANVAS_ABOVE + 1, res=9))


def test_zoom_is_bounded_without_tiles():
    html = _html(_view())
    assert '"minZoom": 8' in html and '"maxZoom": 17' in html
    assert re.search(r'"maxBounds": \[\s*\[\s*36\.4,\s*125\.74,\s*\],\s*\[\s*38\.72,\s*128\.21,', html)


def test_a_hex_whose_counts_are_hidden_shows_no_estimate_either():
    """Counts under k carry no noise, so an estimate and its interval would decode to them: the hover
    of such a hex shows only its colour class (docs/SECURITY.md)."""
    from types import SimpleNamespace

    from ui.mapdraw import tooltip_columns

    frame = pd.DataFrame({"gu_ko": ["중구", "중구"], "gu_en": ["Jung-gu", "Jung-gu"],
                          "cell_id": ["8830e1d8c1fffff", "8830e1d8c3fffff"], "estimate": [0.11, 0.12],
                          "low": [0.03, 0.05], "high": [0.23, 0.2], "failures": [9, 2], "reports": [80, 15],
                          "counts_shown": [True, False], "cls": [2, 3]})
    columns = tooltip_columns(SimpleNamespace(frame=frame, measure=RATE), "en")
    assert columns["v"][0].startswith("11.0%") and columns["n"][0] == "9 / 80"
    assert columns["v"][1] == "–" and columns["n"][1] == "–"
    assert columns["note"] == ["", "fewer than k people behind the counts: colour only"]  # says why


def test_a_hex_whose_counts_are_hidden_says_its_colour_band_in_words():
    """Its estimate stays hidden; the hover names the band its colour stands for (the legend's row),
    so a reader need not match colours: nothing the map does not already show."""
    from types import SimpleNamespace

    from ui.mapdraw import class_labels, tooltip_columns

    frame = pd.DataFrame({"gu_ko": ["중구"] * 3, "gu_en": ["Jung-gu"] * 3,
                          "cell_id": ["8830e1d8c1fffff", "8830e1d8c3fffff", "8830e1d8c5fffff"],
                          "estimate": [0.11, 0.12, 0.4], "low": [0.03, 0.05, 0.1], "high": [0.23, 0.2, 0.7],
                          "failures": [9, 2, 1], "reports": [80, 15, 3], "counts_shown": [True, False, False],
                          "cls": [2, 3, GREY]})
    view = SimpleNamespace(frame=frame, measure=RATE, breaks=(0.099, 0.115, 0.134, 0.156, 0.224), k=5)
    columns = tooltip_columns(view, "en")
    assert columns["v"][0].startswith("11.0%")  # shown: the estimate
    assert columns["v"][1] == "colour band " + class_labels(view, "en")[3][1] == "colour band 13.4% – 15.6%"
    assert "12" not in columns["v"][1]  # not its estimate
    assert columns["v"][2] == "–"  # grey: too few to rate, no band
    assert tooltip_columns(view, "ko")["v"][1] == "색 구간 13.4% – 15.6%"
