"""Local time: the fast clock and the stored local_hour/local_dow/local_date agree with the zone's own rules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import duckdb
import pandas as pd
import pytest

import store.migrations
from core import city as city_module
from ingest.loader import Origin, load_frame
from store.db import connect
from store.filters import LOCAL_TIME_COLUMNS, fixed_offset_period, local_time_columns_sql, local_time_sql

NOW = datetime(2021, 11, 1, tzinfo=UTC)
# Seoul times around local midnight and a weekend, and 08:xx local = 23:xx UTC the day before.
SEOUL_TIMES = ["2021-10-29T23:59:59+09:00", "2021-10-30T00:00:00+09:00", "2021-10-30T08:30:00+09:00",
               "2021-10-31T23:00:00+09:00", "2021-11-01T00:00:01+09:00", "2021-10-31T15:00:00+00:00"]
EXACT = {"local_hour": "hour(timezone('Asia/Seoul', observed_at))",
         "local_dow": "isodow(timezone('Asia/Seoul', observed_at))",
         "local_date": "CAST(timezone('Asia/Seoul', observed_at) AS DATE)"}


def _load(con, times: list[str]) -> None:
    frame = pd.DataFrame({"lat": [37.55 + i * 1e-3 for i in range(len(times))], "lon": 126.98, "carrier": "KT",
                          "kind": "dropped_call", "observed_at": times,
                          "reporter_code": [f"T{i}" for i in range(len(times))]})
    result = load_frame(con, frame, Origin(source="web"), now=NOW)
    assert result.rejected == 0, result.errors


def _disagreements(con) -> int:
    wrong = " OR ".join(f"{name} IS DISTINCT FROM {sql}" for name, sql in EXACT.items())
    return con.execute(f"SELECT count(*) FILTER (WHERE {wrong}) FROM reports").fetchone()[0]


def test_stored_local_time_of_known_instants(con):
    _load(con, SEOUL_TIMES)
    rows = con.execute("SELECT strftime(observed_at, '%Y-%m-%d %H:%M:%S'), local_hour, local_dow, local_date "
                       "FROM reports ORDER BY observed_at").fetchall()
    assert rows == [
        ("2021-10-29 14:59:59", 23, 5, date(2021, 10, 29)),  # Friday 23:59:59 in Seoul
        ("2021-10-29 15:00:00", 0, 6, date(2021, 10, 30)),  # Saturday 00:00 in Seoul
        ("2021-10-29 23:30:00", 8, 6, date(2021, 10, 30)),  # Saturday 08:30 in Seoul, Friday in UTC
        ("2021-10-31 14:00:00", 23, 7, date(2021, 10, 31)),  # Sunday 23:00
        ("2021-10-31 15:00:00", 0, 1, date(2021, 11, 1)),  # Monday 00:00, given in UTC
        ("2021-10-31 15:00:01", 0, 1, date(2021, 11, 1)),
    ]
    assert _disagreements(con) == 0


def test_stored_local_time_agrees_with_the_zone_every_17_minutes_for_a_week(con):
    times = pd.date_range("2021-10-24T00:00:00+00:00", periods=7 * 24 * 60 // 17, freq="17min")
    _load(con, [t.isoformat() for t in times])
    assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == len(times)
    assert _disagreements(con) == 0


def test_an_insert_that_forgets_the_local_time_columns_is_refused(con):
    _load(con, SEOUL_TIMES[:1])
    columns = ", ".join(c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'reports'").fetchall()
        if c not in LOCAL_TIME_COLUMNS)
    with pytest.raises(duckdb.ConstraintException, match="local_"):
        con.execute(f"INSERT INTO reports ({columns}) SELECT {columns} FROM reports")


@pytest.mark.parametrize("instant", [
    "1987-07-01 15:30:00+00",  # Seoul kept daylight saving time in 1987: UTC+10, before the fast period
    "1960-01-01 00:00:00+00",  # UTC+8:30 then
    "2009-12-31 14:59:59+00", "2009-12-31 15:00:00+00",  # the edge of the period checked
    "2021-10-25 02:16:00+00", "2099-06-30 23:00:00+00",  # inside it, and far beyond it
])
def test_fast_local_clock_equals_the_zone_function(instant):
    con = duckdb.connect()
    literal = f"TIMESTAMPTZ '{instant}'"
    fast, exact = con.execute(
        f"SELECT {local_time_sql(literal)}, timezone('Asia/Seoul', {literal})").fetchone()
    assert fast == exact
    columns = con.execute(f"SELECT {', '.join(local_time_columns_sql(literal).values())}").fetchone()
    assert columns == (exact.hour, exact.isoweekday(), exact.date())


def test_seoul_has_one_offset_over_the_data_period():
    offset, start, end = fixed_offset_period("Asia/Seoul", datetime(2010, 1, 1, tzinfo=UTC))
    assert offset == 9 * 3600 * 10**6
    assert start == datetime(2010, 1, 1, tzinfo=UTC) and end > datetime.now(UTC)


def test_zones_with_daylight_saving_use_the_zone_function(monkeypatch):
    assert fixed_offset_period("Europe/Berlin", datetime(2010, 1, 1, tzinfo=UTC)) is None
    assert fixed_offset_period("Asia/Seoul", datetime(1987, 1, 1, tzinfo=UTC)) is None  # DST in 1987-88
    berlin = dataclasses.replace(city_module.load_city(), timezone="Europe/Berlin")
    monkeypatch.setattr("store.filters.load_city", lambda: berlin)
    assert local_time_sql("observed_at") == "timezone('Europe/Berlin', observed_at)"


def test_migration_fills_the_local_time_of_rows_stored_before_it(db_path, monkeypatch):
    before = [m for m in store.migrations.MIGRATIONS if m[0] < "0003"]
    monkeypatch.setattr(store.migrations, "MIGRATIONS", before)
    con = connect(db_path)
    _load_old_schema(con, SEOUL_TIMES)
    con.close()
    monkeypatch.undo()
    con = connect(db_path)
    assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == len(SEOUL_TIMES)
    assert con.execute("SELECT count(*) FILTER (WHERE local_hour = 0 AND local_dow = 6) FROM reports"
                       ).fetchone()[0] == 1
    assert _disagreements(con) == 0
    con.close()


def _load_old_schema(con, times: list[str]) -> None:
    """Rows as a database before migration 0003 held them (no local-time columns)."""
    con.execute("INSERT INTO batches VALUES (uuid(), 'web', NULL, NULL, NULL, now(), 1, 1, 0, 0)")
    for i, when in enumerate(times):
        con.execute(
            "INSERT INTO reports (report_id, observed_at, received_at, lat, lon, h3_r6, h3_r7, h3_r8, h3_r9, h3_r10, "
            "network, brand, mvno, tech, kind, reporter, source, batch_id, fingerprint) "
            "SELECT uuid(), ?::TIMESTAMPTZ, now(), 37.5, 127.0, 1, 2, 3, 4, 5, 'KT', 'KT', false, 'LTE', "
            "'dropped_call', ?, 'web', (SELECT any_value(batch_id) FROM batches), ?", [when, i + 1, i + 1])
