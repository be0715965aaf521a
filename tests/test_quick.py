"""The quick path for small, plainly valid batches (ingest.quick) stores exactly what the full path stores."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ingest.loader
import store.reports
from core.city import load_city
from ingest.abuse import AbuseChecks
from ingest.loader import Origin, load_frame
from ingest.quick import clean_rows
from ingest.validate import validate_frame
from ingest.web_form import form_row
from store.db import connect

NOW = datetime(2021, 11, 1, tzinfo=UTC)
API_ROW = {"lat": "37.5665", "lon": "126.978", "carrier": "KT", "kind": "dropped_call",
           "observed_at": "2021-10-25T11:16:00+09:00"}

# Values of each field: the plain forms the quick path takes, and forms it must leave to the full path
# (or that the full path rejects, warns about or repairs).
VALUES = {
    "lat": ["37.5665", "37.5", "+37.51", "37", "126.978", "37,5665", " 37.5", "1e1", "nan", "91", "abc", "", None],
    "lon": ["126.978", "127.1", "126.9000000001", "37.5665", "126,9", "200", "", None],
    "carrier": ["KT", "SKT", "LGU+", "lg u+", "케이티", "450-05", "헬로모바일 KT", "헬로모바일", "KT M모바일", "olleh ",
                "Ｋ\uff34", "K\x00T", "KT\u200b", "unknown telco", "", None],
    "network": ["KT", "SKT", "", "nonsense", None],
    "kind": ["dropped_call", "ok", "통화끊김", "먹통", " no data", "boom", "", None],
    "observed_at": ["2021-10-25T11:16:00+09:00", "2021-10-25T02:16:00Z", "2021-10-25 11:16", "2021-10-25T11:16:00",
                    "2021-10-25T11:16:00.123456+09:00", "2021-10-25T11:16:00.1234567+09:00", "2021-02-30T10:00:00",
                    "2021-10-25T11:16:00 +09:00", "2021/10/25 11:16", "2021-10-25 오후 1:16:00", "1634",
                    "2009-12-31T23:00:00+09:00", "2031-01-01T00:00:00+09:00", "2021-10-25T11:16:00+0900",
                    "2021-10-25T24:00:00", "", None],
    "accuracy_m": ["12", "12.5", "0", "10000", "10001", "-3", "1,200", "", "x", None],
    "tech": ["LTE", "5g", "nr", "", "unknown", "6G", None],
    "device_model": ["SM-G991N", "iPhone 13 mini", "갤럭시 S21", " padded ", "a\tb", "<script>alert(1)</script>",
                     "x" * 80, "x" * 81, "zero\u200bwidth", "", None],
    "note": ["계속 끊겨요", "line\nbreak", "bidi\u202eevil", "n" * 500, "n" * 501, "", None],
    "reporter_code": ["K7QX-M2PA-9RTB", "k7qx m2pa 9rtb", "c" * 64, "c" * 65, "  ", "", None],
}

COMPARED = ("observed_at", "lat", "lon", "network", "brand", "mvno", "tech", "kind", "device_model", "note",
            "reporter_code")


def _quick_values(clean) -> dict[str, list]:
    return {name: getattr(clean, name) for name in (*COMPARED, "accuracy_m")}


def _full_values(good: pd.DataFrame) -> dict[str, list]:
    out = {}
    for name in (*COMPARED, "accuracy_m"):
        values = good[name].tolist()
        out[name] = [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else v
                     for v in values]
    out["observed_at"] = [pd.Timestamp(t).to_pydatetime() for t in good["observed_at"]]
    return out


def _agree(raw: pd.DataFrame) -> bool:
    """Whether the quick path took ``raw``; when it did, the full path must accept it unchanged."""
    clean = clean_rows(raw, now=NOW)
    if clean is None:
        return False
    good, problems = validate_frame(raw, now=NOW)
    assert problems.errors == [] and problems.warnings == [], (raw.to_dict("records"), problems)
    quick, full = _quick_values(clean), _full_values(good)
    for name in COMPARED:
        assert quick[name] == full[name], (name, quick[name], full[name])
    for a, b in zip(quick["accuracy_m"], full["accuracy_m"], strict=True):
        assert (a is None and b is None) or np.float32(a) == np.float32(b), (a, b)
    return True


def test_plain_reports_from_the_api_and_the_form_take_the_quick_path():
    form = form_row(lat=37.5665, lon=126.978, carrier="헬로모바일 KT", kind="no_data",
                    observed_at=datetime(2021, 10, 25, 11, 16, tzinfo=load_city().tz), tech="LTE",
                    device_model="SM-G991N", note="지하 2층", accuracy_m=35.0)
    for raw in (pd.DataFrame([API_ROW], dtype=object), form, pd.DataFrame([API_ROW] * 3, dtype=object)):
        assert _agree(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in VALUES.items()}), min_size=1, max_size=3))
def test_whenever_the_quick_path_accepts_the_full_path_stores_the_same(records):
    _agree(pd.DataFrame(records, dtype=object))


def test_random_rows_do_reach_the_quick_path():
    """The property above must not pass by always falling back: most plain rows are taken."""
    rng = np.random.default_rng(7)
    taken = 0
    for _ in range(200):
        record = {k: v[rng.integers(0, 4)] for k, v in VALUES.items()}
        taken += _agree(pd.DataFrame([record], dtype=object))
    assert taken >= 20


@pytest.mark.parametrize("change", [
    {"lat": "126.978", "lon": "37.5665"},  # swapped: the full path repairs and warns
    {"lat": "37,5665"},  # decimal comma
    {"lat": 37.5665},  # a number, not text
    {"note": "first\nsecond"},  # cleaned by the full path
    {"note": "x" * 501},  # cut to length, with a warning
    {"device_model": " SM-G991N"},  # trimmed
    {"carrier": "헬로모바일"},  # needs its host network
    {"carrier": "boom"},
    {"carrier": "K\x00T"},  # a control character inside a spelling
    {"kind": "ok\u200b"},
    {"kind": "boom"},
    {"observed_at": "2031-01-01T00:00:00+09:00"},  # future
    {"observed_at": "2021-10-25 오후 1:16:00"},  # Korean Excel layout
    {"accuracy_m": "10001"},
])
def test_anything_unusual_goes_to_the_full_path(change):
    assert clean_rows(pd.DataFrame([{**API_ROW, **change}], dtype=object), now=NOW) is None


def test_a_wall_clock_time_a_clock_change_skips_is_left_to_the_full_path():
    berlin = dataclasses.replace(load_city(), timezone="Europe/Berlin")
    skipped = pd.DataFrame([{**API_ROW, "observed_at": "2021-03-28T02:30:00"}], dtype=object)
    normal = pd.DataFrame([{**API_ROW, "observed_at": "2021-03-28T04:30:00"}], dtype=object)
    assert clean_rows(skipped, now=NOW, city=berlin) is None
    assert clean_rows(normal, now=NOW, city=berlin).observed_at == [datetime(2021, 3, 28, 2, 30, tzinfo=UTC)]


def _stored(con) -> pd.DataFrame:
    frame = con.execute("SELECT * EXCLUDE (report_id, batch_id) FROM reports ORDER BY fingerprint").df()
    return frame.reset_index(drop=True)


def test_both_paths_store_identical_rows(tmp_path):
    records = [
        {**API_ROW, "reporter_code": "K7QX-M2PA-9RTB", "device_model": "SM-G991N", "tech": "5G", "accuracy_m": "20"},
        {**API_ROW, "lat": "37.55", "carrier": "리브엠 LGU+", "kind": "ok", "observed_at": "2021-10-25 12:00"},
        {**API_ROW, "lon": "127.01", "carrier": "SK텔레콤", "note": "역 안에서만 끊김",
         "observed_at": "2021-10-25T03:00:00Z"},
    ]
    raw = pd.DataFrame(records, dtype=object)
    origin = Origin(source="api", ip="203.0.113.9")
    results = {}
    for quick in (True, False):
        con = connect(tmp_path / f"{quick}.duckdb")
        result = load_frame(con, raw, origin, now=NOW, return_ids=True, flagger=AbuseChecks(), allow_quick=quick)
        results[quick] = (result, _stored(con), con.execute(
            "SELECT source, rows_read, accepted, rejected, duplicates FROM batches").fetchall())
        con.close()
    (quick, quick_rows, quick_batch), (full, full_rows, full_batch) = results[True], results[False]
    assert (quick.accepted, quick.rejected, quick.duplicates) == (full.accepted, full.rejected, full.duplicates) == (
        3, 0, 0)
    assert [row for _, row in quick.report_ids] == [row for _, row in full.report_ids] == [1, 2, 3]
    assert quick_batch == full_batch
    pd.testing.assert_frame_equal(quick_rows, full_rows)


def test_quick_batches_still_skip_duplicates(con):
    raw = pd.DataFrame([API_ROW, API_ROW], dtype=object)
    first = load_frame(con, raw, Origin(source="api", reporter_code="K7QX-M2PA-9RTB"), now=NOW, return_ids=True)
    again = load_frame(con, raw.iloc[:1], Origin(source="api", reporter_code="K7QX-M2PA-9RTB"), now=NOW)
    assert (first.accepted, first.duplicates, [row for _, row in first.report_ids]) == (1, 1, [1])
    assert (again.accepted, again.duplicates) == (0, 1)
    assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == 1
    assert con.execute("SELECT accepted, duplicates FROM batches ORDER BY received_at, accepted DESC").fetchall() == [
        (1, 1), (0, 1)]


def test_a_failing_quick_insert_stores_nothing(con, monkeypatch):
    raw = pd.DataFrame([API_ROW], dtype=object)
    assert clean_rows(raw, now=NOW) is not None
    monkeypatch.setattr(store.reports, "_INSERT_BATCH", "INSERT INTO no_such_table VALUES (?)")
    with pytest.raises(Exception):  # noqa: B017 -- any failure must leave the store as it was
        load_frame(con, raw, Origin(source="api"), now=NOW)
    assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == 0


def test_the_quick_path_is_really_taken(con, monkeypatch):
    """Guard for the speed it exists for: a plain single report never reaches the full checks."""
    def refuse(*args, **kwargs):
        raise AssertionError("the full path ran")

    monkeypatch.setattr(ingest.loader, "check_raw", refuse)
    result = load_frame(con, pd.DataFrame([API_ROW], dtype=object), Origin(source="api"), now=NOW)
    assert result.accepted == 1


def test_the_abuse_checks_judge_the_stored_accuracy_on_both_paths(con):
    """Accuracy is stored as FLOAT: both paths judge travel on that value, so they flag alike.

    Two reports 5 s apart, ~1999.9 m apart with 999.9 m of stated accuracy: whether the distance
    left over is above 1 km depends on 999.9 as float32 (stored) or float64.
    """
    from ingest.abuse import _metres, _Point

    base = _Point(0, 37.5, 127.0, 0.0, "KT", "no_data", True)
    accuracy64, accuracy32 = 999.9, float(np.float32(999.9))
    target = 1000.0 + (accuracy64 + accuracy32) / 2
    lo, hi = 37.5, 37.52
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _metres(_Point(5, mid, 127.0, 0, "KT", "no_data", True), base) < target else (lo, mid)
    rows = pd.DataFrame([
        {"lat": "37.5", "lon": "127.0", "carrier": "KT", "kind": "no_data",
         "observed_at": "2021-10-25T09:00:00+09:00", "reporter_code": "ABCD-1234"},
        {"lat": f"{hi:.15f}", "lon": "127.0", "carrier": "KT", "kind": "no_data",
         "observed_at": "2021-10-25T09:00:05+09:00", "accuracy_m": "999.9", "reporter_code": "ABCD-1234"},
    ], dtype=object)
    flagged = []
    for allow_quick in (True, False):
        checks = AbuseChecks()
        con.execute("DELETE FROM reports")
        load_frame(con, rows, Origin(source="web"), now=NOW, flagger=checks, allow_quick=allow_quick)
        flagged.append(checks.flagged)
    assert flagged[0] == flagged[1]
