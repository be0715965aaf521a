"""Abuse resistance: hourly rate limits, near-duplicate collapse, implausible-travel flags."""

from __future__ import annotations

import pandas as pd
import pytest

from ingest.abuse import (
    AbuseChecks,
    RateLimitedError,
    RateLimiter,
    distance_m,
    is_implausible_travel,
    travel_speed_kmh,
)
from ingest.loader import Origin, load_frame
from store.filters import ReportFilter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- rate limits ------------------------------------------------------------------------

def test_rate_limit_allows_up_to_the_limit_then_says_when_to_retry():
    clock = FakeClock()
    limiter = RateLimiter(window_seconds=3600, clock=clock)
    for _ in range(3):
        limiter.reserve([("code", 1, 3)], 1)
    with pytest.raises(RateLimitedError) as caught:
        limiter.reserve([("code", 1, 3)], 1)
    assert caught.value.retry_after == 3600
    assert caught.value.scope == "code"
    clock.now += 1800
    with pytest.raises(RateLimitedError) as caught:
        limiter.reserve([("code", 1, 3)], 1)
    assert caught.value.retry_after == 1800  # when the first report leaves the window
    clock.now += 1800
    limiter.reserve([("code", 1, 3)], 1)  # the first three left the window


def test_rate_limit_is_all_or_nothing_across_code_and_ip():
    limiter = RateLimiter(clock=FakeClock())
    limiter.reserve([("ip", 9, 2)], 2)
    with pytest.raises(RateLimitedError) as caught:
        limiter.reserve([("code", 1, 10), ("ip", 9, 2)], 1)
    assert caught.value.scope == "ip"
    # The code was not charged for the refused request: 10 more fit.
    limiter.reserve([("code", 1, 10)], 10)


@pytest.mark.parametrize("limit, batches, refused", [
    (0, [1000, 1000], False),     # 0 turns the limit off
    (5, [5], False),
    (5, [6], True),              # more than the limit in one request: never allowed
    (5, [2, 2, 1], False),
    (5, [2, 2, 2], True),
])
def test_rate_limit_table(limit, batches, refused):
    limiter = RateLimiter(clock=FakeClock())
    try:
        for count in batches:
            limiter.reserve([("code", 1, limit)], count)
    except RateLimitedError:
        assert refused
    else:
        assert not refused


def test_rate_limiter_memory_is_bounded():
    clock = FakeClock()
    limiter = RateLimiter(max_keys=3, clock=clock)
    for key in range(10):
        clock.now += 1
        limiter.reserve([("ip", key, 5)], 1)
    assert len(limiter._memory._events) == 3


# --- distances and speeds -------------------------------------------------------------------

def test_distance_pinned():
    assert distance_m(0, 0, 0, 1) == pytest.approx(111_194.9, abs=0.1)
    # Seoul City Hall to Gangnam station: about 8.8 km.
    assert distance_m(37.5663, 126.9779, 37.4979, 127.0276) == pytest.approx(8_840, rel=0.01)


@pytest.mark.parametrize("metres, seconds, implausible", [
    (500, 1, False),            # inside location error
    (2_000, 60, False),         # 120 km/h: a car
    (10_000, 60, True),         # 600 km/h
    (300_000, 3600, False),     # 300 km/h: KTX
    (400_000, 3600, True),      # 400 km/h: faster than any train
    (5_000, 0, True),           # two places at once
])
def test_implausible_travel_table(metres, seconds, implausible):
    assert is_implausible_travel(metres, seconds) is implausible


def test_travel_speed():
    assert travel_speed_kmh(1000, 3600) == pytest.approx(1.0)


# --- checks on stored and staged reports --------------------------------------------------

def report(lat=37.5665, lon=126.978, at="2021-10-25T11:20:00+09:00", kind="dropped_call", carrier="KT", **more):
    return {"lat": str(lat), "lon": str(lon), "carrier": carrier, "kind": kind, "observed_at": at, **more}


def load(con, rows, code="ABCD-EFGH-JKLM"):
    checks = AbuseChecks()
    result = load_frame(con, pd.DataFrame(rows), Origin(source="web", reporter_code=code), flagger=checks,
                        return_ids=True)
    return result, checks


def stored(con):
    return con.execute("SELECT lat, lon, kind, status, flag_reason FROM reports ORDER BY observed_at, lat").df()


@pytest.mark.parametrize("second, collapsed", [
    (report(lat=37.5668), True),                                  # 33 m, same minute
    (report(at="2021-10-25T11:24:00+09:00"), True),               # 4 minutes later, same place
    (report(at="2021-10-25T11:26:00+09:00"), False),              # 6 minutes later
    (report(lat=37.5680), False),                                 # 167 m away
    (report(kind="no_data"), False),                              # another kind
    (report(carrier="SKT"), False),                               # another carrier
])
def test_near_duplicates_across_batches(con, second, collapsed):
    load(con, [report()])
    result, checks = load(con, [second])
    assert (result.accepted, result.duplicates) == ((0, 1) if collapsed else (1, 0))
    assert bool(checks.collapsed) is collapsed
    assert len(stored(con)) == (1 if collapsed else 2)


def test_near_duplicates_within_one_batch_keep_the_first(con):
    result, checks = load(con, [report(), report(lat=37.5666, at="2021-10-25T11:21:00+09:00"),
                                report(lat=37.5667, at="2021-10-25T11:22:00+09:00")])
    assert result.accepted == 1 and result.duplicates == 2
    assert sorted(checks.collapsed) == [2, 3]
    assert "kept the first" in checks.collapsed[2]


def test_other_reporters_are_never_collapsed(con):
    load(con, [report()], code="AAAA-AAAA-AAAA")
    result, _ = load(con, [report()], code="BBBB-BBBB-BBBB")
    assert result.accepted == 1


def test_teleport_is_flagged_kept_and_hidden_from_public_views(con):
    load(con, [report()])  # City Hall, 11:20
    result, checks = load(con, [report(lat=35.1796, lon=129.0756, at="2021-10-25T11:40:00+09:00")])  # Busan
    assert result.accepted == 1
    rows = stored(con)
    busan = rows[rows["lat"] < 36].iloc[0]
    assert busan["status"] == "flagged"
    assert busan["flag_reason"].startswith("implausible_travel: ")
    assert "km/h" in busan["flag_reason"]
    where, values = ReportFilter().where()
    public = con.execute(f"SELECT count(*) FROM reports WHERE {where}", values).fetchone()[0]
    assert public == 1


def test_a_train_trip_is_not_flagged(con):
    load(con, [report()])
    result, checks = load(con, [report(lat=35.1152, lon=129.0422, at="2021-10-25T14:10:00+09:00")])  # 2 h 50 min
    assert not checks.flagged
    assert (stored(con)["status"] == "ok").all()


def test_back_dated_report_between_two_is_judged_against_both(con):
    load(con, [report(), report(at="2021-10-25T12:20:00+09:00", lat=37.57)])
    _, checks = load(con, [report(lat=35.1796, lon=129.0756, at="2021-10-25T11:50:00+09:00")])
    assert list(checks.flagged.values())[0].startswith("implausible_travel")


def test_location_accuracy_is_forgiven(con):
    load(con, [report(accuracy_m="3000")])
    # 5 km away one minute later, but both positions are only good to 3 km.
    _, checks = load(con, [report(lat=37.6115, at="2021-10-25T11:21:00+09:00", accuracy_m="3000")])
    assert not checks.flagged


def test_flagged_reports_do_not_anchor_later_checks(con):
    load(con, [report()])
    load(con, [report(lat=35.1796, lon=129.0756, at="2021-10-25T11:40:00+09:00")])  # flagged
    _, checks = load(con, [report(lat=37.57, at="2021-10-25T11:50:00+09:00")])  # back in Seoul: fine
    assert not checks.flagged
