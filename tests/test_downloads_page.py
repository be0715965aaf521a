"""The Downloads page (AppTest, widgets by key) and, in Chromium, the page on the real site."""

from __future__ import annotations

import hashlib
import json

import pyarrow.parquet as pq
import pytest
from conftest import shown
from opendata_data import build_store
from streamlit.testing.v1 import AppTest

from store.db import close_shared, connect, shared_connection


@pytest.fixture(scope="module")
def page_db(tmp_path_factory):
    """One small store for the module (the page only reads it)."""
    yield build_store(tmp_path_factory.mktemp("downloads") / "page.duckdb", seed=4, n=2000, reporters=30,
                      source="demo")
    close_shared()


@pytest.fixture
def filled_db(page_db, monkeypatch):
    monkeypatch.setenv("DROPMAP_DB", str(page_db))
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "5")
    return page_db


def open_page(lang: str = "ko") -> AppTest:
    at = AppTest.from_file("../ui/downloads.py", default_timeout=60)
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    return at


def table_with(at, column: str):
    """The shown table that has ``column`` (AppTest does not expose a dataframe's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def metric(at, label: str):
    return next(m.value for m in at.metric if m.label == label)


def test_page_shows_the_export_preview(filled_db):
    at = open_page()
    assert at.title[0].value == "열린 데이터 내려받기"
    assert at.selectbox(key="dl_res").value == 8 and at.selectbox(key="dl_by").value == "hour"
    assert int(metric(at, "행 수").replace(",", "")) > 0
    assert metric(at, "최소 제보자 수 k") == "5"
    assert any("합성 데이터" in w.value for w in at.warning)  # the demo rows are flagged
    assert any("2021-10-11 ~ 2021-10-24" in shown(m.value) for m in at.markdown)
    preview = table_with(at, "h3_cell")
    assert {"h3_cell", "reports", "is_synthetic"} <= set(preview.columns)
    assert not {"lat", "lon", "note", "reporter"} & set(preview.columns)


def test_prepare_and_download_with_manifest(filled_db):
    at = open_page()
    at.selectbox(key="dl_format").set_value("geoparquet").run()
    at.selectbox(key="dl_carrier").set_value("KT").run()
    at.button(key="dl_prepare").click().run()
    assert not at.exception, at.exception
    ready = at.session_state["dl_ready"]
    manifest = ready["manifest"]
    assert ready["name"].startswith("dropmap_r8_hour_kt") and ready["name"].endswith("_geo.parquet")
    assert manifest["sha256"] == hashlib.sha256(ready["data"]).hexdigest()
    assert manifest["query"]["carrier"] == "KT" and manifest["synthetic"] is True
    assert len(at.get("download_button")) == 2
    assert any(manifest["sha256"] in c.value for c in at.caption)


def test_changing_a_choice_hides_the_stale_file(filled_db):
    at = open_page()
    at.button(key="dl_prepare").click().run()
    assert len(at.get("download_button")) == 2
    at.selectbox(key="dl_res").set_value(9).run()
    assert len(at.get("download_button")) == 0


def test_excluding_demo_data(filled_db):
    at = open_page()
    before = int(metric(at, "행 수").replace(",", ""))
    at.checkbox(key="dl_demo").uncheck().run()
    after = int(metric(at, "행 수").replace(",", ""))
    assert 0 < after < before and metric(at, "합성 데이터") == "없음"


def test_by_date_and_weekday_hour(filled_db):
    at = open_page()
    for by in ("date", "weekday_hour"):
        at.selectbox(key="dl_by").set_value(by).run()
        assert not at.exception
        assert by.split("_")[0] in table_with(at, "h3_cell").columns


def test_english(filled_db):
    at = open_page("en")
    assert at.title[0].value == "Open data downloads"
    assert int(metric(at, "Rows").replace(",", "")) > 0


def test_incomplete_week_shows_an_error_not_a_traceback(filled_db):
    from geo.aggregate import today_local

    at = open_page()
    today = today_local()  # this week has not ended, so hour buckets cannot cover it yet
    at.date_input(key="dl_period").set_value((today, today)).run()
    assert not at.exception
    assert at.error and "by=date" in shown(at.error[0].value)


def test_empty_store(db_path):
    connect(db_path).close()
    at = open_page()
    assert at.warning and metric(at, "행 수") == "0"


def test_snapshot_links_when_present(filled_db, tmp_path, monkeypatch):
    from geo import snapshot

    monkeypatch.setattr(snapshot, "SNAPSHOT_DIR", tmp_path)
    snapshot.write_snapshot(shared_connection(filled_db).cursor())
    at = open_page()
    table = table_with(at, "url")
    assert len(table) == 12 and table.url.str.startswith("/app/static/opendata/dropmap_r8_weekday_hour_").all()


@pytest.mark.browser
def test_downloads_page_in_chromium(site, page, screenshot_dir):
    page.goto(site["url"] + "/downloads", wait_until="networkidle")
    page.get_by_text("열린 데이터 내려받기").first.wait_for(timeout=60_000)
    page.get_by_text("행 수").first.wait_for(timeout=60_000)
    page.screenshot(path=str(screenshot_dir / "downloads_page.png"), full_page=True)
    page.get_by_role("button", name="파일 만들기").click()
    download_button = page.get_by_role("button", name="내려받기").first
    download_button.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as caught:
        download_button.click()
    path = caught.value.path()
    assert caught.value.suggested_filename.startswith("dropmap_r8_hour_all") and path
    text = open(path, encoding="utf-8").read()
    assert text.startswith("h3_cell,resolution,") and "true" in text  # the demo city is synthetic
    page.screenshot(path=str(screenshot_dir / "downloads_ready.png"), full_page=True)


def test_parquet_bytes_are_readable(filled_db, tmp_path):
    at = open_page()
    at.selectbox(key="dl_format").set_value("parquet").run()
    at.button(key="dl_prepare").click().run()
    path = tmp_path / "x.parquet"
    path.write_bytes(at.session_state["dl_ready"]["data"])
    assert pq.read_table(path).num_rows == at.session_state["dl_ready"]["manifest"]["rows"]
    assert json.loads(json.dumps(at.session_state["dl_ready"]["manifest"]))["licence"]["name"] == "CC BY 4.0"
