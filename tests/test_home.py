"""The front door (issue 12): carrier states, 24 hours against the usual band with k respected, the open
incident with its districts, the map and the report button."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import shown
from outage_data import SEOUL, ongoing_outage
from streamlit.testing.v1 import AppTest

from outages import home

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


@pytest.fixture
def outage_db(con):
    """A quiet KT city with a surge, scanned while the surge is on (as tests/test_outages_ui.py)."""
    return ongoing_outage(con)


def _text(at: AppTest) -> str:
    """The page's text as a reader sees it (names pass through the escaping helper)."""
    return shown("\n".join(m.value for m in at.markdown) + "\n".join(s.value for s in at.subheader))


def test_home_shows_each_carrier_the_open_incident_and_the_report_button(outage_db):
    outage_db.close()
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert not at.exception
    text = _text(at)
    assert "**KT** 🔴 :red[**장애 진행 중**]" in text or "**KT** 🟠 :red[**장애 의심**]" in text
    assert "**SK텔레콤** 🟢 :green[**정상**]" in text and "**LG U+** 🟢 :green[**정상**]" in text
    assert "진행 중인 장애" in text and "서울 전역" in text and "/outages?incident=KT-20211020-" in text
    assert at.button(key="home_report").label == "📣 제보하기"
    # The counts moved below: still there, after the carriers.
    assert {m.label for m in at.metric} >= {"장애 제보", "제보자(익명)"}
    headers = [s.value for s in at.subheader]
    assert headers.index("지금 통신사 상태") < headers.index("모은 제보")


def test_home_in_english(outage_db):
    outage_db.close()
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception
    assert "**SK Telecom** 🟢 :green[**Normal**]" in _text(at)
    assert at.button(key="home_report").label == "📣 Report a failure"


def test_the_day_hides_hours_with_fewer_than_k_reporters(outage_db, monkeypatch):
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "10")
    cur = outage_db.cursor()
    end = home.data_now(cur)
    assert end == datetime(2021, 10, 20, 4, 0, tzinfo=UTC)  # the last report ~12:16 Seoul -> 13:00 Seoul
    day = home.day_series(cur, end)
    kt = day[day.network == "KT"].reset_index(drop=True)
    assert len(kt) == 24 and kt.time.iloc[-1] == datetime(2021, 10, 20, 12, 0, tzinfo=SEOUL)
    people = cur.execute(
        "SELECT date_trunc('hour', observed_at) AS h, count(DISTINCT reporter) FROM reports"
        " WHERE network = 'KT' AND kind <> 'ok' AND observed_at >= ? AND observed_at < ? GROUP BY 1",
        [end - timedelta(hours=24), end]).fetchall()
    distinct = {h.astimezone(SEOUL): n for h, n in people}
    for _, hour in kt.iterrows():
        n = distinct.get(hour.time, 0)
        if n < 10:
            assert np.isnan(hour.reporters), (hour.time, n)
        else:
            assert hour.reporters > 0  # first reports: a person counts once an hour
    assert kt.reporters.isna().any() and kt.reporters.notna().any()
    # The surge hour is far above the usual band; quiet hours are within it.
    surge_hour = kt[kt.time == datetime(2021, 10, 20, 11, 0, tzinfo=SEOUL)].iloc[0]
    assert surge_hour.reporters > surge_hour.high
    assert (kt.low <= kt.usual).all() and (kt.usual <= kt.high).all()
    # No other carrier has any report: nothing shown, and no count leaks as 0.
    assert day[day.network == "SKT"].reporters.isna().all()


def test_the_days_hours_carry_the_noise_of_their_reports(outage_db, monkeypatch):
    """The hour still being counted changes with each report: its count carries the cell key's noise
    (core.cellkey), so two visits minutes apart do not subtract to one person's reports."""
    import core.cellkey
    from core.cellkey import MAX_NOISE, perturbed
    from geo.privacy import min_reporters
    from store import outages_sql

    cur = outage_db.cursor()
    end = home.data_now(cur)
    shown = home.day_series(cur, end)
    monkeypatch.setattr(core.cellkey, "MAX_NOISE", 0)
    exact = home.day_series(cur, end)
    monkeypatch.undo()
    keys = outages_sql.reporters_per_hour(cur, start=end - timedelta(hours=24), end=end)
    kt_keys = dict(zip(keys[keys.network == "KT"].hour, keys[keys.network == "KT"].cell_key, strict=True))
    kt_shown, kt_exact = (d[d.network == "KT"].reset_index(drop=True) for d in (shown, exact))
    published = kt_exact.reporters.notna()
    assert published.sum() >= 3
    assert (kt_shown.reporters.notna() == published).all()  # the same hours hidden
    for hour in kt_exact.index[published]:
        expected = perturbed(int(kt_exact.reporters[hour]), kt_keys[hour], min_reporters())
        assert kt_shown.reporters[hour] == expected
        assert abs(kt_shown.reporters[hour] - kt_exact.reporters[hour]) <= MAX_NOISE
    assert (kt_shown.reporters[published] != kt_exact.reporters[published]).any()


def test_now_is_the_data_end_or_the_clock():
    class Cursor:
        def execute(self, *_):
            return self

        def fetchone(self):
            return (datetime(2021, 10, 31, 14, 59, 58, tzinfo=UTC),)

    assert home.data_now(Cursor()) == datetime(2021, 10, 31, 15, 0, tzinfo=UTC)
    assert home.data_now(Cursor(), now=datetime(2021, 10, 31, 9, 30, tzinfo=UTC)) == datetime(
        2021, 10, 31, 10, 0, tzinfo=UTC)


def test_the_home_map_names_its_period(demo_db):
    """The home map is the map page's opening view; it says which weeks it shows (the counts below cover all)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception
    captions = [shown(c.value) for c in at.caption]
    assert any(c.startswith("Period: 2021-09-27 ~ 2021-10-31 — the latest 13 weeks") for c in captions), captions
