"""Evidence: my reports, the comparison with others nearby, "phone or network?", the dossier."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest
from evidence_data import ME, build_town

from core.city import load_city
from core.errors import InputError
from evidence import compare_nearby, dossier_html, my_reports, my_reports_csv, phone_or_network
from evidence.compare import Comparison, Line
from evidence.csv_safe import neutralise, to_csv_bytes
from evidence.stats import higher_rate_p_value, wilson_interval
from store.evidence_sql import overlapping_incidents
from store.migrations import apply_migrations

# The comparison's rules, on exact figures; tests/test_cellkey.py checks the noise the site adds.
pytestmark = pytest.mark.usefixtures("exact_counts")


@pytest.fixture
def town(con):
    """Me (KT, SM-G991N) and neighbours on every carrier, around City Hall in the evening."""
    build_town(con)
    return con


def test_my_reports_are_mine_only_with_places(town):
    mine = my_reports(town, ME)
    assert len(mine) == 4
    assert set(mine["kind"]) == {"dropped_call"}
    assert set(mine["gu"]) == {"중구"}
    assert mine["local_time"].dt.hour.tolist() == [18] * 4
    assert mine["station"].iloc[0] == "시청"
    assert my_reports(town, "ZZZZ-ZZZZ-ZZZZ").empty


@pytest.mark.parametrize("code", ["", "ABC", "12-34"])
def test_a_code_too_short_to_be_one_is_refused(town, code):
    with pytest.raises(InputError):
        my_reports(town, code)


def test_comparison_counts_others_in_my_places_and_hours(town):
    mine = my_reports(town, ME)
    comparison = compare_nearby(town, ME, mine, k=5)
    assert comparison.network == "KT" and comparison.model == "SM-G991N"
    assert comparison.hexes == 1 and comparison.buckets == [4]
    kt, skt = comparison.networks["KT"], comparison.networks["SKT"]
    assert (kt.reporters, kt.failures, kt.ok_samples) == (10, 42, 42)  # 8 + 2 others; not me, not far away
    assert (skt.reporters, skt.failures, skt.ok_samples) == (12, 12, 108)
    assert "LGU+" not in comparison.networks  # 3 reporters < k
    assert kt.rate == pytest.approx(0.5)
    low, high = kt.interval
    assert low < 0.5 < high


def test_the_comparison_period_is_never_wider_than_the_data(town):
    """It said 30 days either side of my reports, past the first and the last day of any data."""
    comparison = compare_nearby(town, ME, my_reports(town, ME), k=5)
    first, last = town.execute("SELECT min(observed_at), max(observed_at) FROM reports").fetchone()
    assert comparison.start == pd.Timestamp(first)
    assert comparison.end == pd.Timestamp(last) + pd.Timedelta(microseconds=1)  # exclusive, just past the last


def test_groups_and_a_network_verdict(town):
    comparison = compare_nearby(town, ME, my_reports(town, ME), k=5)
    groups = comparison.groups
    # On KT only 2 others have my model ('sm g991n' is the same model): fewer than k, so that part is
    # not used, nor is the 8 iPhone users' part (KT's total minus it would give the 2 back): KT as a whole
    assert "same_setup" not in groups and "network_other_models" not in groups
    assert (groups["network_all_models"].reporters, groups["network_all_models"].failures) == (10, 42)
    assert (groups["model_other_networks"].reporters, groups["model_other_networks"].failures) == (6, 6)
    assert (groups["baseline"].reporters, groups["baseline"].failures) == (6, 6)
    verdict = phone_or_network(comparison)
    assert verdict.code == "network"
    assert "KT" in verdict.text_ko
    assert [t["what"] for t in verdict.tests] == ["network", "phone"]


def test_k_hides_what_has_too_few_reporters(town):
    comparison = compare_nearby(town, ME, my_reports(town, ME), k=11)
    assert set(comparison.networks) == {"SKT"}  # KT has 10 other reporters


def line(failures, ok, reporters=10):
    return Line(failures=failures, ok_samples=ok, reporters=reporters, failure_reporters=reporters)


def comparison_with(groups, model="SM-G991N"):
    return Comparison(network="KT", model=model, hexes=1, buckets=[4], start=pd.Timestamp("2021-10-01", tz="UTC"),
                      end=pd.Timestamp("2021-11-01", tz="UTC"), k=5, groups=groups)


@pytest.mark.parametrize("groups, model, expected", [
    ({"network_other_models": line(40, 40), "model_other_networks": line(6, 54), "baseline": line(6, 54)},
     "SM-G991N", "network"),
    ({"network_other_models": line(6, 54), "model_other_networks": line(40, 40), "baseline": line(6, 54)},
     "SM-G991N", "phone"),
    ({"network_other_models": line(40, 40), "model_other_networks": line(40, 40), "baseline": line(6, 54)},
     "SM-G991N", "both"),
    ({"network_other_models": line(7, 53), "model_other_networks": line(6, 54), "baseline": line(6, 54)},
     "SM-G991N", "none"),
    ({"network_other_models": line(40, 40, reporters=4), "baseline": line(6, 54)}, "SM-G991N", "not_enough"),
    ({"network_other_models": line(10, 10), "baseline": line(1, 9)}, "SM-G991N", "not_enough"),  # < 30 reports
    ({"network_other_models": line(40, 0), "baseline": line(40, 0)}, "SM-G991N", "not_enough"),  # no samples
    ({"network_all_models": line(40, 40), "others_all_models": line(6, 54)}, None, "network"),
])
def test_verdict_table(groups, model, expected):
    assert phone_or_network(comparison_with(groups, model)).code == expected


def test_wilson_interval_pinned():
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    low, high = wilson_interval(0, 0)
    assert low != low and high != high  # nan without trials


def test_fisher_one_sided_pinned():
    assert higher_rate_p_value(40, 80, 6, 60) < 1e-6
    assert higher_rate_p_value(6, 60, 6, 60) > 0.5
    assert higher_rate_p_value(1, 10, 9, 10) > 0.99  # fewer failures is never "higher"


def test_dossier_escapes_and_names_nobody_else(town):
    mine = my_reports(town, ME)
    comparison = compare_nearby(town, ME, mine, k=5)
    page = dossier_html(mine, comparison, phone_or_network(comparison), None,
                        generated_at=datetime(2021, 11, 1, 9, 0, tzinfo=load_city().tz))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "OTHER-SECRET" not in page and "iPhone 13" not in page
    assert "이동통신 장애 기록" in page and "2021-11-01 09:00" in page
    assert "통화 끊김 4건" in page
    assert "다른 KT 이용자 10명" in page
    assert "시연용 합성 데이터" not in page  # no demo rows here
    assert "http" not in page.replace("http://evil", "")  # nothing is fetched from anywhere


def test_my_reports_csv_is_formula_safe(town):
    data = my_reports_csv(my_reports(town, ME))
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("일시(서울),위도,경도")
    assert "\"'=HYPERLINK" not in text or "'=HYPERLINK" in text
    assert ",=HYPERLINK" not in text and ',"=HYPERLINK' not in text


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+82", "'+82"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("plain", "plain"), ("", ""), (None, None), (-5, -5), (3.5, 3.5),
])
def test_neutralise_table(value, expected):
    assert neutralise(value) == expected


def test_csv_neutralises_headers_and_cells():
    text = to_csv_bytes(pd.DataFrame({"=x": ["=cmd", "ok"], "n": [-1, 2]})).decode("utf-8-sig")
    assert text.splitlines() == ["'=x,n", "'=cmd,-1", "ok,2"]


def test_incidents_are_matched_by_network_and_time_when_the_table_exists():
    cur = duckdb.connect(":memory:")
    mine = pd.DataFrame({"observed_at": pd.to_datetime(["2021-10-25T02:30:00Z", "2021-10-26T02:30:00Z"]),
                         "network": ["KT", "KT"], "sig_cd": ["11140", "11140"]})
    assert overlapping_incidents(cur, mine) is None  # no incidents table: said, not guessed
    apply_migrations(cur)
    for incident_id, network, onset, end in (("KT-1", "KT", "2021-10-25T02:16:00Z", "2021-10-25T03:45:00Z"),
                                             ("SKT-1", "SKT", "2021-10-25T02:00:00Z", "2021-10-25T04:00:00Z")):
        cur.execute("INSERT INTO incidents BY NAME SELECT ? AS incident_id, ? AS network, 'resolved' AS status,"
                    " true AS confirmed, 'city' AS scope, ?::TIMESTAMPTZ AS onset_at, ?::TIMESTAMPTZ AS detected_at,"
                    " ?::TIMESTAMPTZ AS ended_at, now() AS changed_at, now() AS as_of, 20 AS reporters,"
                    " 30 AS reports, false AS synthetic, now() AS created_at, now() AS updated_at",
                    [incident_id, network, onset, onset, end])
    found = overlapping_incidents(cur, mine)
    assert found[["incident_id", "my_reports"]].values.tolist() == [["KT-1", 1]]


def test_incidents_in_the_site_schema_skip_withdrawn_ones_and_other_districts(con):
    from datetime import timedelta

    from store import outages_sql

    onset = pd.Timestamp("2021-10-25T02:16:00Z").to_pydatetime()
    columns = dict.fromkeys(outages_sql.INCIDENT_COLUMNS)

    def save(incident_id, status, scope, areas):
        row = {**columns, "incident_id": incident_id, "network": "KT", "status": status, "confirmed": True,
               "scope": scope, "onset_at": onset, "detected_at": onset, "ended_at": onset + timedelta(minutes=89),
               "changed_at": onset, "as_of": onset, "reporters": 20, "reports": 30, "synthetic": False,
               "created_at": onset, "updated_at": onset}
        outages_sql.save_incident(con.cursor(), row, [], areas)

    save("KT-city", "resolved", "city", [])
    save("KT-withdrawn", "withdrawn", "city", [])
    save("KT-jung-gu", "resolved", "districts", [("11140", 12, 14, 0.5)])
    save("KT-mapo", "resolved", "districts", [("11440", 12, 14, 0.5)])
    mine = pd.DataFrame({"observed_at": pd.to_datetime(["2021-10-25T02:30:00Z"]), "network": ["KT"],
                         "sig_cd": ["11140"]})
    found = overlapping_incidents(con.cursor(), mine)
    assert sorted(found["incident_id"]) == ["KT-city", "KT-jung-gu"]


def test_the_answer_shows_the_numbers_of_its_tests(town):
    """Both shares with their counts and the p-value, on the page and in the dossier."""
    from evidence.dossier import verdict_numbers

    comparison = compare_nearby(town, ME, my_reports(town, ME), k=5)
    verdict = phone_or_network(comparison)
    lines = verdict_numbers(verdict, "ko")
    assert len(lines) == len(verdict.tests) == 2
    decided = [t for t in verdict.tests if t["decided"]]
    assert decided and all(f"{t['group'].failures:,}/{t['group'].total:,}" in " ".join(lines) for t in decided)
    assert any("p " in line for line in lines)
    page = dossier_html(my_reports(town, ME), comparison, verdict, None,
                        generated_at=datetime(2021, 11, 1, 9, 0, tzinfo=load_city().tz))
    assert all(line.replace("<", "&lt;") in page for line in lines)
    assert verdict_numbers(verdict, "en")[0].startswith("carrier test")


def test_dossier_says_in_korean_when_the_technology_is_unknown(town):
    # The Korean document printed the stored value "unknown" in its 방식 column.
    mine = my_reports(town, ME).assign(tech=["unknown", "LTE", None, "5G"])
    page = dossier_html(mine, None, None, None, generated_at=datetime(2021, 11, 1, 9, 0, tzinfo=load_city().tz))
    assert "unknown" not in page
    assert page.count("<td>모름</td>") == 2 and "<td>LTE</td>" in page and "<td>5G</td>" in page
