"""From raw rows to stored reports: counts, duplicates, all-or-nothing batches, keyed identities."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest

import store.reports
from ingest.identity import keyed_hash, normalise_code
from ingest.loader import Origin, fingerprints, load_file, load_frame

DATA = Path(__file__).parent / "data"
NOW = datetime(2021, 11, 1, tzinfo=UTC)


def rows(n: int, **columns) -> pd.DataFrame:
    base = {"lat": [37.5665 + i * 1e-3 for i in range(n)], "lon": [126.978] * n, "carrier": ["KT"] * n,
            "kind": ["dropped_call"] * n, "observed_at": [f"2021-10-25T11:{i % 60:02d}:00+09:00" for i in range(n)]}
    return pd.DataFrame({**base, **columns})


def count(con, where: str = "TRUE") -> int:
    return con.execute(f"SELECT count(*) FROM reports WHERE {where}").fetchone()[0]


def test_counts_add_up_and_only_good_rows_are_stored(con):
    frame = rows(5, kind=["ok", "boom", "no_data", "no_data", "ok"])
    result = load_frame(con, frame, Origin(source="web"), now=NOW)
    assert (result.rows_read, result.accepted, result.rejected, result.duplicates) == (5, 4, 1, 0)
    assert count(con) == 4
    batch = con.execute("SELECT source, rows_read, accepted, rejected, duplicates FROM batches").fetchall()
    assert batch == [("web", 5, 4, 1, 0)]


def test_the_same_file_twice_adds_nothing(con):
    first = load_file(con, DATA / "reports_good.csv")
    second = load_file(con, DATA / "reports_good.csv")
    assert (first.accepted, first.duplicates) == (5, 0)
    assert (second.accepted, second.rejected, second.duplicates) == (0, 0, 5)
    assert count(con) == 5
    assert con.execute("SELECT count(*) FROM batches").fetchone()[0] == 2  # both loads are on record


def test_repeats_inside_one_file_are_stored_once(con):
    result = load_file(con, DATA / "reports_mixed.csv")
    assert result.duplicates == 1  # record 3 repeats record 1
    assert count(con, "note = 'repeat of row 1'") == 0
    assert result.accepted + result.rejected + result.duplicates == result.rows_read == 11


def test_a_failing_insert_stores_nothing(con, monkeypatch):
    load_frame(con, rows(2), Origin(source="web"), now=NOW)
    monkeypatch.setattr(store.reports, "_INSERT_BATCH", "INSERT INTO no_such_table VALUES (?)")
    with pytest.raises(Exception):  # noqa: B017 -- any failure must leave the store as it was
        load_frame(con, rows(3, lat=[36.0, 36.1, 36.2]), Origin(source="web"), now=NOW)
    assert count(con) == 2
    assert con.execute("SELECT count(*) FROM batches").fetchone()[0] == 1


def test_every_accepted_row_is_stored_with_its_id(con):
    frame = rows(50)
    result = load_frame(con, frame, Origin(source="api"), now=NOW, return_ids=True)
    assert result.accepted == 50
    assert [row for _, row in result.report_ids] == list(range(1, 51))
    stored = dict(con.execute("SELECT CAST(report_id AS VARCHAR), lat FROM reports").fetchall())
    for report_id, row in result.report_ids:
        assert stored[report_id] == pytest.approx(frame["lat"][row - 1])


def test_report_ids_point_to_the_first_of_repeated_rows(con):
    frame = pd.concat([rows(2), rows(1)], ignore_index=True)
    result = load_frame(con, frame, Origin(source="api"), now=NOW, return_ids=True)
    assert (result.accepted, result.duplicates) == (2, 1)
    assert [row for _, row in result.report_ids] == [1, 2]


def test_codes_and_ips_are_stored_only_as_keyed_hashes(con):
    code, ip = "K7QX-M2PA-9RTB", "203.0.113.7"
    load_frame(con, rows(2, reporter_code=[code, None]), Origin(source="api", ip=ip), now=NOW)
    reporters = [r for (r,) in con.execute("SELECT reporter FROM reports ORDER BY lat").fetchall()]
    assert reporters == [keyed_hash("code", normalise_code(code)), keyed_hash("ip", ip)]
    assert {h for (h,) in con.execute("SELECT ip_hash FROM reports").fetchall()} == {keyed_hash("ip", ip)}
    text = " ".join(str(v) for row in con.execute("SELECT * FROM reports").fetchall() for v in row)
    assert code not in text and normalise_code(code) not in text and ip not in text


def test_frames_without_any_identity_are_one_reporter_per_batch(con):
    load_frame(con, rows(1), Origin(source="web"), now=NOW)
    second = load_frame(con, rows(1), Origin(source="web"), now=NOW)
    assert second.accepted == 1  # another batch, another (anonymous) reporter
    assert con.execute("SELECT count(DISTINCT reporter) FROM reports").fetchone()[0] == 2


def test_codes_match_however_they_are_typed(con):
    load_frame(con, rows(2, reporter_code=["k7qx m2pa 9rtb", "K7QX-M2PA-9RTB"]), Origin(source="web"), now=NOW)
    assert con.execute("SELECT count(DISTINCT reporter) FROM reports").fetchone()[0] == 1


def test_a_file_without_codes_is_one_reporter_and_its_uploader_code_wins(con):
    load_file(con, DATA / "reports_semicolon.csv")
    assert con.execute("SELECT count(DISTINCT reporter) FROM reports").fetchone()[0] == 1
    sha_reporter = con.execute("SELECT any_value(reporter) FROM reports").fetchone()[0]
    import hashlib

    assert sha_reporter == keyed_hash("file", hashlib.sha256((DATA / "reports_semicolon.csv").read_bytes()).hexdigest())
    load_file(con, DATA / "reports_tab.tsv", reporter_code="ABCD-EFGH-JKLM")
    assert con.execute("SELECT DISTINCT reporter FROM reports WHERE source = 'upload:csv' AND kind = 'ok'"
                       ).fetchall() == [(keyed_hash("code", "ABCDEFGHJKLM"),)]


def test_cells_and_district_are_stored(con):
    load_frame(con, rows(1), Origin(source="web"), now=NOW)
    cells = con.execute("SELECT h3_r6, h3_r7, h3_r8, h3_r9, h3_r10, sig_cd FROM reports").fetchone()
    finest = h3.latlng_to_cell(37.5665, 126.978, 10)
    assert [h3.int_to_str(c) for c in cells[:5]] == [h3.cell_to_parent(finest, r) for r in (6, 7, 8, 9)] + [finest]
    assert h3.int_to_str(cells[2]) == "8830e1d8c1fffff"
    assert cells[5] == "11140"  # 중구


def test_points_outside_seoul_but_in_korea_have_no_district(con):
    load_frame(con, rows(1, lat=[35.1796], lon=[129.0756]), Origin(source="web"), now=NOW)  # Busan
    assert con.execute("SELECT sig_cd FROM reports").fetchone() == (None,)


def test_times_are_stored_in_utc(con):
    load_frame(con, rows(1, observed_at=["2021-10-25 11:16"]), Origin(source="web"), now=NOW)
    stored = con.execute("SELECT observed_at FROM reports").fetchone()[0]
    assert stored == datetime(2021, 10, 25, 2, 16, tzinfo=UTC)


def test_status_given_by_the_caller_is_stored(con):
    load_frame(con, rows(2), Origin(source="web"), now=NOW, status=pd.Series(["ok", "flagged"]))
    assert sorted(s for (s,) in con.execute("SELECT status FROM reports").fetchall()) == ["flagged", "ok"]


def test_a_flagger_may_drop_and_flag_rows(con):
    seen = {}

    def flagger(_con, staged: pd.DataFrame) -> pd.DataFrame:
        seen["columns"] = set(staged.columns)
        staged = staged[staged["row"] != 2].copy()
        staged.loc[staged["row"] == 3, ["status", "flag_reason"]] = ["flagged", "test"]
        return staged

    result = load_frame(con, rows(3), Origin(source="web"), now=NOW, flagger=flagger, return_ids=True)
    assert (result.accepted, result.duplicates) == (2, 1)
    assert {"row", "reporter", "ip_hash", "h3_r8", "status", "flag_reason", "observed_at"} <= seen["columns"]
    assert con.execute("SELECT flag_reason FROM reports WHERE status = 'flagged'").fetchall() == [("test",)]
    assert [row for _, row in result.report_ids] == [1, 3]


@pytest.mark.parametrize("n", [3, 80])  # the quick path for a few plain rows, the SQL path for more
def test_a_status_other_than_ok_or_flagged_is_never_stored(con, n):
    # Public views select "not flagged" (store.filters.PUBLIC_STATUS): a third status would be public.
    def third_status(_con, staged: pd.DataFrame) -> pd.DataFrame:
        staged.loc[staged["row"] == 2, "status"] = "hidden"
        return staged

    with pytest.raises(Exception, match="status must be ok or flagged, not hidden"):
        load_frame(con, rows(n), Origin(source="web"), now=NOW, flagger=third_status, return_ids=True)
    assert count(con) == 0
    assert con.execute("SELECT count(*) FROM batches").fetchone() == (0,)


def test_a_flagger_that_changes_the_reporter_changes_the_fingerprint(con):
    def new_reporter(_con, staged):
        staged["reporter"] = np.uint64(12345)
        return staged

    origin = Origin(source="web", reporter_code="ABCD-EFGH-JKLM")
    load_frame(con, rows(1), origin, now=NOW)
    result = load_frame(con, rows(1), origin, now=NOW, flagger=new_reporter)
    assert result.accepted == 1  # not a duplicate: another reporter


def test_fingerprints_are_stable_numbers():
    """Pinned: a change would make reloads of old files look new (and store them twice)."""
    fp = fingerprints(np.array([1635128160000000]), np.array([37.5665]), np.array([126.978]),
                      np.array([1], dtype=np.uint64), np.array([2], dtype=np.uint64), np.array([3], dtype=np.uint64),
                      np.array([4], dtype=np.uint64))
    assert fp.dtype == np.uint64
    assert int(fp[0]) == 13361139893352007578


def test_a_large_file_keeps_every_row(con, tmp_path):
    n = 20_000
    path = tmp_path / "many.csv"
    rng = np.random.default_rng(1)
    rows(n, lat=rng.uniform(37.45, 37.65, n), reporter_code=[f"R{i % 700}" for i in range(n)],
         observed_at=pd.date_range("2021-10-01", periods=n, freq="min").strftime("%Y-%m-%d %H:%M")
         ).to_csv(path, index=False)
    result = load_file(con, path)
    assert (result.accepted, result.rejected, result.duplicates) == (n, 0, 0)
    assert count(con) == n
    assert con.execute("SELECT count(DISTINCT reporter) FROM reports").fetchone()[0] == 700


def test_an_empty_file_with_a_header_is_read(con, tmp_path):
    path = tmp_path / "header.csv"
    shutil.copy(DATA / "reports_good.csv", path)
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    result = load_file(con, path)
    assert (result.rows_read, result.accepted) == (0, 0)


def test_fingerprints_agree_with_and_without_a_flagger(con):
    origin = Origin(source="web", reporter_code="ABCD-EFGH-JKLM")
    load_frame(con, rows(3), origin, now=NOW)
    result = load_frame(con, rows(3), origin, now=NOW, flagger=lambda _con, staged: staged)
    assert (result.accepted, result.duplicates) == (0, 3)


@pytest.mark.parametrize(("typed", "normal"), [("K7QX-M2PA-9RTB", "K7QXM2PA9RTB"), ("k7qx m2pa 9rtb", "K7QXM2PA9RTB"),
                                               ("Ｋ７ＱＸ－Ｍ２ＰＡ", "K7QXM2PA"), ("---", "")])
def test_normalise_code(typed, normal):
    assert normalise_code(typed) == normal


def test_a_huge_value_in_a_csv_is_cut_not_fatal(con, tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("lat,lon,carrier,kind,observed_at,note\n"
                    f"37.5665,126.978,KT,no_data,2021-10-25 11:16,{'x' * 5_000_000}\n"
                    "37.5547,126.9707,SKT,no_data,2021-10-25 11:17,short\n", encoding="utf-8")
    result = load_file(con, path)
    assert (result.accepted, result.rejected) == (2, 0)
    assert [(w["row"], w["field"]) for w in result.warnings] == [(1, "note")]
    assert con.execute("SELECT max(length(note)) FROM reports").fetchone() == (500,)


def test_both_load_paths_stage_the_stored_columns_in_order():
    """The quick path's Arrow types and the full path's staged table name the columns store.reports inserts."""
    import ingest.loader
    import store.ingest_sql

    assert tuple(ingest.loader._STAGED_TYPES) == ("row", *store.reports.STAGED_COLUMNS)
    assert store.ingest_sql.STAGED_COLUMNS == store.reports.STAGED_COLUMNS
