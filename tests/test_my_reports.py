"""The "My reports" page (AppTest): my log, others nearby, the verdict, the downloads."""

from __future__ import annotations

import pytest
from conftest import shown
from evidence_data import ME, build_town
from streamlit.testing.v1 import AppTest

from store.db import close_shared

# The comparison's rules, on exact figures; tests/test_cellkey.py checks the noise the site adds.
pytestmark = pytest.mark.usefixtures("exact_counts")


@pytest.fixture
def town_db(con, db_path):
    build_town(con)
    con.close()
    yield db_path
    close_shared()


def open_page(code=None, lang=None):
    at = AppTest.from_file("../ui/my_reports.py", default_timeout=60)
    if lang:
        at.query_params["lang"] = lang
    if code:
        at.session_state["reporter_code"] = code
    at.run()
    assert not at.exception, at.exception
    return at


def test_my_reports_beside_others(town_db):
    at = open_page(ME)
    assert [m.value for m in at.metric][:2] == ["4", "0"]
    table = at.dataframe[0].value
    assert len(table) == 4 and all(place.startswith("중구") for place in table["장소"])
    compare = at.dataframe[1].value
    assert compare["통신사"].tolist() == ["KT", "SK텔레콤"]  # LG U+ has fewer than k reporters
    assert compare["다른 제보자"].tolist() == [10, 12]
    text = " ".join(shown(m.value) for m in at.markdown)
    assert "KT 이용자 10명" in text
    assert any("LG U+" in shown(c.value) for c in at.caption)
    assert any("망 쪽 원인" in shown(i.value) for i in at.info)  # the verdict: the network
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["문서(HTML) 받기", "내 제보 CSV 받기"]


def test_code_typed_in_the_box(town_db):
    at = open_page()
    assert any("코드가 없다면" in i.value for i in at.info)
    at.text_input(key="my_code").set_value(ME.lower()).run()  # case and dashes do not matter
    assert not at.exception
    assert len(at.dataframe[0].value) == 4


@pytest.mark.parametrize("code, element, words", [
    ("ZZZZ-ZZZZ-ZZZZ", "warning", "제보가 없습니다"),
    ("abc", "error", "16 letters"),
])
def test_unknown_or_malformed_codes(town_db, code, element, words):
    at = open_page(code)
    assert any(words in e.value for e in getattr(at, element))
    assert not at.get("download_button")


def test_english(town_db):
    at = open_page(ME, lang="en")
    assert at.title[0].value == "My reports"
    assert any("other KT users" in m.value for m in at.markdown)
