"""The detector's kept history (outages.history) gives exactly what counting the reports again gives:
after late reports, moderation, rows written by hand, another first-report rule and on a read-only
connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from outage_data import SEOUL, load, private_copy, quiet_city, quiet_db_file, surge

from outages import history
from outages.detect import DetectorConfig
from outages.history import COUNT, EXTEND, READ
from outages.scan import scan
from outages.series import district_codes, load_series, make_frame
from store import moderation_sql, outages_sql
from store.db import connect

END = datetime(2021, 10, 20, 12, 0, tzinfo=SEOUL)  # after three weeks and two days of quiet KT and SKT


@pytest.fixture(scope="module")
def quiet_db(tmp_path_factory):
    return quiet_db_file(tmp_path_factory, "history", quiet_city(days=23, seed=11),
                         quiet_city(carrier="SKT", per_hour=8, days=23, seed=12))


@pytest.fixture
def city(quiet_db, tmp_path, monkeypatch):
    con = connect(private_copy(quiet_db, tmp_path, monkeypatch))
    yield con
    con.close()


def _series(con, end: datetime, *, kept: str, config: DetectorConfig | None = None):
    config = config or DetectorConfig()
    frame = make_frame(end - timedelta(hours=6), end, config)
    return load_series(con.cursor(), frame, config, kept=kept)


def _assert_same(kept: dict, counted: dict) -> None:
    assert kept.keys() == counted.keys()
    for network in kept:
        a, b = kept[network], counted[network]
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.expected, b.expected)  # NaN where both have no baseline yet
        assert a.kappa == b.kappa


def _kept_hours(con) -> int:
    return con.execute("SELECT count(*) FROM outage_hours").fetchone()[0]


def test_the_kept_history_gives_what_counting_gives_and_is_then_read_not_counted(city):
    first = _series(city, END, kept=EXTEND)
    _assert_same(first, _series(city, END, kept=COUNT))
    assert _kept_hours(city) > 0
    state = outages_sql.history_state(city.cursor())
    # A minute later: the same kept hours are read, nothing is counted again.
    city.execute("DELETE FROM outage_hours WHERE network = 'SKT'")  # a planted change it would carry on
    later = _series(city, END + timedelta(minutes=1), kept=EXTEND)
    assert outages_sql.history_state(city.cursor())["kept_from"] == state["kept_from"]
    assert later["SKT"].expected[0, 0] != _series(city, END + timedelta(minutes=1), kept=COUNT)["SKT"].expected[0, 0]


def test_the_detector_extends_the_kept_hours_forward_and_starts_afresh_going_back(city):
    _series(city, END, kept=EXTEND)
    before = outages_sql.history_state(city.cursor())
    _assert_same(_series(city, END + timedelta(hours=5), kept=EXTEND), _series(city, END + timedelta(hours=5),
                                                                                 kept=COUNT))
    later = outages_sql.history_state(city.cursor())
    assert later["kept_from"] == before["kept_from"] and later["kept_until"] == before["kept_until"] + 5
    back = END - timedelta(days=2)  # a replay from an earlier time
    _assert_same(_series(city, back, kept=EXTEND), _series(city, back, kept=COUNT))
    assert outages_sql.history_state(city.cursor())["kept_until"] < before["kept_until"]


def test_hours_the_detector_no_longer_needs_are_dropped(city):
    _series(city, END - timedelta(days=9), kept=EXTEND)
    first = outages_sql.history_state(city.cursor())["kept_from"]
    _assert_same(_series(city, END, kept=EXTEND), _series(city, END, kept=COUNT))
    state = outages_sql.history_state(city.cursor())
    assert state["kept_from"] > first + 8 * 24  # nine days on: the oldest hours went
    assert city.execute("SELECT min(hour) FROM outage_hours").fetchone()[0] >= state["kept_from"]


def test_pages_read_the_kept_hours_and_never_move_them(city):
    """The home page's day and an old incident's page: the kept hours are read when they hold what is
    asked, and an old window is counted without touching them (a visitor cannot make the next live
    scan count weeks again)."""
    _series(city, END, kept=EXTEND)
    state = outages_sql.history_state(city.cursor())
    hours = _kept_hours(city)
    _assert_same(_series(city, END - timedelta(hours=3), kept=READ), _series(city, END - timedelta(hours=3),
                                                                              kept=COUNT))
    old = END - timedelta(days=10)
    _assert_same(_series(city, old, kept=READ), _series(city, old, kept=COUNT))
    assert outages_sql.history_state(city.cursor()) == state and _kept_hours(city) == hours
    # Reports from three days ago arrive: a page reads around them (the hours after them are stale)
    # and leaves their mark for the detector.
    load(city, surge(END - timedelta(days=3), 30, reporters=120, carrier="KT", seed=8))
    _assert_same(_series(city, END, kept=READ), _series(city, END, kept=COUNT))
    assert city.execute("SELECT count(*) FROM outage_stale").fetchone() == (1,)
    assert outages_sql.history_state(city.cursor()) == state and _kept_hours(city) == hours


def test_a_city_whose_offset_is_not_whole_hours_is_counted(city):
    """Kept hours are UTC hours: a day that starts at :30 (Asia/Kolkata, say) is counted instead."""
    origin = datetime(2021, 9, 30, 18, 30, tzinfo=UTC)
    split = origin + timedelta(days=14)
    args = (origin, split, 60, ("KT", "SKT", "LGU+"), district_codes())
    kept = history.hourly(city.cursor(), *args, mode=EXTEND)
    counted = history.counted(city.cursor(), *args)
    for name in ("net", "area", "hour", "n"):
        np.testing.assert_array_equal(np.sort(kept[0][name]), np.sort(counted[0][name]))
    assert kept[0]["n"].sum() > 0 and outages_sql.history_state(city.cursor()) is None


def test_late_reports_make_the_hours_from_their_time_on_count_again(city):
    _series(city, END, kept=EXTEND)
    late = END - timedelta(days=6)
    # A row no count makes, in an hour before the late reports: it stays if only later hours are recounted.
    before = history.epoch_hour(late.replace(minute=0)) - 2
    city.execute("INSERT INTO outage_hours VALUES (?, 'TEST', '11110', 1)", [before])
    # A surge that happened last week, uploaded now: it changes kept hours.
    load(city, surge(late, 30, reporters=200, carrier="KT", seed=7))
    kept, counted = _series(city, END, kept=EXTEND), _series(city, END, kept=COUNT)
    _assert_same(kept, counted)
    assert city.execute("SELECT count(*) FROM outage_hours WHERE network = 'TEST'").fetchone() == (1,)
    # The upload did change the baseline (so the test would see stale hours).
    city.execute("DELETE FROM outage_hours")
    city.execute("DELETE FROM outage_stale")
    city.execute("UPDATE outage_history_state SET reports_seen = (SELECT count(*) FROM reports)")
    assert not np.array_equal(_series(city, END, kept=EXTEND)["KT"].expected, counted["KT"].expected)


def test_moderation_makes_the_hours_from_the_flagged_reports_on_count_again(city):
    _series(city, END, kept=EXTEND)
    ids = [str(r[0]) for r in city.execute(
        "SELECT report_id FROM reports WHERE network = 'KT' AND observed_at < ? ORDER BY observed_at DESC LIMIT 400",
        [END - timedelta(days=3)]).fetchall()]
    log = {"at": END, "operator": "test", "action": "flag", "target": "report", "target_id": ids[0],
           "reason": "test"}
    assert moderation_sql.set_status(city.cursor(), ids, status="flagged", flag_reason="test", log=log)
    _assert_same(_series(city, END, kept=EXTEND), _series(city, END, kept=COUNT))
    moderation_sql.set_status(city.cursor(), ids, status="ok", flag_reason=None, log={**log, "action": "restore"})
    _assert_same(_series(city, END, kept=EXTEND), _series(city, END, kept=COUNT))


def test_rows_written_without_a_mark_make_it_count_everything_again(city):
    _series(city, END, kept=EXTEND)
    columns = [r[0] for r in city.execute("DESCRIBE reports").fetchall()]
    listed = ", ".join(c for c in columns if c != "report_id")
    city.execute(f"INSERT INTO reports (report_id, {listed}) SELECT uuid(), {listed} FROM reports"
                 " WHERE network = 'KT' AND observed_at < ?", [END - timedelta(days=8)])
    assert city.execute("SELECT count(*) FROM outage_stale").fetchone() == (0,)
    _assert_same(_series(city, END, kept=EXTEND), _series(city, END, kept=COUNT))


def test_another_first_report_rule_is_never_served_hours_counted_under_the_first(city):
    _series(city, END, kept=EXTEND)
    other = DetectorConfig(dedup_minutes=15)
    _assert_same(_series(city, END, kept=EXTEND, config=other), _series(city, END, kept=COUNT, config=other))
    assert outages_sql.history_state(city.cursor())["dedup_minutes"] == 15


def test_a_read_only_store_counts_the_hours_and_keeps_nothing(quiet_db, tmp_path, monkeypatch):
    path = private_copy(quiet_db, tmp_path, monkeypatch)
    con = connect(path, read_only=True)
    try:
        _assert_same(_series(con, END, kept=EXTEND), _series(con, END, kept=COUNT))
        assert _kept_hours(con) == 0
    finally:
        con.close()


def test_scans_on_the_kept_history_find_what_scans_that_count_find(city, monkeypatch):
    """A live outage, scanned minute by minute while late reports and a moderation change arrive,
    gives the incidents that one scan counting everything gives."""
    outage = END + timedelta(days=1, hours=-1)
    load(city, surge(outage, 40, reporters=150, carrier="KT", seed=3))
    for minutes in range(0, 60, 5):
        scan(city, outage + timedelta(minutes=minutes))
        if minutes == 20:
            load(city, surge(END - timedelta(days=9), 20, reporters=60, carrier="SKT", seed=9))
    kept = pd.DataFrame(outages_sql.list_incidents(city.cursor()))
    kept_state = outages_sql.history_state(city.cursor())  # the scans above read kept hours, not counts
    city.execute("DELETE FROM incidents; DELETE FROM incident_history; DELETE FROM incident_areas;"
                 " DELETE FROM outage_scan_state")
    counted = history.hourly
    monkeypatch.setattr(history, "hourly", lambda *args, mode, **kwargs: counted(*args, mode=history.COUNT))
    for minutes in range(0, 60, 5):
        scan(city, outage + timedelta(minutes=minutes))
    again = pd.DataFrame(outages_sql.list_incidents(city.cursor()))
    assert kept_state is not None and kept_state["kept_until"] > kept_state["kept_from"]
    assert len(kept) == 1 and kept.loc[0, "network"] == "KT"
    columns = ["incident_id", "status", "onset_at", "detected_at", "reporters", "reports", "expected", "peak_ratio"]
    pd.testing.assert_frame_equal(kept[columns], again[columns])


def test_epoch_hours_refuse_a_time_off_the_hour():
    assert history.epoch_hour(datetime(1970, 1, 1, 1, tzinfo=UTC)) == 1
    with pytest.raises(ValueError, match="not on the hour"):
        history.epoch_hour(datetime(1970, 1, 1, 1, 30, tzinfo=UTC))
