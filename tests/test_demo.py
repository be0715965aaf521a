"""The synthetic demo city: determinism, realism of its patterns, ground truth, outage replay, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from core.cells import latlngs_to_cells
from core.vocab import NETWORKS
from geo.places import points_to_district_codes, stations
from ingest.demo import (
    KT_OUTAGE_END,
    KT_OUTAGE_START,
    RAW_COLUMNS,
    DemoOptions,
    build_demo,
    ordinary_traffic,
    surge,
)
from ingest.demo_city import city_model, is_in_seoul, places, seoul_cells_r8
from ingest.demo_truth import BASE_RATE, WEAK_PER_NETWORK, true_failure_rates
from ingest.loader import Origin, load_frame
from ingest.validate import validate_frame
from store.db import connect

SEOUL = ZoneInfo("Asia/Seoul")
ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
SMALL = DemoOptions(reports=4000, seed=11)
# What a row is, apart from what the store assigns (report_id, batch_id, received_at).
CONTENT = ("observed_at, lat, lon, accuracy_m, h3_r6, h3_r7, h3_r8, h3_r9, h3_r10, sig_cd, network, brand,"
           " mvno, tech, kind, device_model, reporter, ip_hash, source, status, note, fingerprint")


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """A small demo city (4,000 failure reports) and its build summary."""
    path = tmp_path_factory.mktemp("demo-small") / "demo.duckdb"
    con = connect(path)
    summary = build_demo(con, SMALL)
    yield con, summary
    con.close()


def _content(con) -> pd.DataFrame:
    return con.execute(f"SELECT {CONTENT} FROM reports ORDER BY fingerprint, observed_at").df()


# --- determinism -----------------------------------------------------------------------------------

def test_same_seed_gives_the_same_reports_and_truth(tmp_path):
    options = DemoOptions(reports=800, seed=3)
    first, second = connect(tmp_path / "a.duckdb"), connect(tmp_path / "b.duckdb")
    build_demo(first, options)
    build_demo(second, options)
    pd.testing.assert_frame_equal(_content(first), _content(second))
    truth = "SELECT * FROM demo_truth ORDER BY network, h3_r8"
    pd.testing.assert_frame_equal(first.execute(truth).df(), second.execute(truth).df())
    ids = "SELECT report_id FROM reports ORDER BY report_id LIMIT 5"
    assert first.execute(ids).fetchall() != second.execute(ids).fetchall()  # ids are the store's own


def test_another_seed_gives_other_reports():
    a = ordinary_traffic(DemoOptions(reports=300, seed=1), np.random.default_rng(1))
    b = ordinary_traffic(DemoOptions(reports=300, seed=2), np.random.default_rng(2))
    assert not a["lat"].head(50).equals(b["lat"].head(50))


# --- raw frames go through the one validation path ------------------------------------------------

@pytest.mark.parametrize("reports", [60, 250, 1200])
def test_ordinary_traffic_has_exactly_the_failures_asked_for(reports):
    frame = ordinary_traffic(DemoOptions(reports=reports, seed=5), np.random.default_rng(5))
    assert tuple(frame.columns) == RAW_COLUMNS
    assert (frame["kind"] != "ok").sum() == reports
    assert (frame["kind"] == "ok").sum() > 3 * reports  # 'all good' samples give rates a denominator
    good, problems = validate_frame(frame)
    assert len(good) == len(frame) and problems.error_count == 0 and problems.warning_count == 0
    assert frame["observed_at"].is_monotonic_increasing


@pytest.mark.parametrize("options", [DemoOptions(reports=0), DemoOptions(reports=100, days=0)])
def test_empty_traffic_is_an_empty_frame(options):
    frame = ordinary_traffic(options, np.random.default_rng(0))
    assert frame.empty and tuple(frame.columns) == RAW_COLUMNS


def test_every_row_and_batch_is_marked_demo(small_demo):
    con, summary = small_demo
    assert con.execute("SELECT DISTINCT source FROM reports").fetchall() == [("demo",)]
    assert con.execute("SELECT DISTINCT source FROM batches").fetchall() == [("demo",)]
    assert summary["synthetic"] is True and summary["source"] == "demo"
    assert summary["rejected"] == 0 and summary["duplicates"] == 0


def test_summary_counts_match_the_store(small_demo):
    con, summary = small_demo
    failures, samples = con.execute(
        "SELECT count(*) FILTER (WHERE kind <> 'ok'), count(*) FILTER (WHERE kind = 'ok') FROM reports"
    ).fetchone()
    outage = summary["kt_outage"]["surge_reports"]
    assert outage == 200  # max(200, 3% of 4,000)
    assert summary["failures"] == failures == SMALL.reports + outage
    assert summary["samples"] == samples
    assert set(summary["by_network"]) == set(NETWORKS)
    assert summary["period"]["start"] == "2021-09-27T00:00:00+09:00"
    assert summary["period"]["end"] == "2021-11-01T00:00:00+09:00"
    assert summary["truth_hexes"] == len(seoul_cells_r8())
    json.dumps(summary)  # JSON-able as it is


def test_rebuilding_replaces_demo_rows_and_keeps_real_ones(tmp_path):
    con = connect(tmp_path / "mixed.duckdb")
    real = pd.DataFrame([{"lat": 37.5665, "lon": 126.978, "carrier": "KT", "kind": "no_data",
                          "observed_at": "2021-10-25T11:20:00+09:00", "reporter_code": "REAL-ONE"}])
    assert load_frame(con, real, Origin(source="web")).accepted == 1
    build_demo(con, DemoOptions(reports=300, seed=2))
    first = con.execute("SELECT count(*) FROM reports").fetchone()[0]
    summary = build_demo(con, DemoOptions(reports=300, seed=2))
    assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == first
    assert summary["replaced_demo_rows"] == first - 1
    assert con.execute("SELECT count(*) FROM reports WHERE source = 'web'").fetchone()[0] == 1


# --- realism ---------------------------------------------------------------------------------------

def test_carrier_shares_are_near_the_market(small_demo):
    con, _ = small_demo
    shares = dict(con.execute(
        "SELECT network, count(*) / sum(count(*)) OVER () FROM reports GROUP BY network").fetchall())
    # Host networks: own brand plus the MVNOs riding on them (SKT 40+3.7, KT 24+7.2, LG U+ 20+5.1).
    assert shares["SKT"] == pytest.approx(0.437, abs=0.05)
    assert shares["KT"] == pytest.approx(0.312, abs=0.05)
    assert shares["LGU+"] == pytest.approx(0.251, abs=0.05)
    mvno = con.execute("SELECT avg(mvno::INT) FROM reports").fetchone()[0]
    assert mvno == pytest.approx(0.16, abs=0.05)
    brands = {b for (b,) in con.execute("SELECT DISTINCT brand FROM reports WHERE mvno").fetchall()}
    assert {"KT M모바일", "U+유모바일", "SK 세븐모바일", "헬로모바일", "리브엠"} <= brands


def test_weekday_commute_peak_beats_the_night(small_demo):
    con, _ = small_demo
    by_hour = dict(con.execute(
        "SELECT hour(timezone('Asia/Seoul', observed_at)) AS h, count(*) FROM reports"
        " WHERE isodow(timezone('Asia/Seoul', observed_at)) <= 5 GROUP BY h").fetchall())
    assert by_hour[8] > 5 * by_hour[3]
    assert by_hour[18] > 5 * by_hour[3]
    assert by_hour[8] > 1.3 * by_hour[14]


def test_reports_crowd_around_stations():
    frame = ordinary_traffic(DemoOptions(reports=2000, seed=4), np.random.default_rng(4))
    cells = latlngs_to_cells(frame["lat"].to_numpy(float), frame["lon"].to_numpy(float), 8)
    counts = pd.Series(cells).value_counts()
    model = city_model()
    station_cells = set(latlngs_to_cells(model.station_lat, model.station_lon, 8).tolist())
    at_station = counts[counts.index.isin(station_cells)]
    elsewhere = counts[~counts.index.isin(station_cells)]
    assert at_station.mean() > 2.5 * elsewhere.mean()


def test_places_follow_district_population():
    lat, lon = places(40_000, np.random.default_rng(8), station_share=0.0)
    assert is_in_seoul(lat, lon).all()
    codes = pd.Series(points_to_district_codes(lat, lon)).value_counts(normalize=True)
    model = city_model()
    expected = pd.Series(model.gu_population / model.gu_population.sum(), index=model.gu_codes)
    assert (codes.reindex(expected.index) - expected).abs().max() < 0.01
    assert codes["11710"] > 3 * codes["11140"]  # 송파구 (686k in 2010) vs 중구 (117k)


def test_reporters_are_skewed_so_privacy_thresholds_bite(small_demo):
    con, _ = small_demo
    per_reporter = con.execute(
        "SELECT count(*) AS n FROM reports WHERE kind <> 'ok' GROUP BY reporter").df()["n"]
    assert per_reporter.median() <= 3
    assert per_reporter.max() >= 10 * per_reporter.median()
    sparse = con.execute(
        "SELECT count(*) FROM (SELECT h3_r9 FROM reports GROUP BY h3_r9 HAVING count(DISTINCT reporter) < 5)"
    ).fetchone()[0]
    assert sparse > 100  # fine hexes with too few reporters to publish


def test_phones_and_technologies_are_mixed(small_demo):
    con, _ = small_demo
    models = [m for (m,) in con.execute("SELECT DISTINCT device_model FROM reports").fetchall()]
    assert len(models) >= 15
    assert any(m.startswith("Galaxy Z") for m in models) and any(m.startswith("iPhone") for m in models)
    techs = {t for (t,) in con.execute("SELECT DISTINCT tech FROM reports").fetchall()}
    assert techs == {"5G", "LTE", "3G", "unknown"}


def test_persona_has_calls_dropping_almost_daily(small_demo):
    con, summary = small_demo
    from ingest.demo_personas import PERSONA
    from ingest.identity import keyed_hash, normalise_code

    reporter = keyed_hash("code", normalise_code(PERSONA.code))
    days, failures, dropped, networks = con.execute(
        "SELECT count(DISTINCT CAST(timezone('Asia/Seoul', observed_at) AS DATE)) FILTER (WHERE kind <> 'ok'),"
        " count(*) FILTER (WHERE kind <> 'ok'), count(*) FILTER (WHERE kind = 'dropped_call'),"
        " list(DISTINCT network) FROM reports WHERE reporter = ?", [reporter]).fetchone()
    assert networks == ["KT"]
    assert failures == summary["persona"]["failures"]
    assert days >= 20 and dropped >= 0.6 * failures  # most of the 35 days, mostly dropped calls


# --- ground truth ----------------------------------------------------------------------------------

def test_seoul_hexes_are_pinned():
    cells = seoul_cells_r8()
    assert len(cells) == 1539  # 1,328 overlapping Seoul, plus their neighbours
    city_hall = int(latlngs_to_cells(np.array([37.5665]), np.array([126.978]), 8)[0])
    assert city_hall in set(cells.tolist())


def test_truth_covers_every_hex_with_reports(small_demo):
    con, _ = small_demo
    missing = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT network, h3_r8 FROM reports)"
        " ANTI JOIN demo_truth USING (network, h3_r8)").fetchone()[0]
    assert missing == 0
    per_network = dict(con.execute("SELECT network, count(*) FROM demo_truth GROUP BY network").fetchall())
    assert per_network == {n: len(seoul_cells_r8()) for n in NETWORKS}


@pytest.mark.parametrize("seed", [20211025, 7, 11])
def test_the_twenty_weakest_hexes_stand_apart(seed):
    truth = true_failure_rates(seed)
    for network in NETWORKS:
        rates = np.sort(truth.rates[network])[::-1]
        assert rates[WEAK_PER_NETWORK - 1] >= 3 * BASE_RATE
        assert rates[WEAK_PER_NETWORK] <= 1.4 * BASE_RATE  # well separated from the 21st
        assert len(truth.weak[network]) == WEAK_PER_NETWORK
    weak_sets = [set(truth.weak[n].tolist()) for n in NETWORKS]
    assert weak_sets[0] != weak_sets[1] != weak_sets[2]  # each network has its own weak zones
    assert len(weak_sets[0] & weak_sets[1] & weak_sets[2]) >= 3  # and a few shared dead zones


def test_observed_rates_are_higher_in_weak_hexes(small_demo):
    con, _ = small_demo
    rows = con.execute(
        """
        SELECT t.failure_rate >= ? AS weak, avg((r.kind <> 'ok')::INT) AS observed
        FROM reports r JOIN demo_truth t USING (network, h3_r8)
        WHERE NOT (r.observed_at BETWEEN ? AND ?)
        GROUP BY weak
        """, [3 * BASE_RATE, KT_OUTAGE_START, KT_OUTAGE_END.replace(hour=13, minute=30)]).fetchall()
    observed = dict(rows)
    assert observed[True] > 2.5 * observed[False]
    assert observed[False] == pytest.approx(BASE_RATE, rel=0.25)


def test_rates_find_the_weak_hexes_better_than_density(small_demo):
    from store.demo_sql import ranking_hits

    con, _ = small_demo
    hits = ranking_hits(con, leave_out=(KT_OUTAGE_START, KT_OUTAGE_END.replace(hour=13, minute=30)))
    assert set(hits) == {"density", "raw_rate", "shrunk_rate"}
    total = {name: sum(by_network.values()) for name, by_network in hits.items()}
    assert all(0 <= h <= 20 for by_network in hits.values() for h in by_network.values())
    assert total["shrunk_rate"] > total["density"]
    assert total["shrunk_rate"] >= 30  # of 60: the truth is findable even at this small size


# --- the KT outage of 2021-10-25 -------------------------------------------------------------------

def _kt_failures_per_minute(con, start: str, end: str) -> float:
    count = con.execute(
        "SELECT count(*) FROM reports WHERE network = 'KT' AND kind <> 'ok'"
        " AND observed_at >= ?::TIMESTAMPTZ AND observed_at < ?::TIMESTAMPTZ", [start, end]).fetchone()[0]
    minutes = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 60
    return count / minutes


def test_kt_outage_surges_between_1116_and_1245(small_demo):
    con, summary = small_demo
    during = _kt_failures_per_minute(con, "2021-10-25T11:25:00+09:00", "2021-10-25T12:45:00+09:00")
    before = _kt_failures_per_minute(con, "2021-10-25T09:00:00+09:00", "2021-10-25T11:16:00+09:00")
    after = _kt_failures_per_minute(con, "2021-10-25T13:15:00+09:00", "2021-10-25T16:00:00+09:00")
    week_before = _kt_failures_per_minute(con, "2021-10-18T11:25:00+09:00", "2021-10-18T12:45:00+09:00")
    assert during > 10 * max(before, after, week_before, 0.05)
    skt = con.execute(
        "SELECT count(*) FROM reports WHERE network = 'SKT' AND kind <> 'ok'"
        " AND observed_at BETWEEN ? AND ?", [KT_OUTAGE_START, KT_OUTAGE_END]).fetchone()[0]
    assert skt < 0.1 * during * 89  # other networks are not hit
    assert summary["kt_outage"]["reporters"] >= 150


def test_surge_rises_after_onset_and_fades_after_recovery():
    start, end = KT_OUTAGE_START, KT_OUTAGE_END
    frame = surge(network="KT", start=start, end=end, reports=3000, reporters=2000,
                  rng=np.random.default_rng(9))
    times = pd.to_datetime(frame["observed_at"], format="ISO8601")
    minutes = (times - pd.Timestamp(start)).dt.total_seconds() / 60
    assert minutes.min() >= 0  # nothing before the onset
    assert (minutes <= 89).mean() > 0.9  # most reports while the network is down
    assert minutes.max() < 89 + 25  # and only a short tail after recovery
    first_two = ((minutes >= 0) & (minutes < 2)).sum()
    assert first_two < ((minutes >= 10) & (minutes < 12)).sum() * 0.8  # rising within minutes
    assert frame["reporter_code"].nunique() == 2000
    hosts = set(frame["carrier"])
    assert "KT" in hosts and "KT M모바일" in hosts and not hosts & {"SKT", "LGU+"}
    dominant = frame["kind"].isin(["no_data", "no_service", "call_setup_failure"]).mean()
    assert dominant > 0.75


def test_surge_in_named_districts_stays_there():
    frame = surge(network="LGU+", start=datetime(2021, 10, 1, 9, 0, tzinfo=SEOUL),
                  end=datetime(2021, 10, 1, 9, 30, tzinfo=SEOUL), reports=300, reporters=100,
                  districts=["강남구", "서초구"], rng=np.random.default_rng(2), kinds={"no_service": 1.0})
    codes = set(points_to_district_codes(frame["lat"].to_numpy(float), frame["lon"].to_numpy(float)))
    assert codes <= {"11680", "11650"}
    assert set(frame["kind"]) == {"no_service"}


def test_surge_rejects_an_unknown_district():
    from core.errors import InputError

    with pytest.raises(InputError) as info:
        surge(network="KT", start=KT_OUTAGE_START, end=KT_OUTAGE_END, reports=10, reporters=5,
              districts=["Gangnam"], rng=np.random.default_rng(0))
    assert info.value.field == "districts"


def test_no_outage_when_turned_off_or_out_of_period(tmp_path):
    con = connect(tmp_path / "quiet.duckdb")
    off = build_demo(con, DemoOptions(reports=300, seed=1, kt_outage=False))
    assert "kt_outage" not in off and off["failures"] == 300
    early = build_demo(con, DemoOptions(reports=300, seed=1, days=7,
                                        end=datetime(2021, 10, 8, tzinfo=SEOUL)))
    assert "kt_outage" not in early


# --- command line ----------------------------------------------------------------------------------

def test_cli_demo_prints_json_and_exits_0(tmp_path):
    db = tmp_path / "cli.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "ingest", "demo", "--db", str(db), "--reports", "500", "--seed", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["failures"] == 500 + 200 and summary["samples"] > 1500
    assert summary["seed"] == 5 and summary["synthetic"] is True
    assert set(summary["by_network"]) == set(NETWORKS)
    assert db.exists()


def test_station_list_is_the_one_geo_places_reads():
    inside = city_model().station_lat
    assert 240 <= len(inside) <= len(stations())  # stations outside Seoul are left out


# --- personas --------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [20211025, 7, 11])
def test_the_network_persona_has_kt_weak_zones_on_his_route_only_for_kt(seed):
    from ingest.demo_personas import PERSONAS, route_cells, zone_candidates

    truth = true_failure_rates(seed)
    persona = next(p for p in PERSONAS if p.answer == "network")
    zones = truth.zones[persona.code]
    assert len(zones) == persona.weak_zones == 7
    assert set(zones.tolist()) <= set(zone_candidates(persona).tolist()) <= set(route_cells(persona).tolist())
    assert set(zones.tolist()) <= set(truth.weak["KT"].tolist())  # they are KT's own weak hexes
    idx = np.searchsorted(truth.cells, zones)
    assert (truth.rates["KT"][idx] >= 3 * BASE_RATE).all()
    # They are KT's alone: not the shared dead zones, ordinary for the other networks (a chance pick of
    # another network's own weak station hexes may hit one of them).
    for other in (n for n in NETWORKS if n != "KT"):
        assert (truth.rates[other][idx] <= 1.4 * BASE_RATE).sum() >= len(zones) - 1


def test_the_phone_persona_lives_where_his_network_is_no_worse():
    """For the default seed: the "phone" answer is true only if SKT is no worse where he reports."""
    from ingest.demo_personas import PERSONAS, route_cells

    truth = true_failure_rates(20211025)
    persona = next(p for p in PERSONAS if p.answer == "phone")
    idx = np.searchsorted(truth.cells, route_cells(persona))
    mine = truth.rates[persona.network][idx]
    others = [truth.rates[n][idx] for n in NETWORKS if n != persona.network]
    assert (mine <= np.mean(others, axis=0)).all()  # no worse than the baseline (the other carriers)
    assert all((mine <= 1.1 * other).all() for other in others)  # nor clearly worse than either


def test_phone_factors_average_one_over_all_attempts():
    from ingest.demo_people import make_reporters
    from ingest.demo_personas import PHONE_FACTORS, add_personas, phone_factors

    people = make_reporters(5000, np.random.default_rng(3))
    add_personas(people, 200_000, 35)
    factors = phone_factors(people)
    assert float((factors * people.activity).sum()) == pytest.approx(1.0)
    defect = people.device == "DemoPhone D1"
    assert defect.sum() > 50 and (factors[defect] == PHONE_FACTORS["DemoPhone D1"]).all()
    assert 0.9 < factors[~defect].max() < 1.0  # every other phone a little better than the truth


def test_personas_and_their_zones_are_stored(small_demo):
    from ingest.demo_personas import PERSONAS
    from ingest.identity import keyed_hash, normalise_code

    con, summary = small_demo
    assert [p["reporter_code"] for p in summary["personas"]] == [p.code for p in PERSONAS]
    assert {p["expected_answer"] for p in summary["personas"]} == {"network", "phone"}
    rows = con.execute("SELECT reporter_code, count(*), count(*) FILTER (WHERE weak_zone) FROM demo_persona_zones"
                       " GROUP BY ALL ORDER BY 1").fetchall()
    assert rows == sorted((p.code, len(p.route), p.weak_zones) for p in PERSONAS)
    # The stored zones agree with demo_truth, and every persona reports under his own code and phone.
    mismatched = con.execute("SELECT count(*) FROM demo_persona_zones z JOIN demo_truth t USING (network, h3_r8)"
                             " WHERE z.failure_rate <> t.failure_rate").fetchone()[0]
    assert mismatched == 0
    for persona in PERSONAS:
        models = con.execute("SELECT list(DISTINCT device_model), list(DISTINCT network) FROM reports"
                             " WHERE reporter = ?", [keyed_hash("code", normalise_code(persona.code))]).fetchone()
        assert models == ([persona.device], [persona.network])
