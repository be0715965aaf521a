"""Moderation (store.moderation, outages.moderation, core.operator): Sybil clusters with reasons, flag and
restore (single and whole cluster), withdrawing an incident that rested on them, the log, the token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from outage_data import SEOUL, private_copy, quiet_city, quiet_db_file, surge

from core.errors import InputError
from core.operator import OperatorRefusedError, is_operator_token, operator_token, token_id
from ingest.loader import Origin, load_frame
from outages.moderation import withdraw
from outages.scan import scan
from store import moderation, outages_sql
from store.db import connect
from store.filters import PUBLIC_STATUS
from store.limits import AttemptGuard

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # when the reports arrive
OP = "op-test0001"


def _rows(n: int, *, codes: list[str], seed: int, device: str | None = None, same_second: bool = False) -> pd.DataFrame:
    base = datetime(2026, 3, 2, 8, 0, tzinfo=SEOUL)  # before every arrival below
    return pd.DataFrame({
        "lat": [37.55 + 0.003 * ((i * 7 + seed) % 13) for i in range(n)],
        "lon": [126.97 + 0.003 * ((i * 5 + seed) % 11) for i in range(n)],
        "carrier": "LG U+", "kind": "no_data",
        "observed_at": [(base if same_second else base - timedelta(minutes=2 * i + seed)).isoformat()
                        for i in range(n)],
        "device_model": device, "accuracy_m": 10 if device else None, "reporter_code": codes,
    })


@pytest.fixture
def town(con):
    """Honest reporters (one address each, hours apart) and one script: 12 fresh codes from one address
    within a minute, the same phone, all claiming the same second."""
    for i in range(6):
        load_frame(con, _rows(1, codes=[f"HONEST-{i:04d}"], seed=i), Origin(source="api", ip=f"192.0.2.{i + 1}"),
                   now=T - timedelta(hours=6 - i))
    script = _rows(12, codes=[f"FAKE-{i:04d}" for i in range(12)], seed=3, device="SM-X999", same_second=True)
    load_frame(con, script, Origin(source="api", ip="203.0.113.66"), now=T + timedelta(seconds=20))
    assert con.execute("SELECT count(*) FROM reports WHERE status = 'ok'").fetchone()[0] == 18
    return con


def _ids(con, like: str) -> set[str]:
    return {str(r[0]) for r in con.execute(
        "SELECT report_id FROM reports WHERE device_model IS NOT DISTINCT FROM ?",
        ["SM-X999" if like == "fake" else None]).fetchall()}


RULES = moderation.ClusterRules(window_minutes=10, min_codes=5, burst_codes=10)


def test_clusters_name_the_script_and_not_the_honest(town):
    clusters = moderation.sybil_clusters(town.cursor(), RULES, now=T + timedelta(hours=1))
    fake = _ids(town, "fake")
    # One address is also one network prefix: both name the script.
    assert {c["kind"] for c in clusters} == {"ip", "prefix", "burst", "device", "timing"}
    for c in clusters:
        assert set(c["report_ids"]) == fake, c["kind"]  # the honest six never join a cluster
        assert c["codes"] == 12 and c["reports"] == 12 and c["flagged"] == 0
        assert c["networks"] == ["LGU+"]
    by_kind = {c["kind"]: c for c in clusters}
    assert "12 reporter codes from one address (hash " in by_kind["ip"]["reason_en"]
    assert len(by_kind["ip"]["key"]) == 6  # a short prefix of the keyed hash, never the address
    assert "SM-X999" in by_kind["device"]["reason_en"] and "±10.0 m" in by_kind["device"]["reason_en"]
    assert "very same second (2026-03-01 23:00:00 UTC)" in by_kind["timing"]["reason_en"]
    assert "12 codes never seen before" in by_kind["burst"]["reason_en"]
    assert by_kind["ip"]["cluster_id"].startswith("ip:") and by_kind["ip"]["cluster_id"].endswith("@2026-03-02T09:00Z")


@pytest.mark.parametrize("rules, kinds", [
    (moderation.ClusterRules(min_codes=13, burst_codes=13), set()),  # 12 codes: under both thresholds
    (moderation.ClusterRules(min_codes=13, burst_codes=12), {"burst"}),
    (moderation.ClusterRules(min_codes=5, burst_codes=99, lookback=timedelta(minutes=30)), set()),  # too old
])
def test_cluster_thresholds(town, rules, kinds):
    assert {c["kind"] for c in moderation.sybil_clusters(town.cursor(), rules, now=T + timedelta(hours=1))} == kinds


def test_prefix_clusters_name_one_network_of_many_addresses(con):
    """Six codes from six addresses of one network prefix: no address cluster, one prefix cluster;
    from six networks: none."""
    from ingest.sources import prefix_hash

    rules = moderation.ClusterRules(min_codes=5, burst_codes=99)
    for i in range(6):
        load_frame(con, _rows(1, codes=[f"NET-{i}"], seed=i), Origin(source="api", ip=f"203.0.{113 - i}.{i + 1}"),
                   now=T + timedelta(seconds=i))
    assert moderation.sybil_clusters(con.cursor(), rules, now=T + timedelta(hours=1)) == []
    for i in range(6):
        load_frame(con, _rows(1, codes=[f"ONE-{i}"], seed=10 + i), Origin(source="api", ip=f"198.51.100.{i + 1}"),
                   now=T + timedelta(seconds=10 + i))
    [cluster] = moderation.sybil_clusters(con.cursor(), rules, now=T + timedelta(hours=1))
    key = f"{prefix_hash('198.51.100.1'):016x}"[:6]
    assert (cluster["kind"], cluster["key"], cluster["codes"]) == ("prefix", key, 6)
    assert f"one network prefix (hash {key}…)" in cluster["reason_en"]


def test_flag_and_restore_a_cluster_changes_status_only_and_logs(town):
    before = town.execute("SELECT * EXCLUDE (status, flag_reason) FROM reports ORDER BY report_id").fetchall()
    cluster = next(c for c in moderation.sybil_clusters(town.cursor(), RULES, now=T + timedelta(hours=1))
                   if c["kind"] == "ip")
    changed = moderation.flag_cluster(town.cursor(), cluster, operator=OP, reason="one address, 12 codes")
    assert set(changed) == _ids(town, "fake")
    assert town.execute(f"SELECT count(*) FROM reports WHERE {PUBLIC_STATUS}").fetchone()[0] == 6
    assert {r for (r,) in town.execute("SELECT DISTINCT flag_reason FROM reports WHERE status = 'flagged'")
            .fetchall()} == {"moderation: one address, 12 codes"}
    # Flagging again changes nothing (and says so in the log); restoring brings all twelve back.
    assert moderation.flag_cluster(town.cursor(), cluster, operator=OP, reason="one address, 12 codes") == []
    restored = moderation.restore_cluster(town.cursor(), cluster, operator=OP, reason="a school's wifi, checked")
    assert set(restored) == _ids(town, "fake")
    assert town.execute("SELECT count(*) FROM reports WHERE status = 'ok' AND flag_reason IS NULL").fetchone()[0] == 18
    after = town.execute("SELECT * EXCLUDE (status, flag_reason) FROM reports ORDER BY report_id").fetchall()
    assert after == before  # append-only: nothing else changed, nothing deleted
    log = moderation.moderation_log(town.cursor())
    assert [(e["action"], e["target"], e["changed"], e["operator"]) for e in log][::-1] == [
        ("flag", "cluster", 12, OP), ("flag", "cluster", 0, OP), ("restore", "cluster", 12, OP)]
    assert {e["target_id"] for e in log} == {cluster["cluster_id"]}
    assert log[0]["reason"] == "a school's wifi, checked"


def test_flag_and_restore_one_report_shows_in_the_flagged_list(town):
    one = sorted(_ids(town, "honest"))[0]
    assert moderation.flagged_reports(town.cursor()) == []
    moderation.flag_reports(town.cursor(), moderation.report_ids_from_text(f" {one}, "), operator=OP,
                            reason="a test")
    listed = moderation.flagged_reports(town.cursor())
    assert [str(r["report_id"]) for r in listed] == [one]
    row = listed[0]
    assert row["flag_reason"] == "moderation: a test" and len(row["reporter"]) == 6 and len(row["ip"]) == 6
    assert row["lat"] is not None and row["sig_cd"]  # the operator sees where
    moderation.restore_reports(town.cursor(), [one], operator=OP, reason="fine")
    assert moderation.flagged_reports(town.cursor()) == []


@pytest.mark.parametrize("text, reason, field", [
    ("not-a-uuid", "why", "report_id"),
    ("", "why", "report_id"),
    ("6f1c1a44-0000-4000-8000-000000000000", "   ", "reason"),
])
def test_bad_moderation_input_is_refused(town, text, reason, field):
    with pytest.raises(InputError) as e:
        moderation.flag_reports(town.cursor(), moderation.report_ids_from_text(text), operator=OP, reason=reason)
    assert e.value.field == field
    assert moderation.moderation_log(town.cursor()) == []


# --- withdrawing an incident that rested on a cluster ----------------------------------------------

OUTAGE = datetime(2021, 10, 20, 11, 16, tzinfo=SEOUL)
RECEIVED = datetime(2021, 12, 1, tzinfo=SEOUL)  # outage_data.load stores every batch as received then


@pytest.fixture(scope="module")
def quiet_db(tmp_path_factory):
    return quiet_db_file(tmp_path_factory, "moderation", quiet_city(seed=1))


@pytest.fixture
def faked(quiet_db, tmp_path, monkeypatch):
    """Three quiet weeks of KT, then a scripted 'outage': 300 fresh codes at once. From one address the
    detector no longer calls it (independent sources, tests/test_sources.py); here the script's addresses
    are unknown to the site (each code counts as itself), so it is called, and the burst of never-seen
    codes is what the operator sees."""
    con = connect(private_copy(quiet_db, tmp_path, monkeypatch))
    load_frame(con, surge(OUTAGE, 60, reporters=300, prefix="SYBIL"), Origin(source="api"),
               now=RECEIVED + timedelta(hours=1))
    scan(con, OUTAGE + timedelta(hours=3))
    yield con
    con.close()


def test_withdraw_an_incident_that_rested_on_a_cluster(faked):
    [incident] = outages_sql.list_incidents(faked.cursor())
    assert incident["status"] == "resolved" and incident["confirmed"]
    clusters = moderation.sybil_clusters(faked.cursor(), now=RECEIVED + timedelta(hours=2))
    # (the quiet weeks, all stored at one moment by the fixture, are a burst of their own, an hour earlier)
    ip = next(c for c in clusters if c["kind"] == "burst" and c["first_at"] >= RECEIVED + timedelta(minutes=30))
    assert ip["codes"] == 300
    resting = moderation.incidents_resting_on(faked.cursor(), ip["report_ids"])
    assert [(r["incident_id"], r["reporters"]) for r in resting] == [(incident["incident_id"], 300)]
    moderation.flag_cluster(faked.cursor(), ip, operator=OP, reason="a burst of new codes")
    assert withdraw(faked.cursor(), incident["incident_id"], operator=OP, reason="rested on a burst of new codes")
    assert not withdraw(faked.cursor(), incident["incident_id"], operator=OP, reason="twice")  # already
    scan(faked, OUTAGE + timedelta(hours=4))  # the detector agrees: nothing left to call
    [after] = outages_sql.list_incidents(faked.cursor())
    assert after["status"] == "withdrawn"
    history = outages_sql.history_of(faked.cursor(), [after["incident_id"]])[after["incident_id"]]
    assert history[-1][0] == "withdrawn" and history[-1][2] == "withdrawn"  # no operator words in public
    assert moderation.incidents_resting_on(faked.cursor(), ip["report_ids"]) == []
    log = moderation.moderation_log(faked.cursor())
    assert [(e["action"], e["target"], e["target_id"]) for e in log][::-1] == [
        ("flag", "cluster", ip["cluster_id"]), ("withdraw", "incident", incident["incident_id"])]
    with pytest.raises(InputError):
        withdraw(faked.cursor(), "KT-19990101-0000", operator=OP, reason="x")


# --- the operator token --------------------------------------------------------------------------

def test_token_is_derived_from_the_secret():
    token = operator_token(b"secret-a")
    assert len(token) == 32 and token != operator_token(b"secret-b")
    assert is_operator_token(token, b"secret-a") and is_operator_token(f" {token.upper()} ", b"secret-a")
    assert not is_operator_token(token, b"secret-b") and not is_operator_token(None, b"secret-a")
    assert token_id(token).startswith("op-") and token not in token_id(token)


def test_wrong_tokens_are_limited_per_address_and_in_total():
    clock = [0.0]
    guard = AttemptGuard(per_address=3, total=5, window_seconds=60, clock=lambda: clock[0])
    good = operator_token(b"s")
    for _ in range(3):
        with pytest.raises(OperatorRefusedError, match="wrong"):
            guard.check("guess", "10.0.0.1", b"s")
    with pytest.raises(OperatorRefusedError, match="too many") as e:
        guard.check(good, "10.0.0.1", b"s")  # even the right token, while blocked
    assert e.value.retry_after == 61
    with pytest.raises(OperatorRefusedError, match="too many"):
        guard.check(good, "10.0.0.2", b"s")  # the same /24: one network, blocked alike
    assert guard.check(good, "10.0.1.2", b"s") == token_id(good)  # another network still gets in
    for _ in range(2):
        with pytest.raises(OperatorRefusedError, match="wrong"):
            guard.check("guess", "10.0.2.3", b"s")
    with pytest.raises(OperatorRefusedError, match="too many"):
        guard.check("guess", "10.0.3.4", b"s")  # five failures in all: every wrong token is refused
    assert guard.check(good, "10.0.4.4", b"s") == token_id(good)  # ... but the operator is not locked out
    clock[0] = 61
    assert guard.check(good, "10.0.0.1", b"s") == token_id(good)


def test_many_addresses_of_one_network_cannot_lock_the_operator_out():
    """Before: 50 wrong tokens from 50 addresses of one IPv6 /64 (one host) refused the right token
    everywhere for 15 minutes, renewable, e.g. while a fake outage is being raised."""
    guard = AttemptGuard(per_address=5, total=50, window_seconds=900, clock=lambda: 0.0)
    good = operator_token(b"s")
    for i in range(55):
        with pytest.raises(OperatorRefusedError):
            guard.check("0" * 32, f"2001:db8::{i:x}", b"s")
    assert guard.check(good, "198.51.100.200", b"s") == token_id(good)
    with pytest.raises(OperatorRefusedError, match="too many"):
        guard.check(good, "2001:db8::ffff", b"s")  # the attacker's own network stays blocked
