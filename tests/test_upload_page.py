"""The upload page (AppTest) and ingest.upload: progress, rejected rows with reasons, a fixable download."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from stored import issued_code, page_run, stored_reports

from core.errors import InputError
from ingest import upload as upload_module
from ingest.abuse import RateLimitedError
from ingest.upload import load_upload

GOOD_AND_BAD = (
    "위도,경도,통신사,유형,일시,메모\n"
    "37.5665,126.978,KT,통화끊김,2021-10-25 11:20,첫 줄\n"
    "north,126.978,KT,통화끊김,2021-10-25 11:21,=HYPERLINK(\"http://x\")\n"
    "37.5000,127.000,Vodafone,먹통,2021-10-25 11:22,\n"
    "37.5100,127.010,SKT,데이터느림,2021-10-25 11:23,\n"
).encode()


@pytest.fixture
def page(db_path):
    with page_run("upload.py") as at:
        yield at


def stored(db_path):
    return stored_reports(db_path, "source, reporter, note")


def test_upload_keeps_good_rows_and_lists_the_rejected(page, db_path):
    page.file_uploader(key="upload_file").set_value(("reports.csv", GOOD_AND_BAD, "text/csv")).run()
    page.button(key="upload_go").click().run()
    assert not page.exception
    assert [m.value for m in page.metric] == ["2", "0", "2", "0"]
    errors = page.dataframe[0].value
    assert errors[["row", "field"]].values.tolist() == [[2, "lat"], [3, "carrier"]]
    rows = stored(db_path)
    assert len(rows) == 2 and set(rows["source"]) == {"upload:csv"}
    assert rows["reporter"].nunique() == 1  # the file counts as one reporter


def test_rejected_rows_download_is_fixable_and_formula_safe(db_path, con):
    result = load_upload(con, GOOD_AND_BAD, "reports.csv")
    rejected = result.rejected_rows
    assert rejected["row"].tolist() == [2, 3]
    assert rejected["errors"].str.contains("lat: ").tolist() == [True, False]
    from evidence.csv_safe import to_csv_bytes

    text = to_csv_bytes(rejected).decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    back = pd.read_csv(io.StringIO(text))
    assert {"lat", "lon", "carrier", "kind", "observed_at", "errors"} <= set(back.columns)
    # Fixed and uploaded again: the extra columns are ignored, the rows are stored.
    back.loc[0, "lat"] = "37.56"
    back.loc[1, "carrier"] = "KT"
    again = load_upload(con, back.drop(columns=["row"]).to_csv(index=False).encode(), "fixed.csv")
    assert again.accepted == 2 and again.rejected == 0


def test_same_file_twice_stores_nothing_new(con, db_path):
    first = load_upload(con, GOOD_AND_BAD, "a.csv")
    second = load_upload(con, GOOD_AND_BAD, "a.csv")
    assert (first.accepted, second.accepted, second.duplicates) == (2, 0, 2)


def test_reporter_codes_inside_a_file_are_ignored(con):
    rows = "\n".join(f"37.{5000 + i},127.0,KT,no_data,2021-10-25 1{i % 10}:00,CODE-{i:04d}-XXXX" for i in range(6))
    data = ("lat,lon,carrier,kind,observed_at,reporter_code\n" + rows).encode()
    result = load_upload(con, data, "many.csv", reporter_code=issued_code())
    assert result.accepted == 6
    assert con.execute("SELECT count(DISTINCT reporter) FROM reports").fetchone()[0] == 1


def test_a_code_typed_on_the_upload_page_is_checked_as_the_api_checks_it(con, monkeypatch):
    """A self-chosen code is refused before the file is read (nothing stored under it), and trying one
    counts as a My reports guess: the upload page is no oracle for codes the lookups refuse to guess."""
    monkeypatch.setenv("DROPMAP_LOOKUPS_PER_PREFIX", "2")
    data = b"lat,lon,carrier,kind,observed_at\n37.5665,126.978,KT,no_data,2021-10-25 11:20\n"
    for guess in ("0101-2345-6789", "0101-2345-6790"):
        with pytest.raises(InputError) as refused:
            load_upload(con, data, "a.csv", reporter_code=guess, ip="198.51.100.4")
        assert refused.value.field == "reporter_code" and "POST /api/v1/codes" in refused.value.message
    assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == 0
    with pytest.raises(RateLimitedError):  # the network has used its guesses
        load_upload(con, data, "a.csv", reporter_code="0101-2345-6791", ip="198.51.100.5")
    assert load_upload(con, data, "a.csv", reporter_code=issued_code(), ip="198.51.100.6").accepted == 1


def test_large_files_are_stored_in_chunks_with_progress(con, monkeypatch):
    monkeypatch.setattr(upload_module, "CHUNK_ROWS", 4)
    rows = "\n".join(f"37.{5000 + i * 10},127.0,KT,no_data,2021-10-{1 + i:02d} 12:00" for i in range(10))
    steps = []
    result = load_upload(con, ("lat,lon,carrier,kind,observed_at\n" + rows).encode(), "big.csv",
                         progress=lambda fraction, text: steps.append(fraction))
    assert result.accepted == 10
    assert steps == sorted(steps) and steps[-1] == 1.0 and len(steps) == 5  # read, 3 chunks, done
    assert con.execute("SELECT count(*) FROM batches").fetchone()[0] == 3


def test_unreadable_file_is_an_error_with_the_fix(page):
    page.file_uploader(key="upload_file").set_value(("empty.csv", b"   ", "text/csv")).run()
    page.button(key="upload_go").click().run()
    assert not page.exception
    assert page.error and "empty" in page.error[0].value


def test_the_upload_page_says_in_korean_why_a_code_is_refused(page, db_path, monkeypatch):
    """A refused code is a plain-words error on the page (nothing stored); past the network's tries, the page
    says old-form codes wait and issued codes always work."""
    monkeypatch.setenv("DROPMAP_LOOKUPS_PER_PREFIX", "1")
    page.file_uploader(key="upload_file").set_value(("reports.csv", GOOD_AND_BAD, "text/csv")).run()
    page.text_input(key="upload_code").set_value("0101-2345-6789").run()
    page.button(key="upload_go").click().run()
    assert not page.exception
    assert any("이 사이트가 발급한 코드가 아닙니다" in e.value for e in page.error), [e.value for e in page.error]
    page.file_uploader(key="upload_file").set_value(("reports.csv", GOOD_AND_BAD, "text/csv"))
    page.text_input(key="upload_code").set_value("0101-2345-6790").run()
    page.button(key="upload_go").click().run()
    errors = [e.value for e in page.error]
    assert any("예전 형식의 코드는" in e and "사이트가 발급한 코드" in e for e in errors), errors
    page.file_uploader(key="upload_file").set_value(("reports.csv", GOOD_AND_BAD, "text/csv"))
    page.text_input(key="upload_code").set_value(issued_code()).run()
    page.button(key="upload_go").click().run()
    assert [m.value for m in page.metric][0] == "2"  # an issued code uploads whatever the network tried
    assert len(stored(db_path)) == 2  # the refused tries stored nothing
