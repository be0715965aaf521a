"""Validation of raw rows: every field checked and bounded, good rows kept, each bad row explained."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.validate import MAX_ERRORS, check_raw, frame_into_raw, validate_frame
from store import ingest_sql

NOW = datetime(2021, 11, 1, tzinfo=UTC)
BASE = {"lat": "37.5665", "lon": "126.978", "carrier": "KT", "kind": "dropped_call",
        "observed_at": "2021-10-25T11:16:00+09:00"}


def one(**values) -> tuple[pd.DataFrame, object]:
    row = {**BASE, **values}
    frame = pd.DataFrame({k: [v] for k, v in row.items() if v is not ...})
    return validate_frame(frame, now=NOW)


def seoul(good: pd.DataFrame) -> str:
    return good["observed_at"].dt.tz_convert("Asia/Seoul").iloc[0].strftime("%Y-%m-%d %H:%M:%S")


GOOD = [
    # (changes to the base row, column, expected normalised value)
    ({}, "network", "KT"),
    ({"lat": " 37.5665 "}, "lat", 37.5665),
    ({"lat": "37,5665", "lon": "126,978"}, "lon", 126.978),  # decimal commas (semicolon CSV)
    ({"lat": 37.5665, "lon": 126.978}, "lat", 37.5665),  # numbers, not text
    ({"accuracy_m": "1,200"}, "accuracy_m", 1200.0),  # thousands separator
    ({"accuracy_m": "12,5"}, "accuracy_m", 12.5),
    ({"accuracy_m": ""}, "accuracy_m", None),
    ({"tech": "NR"}, "tech", "5G"),
    ({"tech": None}, "tech", "unknown"),
    ({"kind": "먹통"}, "kind", "no_service"),
    ({"carrier": "헬로모바일 KT"}, "brand", "헬로모바일"),
    ({"carrier": "헬로모바일 KT"}, "mvno", True),
    ({"note": "<script>alert(1)</script>"}, "note", "<script>alert(1)</script>"),  # stored as text
    ({"note": "a\tb\nc"}, "note", "a b c"),
    ({"note": "evil\u202etxt.exe\u200b"}, "note", "eviltxt.exe"),
    ({"note": "\x00\x07bell\x1b[31m"}, "note", "bell[31m"),
    ({"note": "   "}, "note", None),
    ({"device_model": " SM-S918N "}, "device_model", "SM-S918N"),
]


@pytest.mark.parametrize(("changes", "column", "expected"), GOOD)
def test_good_values(changes, column, expected):
    good, problems = one(**changes)
    assert problems.errors == []
    value = good[column].iloc[0]
    if expected is None:
        assert pd.isna(value)
    elif isinstance(expected, float):
        assert value == pytest.approx(expected)
    else:
        assert value == expected


TIMES = [
    ("2021-10-25T11:16:00+09:00", "2021-10-25 11:16:00"),
    ("2021-10-25T02:16:00Z", "2021-10-25 11:16:00"),
    ("2021-10-25T02:16:00.000Z", "2021-10-25 11:16:00"),  # Tower Collector
    ("2021-10-25 02:16:00.000Z", "2021-10-25 11:16:00"),  # OpenCelliD
    ("2021-10-25 11:16", "2021-10-25 11:16:00"),  # no offset: Seoul time
    ("2021/10/25 11:16", "2021-10-25 11:16:00"),  # Excel
    ("2021.10.25 11:16", "2021-10-25 11:16:00"),
    ("2021-10-25 오후 1:16:00", "2021-10-25 13:16:00"),  # Korean Excel
    ("2021년 10월 25일 11:16", "2021-10-25 11:16:00"),
    ("2021-10-25T11:16+09", "2021-10-25 11:16:00"),
    ("2021-10-25 11:16:00 KST", "2021-10-25 11:16:00"),
    ("2021-10-25T04:16:00+02:00", "2021-10-25 11:16:00"),
    ("1635128160000", "2021-10-25 11:16:00"),  # epoch ms
    ("1635128160", "2021-10-25 11:16:00"),  # epoch s
    ("2017.11.22_10.07.03", "2017-11-22 10:07:03"),  # G-NetTrack
    (" 2021-10-25 11:16 ", "2021-10-25 11:16:00"),
]


@pytest.mark.parametrize(("text", "local"), TIMES)
def test_times(text, local):
    good, problems = one(observed_at=text)
    assert problems.errors == []
    assert seoul(good) == local


def test_naive_datetime_objects_mean_seoul_time():
    good, _ = one(observed_at=pd.Timestamp("2021-10-25 11:16"))
    assert seoul(good) == "2021-10-25 11:16:00"
    good, _ = one(observed_at=pd.Timestamp("2021-10-25 02:16", tz="UTC"))
    assert seoul(good) == "2021-10-25 11:16:00"


BAD = [
    # (changes, field, message fragment)
    ({"lat": ...}, "lat", "column missing"),
    ({"lat": None}, "lat", "required"),
    ({"lat": "north"}, "lat", "not a number"),
    ({"lat": "nan"}, "lat", "not a number"),
    ({"lat": "inf"}, "lat", "not a number"),
    ({"lat": "1e400"}, "lat", "not a number"),
    ({"lat": "91"}, "lat/lon", "outside the area"),
    ({"lat": "-37.5665"}, "lat/lon", "check the sign"),
    ({"lat": "40.7128", "lon": "-74.0060"}, "lat/lon", "outside the area"),  # New York
    ({"lon": "12,6,978"}, "lon", "not a number"),
    ({"observed_at": "tomorrow"}, "observed_at", "not a time"),
    ({"observed_at": "2021-13-45 25:61"}, "observed_at", "not a time"),
    ({"observed_at": "2021-11-02T00:00:00+09:00"}, "observed_at", "in the future"),
    ({"observed_at": "infinity"}, "observed_at", "in the future"),
    ({"observed_at": "1999-12-31 23:59"}, "observed_at", "before 2010-01-01"),
    ({"observed_at": "0000000000"}, "observed_at", "before 2010-01-01"),
    ({"observed_at": None}, "observed_at", "required"),
    ({"carrier": "Verizon"}, "carrier", "unknown carrier"),
    ({"carrier": "헬로모바일"}, "carrier", "several networks"),
    ({"carrier": None}, "carrier", "required"),
    ({"kind": "boom"}, "kind", "unknown failure kind"),
    ({"kind": ...}, "kind", "column missing"),
    ({"tech": "6G"}, "tech", "5G, LTE, 3G"),
    ({"accuracy_m": "-3"}, "accuracy_m", "between 0 and 10000"),
    ({"accuracy_m": "20000"}, "accuracy_m", "between 0 and 10000"),
    ({"accuracy_m": "far"}, "accuracy_m", "number of metres"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD)
def test_bad_values_are_rejected_with_field_and_fix(changes, field, message):
    good, problems = one(**changes)
    assert good.empty
    assert [(e["row"], e["field"]) for e in problems.errors] == [(1, field)]
    assert message in problems.errors[0]["message"]
    assert problems.error_count == 1


def test_swapped_coordinates_are_fixed_with_a_warning():
    good, problems = one(lat="126.978", lon="37.5665")
    assert (good["lat"].iloc[0], good["lon"].iloc[0]) == (37.5665, 126.978)
    assert problems.errors == []
    assert problems.warnings == [{"row": 1, "field": "lat/lon", "value": "126.978, 37.5665",
                                  "message": "latitude and longitude were swapped; swapped back"}]


@pytest.mark.parametrize(("field", "limit"), [("note", 500), ("device_model", 80), ("reporter_code", 64)])
def test_long_texts_are_cut_with_a_warning(field, limit):
    good, problems = one(**{field: "가" * (limit + 100)})
    assert len(good[field].iloc[0]) == limit
    assert problems.warnings[0]["field"] == field
    assert problems.warnings[0]["value"].startswith("가" * 60) and len(problems.warnings[0]["value"]) <= 81


def test_huge_values_are_shown_short():
    good, problems = one(carrier="x" * 1_000_000)
    assert good.empty
    assert len(problems.errors[0]["value"]) == 81


def test_good_rows_kept_bad_rows_reported_by_row_number():
    frame = pd.DataFrame({
        "lat": ["37.5", "x", "37.6", "37.7"], "lon": ["127.0", "127.0", "127.0", "500"],
        "carrier": ["KT", "KT", "SKT", "KT"], "kind": ["ok", "ok", "no_data", "ok"],
        "observed_at": ["2021-10-25 11:00"] * 4,
    })
    good, problems = validate_frame(frame, now=NOW, row_numbers=[10, 11, 12, 13])
    assert good["row"].tolist() == [10, 12]
    assert [(e["row"], e["field"]) for e in problems.errors] == [(11, "lat"), (13, "lat/lon")]


def test_every_problem_of_a_row_is_listed_in_field_order():
    good, problems = one(lat="x", carrier="nope", kind="nope", observed_at="later")
    assert [e["field"] for e in problems.errors] == ["lat", "observed_at", "carrier", "kind"]


def test_errors_are_capped_but_counted():
    n = MAX_ERRORS + 500
    frame = pd.DataFrame({**{k: [v] * n for k, v in BASE.items()}, "kind": ["boom"] * n})
    good, problems = validate_frame(frame, now=NOW)
    assert good.empty
    assert len(problems.errors) == MAX_ERRORS
    assert problems.error_count == n
    assert problems.errors[-1]["row"] == MAX_ERRORS


def test_empty_frame():
    good, problems = validate_frame(pd.DataFrame(), now=NOW)
    assert good.empty and problems.errors == []


def test_index_of_a_slice_does_not_matter():
    frame = pd.DataFrame({k: [v] * 4 for k, v in BASE.items()}).iloc[2:]
    good, problems = validate_frame(frame, now=NOW)
    assert len(good) == 2 and problems.errors == []


# --- the fast path gives the same answer as every check on every row ------------------------

HOSTILE = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "37.5665", "126.978", "37,5", "1,200", "nan", "inf", "-1", "0", "91", "KT", "헬로모바일",
                     "ok", "boom", "LTE", "6G", "2021-10-25 11:16", "2099-01-01", "1999-01-01", "x" * 600,
                     "a\u202eb", "\x00"]),
    st.text(max_size=12),
)


def _check(frame: pd.DataFrame, fast: bool):
    cur = ingest_sql.scratch_cursor()
    try:
        present = frame_into_raw(cur, frame)
        problems = check_raw(cur, present, now=NOW, fast=fast)
        good = ingest_sql.good_rows(cur).to_pandas()
    finally:
        cur.close()
    return good, problems


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({k: HOSTILE for k in
                                       ("lat", "lon", "carrier", "kind", "observed_at", "accuracy_m", "note")}),
                min_size=1, max_size=8))
def test_fast_path_agrees_with_every_check(rows):
    frame = pd.DataFrame(rows)
    fast_good, fast_problems = _check(frame, fast=True)
    slow_good, slow_problems = _check(frame, fast=False)
    assert fast_problems == slow_problems
    pd.testing.assert_frame_equal(fast_good, slow_good)
