"""Reading files: encodings, delimiters, format detection, hostile files, record numbers."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import UnreadableFileError
from ingest.readers import decode_text, detect_format, read_file, read_into_raw, records_from_json
from store import ingest_sql

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(("name", "fmt", "rows", "carriers"), [
    ("reports_good.csv", "csv", 5, ["KT", "SKT", "LG U+", "KT M모바일", "SK텔레콤"]),
    ("reports_bom.csv", "csv", 2, ["케이티", "에스케이"]),
    ("reports_cp949.csv", "csv", 2, ["엘지유플러스", "헬로모바일 KT"]),
    ("reports_korean_utf8.csv", "csv", 2, ["엘지유플러스", "헬로모바일 KT"]),
    ("reports_semicolon.csv", "csv", 2, ["KT", "SKT"]),
    ("reports_tab.tsv", "csv", 2, ["LGU+", "450-08"]),
    ("reports.jsonl", "jsonl", 3, ["KT", "olleh", "SKT"]),
    ("reports.geojson", "geojson", 2, ["KT", "LGU+"]),
    ("towercollector.csv", "towercollector", 3, ["450-08", "450-05", "450-08"]),
    ("opencellid.csv", "opencellid", 4, ["450-08", "450-05", "450-06", "450-06"]),
])
def test_fixture_files_are_read(name, fmt, rows, carriers):
    raw = read_file(DATA / name)
    assert raw.fmt == fmt
    assert len(raw.frame) == rows
    assert raw.frame["carrier"].tolist() == carriers


def test_korean_headers_map_to_fields():
    raw = read_file(DATA / "reports_bom.csv")
    assert set(raw.frame.columns) >= {"lat", "lon", "carrier", "kind", "observed_at", "note"}
    assert raw.frame["note"].tolist()[0] == "출근길"


def test_cp949_and_utf8_give_the_same_rows():
    cp949 = read_file(DATA / "reports_cp949.csv").frame
    utf8 = read_file(DATA / "reports_korean_utf8.csv").frame
    pd.testing.assert_frame_equal(cp949, utf8)


def test_utf16_with_bom_is_read(tmp_path):
    path = tmp_path / "excel_unicode.txt"
    text = (DATA / "reports_korean_utf8.csv").read_text(encoding="utf-8").replace(",", "\t")
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert read_file(path).frame["carrier"].tolist() == ["엘지유플러스", "헬로모바일 KT"]


def test_cp949_after_a_long_ascii_start_is_still_read(tmp_path):
    """UTF-8 is judged from the first 64 KB; a Korean value further down must still be read as CP949."""
    lines = ["lat,lon,carrier,kind,observed_at"] + ["37.5,127.0,KT,ok,2021-10-25 11:00"] * 3000
    lines.append("37.5,127.0,케이티,먹통,2021-10-25 11:00")
    path = tmp_path / "late_korean.csv"
    path.write_bytes("\n".join(lines).encode("cp949"))
    frame = read_file(path).frame
    assert frame["carrier"].iloc[-1] == "케이티"
    assert len(frame) == 3001


def test_ragged_rows_are_padded_or_ignored():
    raw = read_file(DATA / "reports_mixed.csv")
    assert raw.frame["carrier"].iloc[8] is None or pd.isna(raw.frame["carrier"].iloc[8])  # row 9: too few
    assert raw.frame["note"].iloc[9] == "extra"  # row 10: too many; the surplus is ignored
    assert "column7" in raw.ignored_columns


def test_quoted_line_breaks_and_short_rows_together(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('lat,lon,carrier,kind,observed_at,note\n37.5,127.0,KT,ok,2021-10-25 11:00,"two\nlines"\n'
                    "37.6,127.0\n", encoding="utf-8")
    raw = read_file(path)
    assert raw.frame["note"].tolist()[0] == "two\nlines"
    assert raw.row_numbers.tolist() == [1, 2]


def test_record_numbers_follow_the_file_on_a_many_buffer_read(tmp_path):
    """Record numbers follow the file on DuckDB's parallel CSV reader (small buffers force many)."""
    n = 60_000
    path = tmp_path / "big.csv"
    pd.DataFrame({"lat": np.arange(n) / 1e6 + 37, "lon": 127.0, "carrier": "KT", "kind": "ok",
                  "observed_at": "2021-10-25 11:00", "note": np.arange(1, n + 1)}).to_csv(path, index=False)
    cur = ingest_sql.scratch_cursor()
    try:
        names, options = ingest_sql.csv_header(cur, str(path))
        mapping = {i: f for i, f in enumerate(names)}
        small = options + ", max_line_size = 4096, buffer_size = 65536"
        ingest_sql.csv_into_raw(cur, str(path), small, len(names), mapping)
        rows, notes = zip(*cur.execute("SELECT row, note FROM raw").fetchall(), strict=True)
    finally:
        cur.close()
    assert list(rows) == [int(n) for n in notes]


@pytest.mark.parametrize(("name", "head", "expected"), [
    ("a.csv", "lat,lon\n", "csv"),
    ("a.tsv", "lat\tlon\n", "csv"),
    ("a", "lat;lon;kind\n", "csv"),
    ("a.jsonl", '{"lat": 1}\n', "jsonl"),
    ("a", '{"lat": 1}\n{"lat": 2}', "jsonl"),
    ("a.json", '[{"lat": 1}]', "json"),
    ("a", '{"type": "FeatureCollection", "features": []}', "geojson"),
    ("a.geojson", "{}", "geojson"),
    ("a.csv", "mcc,mnc,lac,cell_id,psc,asu,dbm,ta,lat,lon,accuracy,speed,bearing,altitude,measured_at,net_type,"
              "neighboring,device\r\n", "towercollector"),
    ("a.csv", "lat,lon,mcc,mnc,sid,lac,tac,nid,cellid,bid,psc,pci,signal,ta,measured_at,rating,speed,direction,"
              "act,devn\n", "opencellid"),
])
def test_detect_format(name, head, expected):
    assert detect_format(Path(name), head) == expected


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", b"", "is empty"),
    ("blank.csv", b"  \n\n \t", "is empty"),
    ("book.xlsx", b"PK\x03\x04\x14\x00\x06\x00rest-of-zip", "Excel workbook"),
    ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
    ("latin.csv", b"lat,lon\n\xe9\xff\xfe,1\n", "neither UTF-8 nor CP949"),
    ("number.json", b"42", "expected a JSON object"),
    ("broken.json", b'[{"lat": 1,', "not valid JSON"),
    ("towers.csv", (DATA / "opencellid_towers.csv").read_bytes(), "cell-tower database"),
    ("notes.dat", b"just some words", "cannot tell the format"),
    ("notes.txt", b"just some words", "has no report columns"),
    ("other.csv", b"name,age\nkim,30\n", "has no report columns"),
    ("fc.geojson", b'{"type": "FeatureCollection", "features": 3}', "without a 'features' list"),
])
def test_unreadable_files_say_why(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError) as e:
        read_file(path)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_format_name_is_refused():
    with pytest.raises(UnreadableFileError, match="unknown format"):
        read_file(DATA / "reports_good.csv", "xlsx")


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableFileError, match="cannot read"):
        read_file(tmp_path / "nope.csv")


def test_json_lines_keep_their_line_numbers_and_report_non_objects():
    raw = read_file(DATA / "reports.jsonl")
    assert raw.row_numbers.tolist() == [1, 2, 5]  # line 4 is blank
    assert raw.unparsed == [(3, "each line must be one JSON object"),
                            (6, "not JSON (Expecting property name enclosed in double quotes at column 2)")]


def test_json_aliases_may_differ_between_records():
    raw = read_file(DATA / "reports.jsonl")
    assert raw.frame["lat"].tolist() == ["37.5665", "37.4979", "37.5"]  # 'latitude' in line 2
    assert raw.frame["note"].tolist()[2] == '{"nested": true}'  # nested values stay text


def test_geojson_points_are_lon_lat_and_other_geometries_are_reported():
    raw = read_file(DATA / "reports.geojson")
    assert raw.frame[["lat", "lon"]].values.tolist() == [["37.5665", "126.978"], ["37.4979", "127.0276"]]
    assert raw.row_numbers.tolist() == [1, 4]
    assert [row for row, _ in raw.unparsed] == [2, 3]
    assert "got Polygon" in raw.unparsed[0][1]


@pytest.mark.parametrize(("doc", "records", "problems"), [
    ({"lat": 1}, [{"lat": 1}], []),
    ([{"lat": 1}, 5, "x"], [{"lat": 1}, {}, {}], [(2, "not a JSON object"), (3, "not a JSON object")]),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [127, 37]}, "properties": None},
     [{"lon": 127, "lat": 37}], []),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point",
                                                                                 "coordinates": [1]}}]},
     [{}], [(1, "Point coordinates must be [lon, lat]")]),
])
def test_records_from_json(doc, records, problems):
    assert records_from_json(doc) == (records, problems)


@pytest.mark.parametrize("doc", [42, "text", None, 3.5])
def test_records_from_json_refuses_scalars(doc):
    with pytest.raises(UnreadableFileError):
        records_from_json(doc)


def test_decode_text():
    assert decode_text("가".encode("cp949")) == ("가", "cp949")
    assert decode_text(codecs.BOM_UTF8 + "가".encode()) == ("가", "utf-8-sig")
    with pytest.raises(UnreadableFileError):
        decode_text(b"\x80\xff\x81\xfe")


def test_read_into_raw_reports_fields_present_and_ignored_columns(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("Latitude,LNG,통신사,유형,time,favourite colour\n37.5,127.0,KT,ok,2021-10-25 11:00,blue\n",
                    encoding="utf-8")
    cur = ingest_sql.scratch_cursor()
    try:
        info = read_into_raw(cur, path)
    finally:
        cur.close()
    assert info.present == {"lat", "lon", "carrier", "kind", "observed_at"}
    assert info.ignored_columns == ["favourite colour"]
