"""Hex aggregates: pinned answers, suppression (k, residuals), periods, parameters, a property test."""

from __future__ import annotations

import os
from datetime import date

import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opendata_data import CITY_HALL, CITY_HALL_R8, EAST, known_rows, load
from scipy.stats import binomtest

from core.errors import InputError
from geo.aggregate import (
    ALL_FAILURES,
    BY_CHOICES,
    AggregateCache,
    ExportQuery,
    Period,
    QueryErrors,
    build,
    parse_query,
    report_filter,
    resolve_period,
    snapshot_period,
)
from geo.privacy import PRIVATE_COLUMNS
from store.aggregate_sql import aggregate_select

# These tests check the counting rules on exact figures; tests/test_cellkey.py checks the noise.
pytestmark = pytest.mark.usefixtures("exact_counts")

EAST_R8 = h3.latlng_to_cell(*EAST, 8)
ASKED_FOR = (date(2021, 10, 18), date(2021, 10, 24))


@pytest.fixture
def known(con, monkeypatch):
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "5")
    load(con, known_rows())
    return con


def rows_of(con, **query) -> pd.DataFrame:
    return build(con.cursor(), ExportQuery(**query)).frame()


def row(frame, cell, network, kind, **bucket):
    chosen = frame[(frame.h3_cell == cell) & (frame.network == network) & (frame.kind == kind)]
    for name, value in bucket.items():
        chosen = chosen[chosen[name] == value]
    assert len(chosen) <= 1
    return None if chosen.empty else chosen.iloc[0]


def test_city_hall_cell_is_pinned():
    assert h3.latlng_to_cell(*CITY_HALL, 8) == CITY_HALL_R8


def test_known_answers_by_hour(known):
    frame = rows_of(known, res=8, by="hour")
    # Group A: KT 14h. Failures 8 from 8 people, 10 'all good' samples from 5: rate 8/18.
    a = row(frame, CITY_HALL_R8, "KT", ALL_FAILURES, hour=14)
    assert (a.reports, a.reporters, a.ok_samples, a.ok_reporters, a.observations) == (8, 8, 10, 5, 18)
    assert a.failure_rate == pytest.approx(8 / 18)
    assert (a.rate_low, a.rate_high) == pytest.approx((0.2456, 0.6628), abs=1e-4)
    # ...but no per-kind row: no_data (2 people) would be the all_failures row minus dropped_call.
    assert set(frame[(frame.network == "KT") & (frame.hour == 14)].kind) == {ALL_FAILURES}
    # Group B: SKT 9h: both kinds shown, no rate without 'all good' samples.
    b = row(frame, CITY_HALL_R8, "SKT", ALL_FAILURES, hour=9)
    assert (b.reports, b.reporters, b.ok_samples, b.observations) == (12, 11, 0, 12)
    assert pd.isna(b.failure_rate) and pd.isna(b.rate_low)
    dropped = row(frame, CITY_HALL_R8, "SKT", "dropped_call", hour=9)
    assert (dropped.reports, dropped.reporters) == (7, 6)
    assert row(frame, CITY_HALL_R8, "SKT", "no_data", hour=9).reports == 5
    # Group C: LGU+ 20h: 3 failure reporters -> figures empty; 12 samples from 6 people shown.
    c = row(frame, CITY_HALL_R8, "LGU+", ALL_FAILURES, hour=20)
    assert pd.isna(c.reports) and pd.isna(c.reporters) and pd.isna(c.failure_rate)
    assert (c.ok_samples, c.ok_reporters) == (12, 6)
    # Group D: KT 3h east: 4 reporters -> left out entirely.
    assert frame[(frame.h3_cell == EAST_R8) & (frame.network == "KT")].empty
    # Group E: residual (sms 2 + other 3 people) has 5 reporters -> dropped_call may be shown.
    assert row(frame, EAST_R8, "SKT", "dropped_call", hour=9).reports == 6
    assert row(frame, EAST_R8, "SKT", "sms_failure", hour=9) is None
    assert row(frame, EAST_R8, "SKT", ALL_FAILURES, hour=9).reports == 11
    assert len(frame) == 7


def test_wilson_interval_matches_scipy(known):
    a = row(rows_of(known, res=8, by="hour"), CITY_HALL_R8, "KT", ALL_FAILURES, hour=14)
    ci = binomtest(8, 18).proportion_ci(confidence_level=0.95, method="wilson")
    assert (a.rate_low, a.rate_high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_cell_centre_and_area_are_the_cells_never_a_report(known):
    frame = rows_of(known, res=8, by="hour")
    lat, lon = h3.cell_to_latlng(CITY_HALL_R8)
    first = frame[frame.h3_cell == CITY_HALL_R8].iloc[0]
    assert (first.center_lat, first.center_lon) == pytest.approx((lat, lon))
    assert first.area_km2 == pytest.approx(h3.cell_area(CITY_HALL_R8, "km^2"))
    assert (first.center_lat, first.center_lon) != pytest.approx(CITY_HALL)
    assert not PRIVATE_COLUMNS.intersection(frame.columns)


@pytest.mark.parametrize("by, columns", [
    ("hour", ["hour"]), ("weekday_hour", ["weekday", "hour"]), ("date", ["date"]), ("all", []),
])
def test_bucket_columns(known, by, columns):
    frame = rows_of(known, res=8, by=by)
    assert [c for c in frame.columns if c in ("weekday", "hour", "date")] == columns


@pytest.mark.parametrize("by", BY_CHOICES)
def test_buckets_read_the_stored_local_time(by):
    # The stored local_hour/local_dow/local_date (tests/test_local_time.py) instead of a zone conversion per row.
    sql, _ = aggregate_select(res=8, by=by, report_filter=report_filter(ExportQuery(by=by)), k=5)
    assert "timezone(" not in sql and "make_timestamp" not in sql
    assert ("local_" in sql) == (by != "all")  # by=all has no time column at all


def test_weekday_hour_and_date_buckets_are_local_time(known):
    frame = rows_of(known, res=8, by="weekday_hour")
    # Group A's failures fell on Tue 14h and Wed 14h: by weekday neither day alone has k reporters,
    # but the 'all good' samples (Thu 14h, 5 people) do.
    assert row(frame, CITY_HALL_R8, "KT", ALL_FAILURES, weekday=4, hour=14).ok_samples == 10
    assert row(frame, CITY_HALL_R8, "KT", ALL_FAILURES, weekday=2, hour=14) is not None
    by_date = rows_of(known, res=8, by="date")
    assert row(by_date, CITY_HALL_R8, "SKT", "dropped_call", date=pd.Timestamp("2021-10-18")) is not None


SPREAD = (37.5800, 127.0100)


def test_all_hours_bucket_publishes_a_hex_whose_reporters_are_spread_over_the_day(con, monkeypatch):
    # Issue 12: 6 reporters, each at another hour of one day, are on the map (all hours) but were in no
    # export: no single hour has k = 5 of them.
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "5")
    rows = []
    for i, hour in enumerate((7, 9, 12, 15, 18, 22)):
        rows += _spread_rows(SPREAD, "KT", "dropped_call" if i < 4 else "no_data",
                             f"2021-10-19T{hour:02d}:10:00+09:00", [f"S{i}"])
    load(con, pd.DataFrame(rows))
    cell = h3.latlng_to_cell(*SPREAD, 8)
    assert rows_of(con, res=8, by="hour").query("h3_cell == @cell").empty
    frame = rows_of(con, res=8, by="all")
    assert "hour" not in frame.columns and "date" not in frame.columns
    mine = frame[frame.h3_cell == cell]
    # all_failures 6 reports from 6 reporters; neither kind (4 and 2 reporters) gets a row of its own.
    assert list(mine.kind) == [ALL_FAILURES]
    assert (mine.iloc[0].reports, mine.iloc[0].reporters, mine.iloc[0].network) == (6, 6, "KT")


def test_all_hours_bucket_keeps_k(con, monkeypatch):
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "5")
    rows = []
    for i, hour in enumerate((7, 9, 12, 15)):
        rows += _spread_rows(SPREAD, "KT", "dropped_call", f"2021-10-19T{hour:02d}:10:00+09:00", [f"S{i}"])
    load(con, pd.DataFrame(rows))
    assert rows_of(con, res=8, by="all").empty  # 4 reporters all day: still fewer than k


def _spread_rows(lat_lon, carrier, kind, when, codes):
    return [{"lat": lat_lon[0], "lon": lat_lon[1], "carrier": carrier, "kind": kind, "observed_at": when,
             "reporter_code": code} for code in codes]


@pytest.mark.parametrize("k, expected_rows", [("3", 9), ("2", 9), ("5", 7), ("9", 2), ("50", 0)])
def test_k_comes_from_the_setting_and_never_drops_below_3(con, monkeypatch, k, expected_rows):
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", k)
    load(con, known_rows())
    assert len(rows_of(con, res=8, by="hour")) == expected_rows


def test_coarser_resolution_merges_the_cells(known):
    frame = rows_of(known, res=7, by="hour")
    assert frame.h3_cell.nunique() == 1 and frame.resolution.eq(7).all()
    skt = row(frame, h3.latlng_to_cell(*CITY_HALL, 7), "SKT", ALL_FAILURES, hour=9)
    assert (skt.reports, skt.reporters) == (23, 22)


def test_flagged_reports_are_left_out(known):
    known.execute("UPDATE reports SET status = 'flagged', flag_reason = 'test' "
                  "WHERE network = 'SKT' AND kind = 'no_data'")
    frame = rows_of(known, res=8, by="hour")
    assert row(frame, CITY_HALL_R8, "SKT", ALL_FAILURES, hour=9).reports == 7
    assert row(frame, CITY_HALL_R8, "SKT", "no_data", hour=9) is None


def test_demo_rows_are_marked_or_excluded(con, monkeypatch):
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "5")
    frame = known_rows()
    load(con, frame[frame.carrier != "SKT"])
    load(con, frame[frame.carrier == "SKT"], source="demo")
    marked = rows_of(con, res=8, by="hour")
    assert set(marked[marked.network == "SKT"].is_synthetic) == {True}
    assert set(marked[marked.network != "SKT"].is_synthetic) == {False}
    real_only = rows_of(con, res=8, by="hour", include_demo=False)
    assert "SKT" not in set(real_only.network) and len(real_only) == 2
    assert build(con.cursor(), ExportQuery(include_demo=False)).has_synthetic() is False


def test_mvno_reports_count_under_their_host_network(con, monkeypatch):
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "5")
    frame = known_rows()
    frame.loc[frame.carrier == "LGU+", "carrier"] = "U+유모바일"
    load(con, frame)
    assert row(rows_of(con, res=8, by="hour"), CITY_HALL_R8, "LGU+", ALL_FAILURES, hour=20).ok_samples == 12


def test_carrier_filter_selects_rows(known):
    frame = rows_of(known, res=8, by="hour", carrier="SKT")
    assert set(frame.network) == {"SKT"} and len(frame) == 5


def test_no_data_gives_no_rows_and_no_period(con):
    agg = build(con.cursor(), ExportQuery())
    assert agg.rows == 0 and agg.period is None and agg.frame().empty


# --- parameters ------------------------------------------------------------------

GOOD_PARAMS = [
    ({}, ExportQuery()),
    ({"res": "9", "by": "date"}, ExportQuery(res=9, by="date")),
    ({"carrier": "KT"}, ExportQuery(carrier="KT")),
    ({"carrier": "LGU "}, ExportQuery(carrier="LGU+")),  # 'LGU+' in a URL query arrives with a space
    ({"carrier": "lgu+"}, ExportQuery(carrier="LGU+")),
    ({"carrier": "케이티"}, ExportQuery(carrier="KT")),
    ({"carrier": "all"}, ExportQuery()),
    ({"since": "2021-10-01", "until": "2021-10-31"}, ExportQuery(since=date(2021, 10, 1), until=date(2021, 10, 31))),
    ({"demo": "exclude"}, ExportQuery(include_demo=False)),
]


@pytest.mark.parametrize("params, expected", GOOD_PARAMS)
def test_parse_query_good(params, expected):
    assert parse_query(params) == expected


BAD_PARAMS = [
    ({"res": "10"}, "res"),
    ({"res": "eight"}, "res"),
    ({"by": "minute"}, "by"),
    ({"carrier": "Verizon"}, "carrier"),
    ({"carrier": "KT M모바일"}, "carrier"),  # an MVNO brand: exports are per host network
    ({"since": "2021-13-01"}, "since"),
    ({"until": "yesterday"}, "until"),
    ({"since": "2021-10-31", "until": "2021-10-01"}, "since"),
    ({"demo": "only"}, "demo"),
    ({"carier": "KT"}, "carier"),
    ({"until": ""}, "until"),  # given but empty: refused, not read as "the default" (issue 11)
    ({"since": " "}, "since"),
    ({"res": ""}, "res"),
]


@pytest.mark.parametrize("params, field", BAD_PARAMS)
def test_parse_query_bad(params, field):
    with pytest.raises(QueryErrors) as caught:
        parse_query(params)
    assert [e.field for e in caught.value.errors] == [field]
    assert caught.value.errors[0].message


def test_parse_query_lists_every_bad_parameter():
    with pytest.raises(QueryErrors) as caught:
        parse_query({"res": "4", "by": "week", "carrier": "X"})
    assert [e.field for e in caught.value.errors] == ["res", "by", "carrier"]


# --- periods -----------------------------------------------------------------------

D = date.fromisoformat
PERIODS = [
    # by, since, until, first, last, today -> since, until
    ("hour", None, None, "2021-09-27", "2021-10-31", "2025-01-01", ("2021-09-27", "2021-10-31")),
    ("hour", None, None, "2021-09-29", "2021-10-28", "2025-01-01", ("2021-09-27", "2021-10-31")),
    ("hour", "2021-10-25", "2021-10-25", None, None, "2025-01-01", ("2021-10-25", "2021-10-31")),
    ("weekday_hour", "2021-10-20", None, "2021-09-27", "2021-10-31", "2025-01-01", ("2021-10-18", "2021-10-31")),
    ("date", "2021-10-25", "2021-10-25", None, None, "2025-01-01", ("2021-10-25", "2021-10-25")),
    ("date", None, None, "2021-10-20", "2021-10-31", "2025-01-01", ("2021-10-20", "2021-10-31")),
    # Live data: hour buckets end with the last complete week, dates with yesterday.
    ("hour", None, None, "2021-10-01", "2021-10-27", "2021-10-27", ("2021-09-27", "2021-10-24")),
    ("hour", None, None, "2021-10-01", "2021-10-31", "2021-10-31", ("2021-09-27", "2021-10-24")),
    ("hour", None, None, "2021-10-01", "2021-10-31", "2021-11-01", ("2021-09-27", "2021-10-31")),
    ("date", None, None, "2021-10-01", "2021-10-27", "2021-10-27", ("2021-10-01", "2021-10-26")),
]


@pytest.mark.parametrize("by, since, until, first, last, today, expected", PERIODS)
def test_resolve_period(by, since, until, first, last, today, expected):
    query = ExportQuery(by=by, since=since and D(since), until=until and D(until))
    period = resolve_period(query, first and D(first), last and D(last), D(today))
    assert (period.since, period.until) == (D(expected[0]), D(expected[1]))
    if by != "date":
        assert period.since.weekday() == 0 and period.until.weekday() == 6


def test_resolve_period_without_a_complete_week():
    assert resolve_period(ExportQuery(), D("2021-10-26"), D("2021-10-27"), D("2021-10-28")) is None
    with pytest.raises(InputError) as caught:
        resolve_period(ExportQuery(since=D("2021-10-26")), None, D("2021-10-27"), D("2021-10-28"))
    assert "by=date" in caught.value.message


def test_snapshot_period_is_13_whole_weeks():
    period = snapshot_period(D("2021-10-31"), D("2025-01-01"))
    assert period == Period(D("2021-08-02"), D("2021-10-31"), ("snapshot_weeks",))
    assert period.days == 91
    live = snapshot_period(D("2021-10-27"), D("2021-10-28"))
    assert (live.since, live.until) == (D("2021-07-26"), D("2021-10-24"))
    assert snapshot_period(None, D("2021-10-28")) is None


# --- the property: nothing rests on fewer than k reporters -------------------------

# Few places, carriers, hours and people, so groups often hover around k.
_PLACES = [CITY_HALL, (37.5668, 126.9786), EAST]
_KINDS = ["dropped_call", "no_data", "sms_failure", "ok"]
_CARRIERS = ["SKT", "KT", "LGU+"]

report_rows = st.lists(st.tuples(
    st.integers(0, len(_PLACES) - 1), st.sampled_from(["KT", "KT", "SKT", "LGU+"]), st.sampled_from(_KINDS),
    st.integers(0, 7), st.integers(0, 13), st.sampled_from([9, 14]), st.booleans(),
), min_size=40, max_size=200)

queries = st.builds(
    lambda res, by, carrier, since, length, demo: ExportQuery(
        res=res, by=by, carrier=carrier, include_demo=demo,
        since=None if since is None else date(2021, 10, 4 + since),
        until=None if since is None or length is None else date(2021, 10, 4 + since + length)),
    st.sampled_from([7, 8, 9]), st.sampled_from(BY_CHOICES), st.sampled_from([None, *_CARRIERS]),
    st.one_of(st.none(), st.integers(0, 10)), st.one_of(st.none(), st.integers(0, 6)), st.booleans(),
)


@pytest.fixture(scope="module")
def property_con(tmp_path_factory):
    from store.db import connect

    os.environ.setdefault("DROPMAP_SECRET", "test-secret-not-for-production")
    connection = connect(tmp_path_factory.mktemp("property") / "p.duckdb")
    yield connection
    connection.close()


def _store(con, rows) -> None:
    con.execute("DELETE FROM reports")
    con.execute("DELETE FROM batches")
    frame = pd.DataFrame([{
        "lat": _PLACES[p][0], "lon": _PLACES[p][1], "carrier": c, "kind": k, "reporter_code": f"P{r}",
        "observed_at": f"2021-10-{4 + d:02d}T{h:02d}:{(i % 60):02d}:00+09:00", "demo": demo,
    } for i, (p, c, k, r, d, h, demo) in enumerate(rows)], columns=[
        "lat", "lon", "carrier", "kind", "reporter_code", "observed_at", "demo"])
    for demo, part in frame.groupby("demo"):
        load(con, part.drop(columns="demo"), source="demo" if demo else "test")


def _truth(con, query, period) -> pd.DataFrame:
    """Every stored report an export of ``query`` covers, with its output keys (computed in pandas)."""
    col = f"h3_r{query.res}"
    raw = con.execute(f"SELECT {col} AS cell, network, observed_at, kind, reporter, source, status "
                      "FROM reports").df()
    local = pd.to_datetime(raw.observed_at, utc=True).dt.tz_convert("Asia/Seoul")
    keep = (raw.status == "ok") & local.dt.date.between(period.since, period.until)
    if query.carrier:
        keep &= raw.network == query.carrier
    if not query.include_demo:
        keep &= raw.source != "demo"
    raw = raw.assign(h3_cell=[h3.int_to_str(int(c)) for c in raw.cell], hour=local.dt.hour,
                     weekday=local.dt.dayofweek + 1, date=pd.to_datetime(local.dt.date))
    return raw[keep]


def _counts(rows: pd.DataFrame, keys: list[str], prefix: str) -> pd.DataFrame:
    return rows.groupby(keys).agg(**{f"{prefix}_n": ("reporter", "size"),
                                     f"{prefix}_people": ("reporter", "nunique")}).reset_index()


def _check(frame, truth, by, k) -> None:
    """Compare every output row with counts made directly from the stored reports."""
    keys = ["h3_cell", "network",
            *{"hour": ["hour"], "weekday_hour": ["weekday", "hour"], "date": ["date"], "all": []}[by]]
    failures = truth[truth.kind != "ok"]
    groups = _counts(failures, keys, "group").merge(_counts(truth[truth.kind == "ok"], keys, "ok"), how="outer")
    if frame.empty:
        assert not ((groups.group_people >= k) | (groups.ok_people >= k)).any(), "a publishable group is missing"
        return
    per_kind = _counts(failures, [*keys, "kind"], "kind")
    out = frame.merge(groups, on=keys, how="left").merge(per_kind, on=[*keys, "kind"], how="left")
    out = out.fillna({"group_n": 0, "group_people": 0, "ok_n": 0, "ok_people": 0, "kind_n": 0, "kind_people": 0})
    is_all = out.kind == ALL_FAILURES
    behind_n = out.group_n.where(is_all, out.kind_n)
    behind_people = out.group_people.where(is_all, out.kind_people)
    shown = out.reports.notna()
    assert (out.reports[shown] == behind_n[shown]).all() and (out.reporters[shown] == behind_people[shown]).all()
    assert ((behind_n[shown] == 0) | (behind_people[shown] >= k)).all(), "a shown count rests on < k reporters"
    ok_shown = out.ok_samples.notna()
    assert (out.ok_samples[ok_shown] == out.ok_n[ok_shown]).all()
    assert ((out.ok_n[ok_shown] == 0) | (out.ok_people[ok_shown] >= k)).all(), "shown samples rest on < k"
    something = (shown & (behind_people >= k)) | (ok_shown & (out.ok_people >= k))
    assert something.all(), "a row must show at least one figure from >= k reporters"
    # Residuals: all_failures minus the shown kinds must also rest on 0 or >= k reporters.
    kind_rows = frame[frame.kind != ALL_FAILURES][[*keys, "kind"]]
    if not kind_rows.empty:
        with_kinds = failures.merge(kind_rows[keys].drop_duplicates(), on=keys)
        hidden = with_kinds.merge(kind_rows, on=[*keys, "kind"], how="left", indicator=True)
        hidden = hidden[hidden["_merge"] == "left_only"]
        people = hidden.groupby(keys).reporter.nunique()
        assert ((people == 0) | (people >= k)).all(), "a residual rests on < k reporters"
    # Nothing publishable is left out: every group with >= k failure reporters has its row.
    publishable = groups[groups.group_people >= k]
    emitted = frame[frame.kind == ALL_FAILURES].merge(publishable, on=keys)
    assert len(emitted) == len(publishable) and (emitted.reports == emitted.group_n).all()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=report_rows, query=queries, k=st.integers(3, 6))
def test_no_output_row_rests_on_fewer_than_k_reporters(property_con, rows, query, k):
    os.environ["DROPMAP_MIN_REPORTERS"] = str(k)
    try:
        _store(property_con, rows)
        agg = build(property_con.cursor(), query, today=date(2022, 1, 1))
        frame = agg.frame()
    finally:
        os.environ.pop("DROPMAP_MIN_REPORTERS", None)
    if agg.period is None:
        assert frame.empty
        return
    if "date" in frame:
        frame["date"] = pd.to_datetime(frame["date"])
    assert not PRIVATE_COLUMNS.intersection(frame.columns)
    event("rows shown" if len(frame) else "no rows")
    event("per-kind rows shown" if (frame.kind != ALL_FAILURES).any() else "no per-kind rows")
    _check(frame, _truth(property_con, query, agg.period), query.by, k)
    assert np.all(frame.rate_low.dropna() <= frame.failure_rate.dropna())


def test_sql_and_python_neutralise_the_same_formula_cells():
    import duckdb

    from core.files import FORMULA_STARTS
    from evidence.csv_safe import neutralise
    from store.aggregate_sql import csv_safe_sql

    cur = duckdb.connect()
    values = [f"{c}cmd" for c in FORMULA_STARTS] + ["ok", "a-b", "x=1", "", "'quoted"]
    for value in values:
        assert cur.execute(f"SELECT {csv_safe_sql('$v')}", {"v": value}).fetchone()[0] == neutralise(value), value
    assert all(neutralise(f"{c}cmd").startswith("'") for c in FORMULA_STARTS)


def test_the_cache_builds_once_per_query_and_data_version(known, monkeypatch):
    """Paging (the hex API) reads one built aggregate; a new report, or another query, builds afresh."""
    import store.aggregate_sql

    builds = []
    real = store.aggregate_sql.build_aggregate

    def counted(*args, **kwargs):
        builds.append(kwargs.get("by"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store.aggregate_sql, "build_aggregate", counted)
    cache = AggregateCache()
    query = ExportQuery(res=8, by="hour")

    def page(limit, offset, q=query):
        cur = known.cursor()
        try:
            agg = cache.build(cur, q, today=date(2021, 11, 10))
            return agg.rows, agg.records(limit=limit, offset=offset)
        finally:
            cur.close()

    rows, everything = page(None, 0)
    assert page(3, 0) == (rows, everything[:3]) and page(3, 3) == (rows, everything[3:6])
    assert builds == ["hour"]  # three answers, one build
    page(None, 0, ExportQuery(res=8, by="date"))
    assert builds == ["hour", "date"]
    # One more KT drop at City Hall at 14h from a new person: group A's counts change.
    load(known, known_rows().iloc[:1].assign(reporter_code="NEW", observed_at="2021-10-19T14:50:00+09:00"))
    new_rows, new_everything = page(None, 0)
    assert builds == ["hour", "date", "hour"] and new_everything != everything


def test_a_kept_aggregate_outlives_reports_observed_outside_what_it_covers(known, monkeypatch):
    """A live site stores reports every second, all observed after the last complete week: paging
    through an aggregate of whole weeks goes on from the kept copy. A late upload into its weeks, or
    before its first report when it runs from the first, builds it afresh, with the new rows in it."""
    import store.aggregate_sql
    from store.moderation import flag_reports

    builds = []
    real = store.aggregate_sql.build_aggregate

    def counted(*args, **kwargs):
        builds.append(kwargs.get("report_filter").since)
        return real(*args, **kwargs)

    monkeypatch.setattr(store.aggregate_sql, "build_aggregate", counted)
    cache, today = AggregateCache(), date(2021, 11, 10)  # a Wednesday: the last complete week ends 11-07
    whole, weeks = ExportQuery(res=8, by="hour"), ExportQuery(res=8, by="hour", since=date(2021, 10, 18))

    def records(query):
        cur = known.cursor()
        try:
            return cache.build(cur, query, today=today).records()
        finally:
            cur.close()

    def late(when, code):
        load(known, known_rows().iloc[:1].assign(reporter_code=code, observed_at=when))

    first = {q: records(q) for q in (whole, weeks)}
    assert first[whole] and len(builds) == 2
    late("2021-11-09T08:00:00+09:00", "LIVE1")  # this week: no aggregate covers it yet
    hall_today = [str(r) for (r,) in known.execute(
        "SELECT report_id FROM reports WHERE observed_at >= TIMESTAMPTZ '2021-11-08 00:00:00+09'").fetchall()]
    flag_reports(known.cursor(), hall_today, operator="op-test", reason="test")
    late("2021-10-01T08:00:00+09:00", "EARLY")  # before the weeks asked for, within the whole history
    assert records(weeks) == first[weeks] and len(builds) == 2  # kept: nothing of it changed
    assert records(whole) == build(known.cursor(), whole, today=today).records()  # built again:
    assert len(builds) == 4  # the report of 10-01 widens the whole history (the 4th build is the check's)
    late("2021-10-19T14:50:00+09:00", "NEW")  # a late upload into the weeks: A's counts change
    again = records(weeks)
    assert len(builds) == 5 and again != first[weeks]
    assert again == build(known.cursor(), weeks, today=today).records()


def test_the_cache_never_answers_for_another_store(known, tmp_path, monkeypatch):
    """Two stores with the same number of batches stored at the same time: each gets its own rows."""
    from store.db import connect

    other = connect(tmp_path / "other.duckdb")
    try:
        load(other, known_rows().iloc[:1])  # one batch, like ``known``: same count, same received_at
        cache = AggregateCache()
        query = ExportQuery(res=8, by="hour")
        today = date(2021, 11, 10)
        mine = cache.build(known.cursor(), query, today=today).records()
        theirs = cache.build(other.cursor(), query, today=today).records()
        assert mine and theirs == []  # one report: below k, nothing published
        assert cache.build(known.cursor(), query, today=today).records() == mine
        # A new report: the entry of the older version of that store is dropped, not kept beside.
        load(known, known_rows().iloc[:1].assign(reporter_code="NEW", observed_at="2021-10-19T14:50:00+09:00"))
        cache.build(known.cursor(), query, today=today)
        mine_kept = {id(kept) for key, kept in cache._kept.items() if key[0] != str(tmp_path / "other.duckdb")}
        assert len(mine_kept) == 1  # one aggregate of this store (kept under the query and its period)
    finally:
        other.close()


def test_a_cached_aggregate_drops_reports_the_operator_flags(known):
    """Moderation changes a stored report's status without a new batch: the cache must see it, or a cell
    filled by flagged Sybils stays in the hex API (and the subway lines) until someone reports again."""
    from store.moderation import flag_reports

    cache = AggregateCache()
    query = ExportQuery(res=8, by="all")
    today = date(2021, 11, 10)
    before = cache.build(known.cursor(), query, today=today).records()
    cells = {r["h3_cell"] for r in before if r["reporters"]}
    assert CITY_HALL_R8 in cells
    hall = [str(r) for (r,) in known.execute("SELECT report_id FROM reports WHERE h3_r8 = ?",
                                             [h3.str_to_int(CITY_HALL_R8)]).fetchall()]
    flag_reports(known.cursor(), hall, operator="op-test", reason="sybil cluster")
    after = cache.build(known.cursor(), query, today=today).records()
    assert after == build(known.cursor(), query, today=today).records()  # as if nothing were cached
    assert CITY_HALL_R8 not in {r["h3_cell"] for r in after if r["reporters"]}


def test_the_downloads_preview_its_file_and_the_hex_api_share_one_build(known, monkeypatch):
    """The downloads page shows a preview, then makes the file; the hex API pages through the same
    query: one aggregate, built once (geo.aggregate.AGGREGATES), while the data stay the same."""
    import store.aggregate_sql
    from geo.aggregate import AGGREGATES, preview
    from geo.export import export_bytes

    builds = []
    real = store.aggregate_sql.build_aggregate

    def counted(*args, **kwargs):
        builds.append(kwargs.get("by"))
        return real(*args, **kwargs)

    def never():
        raise AssertionError("the hex API built an aggregate the downloads page had built")

    monkeypatch.setattr(store.aggregate_sql, "build_aggregate", counted)
    query, today = ExportQuery(res=8, by="hour"), date(2021, 11, 10)
    shown = preview(known.cursor(), query, today=today)
    data, manifest = export_bytes(known.cursor(), query, "csv", today=today)
    page = AGGREGATES.build(known.cursor(), query, today=today, before_build=never)
    assert builds == ["hour"]
    assert shown.rows == page.rows == manifest["rows"] > 3
    assert data.count(b"\n") == manifest["rows"] + 1  # the header and every row, from the kept aggregate
    assert AGGREGATES.kept_bytes() > 0


def test_kept_aggregates_go_whole_under_both_their_keys(known):
    """Each aggregate is kept under the query asked and the query with its period written out (the
    next-page links); the bound counts aggregates, and the oldest goes under both keys at once."""
    cache, today = AggregateCache(entries=2), date(2021, 11, 10)
    asked = [ExportQuery(res=8, by=by) for by in ("hour", "date", "weekday_hour")]
    for query in asked:
        cache.build(known.cursor(), query, today=today)
    kept = {id(k): k for k in cache._kept.values()}.values()
    assert len(kept) == 2 and all(len(k.keys) == 2 and all(key in cache._kept for key in k.keys) for k in kept)
    assert not any(key[2] == tuple(asked[0].as_params().items()) for key in cache._kept)  # the oldest, wholly


def test_a_change_during_a_build_keeps_nothing(known, monkeypatch):
    """Reports flagged while an aggregate is being built: its rows are from before, so they are not kept
    under the newer version; the next request builds again and leaves the flagged reports out."""
    import store.aggregate_sql
    from store.moderation import flag_reports

    real = store.aggregate_sql.build_aggregate
    hall = [str(r) for (r,) in known.execute("SELECT report_id FROM reports WHERE h3_r8 = ?",
                                             [h3.str_to_int(CITY_HALL_R8)]).fetchall()]
    flagged = []

    def flag_meanwhile(cur, **kwargs):
        rows = real(cur, **kwargs)
        if not flagged:
            flagged.append(flag_reports(known.cursor(), hall, operator="op-test", reason="during the build"))
        return rows

    monkeypatch.setattr(store.aggregate_sql, "build_aggregate", flag_meanwhile)
    cache, query, today = AggregateCache(), ExportQuery(res=8, by="all"), date(2021, 11, 10)
    during = cache.build(known.cursor(), query, today=today).records()
    assert CITY_HALL_R8 in {r["h3_cell"] for r in during if r["reporters"]}  # built before the flag
    assert cache._kept == {}
    after = cache.build(known.cursor(), query, today=today).records()
    assert CITY_HALL_R8 not in {r["h3_cell"] for r in after if r["reporters"]}
