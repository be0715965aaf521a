"""The shared frame and the overview page: language, synthetic-data notice, counts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ingest.loader import Origin, load_frame

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def _rows(n: int, *, carrier: str = "KT", kind: str = "dropped_call") -> pd.DataFrame:
    return pd.DataFrame({
        "lat": [37.5665 + i * 1e-3 for i in range(n)],
        "lon": [126.978] * n,
        "carrier": [carrier] * n,
        "kind": [kind] * n,
        "observed_at": [f"2021-10-20T0{i % 10}:00:00+09:00" for i in range(n)],
        "reporter_code": [f"CODE{i}" for i in range(n)],
    })


def _app(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def test_empty_database_says_how_to_get_data(db_path):
    at = _app()
    assert not at.exception
    assert any("make run" in w.value for w in at.warning)


def test_overview_counts_per_carrier_and_kind(con):
    load_frame(con, _rows(3, carrier="KT"), Origin(source="web"))
    load_frame(con, _rows(2, carrier="SKT", kind="no_data"), Origin(source="web"))
    con.close()
    at = _app()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["장애 제보"] == "5"
    table = at.dataframe[0].value
    assert table.loc["통화 끊김", "KT"] == 3
    assert table.loc["데이터 안 됨", "SK텔레콤"] == 2
    assert not at.info  # no synthetic data, no notice


def test_synthetic_share_is_announced(con):
    load_frame(con, _rows(3), Origin(source="demo"))
    load_frame(con, _rows(1, carrier="SKT"), Origin(source="web"))
    con.close()
    at = _app()
    assert any("75%" in i.value and "합성" in i.value for i in at.info)


@pytest.mark.parametrize(("lang", "title"), [("ko", "끊김지도"), ("en", "DropMap"), ("xx", "끊김지도")])
def test_language_from_url(con, lang, title):
    load_frame(con, _rows(1), Origin(source="web"))
    con.close()
    at = _app(lang=lang)
    assert at.title[0].value.startswith(title)


def test_language_switch_updates_url(con):
    load_frame(con, _rows(1), Origin(source="web"))
    con.close()
    at = _app()
    at.radio(key="lang_choice").set_value("English").run()
    assert at.query_params["lang"] == ["en"] or at.query_params["lang"] == "en"
    assert at.title[0].value.startswith("DropMap")
