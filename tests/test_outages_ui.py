"""The outage banner on every page, the outages page and the compensation clock (AppTest)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import shown
from outage_data import OUTAGE, SEOUL, ongoing_outage
from streamlit.testing.v1 import AppTest

from outages.compensation import clock, estimated_amount, monthly_outage_minutes, terms_for
from outages.scan import scan
from store import outages_sql

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def _table(at: AppTest, column: str):
    """The first table showing ``column`` (AppTest does not expose a dataframe's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _app(page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


@pytest.fixture
def outage_db(con):
    """A quiet KT city with a surge, scanned by the detector while the surge is on."""
    return ongoing_outage(con)


def test_the_banner_shows_an_open_incident_on_every_page(outage_db):
    [incident] = outages_sql.open_incidents(outage_db.cursor())
    outage_db.close()
    at = _app()
    assert not at.exception
    banners = [e.value for e in at.error]
    assert len(banners) == 1
    text = shown(banners[0])
    assert text.startswith("**KT: 장애") and "11:1" in text and "서울 전역" in text and "최근 15분 제보자" in text
    assert "평소의" in text and f"/outages?incident={incident['incident_id']}" in text
    other = _app("ui/outages.py")
    assert any("KT: 장애" in shown(e.value) for e in other.error)


def test_the_banner_speaks_english(outage_db):
    outage_db.close()
    at = _app(lang="en")
    text = shown(at.error[0].value)
    assert "KT: Suspected outage" in text or "KT: Ongoing outage" in text
    assert "all of Seoul" in text and "reporters in the last 15 minutes" in text and "&lang=en" in text


def test_no_banner_once_the_incident_is_resolved(outage_db):
    scan(outage_db, OUTAGE + timedelta(hours=4))
    assert [i["status"] for i in outages_sql.list_incidents(outage_db.cursor())] == ["resolved"]
    outage_db.close()
    at = _app()
    assert not at.exception and not at.error


def test_incident_page_shows_timeline_history_and_clock(outage_db):
    scan(outage_db, OUTAGE + timedelta(hours=4))
    [incident] = outages_sql.list_incidents(outage_db.cursor())
    outage_db.close()
    at = _app("ui/outages.py", incident=incident["incident_id"])
    assert not at.exception
    assert shown(at.subheader[0].value).startswith("KT 해소 — 서울 전역 (2021-10-20 11:1")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["추정 시작"].startswith("11:1")
    assert metrics["지속"] in {"5" + "9분", "1시간 0분", "1시간 1분", "1시간 2분", "5" + "8분"}
    history = _table(at, "메모")
    assert history["상태"].tolist() == ["장애 의심", "장애 진행 중", "복구 중", "해소"]
    assert at.number_input(key="comp_fee").value == 80_000
    assert any("기준 미달" in i.value for i in at.info)  # an hour is under every threshold
    kinds = _table(at, "유형")
    assert "데이터 안 됨" in kinds["유형"].tolist()


def test_a_long_outage_is_over_the_terms_with_an_estimate(con):
    from test_feeds import _row, _save

    row = _row("KT-20211025-1116")
    row["ended_at"] = row["onset_at"] + timedelta(hours=4)
    row["resolved_at"] = row["ended_at"] + timedelta(minutes=20)
    _save(con, row)
    con.close()
    at = _app("ui/outages.py", incident="KT-20211025-1116")
    assert not at.exception
    at.number_input(key="comp_fee").set_value(100_000).run()
    # 2021: 3 consecutive hours, 8x. 100,000 x 8 x 240 min / (31 days x 1,440 min) = 4,301.
    assert any("4,301원" in s.value for s in at.success)


def test_an_unknown_incident_is_explained(con):
    con.close()
    at = _app("ui/outages.py", incident="KT-19990101-0000")
    assert not at.exception
    assert any("KT-19990101-0000" in shown(w.value) for w in at.warning)


def test_the_list_filters_by_carrier(con):
    from test_feeds import _row, _save

    _save(con, _row("KT-20211025-1116"))
    _save(con, _row("SKT-20211026-0900", network="SKT", onset=OUTAGE + timedelta(days=6)))
    con.close()
    at = _app("ui/outages.py")
    assert _table(at, "ID")["ID"].tolist() == ["SKT-20211026-0900", "KT-20211025-1116"]
    at.multiselect(key="outages_carriers").set_value(["KT"]).run()
    assert _table(at, "ID")["ID"].tolist() == ["KT-20211025-1116"]
    at.selectbox(key="outages_pick").set_value("KT-20211025-1116").run()
    assert at.query_params["incident"] in (["KT-20211025-1116"], "KT-20211025-1116")


# --- the compensation terms ---------------------------------------------------------------

@pytest.mark.parametrize(("when", "hours", "multiplier", "monthly"), [
    (datetime(2021, 10, 25, 11, 16, tzinfo=SEOUL), 3, 8, 6),
    (datetime(2022, 6, 30, 23, 0, tzinfo=SEOUL), 3, 8, 6),
    (datetime(2022, 7, 1, 0, 0, tzinfo=SEOUL), 2, 10, None),
    (datetime(2024, 8, 10, 6, 15, tzinfo=SEOUL), 2, 10, None),
])
def test_terms_in_force_on_the_onset_day(when, hours, multiplier, monthly):
    terms = terms_for("KT", when)
    got = (terms.min_consecutive_hours, terms.multiplier, terms.monthly_cumulative_hours)
    assert got == (hours, multiplier, monthly)
    assert terms.sources and all(s["url"].startswith("http") for s in terms.sources)


def test_the_2021_kt_outage_owed_nothing_under_its_terms():
    state = clock("KT", datetime(2021, 10, 25, 11, 16, tzinfo=SEOUL), 89, 89, monthly_fee=80_000)
    assert not state["eligible"] and state["amount"] is None and state["remaining_minutes"] == 91


def test_the_same_outage_under_todays_terms():
    state = clock("KT", datetime(2024, 10, 25, 11, 16, tzinfo=SEOUL), 125, 125, monthly_fee=80_000)
    assert state["eligible"] and state["amount"] == pytest.approx(80_000 * 10 * 125 / (31 * 1440))


def test_six_hours_in_a_month_count_under_the_old_terms():
    state = clock("KT", datetime(2021, 10, 25, 11, 16, tzinfo=SEOUL), 100, 400, monthly_fee=31 * 1440)
    assert state["by_month"] and not state["by_consecutive"] and state["amount"] == pytest.approx(8 * 400)


def test_monthly_outage_time_is_split_at_month_ends_and_never_counted_twice():
    t = datetime(2021, 10, 31, 23, 0, tzinfo=SEOUL)
    periods = [("KT", t, t + timedelta(hours=2)), ("KT", t + timedelta(minutes=30), t + timedelta(hours=1)),
               ("SKT", t, t + timedelta(minutes=10))]
    assert monthly_outage_minutes(periods) == {("KT", "2021-10"): 60, ("KT", "2021-11"): 60, ("SKT", "2021-10"): 10}


def test_estimated_amount_known_answer():
    assert estimated_amount(80_000, 90, 10, 30) == pytest.approx(80_000 * 10 * 90 / 43_200)
