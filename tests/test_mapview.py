"""The map's numbers on tiny hand-made cities: counts, filters, privacy, shrinkage, comparison, names."""

from __future__ import annotations

from datetime import date

import h3
import numpy as np
import pandas as pd
import pytest

from geo import mapdetail, mapview, stats
from geo.mapquery import MapQuery
from geo.privacy import PRIVATE_COLUMNS
from ingest.loader import Origin, load_frame

# The counting rules, on exact figures; tests/test_cellkey.py checks the noise the site adds.
pytestmark = pytest.mark.usefixtures("exact_counts")

CITY_HALL = (37.5663, 126.9779)  # res-8 hex 8830e1d8c1fffff
GANGNAM = (37.4979, 127.0276)  # res-8 hex 8830e1ca2bfffff
HALL_HEX, GANGNAM_HEX = "8830e1d8c1fffff", "8830e1ca2bfffff"
WEDNESDAY, SATURDAY = "2021-10-20", "2021-10-23"


def _rows(place, carrier, kinds, *, prefix, when=f"{WEDNESDAY}T08:30:00+09:00", device=None, codes=None):
    """One report per kind, each from its own reporter unless ``codes`` says otherwise."""
    n = len(kinds)
    return pd.DataFrame({
        "lat": [place[0] + i * 1e-5 for i in range(n)],
        "lon": [place[1]] * n,
        "carrier": [carrier] * n,
        "kind": kinds,
        "observed_at": [when] * n,
        "device_model": [device] * n,
        "reporter_code": codes or [f"{prefix}{i}" for i in range(n)],
    })


def _load(con, *frames):
    result = load_frame(con, pd.concat(frames, ignore_index=True), Origin(source="web"))
    assert result.rejected == 0, result.errors[:3]
    return result


@pytest.fixture(params=["exact", "bound"])
def plan(request, monkeypatch):
    """Both ways store/map_sql.py counts a view: exactly in one scan, or a reporter bound plus a recount."""
    from store import map_sql

    monkeypatch.setattr(map_sql, "EXACT_SCAN_ROWS", 10**12 if request.param == "exact" else 0)
    return request.param


@pytest.fixture
def city(con, plan):
    """City hall: KT 6 failures + 4 'all good', SKT 2 + 8 (20 reporters). Gangnam: 4 reporters only."""
    _load(
        con,
        _rows(CITY_HALL, "KT", ["dropped_call"] * 4 + ["no_data"] * 2 + ["ok"] * 4, prefix="KT"),
        _rows(CITY_HALL, "SKT", ["dropped_call"] * 2 + ["ok"] * 8, prefix="SK", when=f"{SATURDAY}T18:10:00+09:00"),
        _rows(GANGNAM, "KT", ["dropped_call"] * 4 + ["ok"] * 4, prefix="GN",
              codes=["GN0", "GN1", "GN2", "GN3"] * 2),
    )
    return con.cursor()


def _only(view) -> dict:
    assert len(view.frame) == 1, view.frame
    return view.frame.iloc[0].to_dict()


def test_counts_of_a_hex_all_carriers(city):
    view = mapview.level_view(city, MapQuery())
    row = _only(view)
    assert row["cell_id"] == HALL_HEX
    assert (row["failures"], row["samples"], row["reports"]) == (8, 12, 20)
    assert 5 <= row["reporters"] <= 20  # from k up a lower bound (the larger of failures and rest); exact below
    assert view.measure == mapview.RATE
    assert row["observed"] == pytest.approx(0.4)
    assert row["low"] < row["estimate"] < row["high"]
    assert row["gu_ko"] == "종로구"  # the hex's centre lies just across the 중구 border


@pytest.mark.parametrize(("query", "failures", "reports"), [
    (MapQuery(carrier="KT"), 6, 10),
    (MapQuery(carrier="SKT"), 2, 10),
    (MapQuery(kinds=("no_data",)), 2, 20),  # attempts stay all reports: a rate of this kind among them
    (MapQuery(kinds=("dropped_call",), carrier="KT"), 4, 10),
    (MapQuery(hours=(8, 8)), 6, 10),
    (MapQuery(hours=(18, 23)), 2, 10),
    (MapQuery(day_type="weekend"), 2, 10),
    (MapQuery(day_type="weekday"), 6, 10),
    (MapQuery(since=date(2021, 10, 21)), 2, 10),
    (MapQuery(until=date(2021, 10, 20)), 6, 10),
])
def test_filters_change_the_counts(city, query, failures, reports):
    row = _only(mapview.level_view(city, query))
    assert (row["failures"], row["reports"]) == (failures, reports)


def test_a_hex_with_k_minus_one_reporters_is_never_drawn(city):
    # Gangnam: 8 reports from 4 people (k = 5), in every view and table
    level = mapview.level_view(city, MapQuery())
    assert GANGNAM_HEX not in set(level.frame["cell_id"])
    assert level.hidden == 1
    assert GANGNAM_HEX not in set(mapview.compare_view(city, MapQuery(mode="compare")).frame["cell_id"])
    worst, _ = mapview.worst_places(city, MapQuery())
    assert GANGNAM_HEX not in set(worst["cell_id"])
    assert not mapdetail.cell_detail(city, MapQuery(), GANGNAM_HEX).published


def test_k_comes_from_the_setting(city, monkeypatch):
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "3")
    assert GANGNAM_HEX in set(mapview.level_view(city, MapQuery()).frame["cell_id"])
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", "1")  # never below the floor of 3
    assert mapview.level_view(city, MapQuery()).k == 3


def test_no_private_column_in_any_map_output(city):
    frames = [mapview.level_view(city, MapQuery()).frame, mapview.compare_view(city, MapQuery()).frame,
              mapview.worst_places(city, MapQuery())[0], mapdetail.hour_profile(city, MapQuery(), "rate"),
              mapdetail.day_trend(city, MapQuery(), "rate")]
    detail = mapdetail.cell_detail(city, MapQuery(), HALL_HEX)
    frames += [detail.carriers, detail.hours, detail.kinds, detail.devices]
    for frame in frames:
        assert not PRIVATE_COLUMNS.intersection(frame.columns)


def test_density_when_there_are_no_samples(con, plan):
    _load(con, _rows(CITY_HALL, "KT", ["no_service"] * 6, prefix="D"))
    view = mapview.level_view(con.cursor(), MapQuery())
    row = _only(view)
    assert view.measure == mapview.DENSITY and "no_samples" in view.notes
    area = h3.cell_area(HALL_HEX, "km^2")
    assert view.hours_observed == 24  # one day of data, all hours
    assert row["observed"] == pytest.approx(6 / (area * 24))
    prior = view.prior
    assert row["estimate"] == pytest.approx((6 + prior.shape) / (area * 24 + prior.rate))


def test_density_can_be_asked_for(city):
    view = mapview.level_view(city, MapQuery(measure="density"))
    assert view.measure == mapview.DENSITY
    assert _only(view)["failures"] == 8


def test_compare_mode_relative_risk(city):
    view = mapview.compare_view(city, MapQuery(carrier="KT", mode="compare"))
    row = _only(view)
    expected = stats.relative_risk([6], [10], [2], [10])
    assert view.focus == "KT" and view.ratio_of == mapview.RATE
    assert row["estimate"] == pytest.approx(3.0)
    assert (row["low"], row["high"]) == pytest.approx((expected.low[0], expected.high[0]))
    assert row["observed"] == pytest.approx(0.6) and row["observed_others"] == pytest.approx(0.2)


def test_compare_mode_needs_k_reporters_per_carrier(con, plan):
    _load(con, _rows(CITY_HALL, "KT", ["dropped_call"] * 3 + ["ok"] * 7, prefix="K"),
          _rows(CITY_HALL, "SKT", ["ok"] * 4, prefix="S"))  # SKT: 4 reporters, below k
    assert mapview.compare_view(con.cursor(), MapQuery(carrier="KT", mode="compare")).frame.empty


def test_mvno_brands_by_host_network(con):
    _load(con, _rows(CITY_HALL, "KT M모바일", ["dropped_call"] * 3 + ["ok"] * 3, prefix="M"),
          _rows(CITY_HALL, "KT", ["ok"] * 6, prefix="O"))
    cur = con.cursor()
    assert _only(mapview.level_view(cur, MapQuery(carrier="KT", brand="mvno")))["failures"] == 3
    assert _only(mapview.level_view(cur, MapQuery(carrier="KT", brand="own")))["reports"] == 6
    assert _only(mapview.level_view(cur, MapQuery(carrier="KT")))["reports"] == 12


def test_worst_places_have_names(city):
    worst, measure = mapview.worst_places(city, MapQuery())
    assert measure == mapview.RATE
    assert set(worst["network"]) == {"KT", "SKT"}
    kt = worst[worst["network"] == "KT"].iloc[0]
    centre = h3.cell_to_latlng(HALL_HEX)
    from geo.places import place_of

    place = place_of(*centre)
    assert (kt["rank"], kt["cell_id"]) == (1, HALL_HEX)
    assert kt["gu_ko"] == place["gu"].name_ko and kt["dong_ko"] == place["dong"].name_ko
    assert kt["station"] == place["station"].name


def test_small_hexes_never_top_the_worst_places(con, plan):
    # 30 ordinary hexes at ~10 % with 10 reporters each, and one with 5 reporters, all failing.
    rng = np.random.default_rng(1)
    cells = h3.grid_disk(HALL_HEX, 3)[:30]
    frames = []
    for i, cell in enumerate(cells):
        lat, lon = h3.cell_to_latlng(cell)
        fails = int(rng.binomial(40, 0.1))
        frames.append(_rows((lat, lon), "KT", ["dropped_call"] * fails + ["ok"] * (40 - fails), prefix=f"H{i}-",
                            codes=[f"H{i}-{j % 10}" for j in range(40)]))
    lat, lon = h3.cell_to_latlng(h3.grid_disk(HALL_HEX, 6)[-1])
    frames.append(_rows((lat, lon), "KT", ["dropped_call"] * 10, prefix="T", codes=[f"T{j % 5}" for j in range(10)]))
    _load(con, *frames)
    worst, _ = mapview.worst_places(con.cursor(), MapQuery())
    assert h3.grid_disk(HALL_HEX, 6)[-1] not in set(worst["cell_id"])  # no samples: grey, not ranked
    view = mapview.level_view(con.cursor(), MapQuery())
    tiny = view.frame[view.frame["samples"] == 0]
    assert len(tiny) == 1 and tiny.iloc[0]["cls"] == mapview.GREY


def test_hour_profile_and_daily_trend(city):
    hours = mapdetail.hour_profile(city, MapQuery(), "rate").set_index(["hour", "network"])
    # city hall and Gangnam together: the whole view's KT at 08h
    assert hours.loc[(8, "KT"), "failures"] == 10 and hours.loc[(8, "KT"), "value"] == pytest.approx(10 / 18)
    # SKT at 18h: 10 reporters, but its 2 failures come from 2 people: no count and no rate is shown
    assert hours.loc[(18, "SKT"), "hidden"] and np.isnan(hours.loc[(18, "SKT"), "reports"])
    days = mapdetail.day_trend(city, MapQuery(), "rate").set_index(["day", "network"])
    assert days.loc[(pd.Timestamp(WEDNESDAY), "KT"), "failures"] == 10
    assert days.loc[(pd.Timestamp(SATURDAY), "SKT"), "hidden"]
    assert (pd.Timestamp(SATURDAY), "KT") not in days.index


def test_hour_profile_hides_groups_under_k(con, plan):
    _load(con, _rows(CITY_HALL, "LGU+", ["dropped_call"] * 4, prefix="L"))
    hours = mapdetail.hour_profile(con.cursor(), MapQuery(), "rate")
    assert hours["hidden"].all() and hours["failures"].isna().all()


def test_cell_detail(city, con):
    _load(con, _rows(CITY_HALL, "KT", ["dropped_call"] * 5, prefix="X", device="<script>alert(1)</script>",
                     when=f"{WEDNESDAY}T09:00:00+09:00"),
          _rows(CITY_HALL, "KT", ["dropped_call"] * 4, prefix="Y", device="SM-RARE"),
          _rows(CITY_HALL, "KT", ["ok"] * 5, prefix="Z"),
          _rows(CITY_HALL, "LGU+", ["dropped_call"] * 6 + ["ok"] * 6, prefix="L"))
    detail = mapdetail.cell_detail(con.cursor(), MapQuery(), HALL_HEX)
    assert detail.published and detail.res == 8 and detail.reporters == 46
    carriers = detail.carriers.set_index("network")
    # SKT's 2 failures come from 2 people: hidden; then the smallest other carrier (LGU+) is hidden
    # too, else the hex's total on the map minus KT and LGU+ would give SKT's count back
    assert carriers.loc["KT", "failures"] == 15 and carriers.loc["KT", "reports"] == 24
    assert carriers.loc["SKT", "hidden"] and carriers.loc["LGU+", "hidden"]
    assert np.isnan(carriers.loc["SKT", "failures"]) and np.isnan(carriers.loc["LGU+", "failures"])
    # one model has k reporters, but the failures without a model (reporters unknown) would be the
    # hex's failures minus it: no model is named
    assert detail.devices.empty
    # kind x carrier groups under k reporters (KT no_data: 2, SKT dropped_call: 2) are left out, and so
    # is KT dropped_call, else KT's failures minus it would give KT no_data back
    assert list(zip(detail.kinds["kind"], detail.kinds["network"], strict=True)) == [("dropped_call", "LGU+")]
    assert detail.place["gu"].name_ko == "종로구"


def test_cell_detail_rejects_resolutions_the_map_does_not_use(city):
    from core.errors import InputError

    with pytest.raises(InputError):
        mapdetail.cell_detail(city, MapQuery(), h3.cell_to_parent(HALL_HEX, 6))


def test_cell_at_and_auto_resolution():
    from geo.mapquery import auto_resolution

    assert mapview.cell_at(*CITY_HALL, 8) == HALL_HEX
    assert [auto_resolution(z) for z in (8, 9, 10, 11, 12, 16)] == [7, 7, 8, 8, 9, 9]


@pytest.mark.parametrize(("start", "end", "day_type", "days"), [
    (date(2021, 10, 18), date(2021, 10, 24), None, 7),
    (date(2021, 10, 18), date(2021, 10, 24), "weekday", 5),
    (date(2021, 10, 18), date(2021, 10, 24), "weekend", 2),
    (date(2021, 10, 24), date(2021, 10, 18), None, 0),
])
def test_count_days(start, end, day_type, days):
    assert mapview.count_days(start, end, day_type) == days


def test_reporters_whose_bitmap_bits_collide_are_counted_exactly(con, plan):
    # store/map_sql.py bounds distinct reporters from below by one bit per reporter (reporter & 63).
    # Here every reporter of a hex lands on the same bit: the bound says 1, so only the exact
    # recount can tell a hex of 6 people (shown) from one of 4 (hidden).
    six = _rows(CITY_HALL, "KT", ["dropped_call", "ok"] * 6, prefix="S", codes=[f"S{i // 2}" for i in range(12)])
    four = _rows(GANGNAM, "KT", ["dropped_call", "ok"] * 6, prefix="F", codes=[f"F{i % 4}" for i in range(12)])
    _load(con, six, four)
    con.execute("UPDATE reports SET reporter = (reporter >> 6 << 6) | 5")  # distinct people, one bit
    assert con.execute("SELECT count(DISTINCT reporter), count(DISTINCT reporter & 63) FROM reports").fetchone() == (
        10, 1)
    view = mapview.level_view(con.cursor(), MapQuery())
    assert list(view.frame["cell_id"]) == [HALL_HEX]
    assert int(view.frame["reporters"].iloc[0]) == 6
    assert view.hidden == 1


def test_reporter_bound_never_exceeds_the_true_count(con, plan):
    from store.filters import ReportFilter
    from store.map_sql import hex_counts

    cells = h3.grid_disk(HALL_HEX, 3)
    frames = []
    for i, cell in enumerate(cells):
        lat, lon = h3.cell_to_latlng(cell)
        people = 1 + i % 12
        frames.append(_rows((lat, lon), "SKT", ["no_data", "ok"] * people * 2, prefix=f"B{i}-",
                            codes=[f"B{i}-{j % people}" for j in range(4 * people)]))
    _load(con, *frames)
    cur = con.cursor()
    exact = dict(cur.execute("SELECT h3_r8, count(DISTINCT reporter) FROM reports GROUP BY ALL").fetchall())
    counts = hex_counts(cur, 8, ReportFilter(), k=5)
    for cell, reporters, reports in zip(counts["cell"], counts["reporters"], counts["reports"], strict=True):
        # Exact below k where it decides (k reports or more); from k up, at least k and never
        # more than the truth; under k reports, never more than the truth (hidden either way).
        if exact[cell] >= 5:
            assert 5 <= reporters <= exact[cell]
        elif reports >= 5:
            assert reporters == exact[cell]
        else:
            assert reporters <= exact[cell]


def test_threshold_is_exact_over_many_hexes(con, plan):
    # 60 hexes with 4 reporters (many reports each) and 60 with exactly 5: the first never shown, all the second.
    cells = h3.grid_disk(HALL_HEX, 6)[:120]
    frames = []
    for i, cell in enumerate(cells):
        people = 4 if i < 60 else 5
        lat, lon = h3.cell_to_latlng(cell)
        frames.append(_rows((lat, lon), "SKT", ["dropped_call", "ok", "ok"] * people * 2, prefix=f"P{i}-",
                            codes=[f"P{i}-{j % people}" for j in range(6 * people)]))
    _load(con, *frames)
    shown = set(mapview.level_view(con.cursor(), MapQuery()).frame["cell_id"])
    assert shown == set(cells[60:])


def test_stored_local_clock_agrees_with_the_zone_definition(con, plan):
    # The map filters and groups on the stored local-time columns; they must select the same
    # rows as DuckDB's own time-zone functions, also around local midnight and across a weekend.
    from store.filters import ReportFilter
    from store.map_sql import day_counts, hex_counts, hour_counts

    times = pd.date_range("2021-10-22T20:00:00+09:00", "2021-10-25T05:00:00+09:00", freq="37min")
    frame = pd.DataFrame({
        "lat": CITY_HALL[0], "lon": CITY_HALL[1], "carrier": "KT", "kind": "dropped_call",
        "observed_at": [t.isoformat() for t in times], "reporter_code": [f"C{i}" for i in range(len(times))],
    })
    _load(con, frame)
    cur = con.cursor()
    local = "timezone('Asia/Seoul', observed_at)"
    for hours, day_type, condition in [
        ((0,), None, f"hour({local}) = 0"), ((23,), None, f"hour({local}) = 23"),
        ((8, 9), None, f"hour({local}) IN (8, 9)"), ((), "weekend", f"isodow({local}) >= 6"),
        ((), "weekday", f"isodow({local}) <= 5"), ((0, 1), "weekend", f"hour({local}) <= 1 AND isodow({local}) >= 6"),
        ((23,), "weekday", f"hour({local}) = 23 AND isodow({local}) <= 5"),
    ]:
        expected = cur.execute(f"SELECT count(*) FROM reports WHERE {condition}").fetchone()[0]
        assert expected > 0
        got = hex_counts(cur, 8, ReportFilter(hours=hours, day_type=day_type), k=5)["reports"].sum()
        assert got == expected, (hours, day_type)
    by_hour = hour_counts(cur, ReportFilter(), k=5)
    assert dict(zip(by_hour["hour"], by_hour["failures"], strict=True)) == dict(cur.execute(
        f"SELECT hour({local}), count(*) FROM reports GROUP BY ALL").fetchall())
    by_day = day_counts(cur, ReportFilter(), k=5)
    assert [d.date() for d in by_day["day"]] == [date(2021, 10, d) for d in (22, 23, 24, 25)]
    assert list(by_day["failures"]) == [n for (_, n) in cur.execute(
        f"SELECT CAST({local} AS DATE) AS d, count(*) FROM reports GROUP BY d ORDER BY d").fetchall()]


def test_worst_places_of_one_carrier_show_counts_only_where_its_map_does(demo_db):
    """With a carrier chosen, the worst-places table reads that carrier's map's counts (beside the other
    carriers), so its counts are shown exactly where the carrier's map shows them: the residual rule
    across carriers holds there too."""
    from store.db import connect

    con = connect(demo_db, read_only=True)
    try:
        for carrier, res in (("KT", 9), ("SKT", 8)):
            q = MapQuery(carrier=carrier, res=res)
            estimates, _ = mapview.carrier_estimates(con.cursor(), q)
            drawn = mapview.level_view(con.cursor(), q).frame.set_index("cell")["counts_shown"]
            mine = estimates.set_index("cell")["counts_shown"]
            assert (estimates["network"] == carrier).all()
            assert mine.astype(bool).equals(drawn.reindex(mine.index).astype(bool))
            assert (~mine.astype(bool)).any()  # the rule has work to do here
    finally:
        con.close()


def test_split_counts_agree_in_both_plans_on_the_demo_city(demo_db, monkeypatch):
    """The failure and rest reporters (and the whole's) counted with the bound plus one narrow recount
    give the exact plan's figures: every count the same, every reporter count the same below k (in
    groups or parts of k reports or more; smaller ones are hidden in both), and at least k in both plans from k
    up (the only thing a count of reporters is compared with)."""
    from store import map_sql
    from store.db import connect

    k = 5
    con = connect(demo_db, read_only=True)
    try:
        for q, by_network in ((MapQuery(res=8), False), (MapQuery(res=9), True),
                              (MapQuery(carrier="KT", hours=(18, 18), res=9), True),
                              (MapQuery(kinds=("dropped_call",), res=8, day_type="weekend"), True)):
            flt = q.report_filter(carrier=not by_network)
            plans = {}
            for plan, rows in (("exact", 10**12), ("bound", 0)):
                monkeypatch.setattr(map_sql, "EXACT_SCAN_ROWS", rows)
                plans[plan] = map_sql.hex_counts(con.cursor(), q.res, flt, k=k, by_network=by_network, sources=True)
            exact, bound = plans["exact"], plans["bound"]
            assert len(exact) > 100
            people = ["reporters", "failure_reporters", "rest_reporters"]
            pd.testing.assert_frame_equal(exact.drop(columns=people), bound.drop(columns=people))
            # A group (or part) of fewer than k reports is hidden whatever its reporters: no recount there.
            rows = {"reporters": exact["reports"], "failure_reporters": exact["failures"],
                    "rest_reporters": exact["reports"] - exact["failures"]}
            for name in people:
                few = rows[name] < k
                low = (exact[name] < k) | (bound[name] < k)
                assert (exact.loc[low & ~few, name] == bound.loc[low & ~few, name]).all(), name
                assert ((exact.loc[few, name] < k) & (bound.loc[few, name] < k)).all(), name
                assert ((exact.loc[~low, name] >= k) & (bound.loc[~low, name] >= k)).all(), name
            assert ((bound["reporters"] >= k) & (bound["reporters"] < exact["reporters"])).any()  # bounds used
    finally:
        con.close()
