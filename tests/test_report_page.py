"""The report page (AppTest): pick a station, a carrier and a kind, send; get a code once."""

from __future__ import annotations

import pytest
from stored import page_run, stored_reports
from streamlit.testing.v1 import AppTest

from core.vocab import normalise_carrier
from ingest.abuse import LIMITER
from ingest.codes import is_issued
from ingest.identity import keyed_hash
from ingest.web_form import CARRIER_CHOICES, form_row
from store.db import close_shared, connect

STATION = "시청 (1호선, 2호선)"


@pytest.fixture
def page(db_path):
    LIMITER.clear()
    with page_run("report.py") as at:
        yield at


def stored(db_path):
    return stored_reports(db_path, "lat, lon, network, brand, kind, device_model, note, source, reporter, accuracy_m")


def issued_codes(db_path) -> list[tuple]:
    from store.db import close_shared, connect

    close_shared()
    con = connect(db_path)
    try:
        return con.execute("SELECT code_hash, kind FROM codes").fetchall()
    finally:
        con.close()


def fill(at, *, station=STATION, carrier="KT", kind="dropped_call"):
    if station:
        at.selectbox(key="report_station").set_value(station).run()
    if carrier:
        at.selectbox(key="report_carrier").set_value(carrier).run()
    if kind:
        at.pills(key="report_kind").set_value(kind).run()
    return at


def test_report_from_a_station_gets_a_code_once(page, db_path):
    fill(page)
    page.text_input(key="report_device").set_value("SM-G991N")
    page.text_area(key="report_note").set_value("매일 저녁 끊김")
    page.button(key="report_send").click().run()
    assert not page.exception
    assert any("저장되었습니다" in s.value for s in page.success)
    code = page.code[0].value
    assert len(code) == 19 and code.count("-") == 3 and is_issued(code)  # issued by the site (ingest.codes)
    # Once over the page (a dialog, seen wherever a phone has the form scrolled) and below the buttons.
    assert [c.value for c in page.code] == [code, code]
    assert any("제보자 코드" in w.value for w in page.warning)
    rows = stored(db_path)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["network"], row["kind"], row["source"]) == ("KT", "dropped_call", "web")
    assert row["device_model"] == "SM-G991N"
    assert (round(row["lat"], 4), round(row["lon"], 4)) == (37.5636, 126.9754)  # 시청 on line 1
    assert row["accuracy_m"] == 300
    assert int(row["reporter"]) == keyed_hash("code", code.replace("-", ""))
    assert issued_codes(db_path) == [(int(row["reporter"]), "issued")]  # recorded: the code's age is known
    # The code stays in the session for the next report, and is hidden once acknowledged.
    assert page.session_state["reporter_code"] == code
    page.text_input(key="report_device").set_value("SM-G991N2").run()
    assert [c.value for c in page.code] == [code]  # the dialog once; the code stays below until saved
    page.button(key="report_code_ack").click().run()
    assert not page.code


def test_later_reports_carry_the_same_code_and_all_good_is_a_sample(page, db_path):
    fill(page)
    page.button(key="report_send").click().run()
    code = page.session_state["reporter_code"]
    page.selectbox(key="report_station").set_value("강남 (2호선)").run()
    page.button(key="report_ok").click().run()
    assert any("'잘 됨'" in s.value for s in page.success)
    rows = stored(db_path)
    assert rows["kind"].tolist() == ["dropped_call", "ok"]
    assert rows["reporter"].nunique() == 1
    assert int(rows["reporter"][0]) == keyed_hash("code", code.replace("-", ""))


@pytest.mark.parametrize("missing", ["station", "carrier", "kind"])
def test_missing_choices_are_named_and_nothing_is_stored(page, db_path, missing):
    fill(page, **{missing: None})
    page.button(key="report_send").click().run()
    assert not page.exception
    assert page.error and "먼저 고르세요" in page.error[0].value
    assert stored(db_path).empty
    assert "reporter_code" not in page.session_state


def test_the_same_report_twice_is_merged(page, db_path):
    fill(page)
    page.button(key="report_send").click().run()
    page.button(key="report_send").click().run()
    assert any("하나로 합쳤습니다" in i.value for i in page.info)
    assert len(stored(db_path)) == 1


def test_rate_limit_is_shown_kindly(page, db_path, monkeypatch):
    monkeypatch.setenv("DROPMAP_RATE_PER_CODE", "1")
    fill(page)
    page.button(key="report_send").click().run()
    page.pills(key="report_kind").set_value("no_data").run()
    page.button(key="report_send").click().run()
    assert page.error and "너무 많습니다" in page.error[0].value
    assert len(stored(db_path)) == 1


def test_english_page(db_path):
    at = AppTest.from_file("../ui/report.py", default_timeout=60)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception
    assert at.title[0].value == "Report a failure"


def test_an_earlier_time_can_be_given(page, db_path):
    import datetime as dt

    fill(page)
    page.toggle(key="report_now").set_value(False).run()
    page.date_input(key="report_date").set_value(dt.date(2021, 10, 25)).run()
    page.time_input(key="report_time").set_value(dt.time(11, 30)).run()
    page.button(key="report_send").click().run()
    close_shared()
    con = connect(db_path, read_only=True)
    observed = con.execute("SELECT strftime(observed_at AT TIME ZONE 'Asia/Seoul', '%Y-%m-%d %H:%M')"
                           " FROM reports").fetchone()[0]
    con.close()
    assert observed == "2021-10-25 11:30"


@pytest.mark.parametrize("value", [c[0] for c in CARRIER_CHOICES])
def test_every_carrier_choice_is_understood(value):
    carrier = normalise_carrier(value)
    assert carrier.network in ("SKT", "KT", "LGU+")
    assert carrier.mvno == (value not in ("SKT", "KT", "LGU+"))


def test_form_row_is_text_for_validation():
    import datetime as dt

    row = form_row(lat=37.5, lon=127.0, carrier="KT", kind="ok", observed_at=dt.datetime(2021, 10, 25, 11, 0),
                   device_model="  ", note=" hi ")
    assert row.iloc[0].to_dict() == {"lat": "37.5", "lon": "127.0", "carrier": "KT", "kind": "ok",
                                     "observed_at": "2021-10-25T11:00:00", "tech": None, "device_model": None,
                                     "note": "hi", "accuracy_m": None}


def test_the_code_dialog_closes_once_the_code_is_saved(page):
    fill(page)
    page.button(key="report_send").click().run()
    assert len(page.code) == 2
    page.button(key="report_code_dialog_ack").click().run()
    assert not page.exception and not page.code
    assert page.session_state["reporter_code"]  # kept for the next report


def test_a_network_out_of_tries_is_told_what_waits_and_what_works(page, monkeypatch):
    """Past the network's tries of codes the site did not issue, the form names that limit (not "too many
    reports") and says how to send anyway."""
    monkeypatch.setenv("DROPMAP_LOOKUPS_PER_PREFIX", "1")
    fill(page)
    page.text_input(key="report_code_input").set_value("0101-2345-6789").run()
    page.button(key="report_send").click().run()
    assert not page.exception and not any("저장되었습니다" in s.value for s in page.success)  # refused: not issued
    page.text_input(key="report_code_input").set_value("0101-2345-6790").run()
    page.button(key="report_send").click().run()
    errors = [e.value for e in page.error]
    assert any("예전 형식의 코드는" in e and "코드 칸을 비우면" in e for e in errors), errors
    assert not any("제보가 너무 많습니다" in e for e in errors)


def test_a_refused_typed_code_is_said_in_korean_and_an_empty_box_then_sends(page, db_path):
    fill(page)
    page.text_input(key="report_code_input").set_value("0101-2345-6789").run()
    page.button(key="report_send").click().run()
    errors = [e.value for e in page.error]
    assert any("이 사이트가 발급한 코드가 아닙니다" in e for e in errors), errors
    page.text_input(key="report_code_input").set_value("").run()
    page.button(key="report_send").click().run()
    assert any("저장되었습니다" in s.value for s in page.success)
    assert is_issued(page.session_state["reporter_code"])
