"""The explore (failure map) and methodology pages in AppTest: widgets by key, URL state, filters, escaping."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import shown
from streamlit.testing.v1 import AppTest

from ingest.loader import Origin, load_frame
from store.cache import RESULTS

# The counting rules, on exact figures; tests/test_cellkey.py checks the noise the site adds.
pytestmark = pytest.mark.usefixtures("exact_counts")

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
WIDGETS = ("explore_mode", "explore_carrier", "explore_brand", "explore_kinds", "explore_hours", "explore_play",
           "explore_days", "explore_dates", "explore_res", "explore_measure", "explore_tiles")
CITY_HALL = (37.5663, 126.9779)
HALL_HEX = "8830e1d8c1fffff"


def _page(path: str = "ui/explore.py", *, panel: str = "worst", **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.session_state["explore_panel"] = panel  # the panel below the map (only one is computed)
    at.switch_page(path)
    return at.run()


def _param(at: AppTest, name: str):
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def _texts(at: AppTest) -> str:
    """The page's text as a reader sees it (values in it are escaped Markdown, see conftest.shown)."""
    return "\n".join(shown(e.value) for kind in (at.markdown, at.caption, at.info, at.warning) for e in kind)


def _table(at: AppTest, column: str) -> pd.DataFrame:
    """The first table with ``column`` (AppTest does not expose st.dataframe keys)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise KeyError(column)


def _worst(at: AppTest) -> pd.DataFrame:
    return _table(at, "육각형" if "육각형" in str([f.value.columns for f in at.dataframe]) else "Hex")


def test_map_page_renders_with_every_widget(demo_db):
    at = _page()
    assert not at.exception
    assert at.title[0].value == "장애 지도"
    for key in WIDGETS:
        assert at.get_by_key(key) is not None, key
    assert "장애 비율" in _texts(at)  # the demo has 'all good' samples: a rate, said so
    assert _param(at, "z") == "11" and _param(at, "lat") is not None  # map position in the URL
    assert set(_worst(at)["통신사"]) == {"SK텔레콤", "KT", "LG U+"}


def test_changing_the_carrier_changes_the_data_and_the_url(demo_db):
    at = _page()
    before = _worst(at)
    at.selectbox(key="explore_carrier").set_value("KT").run()
    assert not at.exception
    assert _param(at, "carrier") == "KT"
    after = _worst(at)
    assert set(after["통신사"]) == {"KT"} and not after.equals(before)
    assert "KT, 하루 전체" in _texts(at)


def test_changing_the_hours_changes_the_data_and_the_url(demo_db):
    at = _page(carrier="KT")
    before = _worst(at)
    at.slider(key="explore_hours").set_value((18, 18)).run()
    assert not at.exception
    assert _param(at, "hours") == "18"
    assert "KT, 18시" in _texts(at)
    at_en = _page(carrier="KT", hours="8-9", lang="en")
    assert "KT, 08:00–09:59" in _texts(at_en)
    assert not _worst(at).equals(before)


def test_url_reopens_the_view(demo_db):
    at = _page(mode="compare", carrier="SKT", brand="mvno", kind="dropped_call,no_data", hours="8-9",
               days="weekend", res="9", measure="rate", lat="37.55", lon="127.01", z="13",
               since="2021-10-01", until="2021-10-20", tiles="1")
    assert not at.exception
    ss = at.session_state
    assert ss["explore_mode"] == "compare" and ss["explore_carrier"] == "SKT" and ss["explore_brand"] == "mvno"
    assert ss["explore_kinds"] == ["dropped_call", "no_data"] and tuple(ss["explore_hours"]) == (8, 9)
    assert ss["explore_days"] == "weekend" and ss["explore_res"] == "9" and ss["explore_tiles"] is True
    assert ss["explore_pos"] == (37.55, 127.01, 13)
    assert [str(d) for d in ss["explore_dates"]] == ["2021-10-01", "2021-10-20"]
    assert _param(at, "hours") == "8-9" and _param(at, "mode") == "compare"  # and written back unchanged
    assert "SK텔레콤 대 다른 통신사" in _texts(at) or "SKT 대 다른 통신사" in _texts(at)


@pytest.mark.parametrize(("name", "value"), [("carrier", "XX"), ("hours", "25"), ("lat", "north"),
                                             ("cell", "not-a-cell"), ("res", "12"), ("since", "2021-13-01")])
def test_a_bad_url_value_is_ignored_with_a_warning(demo_db, name, value):
    at = _page(**{name: value})
    assert not at.exception
    assert any(name in w.value for w in at.warning)


@pytest.mark.parametrize("panel", ["hours", "days"])
def test_panels_below_the_map(demo_db, panel):
    at = _page(panel=panel, carrier="KT")
    assert not at.exception
    assert at.get_by_key("explore_panel") is not None
    with pytest.raises(KeyError):
        _worst(at)  # only the chosen panel is computed


def _image_caption(at: AppTest, title: str) -> str:
    return next(c.value for c in at.code if c.value.startswith(title))


def test_chart_image_caption_names_the_filters_the_chart_draws(demo_db):
    # The heatmap draws every hour and carrier: its image said "시간대: 07–09시" from the map's filters.
    at = _page(panel="hours", carrier="KT", hours="7-9", res="9")
    assert not at.exception
    caption = _image_caption(at, "시간대 × 통신사")
    assert "시간대: 하루 전체" in caption and "07–09" not in caption
    assert "통신사: 전체" in caption and "H3 해상도 8" in caption
    # The daily trend keeps the chosen hours (all carriers, res 8 as drawn).
    at = _page(panel="days", carrier="KT", hours="7-9", res="9")
    caption = _image_caption(at, "일별 추이")
    assert "시간대: 07–09시" in caption and "통신사: 전체" in caption and "H3 해상도 8" in caption


def test_english_interface(demo_db):
    at = _page(lang="en")
    assert at.title[0].value == "Failure map"
    assert "Failure rate" in _texts(at)
    assert set(_worst(at)["Carrier"]) == {"SK Telecom", "KT", "LG U+"}


def _reports(n, *, device=None, prefix="R", kind="dropped_call", carrier="KT", place=CITY_HALL):
    return pd.DataFrame({
        "lat": [place[0] + i * 1e-5 for i in range(n)], "lon": [place[1]] * n,
        "carrier": [carrier] * n, "kind": [kind if i % 2 == 0 else "ok" for i in range(n)],
        "observed_at": ["2021-10-20T08:30:00+09:00"] * n, "device_model": [device] * n,
        "reporter_code": [f"{prefix}{i}" for i in range(n)],
    })


def test_detail_panel_escapes_untrusted_device_names(con):
    load_frame(con, _reports(12, device="<script>alert(1)</script>"), Origin(source="web"))
    load_frame(con, _reports(10, prefix="S", carrier="SKT", device="SM-G991N"), Origin(source="web"))
    con.close()
    at = _page(cell=HALL_HEX, lang="en")
    assert not at.exception
    devices = _table(at, "Model")
    assert devices.iloc[0, 0] == "<script>alert(1)</script>"  # shown as text in a table cell
    assert not any("<script" in m.value for m in at.markdown)
    carriers = _table(at, "Failure rate (95% interval)").set_index("Carrier")
    assert carriers.loc["KT", "Failures"] == "6" and carriers.loc["SK Telecom", "Failures"] == "5"
    assert "Jongno-gu" in _texts(at)  # place names of the hex


def test_detail_of_a_hex_under_k_reporters_says_so(con):
    load_frame(con, _reports(12), Origin(source="web"))
    load_frame(con, _reports(4, prefix="G", place=(37.4979, 127.0276)), Origin(source="web"))
    con.close()
    at = _page(cell="8830e1ca2bfffff")
    assert not at.exception
    assert any("공개하지 않습니다" in i.value for i in at.info)
    with pytest.raises(KeyError):
        _table(at, "장애 비율 (95% 구간)")


def test_clear_selection(con):
    load_frame(con, _reports(12), Origin(source="web"))
    con.close()
    at = _page(cell=HALL_HEX)
    at.button(key="explore_clear_cell").click().run()
    assert not at.exception
    assert _param(at, "cell") is None


def test_new_reports_reach_the_map_within_the_cache_time(con, monkeypatch):
    monkeypatch.setenv("DROPMAP_CACHE_SECONDS", "1")
    load_frame(con, _reports(12), Origin(source="web"))
    at = _page(lang="en")
    assert "6 / 12" in _worst(at)["Failures / all"].tolist()
    load_frame(con, _reports(12, prefix="N"), Origin(source="web"))
    at.run()
    assert "6 / 12" in _worst(at)["Failures / all"].tolist()  # kept: computed less than 1 s ago
    time.sleep(1.5)  # the kept result is now older than DROPMAP_CACHE_SECONDS=1
    at.run()  # still served, while it is computed again
    RESULTS.wait()
    at.run()
    assert "12 / 24" in _worst(at)["Failures / all"].tolist()


def test_empty_database(db_path):
    at = _page()
    assert not at.exception
    assert at.warning


def test_methodology_page(demo_db):
    at = _page("ui/methodology.py")
    assert not at.exception
    assert at.title[0].value.startswith("방법론")
    text = "\n".join(m.value for m in at.markdown)
    assert "제보자 5명 이상" in text and "베타-이항" in text
    assert any("합성" in w.value for w in at.warning)
    at_en = _page("ui/methodology.py", lang="en")
    assert "beta-binomial" in "\n".join(m.value for m in at_en.markdown)


def test_a_slow_map_query_is_stopped_and_said_not_a_traceback(demo_db, monkeypatch):
    """The map's queries go through the page's time-limited read (ui.common.read): a URL cannot make the
    page run a query for ever."""
    from geo import mapview

    monkeypatch.setenv("DROPMAP_QUERY_MS", "100")

    def slow(cur, *args, **kwargs):
        cur.execute("SELECT sum(hash(a.range + b.range)) FROM range(20000) a, range(20000) b").fetchall()

    monkeypatch.setattr(mapview, "level_view", slow)
    at = _page(since="2021-10-01")  # a view nobody asked for before: not in the page's cache
    assert not at.exception
    assert any("ms" in e.value and "stopped" in e.value for e in at.error), [e.value for e in at.error]


GANGNAM = (37.4979, 127.0276)


def _at(frame: pd.DataFrame, when: str) -> pd.DataFrame:
    return frame.assign(observed_at=when)


def _two_seasons(con) -> None:
    """12 reporters near Gangnam on 2021-06-02 and 12 at City Hall on 2021-10-20 (20 weeks apart)."""
    load_frame(con, _at(_reports(12, prefix="OLD", place=GANGNAM), "2021-06-02T08:30:00+09:00"), Origin(source="web"))
    load_frame(con, _at(_reports(12), "2021-10-20T08:30:00+09:00"), Origin(source="web"))
    con.close()


def test_the_map_opens_on_the_latest_13_weeks_and_the_whole_record_is_one_click_away(con):
    """Reports 20 weeks apart: the map opens on the 13 weeks ending with the latest report's week, says so,
    leaves the dates out of the address (it keeps following the data), and one click shows everything."""
    _two_seasons(con)
    at = _page(lang="en")
    assert not at.exception
    assert at.session_state["explore_dates"] == (pd.Timestamp("2021-07-26").date(), pd.Timestamp("2021-10-20").date())
    assert "Period: 2021-07-26 ~ 2021-10-20 — the latest 13 weeks" in _texts(at)
    assert "The whole record: 2021-06-02 ~ 2021-10-20" in _texts(at)
    assert _param(at, "since") is None and _param(at, "until") is None
    assert _worst(at)["Failures / all"].tolist() == ["6 / 12"]  # only the recent hex
    at.button(key="explore_whole_period").click().run()
    assert not at.exception
    assert "Period: 2021-06-02 ~ 2021-10-20 — all the data." in _texts(at)
    assert (_param(at, "since"), _param(at, "until")) == ("2021-06-02", "2021-10-20")
    assert sorted(_worst(at)["Failures / all"].tolist()) == ["6 / 12", "6 / 12"]  # both hexes
    at.button(key="explore_recent_period").click().run()
    assert _param(at, "since") is None and _worst(at)["Failures / all"].tolist() == ["6 / 12"]


def test_dates_in_the_address_are_kept(con):
    _two_seasons(con)
    at = _page(lang="en", since="2021-06-02", until="2021-06-30")
    assert not at.exception
    assert "Period: 2021-06-02 ~ 2021-06-30 (dates chosen)." in _texts(at)
    assert (_param(at, "since"), _param(at, "until")) == ("2021-06-02", "2021-06-30")
    assert _worst(at)["Failures / all"].tolist() == ["6 / 12"]  # only the old hex


def test_dates_outside_the_data_are_brought_inside_not_a_crash(con):
    """The date box allows only days with data; an address naming others used to stop the page."""
    load_frame(con, _at(_reports(12), "2021-10-20T08:30:00+09:00"), Origin(source="web"))
    con.close()
    at = _page(lang="en", since="2019-01-01", until="2030-12-31")
    assert not at.exception
    assert "Period: 2021-10-20 ~ 2021-10-20" in _texts(at)
    assert _worst(at)["Failures / all"].tolist() == ["6 / 12"]


def test_dates_with_no_data_at_all_fall_back_to_the_recent_window_and_say_so(con):
    _two_seasons(con)
    at = _page(lang="en", since="2030-01-01", until="2031-01-01")
    assert not at.exception
    assert "Period: 2021-07-26 ~ 2021-10-20 — the latest 13 weeks" in _texts(at)
    assert any("2030-01-01 ~ 2031-01-01" in shown(w.value) and "no data" in shown(w.value) for w in at.warning)
    assert _param(at, "since") is None  # the address follows the data again


def test_an_address_with_dates_keeps_them_and_shared_links_always_carry_them(con):
    """A shared link names its period (it must reopen what its image shows), even when the period is
    today's recent window; the address bar keeps dates it came with."""
    _two_seasons(con)
    at = _page(lang="en")
    links = [c.value for c in at.code if c.value.startswith("http")]
    assert links and all("since=2021-07-26" in c and "until=2021-10-20" in c for c in links), links
    assert _param(at, "since") is None  # the address bar follows the data
    at = _page(lang="en", since="2021-07-26", until="2021-10-20")
    assert (_param(at, "since"), _param(at, "until")) == ("2021-07-26", "2021-10-20")


def test_a_stray_later_report_does_not_move_the_map_onto_empty_weeks(con):
    """One report weeks after the last busy week (a test report on an old demo): the window still ends with
    the last week that has k people, and the page says later reports are too few to draw."""
    load_frame(con, _at(_reports(12), "2021-10-20T08:30:00+09:00"), Origin(source="web"))
    load_frame(con, _at(_reports(1, prefix="LATE", place=GANGNAM), "2021-12-20T08:30:00+09:00"), Origin(source="web"))
    con.close()
    at = _page(lang="en")
    assert not at.exception
    assert "Period: 2021-10-20 ~ 2021-10-20 — the latest 13 weeks" in _texts(at)
    assert "Later reports are too few to draw." in _texts(at)
    assert _worst(at)["Failures / all"].tolist() == ["6 / 12"]


def test_one_end_of_the_period_in_the_address_is_kept(con):
    """`?until=` alone runs from the first report; `?since=` alone to the last (it used to be dropped)."""
    _two_seasons(con)
    at = _page(lang="en", until="2021-07-01")
    assert not at.exception
    assert "Period: 2021-06-02 ~ 2021-07-01 (dates chosen)." in _texts(at)
    assert _worst(at)["Failures / all"].tolist() == ["6 / 12"]
    at = _page(lang="en", since="2021-10-01")
    assert "Period: 2021-10-01 ~ 2021-10-20 (dates chosen)." in _texts(at)


def test_a_garbage_start_with_a_good_end_keeps_the_end_as_the_end(con):
    _two_seasons(con)
    at = _page(lang="en", since="yesterday", until="2021-07-01")
    assert not at.exception
    assert "Period: 2021-06-02 ~ 2021-07-01 (dates chosen)." in _texts(at)
    at = _page(lang="en", until="2019-01-01")  # an end before the data: no backwards range in the warning
    warnings = [shown(w.value) for w in at.warning]
    assert any("… ~ 2019-01-01" in w and "no data" in w for w in warnings), warnings


def test_reversed_dates_are_said_in_plain_dates(con):
    _two_seasons(con)
    at = _page(lang="en", since="2021-10-01", until="2021-07-01")
    assert not at.exception
    warnings = [shown(w.value) for w in at.warning]
    assert any("2021-10-01 ~ 2021-07-01" in w and "the start must not be after the end" in w for w in warnings), \
        warnings
    assert not any("datetime" in w for w in warnings)


def test_the_opening_view_is_computed_once_for_the_site_the_home_page_and_the_map(demo_db):
    """The site computes the map's opening view when it starts (geo.mapview.keep_views); the home
    page's map and the map page then read that kept copy (store.cache) instead of computing their own."""
    from geo.mapview import keep_views

    keep_views().join()
    RESULTS.wait()
    # The demo's record is its recent window: one view (and the list of views to keep).
    assert [name for name, *_ in RESULTS.kept()] == ["kept_views", "level_view"]
    computed = RESULTS.stats().misses
    home = AppTest.from_file(APP, default_timeout=120).run()
    assert not home.exception
    assert not _page().exception
    assert [name for name, *_ in RESULTS.kept()].count("level_view") == 1
    assert RESULTS.stats().misses - computed == len(RESULTS.kept()) - 2  # nothing computed twice


@pytest.mark.parametrize("panel", ["hours", "days", "worst"])
def test_a_chart_below_the_map_that_runs_past_its_time_limit_is_said_not_thrown(demo_db, monkeypatch, panel):
    """Found on a site with a tight DROPMAP_QUERY_MS: the hour chart's read was stopped and the page
    showed a traceback under the map. The map stays; the error says what happened and what to do."""
    from geo import mapdetail, mapview
    from store.read import QueryTimeout

    def stopped(*args, **kwargs):
        raise QueryTimeout(150)

    for module, name in ((mapdetail, "hour_profile"), (mapdetail, "day_trend"), (mapview, "worst_places")):
        monkeypatch.setattr(module, name, stopped)
    at = _page(panel=panel)
    assert not at.exception
    assert any("150 ms" in e.value for e in at.error)
    assert at.title[0].value == "장애 지도"
