"""Subway lines (geo.stations, GET /api/v1/stations): line order, rates with known answers, hiding below k,
windows that cannot be subtracted, worst stretches, errors."""

from __future__ import annotations

import csv
import math

import h3
import pandas as pd
import pytest
from opendata_data import NOW
from stored import route_client

from api import stations as stations_api
from api.openapi import document
from core.errors import InputError, StoreError
from geo import _build_line_order as build_order
from geo import stations
from geo.places import stations as all_stations
from ingest.loader import Origin, load_frame
from store import stations_sql
from store.db import connect

K = 5
TUESDAY, SATURDAY = "2021-10-19", "2021-10-23"
M_PER_DEG_LAT = 111_195.0


def _at(name: str, south_m: float = 0.0) -> tuple[float, float]:
    s = next(s for s in all_stations() if s.name == name)
    return s.lat - south_m / M_PER_DEG_LAT, s.lon


def _rows(where, carrier, kind, when, codes, repeat=1):
    lat, lon = where
    start = pd.Timestamp(when)
    return [{"lat": lat, "lon": lon, "carrier": carrier, "kind": kind, "reporter_code": code,
             "observed_at": (start + pd.Timedelta(minutes=i)).isoformat()} for code in codes for i in range(repeat)]


def tiny_rows() -> pd.DataFrame:
    """Known answers (k = 5). 강남 KT: every part of the week has >= k reporters. 역삼 KT: the morning rush has
    2 reporters, so only its all-day figure may show. 강남 SKT: 3 reporters, hidden everywhere."""
    gangnam, yeoksam = _at("강남"), _at("역삼")
    rows = []
    # 강남 KT, Tuesday 08h (am): 6 failures; 6 others say 'all good' twice.
    rows += _rows(gangnam, "KT", "dropped_call", f"{TUESDAY}T08:05:00+09:00", [f"GA{i}" for i in range(6)])
    rows += _rows(gangnam, "KT", "ok", f"{TUESDAY}T08:30:00+09:00", [f"GO{i}" for i in range(6)], repeat=2)
    # 강남 KT, Tuesday 19h (pm): 5 'all good'.
    rows += _rows(gangnam, "KT", "ok", f"{TUESDAY}T19:00:00+09:00", [f"GP{i}" for i in range(5)])
    # 강남 KT, Saturday noon (rest): 5 failures at the station, 5 'all good' 200 m south (inside the radius).
    rows += _rows(gangnam, "KT", "no_data", f"{SATURDAY}T12:00:00+09:00", [f"GR{i}" for i in range(5)])
    rows += _rows(_at("강남", 200), "KT", "ok", f"{SATURDAY}T12:30:00+09:00", [f"GS{i}" for i in range(5)])
    # 420 m south of 강남: outside every station's radius, never counted.
    rows += _rows(_at("강남", 420), "KT", "no_service", f"{SATURDAY}T13:00:00+09:00", [f"GX{i}" for i in range(8)])
    # 역삼 KT: 2 failures at the morning rush; Saturday 4 failures and 6 'all good'.
    rows += _rows(yeoksam, "KT", "dropped_call", f"{TUESDAY}T08:10:00+09:00", ["YA0", "YA1"])
    rows += _rows(yeoksam, "KT", "dropped_call", f"{SATURDAY}T15:00:00+09:00", [f"YR{i}" for i in range(4)])
    rows += _rows(yeoksam, "KT", "ok", f"{SATURDAY}T15:30:00+09:00", [f"YO{i}" for i in range(6)])
    # 강남 SKT: 3 reporters only.
    rows += _rows(gangnam, "SKT", "dropped_call", f"{SATURDAY}T10:00:00+09:00", ["S0", "S1", "S2"])
    return pd.DataFrame(rows)


@pytest.fixture
def tiny_db(tmp_path, monkeypatch):
    path = tmp_path / "stations.duckdb"
    monkeypatch.setenv("DROPMAP_DB", str(path))
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", str(K))
    con = connect(path)
    result = load_frame(con, tiny_rows(), Origin(source="test"), now=NOW)
    assert result.rejected == 0, result.errors[:3]
    con.close()
    stations.COUNTS.clear()
    yield path
    stations.COUNTS.clear()


@pytest.fixture
def client(tiny_db):
    with route_client(stations_api.ROUTES) as test_client:
        yield test_client


def _posterior(f: float, n: float, f_all: float, n_all: float) -> float:
    """Fewer than three stations: geo.stats' fallback prior, strength 2 at the pooled rate."""
    pooled = (f_all + 0.5) / (n_all + 1.0)
    return (f + 2 * pooled) / (n + 2)


def _row(body: dict, station: str, network: str) -> dict:
    found = [r for r in body["stations"] if r["station"] == station and r["network"] == network]
    assert len(found) == 1
    return found[0]


def test_all_day_rates_are_known_and_thin_groups_hidden(client):
    body = client.get("/api/v1/stations", params={"line": "2"}).json()
    assert body["line"] == "2"
    gangnam, yeoksam = _row(body, "강남", "KT"), _row(body, "역삼", "KT")
    # 강남 KT: failures 6 + 5, samples 12 + 5 + 5; the 8 reports 420 m away are not counted.
    assert gangnam["reporters"] == 6 + 6 + 5 + 5 + 5
    assert gangnam["failure_rate"] == pytest.approx(_posterior(11, 33, 11 + 6, 33 + 12), abs=1e-5)
    assert gangnam["rate_low"] < gangnam["failure_rate"] < gangnam["rate_high"]
    # 역삼 KT all day: its thin morning part does not hide the all-day figure (nothing can be subtracted from it).
    assert yeoksam["reporters"] == 12
    assert yeoksam["failure_rate"] == pytest.approx(_posterior(6, 12, 17, 45), abs=1e-5)
    hidden = _row(body, "강남", "SKT")
    assert hidden == {"station": "강남", "order": hidden["order"], "network": "SKT", "failure_rate": None,
                      "rate_low": None, "rate_high": None, "reporters": None}
    assert _row(body, "시청", "LGU+")["failure_rate"] is None  # no reports at all


def test_rush_hours_publish_only_when_every_part_has_k(client):
    rush = client.get("/api/v1/stations", params={"line": "2", "carrier": "KT", "hours": "rush"}).json()
    gangnam = _row(rush, "강남", "KT")
    assert gangnam["reporters"] == 6 + 6 + 5
    # Rush: 강남 6 failures of 23 reports; 역삼 2 of 2 (hidden, but part of the prior's fit).
    assert gangnam["failure_rate"] == pytest.approx(_posterior(6, 23, 8, 25), abs=1e-5)
    for hours in ("rush", "7-9", "18-20", "rest"):
        body = client.get("/api/v1/stations", params={"line": "2", "carrier": "KT", "hours": hours}).json()
        yeoksam = _row(body, "역삼", "KT")
        # 역삼's morning part has 2 reporters: any window but the whole week would let all-day minus it be read.
        assert yeoksam["failure_rate"] is None and yeoksam["reporters"] is None, hours
    pm = client.get("/api/v1/stations", params={"line": "2", "carrier": "KT", "hours": "18-20"}).json()
    assert _row(pm, "강남", "KT")["reporters"] == 5


def test_every_station_once_per_network_in_line_order(client):
    with open(stations.LINE_ORDER_FILE, encoding="utf-8") as fh:
        expected = [r["station"] for r in csv.DictReader(fh) if r["line"] == "2"]
    body = client.get("/api/v1/stations", params={"line": "2"}).json()
    rows = body["stations"]
    assert len(rows) == 3 * len(expected) == 3 * 51
    assert [r["station"] for r in rows[::3]] == expected
    assert [r["order"] for r in rows] == sorted(r["order"] for r in rows)
    for station in expected:
        assert sorted(r["network"] for r in rows if r["station"] == station) == ["KT", "LGU+", "SKT"]
    kt = client.get("/api/v1/stations", params={"line": "2", "carrier": "kt"}).json()["stations"]
    assert [r["station"] for r in kt] == expected and {r["network"] for r in kt} == {"KT"}


@pytest.mark.parametrize(("params", "field", "value"), [
    ({"line": "10"}, "line", "10"),
    ({"line": "신분당"}, "line", "신분당"),
    ({}, "line", None),
    ({"line": "2", "hours": "6-8"}, "hours", "6-8"),
    ({"line": "2", "carrier": "olleh-ish"}, "carrier", "olleh-ish"),
    ({"line": "2", "res": "9"}, "res", "9"),
    ({"line": "2", "carrier": ""}, "carrier", ""),  # given empty: leave it out instead (as every route)
    ({"line": "2", "hours": ""}, "hours", ""),
    ({"line": ""}, "line", ""),
])
def test_bad_parameters_get_400_naming_the_field(client, params, field, value):
    response = client.get("/api/v1/stations", params=params)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"field": field, "value": value} == {k: errors[0][k] for k in ("field", "value")}
    assert errors[0]["message"]


def test_hours_parsing():
    assert stations.parse_hours(None) == "all"
    assert stations.parse_hours("") == "all"
    assert stations.parse_hours("0-23") == "all"
    assert stations.parse_hours("07-09") == stations.parse_hours("7~9") == "7-9"
    assert stations.parse_hours(" RUSH ") == "rush"
    assert stations.parse_hours("18 - 20") == "18-20"
    for bad in ("7-8", "8", "25", "evening", "9-7"):
        with pytest.raises(InputError) as err:
            stations.parse_hours(bad)
        assert err.value.field == "hours"
    assert stations.parse_line("2호선") == stations.parse_line("02") == stations.parse_line("Line 2") == "2"


def test_line_order_file_is_built_from_the_station_list():
    assert stations.LINE_ORDER_FILE.read_text(encoding="utf-8") == build_order.build()
    order = stations.line_order()
    counts = {"1": 10, "2": 51, "3": 34, "4": 26, "5": 56, "6": 39, "7": 42, "8": 18, "9": 38}
    assert {line: len(rows) for line, rows in order.items()} == counts

    def names(line):
        return [s.station for s in order[line]]

    def after(line, name):
        return next(s.after for s in order[line] if s.station == name)

    assert names("1")[5:8] == ["동대문", "동묘앞", "신설동"]
    assert names("2")[0] == "시청" and after("2", "시청") == "충정로"  # the loop closes
    assert names("2")[43:] == ["용답", "신답", "용두", "신설동", "도림천", "양천구청", "신정네거리", "까치산"]
    assert after("2", "용답") == "성수" and after("2", "도림천") == "신도림"
    assert names("5").index("강일") == names("5").index("상일동") + 1 and after("5", "둔촌동") == "강동"
    assert names("6")[-2:] == ["봉화산", "신내"] and names("8")[11] == "남위례"
    assert names("9")[0] == "개화" and names("9")[24:26] == ["신논현", "언주"]
    assert build_order.romanize("신림") == "Sillim" and build_order.romanize("선릉") == "Seolleung"
    assert build_order.romanize("종로3가") == "Jongno 3-ga" and build_order.romanize("독립문") == "Dongnimmun"
    assert build_order.romanize("을지로입구") == "Euljiroipgu" and build_order.romanize("고려대") == "Goryeodae"


def test_station_discs_approximate_the_radius():
    cells = stations.station_cells()
    cells["m2"] = [h3.api.basic_int.cell_area(int(c), "m^2") for c in cells["cell"]]
    disc = math.pi * stations.RADIUS_M ** 2
    assert cells.groupby("sid")["m2"].sum().between(0.85 * disc, 1.15 * disc).all()
    assert h3.api.basic_int.get_resolution(int(cells["cell"].iloc[0])) == stations.CELL_RES


def _frame(rates: dict[str, tuple[float, float]], line: str = "2") -> pd.DataFrame:
    rows = []
    for s in stations.line_order()[line]:
        rate, low = rates.get(s.station, (0.1, 0.05))
        rows.append({"station": s.station, "order": s.order, "after": s.after, "network": "KT",
                     "failure_rate": rate, "rate_low": low})
    return pd.DataFrame(rows)


def test_worst_stretches_follow_the_track():
    bad = (0.5, 0.3)  # the interval lies above the median (0.1)
    frame = _frame({"충정로": bad, "시청": bad, "을지로입구": bad,  # across the loop's seam
                    "신도림": bad, "도림천": bad, "양천구청": bad,  # from the junction into the branch
                    "강남": bad})  # alone: not a stretch
    found = {s.stations for s in stations.worst_stretches(frame)[0]}
    assert found == {("충정로", "시청", "을지로입구"), ("신도림", "도림천", "양천구청")}
    assert stations.worst_stretches(_frame({}))[0] == []


def test_queries_have_a_time_limit(tiny_db):
    con = connect(tiny_db)
    try:
        with pytest.raises(StoreError):
            cur = con.cursor()
            with stations_sql.time_limit(cur, 500):
                cur.execute("SELECT sum(i * i) FROM range(10000000000) t(i)").fetchall()
    finally:
        con.close()


def test_the_station_counts_run_under_the_time_limit(tiny_db, monkeypatch):
    limits = []
    real = stations_sql.time_limit
    monkeypatch.setattr(stations_sql, "time_limit", lambda cur, ms: limits.append(ms) or real(cur, ms))
    con = connect(tiny_db)
    try:
        stations_sql.station_counts(con.cursor(), stations.station_cells()[["sid", "cell"]],
                                    seconds=stations.QUERY_SECONDS)
    finally:
        con.close()
    assert limits == [stations.QUERY_SECONDS * 1000]


def test_a_new_report_shows_once_the_data_changes(client, tiny_db, monkeypatch):
    monkeypatch.setenv("DROPMAP_CACHE_SECONDS", "0")

    def gangnam_skt():
        return _row(client.get("/api/v1/stations", params={"line": "2"}).json(), "강남", "SKT")

    assert gangnam_skt()["reporters"] is None
    from store.db import shared_connection

    result = load_frame(shared_connection(tiny_db).cursor(),
                        pd.DataFrame(_rows(_at("강남"), "SKT", "ok", f"{SATURDAY}T11:00:00+09:00", ["S3", "S4"])),
                        Origin(source="test"), now=NOW)
    assert result.accepted == 2
    # The first answer after new data comes from the kept counts while a background scan counts afresh ...
    assert gangnam_skt()["reporters"] is None
    stations.COUNTS.wait()
    # ... and the next one has the new report: 5 reporters now.
    after = gangnam_skt()
    assert after["reporters"] == 5 and after["failure_rate"] is not None


def test_openapi_documents_the_route():
    from api import routes

    assert "/api/v1/stations" in {route.path for route in routes()}
    doc = document()["paths"]["/api/v1/stations"]["get"]
    assert {p["name"] for p in doc["parameters"]} == set(stations_api.PARAMETERS)
    assert "400" in doc["responses"]


def test_the_site_counts_the_stations_when_it_starts(tiny_db, monkeypatch):
    """The first visitor of /subway is answered from counts made at start-up, not after a scan of their own."""
    import asyncio
    import threading

    from api import lifespan
    from store.db import close_shared, shared_connection

    scans = []
    real = stations_sql.station_counts
    monkeypatch.setattr(stations_sql, "station_counts", lambda *a, **kw: scans.append(1) or real(*a, **kw))
    monkeypatch.setattr("api.operator.announce", lambda: None)
    monkeypatch.setattr("api.operator.forget", lambda: None)

    async def start_and_stop():
        async with lifespan(None):
            await asyncio.sleep(0)

    try:
        # In a thread of its own: an earlier test (the browser's driver) may leave a loop running in this one.
        starter = threading.Thread(target=asyncio.run, args=(start_and_stop(),))
        starter.start()
        starter.join(60)
        for thread in [t for t in threading.enumerate() if t.name == "stations-warm"]:
            thread.join(30)
        assert scans == [1]
        cur = shared_connection(tiny_db).cursor()
        stations.COUNTS.entry(cur)  # the first request
        cur.close()
        assert scans == [1]
    finally:
        close_shared()
