"""ReportFilter: one WHERE clause with bound values; local time is Seoul's, computed from UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from core.errors import InputError
from ingest.loader import Origin, load_frame
from store.filters import ReportFilter, local_time_sql

NOW = datetime(2021, 11, 1, tzinfo=UTC)

# Seoul times chosen around the edges: midnight, a weekday/weekend boundary (Fri 2021-10-29,
# Sat 10-30), and 08:xx local = 23:xx UTC the day before.
ROWS = [
    ("2021-10-29 23:59", "KT", "dropped_call", "KT"),      # Friday night
    ("2021-10-30 00:01", "KT", "no_data", "KT"),           # Saturday, just after midnight
    ("2021-10-30 08:30", "SKT", "ok", "SKT"),              # Saturday 08:30 (= Fri 23:30 UTC)
    ("2021-10-27 08:10", "헬로모바일 KT", "no_service", "KT"),  # Wednesday, an MVNO
    ("2021-10-27 18:00", "LG U+", "slow_data", "LGU+"),     # Wednesday evening
]


@pytest.fixture
def filled(con):
    frame = pd.DataFrame({
        "lat": [37.55 + i * 0.01 for i in range(len(ROWS))], "lon": [126.98] * len(ROWS),
        "observed_at": [r[0] for r in ROWS], "carrier": [r[1] for r in ROWS], "kind": [r[2] for r in ROWS],
    })
    load_frame(con, frame, Origin(source="web"), now=NOW)
    load_frame(con, frame.iloc[:1].assign(lat=37.7), Origin(source="demo"), now=NOW,
               status=pd.Series(["flagged"]))
    return con


def times(con, where: ReportFilter) -> list[str]:
    sql, values = where.where("r")
    rows = con.execute(f"SELECT strftime({local_time_sql('r.observed_at')}, '%m-%d %H:%M') FROM reports r "
                       f"WHERE {sql} ORDER BY 1", values).fetchall()
    return [t for (t,) in rows]


@pytest.mark.parametrize(("flt", "expected"), [
    (ReportFilter(), ["10-27 08:10", "10-27 18:00", "10-29 23:59", "10-30 00:01"]),  # failures, not flagged
    (ReportFilter(failures_only=False), ["10-27 08:10", "10-27 18:00", "10-29 23:59", "10-30 00:01", "10-30 08:30"]),
    (ReportFilter(hours=(8,)), ["10-27 08:10"]),
    (ReportFilter(hours=(8,), failures_only=False), ["10-27 08:10", "10-30 08:30"]),
    (ReportFilter(hours=(0, 23)), ["10-29 23:59", "10-30 00:01"]),
    (ReportFilter(day_type="weekend"), ["10-30 00:01"]),
    (ReportFilter(day_type="weekday"), ["10-27 08:10", "10-27 18:00", "10-29 23:59"]),
    (ReportFilter(since=date(2021, 10, 30)), ["10-30 00:01"]),
    (ReportFilter(until=date(2021, 10, 29)), ["10-27 08:10", "10-27 18:00", "10-29 23:59"]),
    (ReportFilter(since=date(2021, 10, 29), until=date(2021, 10, 29)), ["10-29 23:59"]),
    (ReportFilter(networks=("KT",)), ["10-27 08:10", "10-29 23:59", "10-30 00:01"]),
    (ReportFilter(networks=("KT",), mvno=True), ["10-27 08:10"]),
    (ReportFilter(networks=("KT",), mvno=False), ["10-29 23:59", "10-30 00:01"]),
    (ReportFilter(kinds=("no_data", "slow_data")), ["10-27 18:00", "10-30 00:01"]),
    (ReportFilter(kinds=("ok",)), []),  # failures only: 'ok' samples are not failures
    (ReportFilter(kinds=("ok",), failures_only=False), ["10-30 08:30"]),
    (ReportFilter(include_flagged=True, networks=("KT",), kinds=("dropped_call",)), ["10-29 23:59", "10-29 23:59"]),
    (ReportFilter(include_flagged=True, include_demo=False, kinds=("dropped_call",)), ["10-29 23:59"]),
])
def test_filters_select_by_local_time_and_fields(filled, flt, expected):
    assert times(filled, flt) == expected


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"networks": ("Verizon",)}, "carrier"),
    ({"networks": ("kt",)}, "carrier"),
    ({"kinds": ("boom",)}, "kind"),
    ({"hours": (24,)}, "hour"),
    ({"hours": (-1,)}, "hour"),
    ({"day_type": "holiday"}, "days"),
    ({"since": date(2021, 10, 2), "until": date(2021, 10, 1)}, "since"),
])
def test_bad_filters_are_refused(kwargs, field):
    with pytest.raises(InputError) as e:
        ReportFilter(**kwargs)
    assert e.value.field == field


def test_values_are_bound_never_formatted_in():
    sql, values = ReportFilter(networks=("KT", "SKT"), kinds=("no_data",), hours=(8, 9),
                               since=date(2021, 10, 1)).where()
    assert "KT" not in sql and "no_data" not in sql and "2021" not in sql
    assert values[:5] == ["KT", "SKT", "no_data", 8, 9]
    assert values[5] == datetime(2021, 10, 1, tzinfo=values[5].tzinfo)
    assert str(values[5].tzinfo) == "Asia/Seoul"


def test_no_filter_is_true():
    assert ReportFilter(failures_only=False, include_flagged=True).where() == ("TRUE", [])
