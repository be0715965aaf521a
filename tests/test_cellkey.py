"""Cell-key noise on the open-data aggregates (core.cellkey): what it promises, on a real store.

The counting rules are tested on exact figures (tests/test_aggregate.py, ``exact_counts``);
here the figures as published: bounded, consistent, never below k, keyed by the site secret,
and the two-period subtraction of docs/SECURITY.md no longer exact.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from core.cellkey import KEY_MODULUS, MAX_NOISE, perturbed

K = 5
SEOUL = timezone(timedelta(hours=9))
HALL = (37.5663, 126.9779)


def test_noise_is_bounded_zero_stays_zero_and_a_shown_figure_stays_at_least_k():
    figures = np.repeat(np.arange(0, 40), 200)
    keys = np.tile(np.linspace(0, 2**32 - 1, 200).astype(np.int64), 40)
    shown = perturbed(figures, keys, K)
    assert (np.abs(shown - figures) <= MAX_NOISE).all()
    assert (shown[figures == 0] == 0).all()
    assert (shown[figures >= K] >= K).all()
    assert (shown[figures == K] == K).all()  # no room below: exact


def test_noise_has_mean_zero_and_spreads_over_every_step():
    keys = np.arange(0, 2**32, 2**32 // 5000, dtype=np.int64)
    for figure in (K + 1, K + 2, 50):
        noise = perturbed(np.full(len(keys), figure), keys, K) - figure
        h = min(MAX_NOISE, figure - K)
        assert abs(noise.mean()) < 0.01
        assert sorted(set(noise.tolist())) == list(range(-h, h + 1))


def test_a_larger_figure_never_comes_out_smaller_under_one_key():
    keys = np.arange(0, 2**32, 2**32 // 997, dtype=np.int64)
    for small in range(K, K + 8):
        for large in range(small, small + 8):
            assert (perturbed(np.full(len(keys), large), keys, K)
                    >= perturbed(np.full(len(keys), small), keys, K)).all()


def cell_key(source_ids, counts=None) -> int:
    """The cell key written plainly: the high 32 bits of each report's source_id, summed mod 2^32."""
    counts = [1] * len(source_ids) if counts is None else counts
    return sum((int(i) >> 32) * int(c) for i, c in zip(source_ids, counts, strict=True)) % KEY_MODULUS


def key_of(con, where: str) -> int:
    """The cell key of the stored reports ``where`` selects, from the stored source_ids."""
    sources = con.execute(f"SELECT source_id, count(*) FROM reports WHERE {where} GROUP BY ALL").fetchall()
    return cell_key([s for s, _ in sources], [n for _, n in sources])


def test_the_cell_key_is_the_sum_of_record_keys_with_their_reports():
    ids = [(7 << 32) | 5, (2**32 - 1) << 32, 3]
    assert cell_key(ids) == (7 + 2**32 - 1 + 0) % 2**32
    assert cell_key(ids, [2, 1, 9]) == (14 + 2**32 - 1) % 2**32


# --- on a store ------------------------------------------------------------------------------

def _report(code: str, when: datetime, kind: str = "dropped_call", network: str = "KT") -> dict:
    return {"observed_at": when.isoformat(), "lat": HALL[0], "lon": HALL[1], "carrier": network, "kind": kind,
            "reporter_code": code}


def _load(con, rows) -> None:
    from ingest.loader import Origin, load_frame

    result = load_frame(con, pd.DataFrame(rows), Origin(source="web"))
    assert result.rejected == 0, result.errors[:3]


def _week_rows(monday: date, people: range, prefix: str, per_person: int = 1) -> list[dict]:
    start = datetime(monday.year, monday.month, monday.day, 9, tzinfo=SEOUL)
    rows = []
    for p in people:
        for i in range(per_person):
            rows.append(_report(f"{prefix}-{p:04d}-CELLKEYX", start + timedelta(days=i % 5, hours=p % 8)))
            rows.append(_report(f"{prefix}-{p:04d}-CELLKEYX", start + timedelta(days=i % 5, hours=p % 8, minutes=5),
                                kind="ok"))
    return rows


WEEK1, WEEK2 = date(2021, 10, 4), date(2021, 10, 11)


@pytest.fixture
def two_weeks(con, monkeypatch):
    """One hex, KT: 40 people in week 1, 2 more people (fewer than k) in week 2."""
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", str(K))
    _load(con, _week_rows(WEEK1, range(40), "AAAA", per_person=2) + _week_rows(WEEK2, range(40, 42), "BBBB"))
    return con


def _hall_row(con, since: date, until: date, *, exact: bool = False) -> dict:
    import core.cellkey
    from geo.aggregate import ExportQuery, build

    saved = core.cellkey.MAX_NOISE
    core.cellkey.MAX_NOISE = 0 if exact else saved
    cur = con.cursor()
    try:
        rows = build(cur, ExportQuery(res=8, by="all", carrier="KT", since=since, until=until),
                     today=date(2022, 1, 1)).records()
    finally:
        cur.close()
        core.cellkey.MAX_NOISE = saved
    [row] = [r for r in rows if r["kind"] == "all_failures"]
    return row


def test_figures_carry_the_noise_of_their_reports_keys(two_weeks):
    key = key_of(two_weeks, "kind <> 'ok' AND observed_at < '2021-10-11'")
    exact = _hall_row(two_weeks, WEEK1, WEEK1 + timedelta(days=6), exact=True)
    shown = _hall_row(two_weeks, WEEK1, WEEK1 + timedelta(days=6))
    assert (exact["reports"], exact["reporters"]) == (80, 40)
    assert shown["reports"] == perturbed(80, key, K)
    assert shown["reporters"] == perturbed(40, key, K)
    assert shown["observations"] == shown["reports"] + shown["ok_samples"]
    assert shown["failure_rate"] == pytest.approx(shown["reports"] / shown["observations"])


def test_asking_again_gives_the_same_figures(two_weeks):
    first = _hall_row(two_weeks, WEEK1, WEEK2 + timedelta(days=6))
    assert all(_hall_row(two_weeks, WEEK1, WEEK2 + timedelta(days=6)) == first for _ in range(3))


def test_two_periods_no_longer_subtract_to_the_small_week(con, monkeypatch):
    """Weeks 1-2 minus week 1 was week 2's failures exactly (2 people, under k). Now it is off
    by the two rows' unrelated noise: over many such hexes (different people each time) the
    subtraction misses the true count most of the time and the misses spread both ways."""
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", str(K))
    misses = _subtraction_misses(con, lambda since, until: _hall_row(con, since, until)["reports"], "A")
    assert sum(m != 0 for m in misses) >= 15
    assert min(misses) < 0 < max(misses)
    assert max(abs(m) for m in misses) <= 2 * MAX_NOISE


def _subtraction_misses(con, failures, prefix: str, trials: int = 30) -> list[int]:
    """Weeks 1-2 minus week 1 of ``failures(since, until)``, less week 2's true 2 failures, in
    ``trials`` towns of 20 people in week 1 and 2 others in week 2 (new people each time)."""
    misses = []
    for trial in range(trials):
        con.execute("DELETE FROM reports")
        _load(con, _week_rows(WEEK1, range(20), f"{prefix}{trial:03d}", per_person=2)
              + _week_rows(WEEK2, range(20, 22), f"{prefix}{trial + 500:03d}"))
        misses.append(failures(WEEK1, WEEK2 + timedelta(days=6)) - failures(WEEK1, WEEK1 + timedelta(days=6)) - 2)
    return misses


def test_another_site_secret_gives_other_noise(tmp_path, monkeypatch):
    from store.db import connect

    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", str(K))
    shown = []
    for secret in ("site-one-secret-xxxxxxxx", "site-two-secret-yyyyyyyy"):
        monkeypatch.setenv("DROPMAP_SECRET", secret)
        con = connect(tmp_path / f"{secret}.duckdb")
        try:
            values = []
            for trial in range(8):
                con.execute("DELETE FROM reports")
                _load(con, _week_rows(WEEK1, range(20), f"S{trial:03d}", per_person=2))
                values.append(_hall_row(con, WEEK1, WEEK1 + timedelta(days=6))["reports"])
            shown.append(values)
        finally:
            con.close()
    assert shown[0] != shown[1]  # the keys come from the secret: outsiders cannot compute them


# --- the map ---------------------------------------------------------------------------------

def _map_counts(con, since: date, until: date, *, exact: bool = False) -> dict:
    import core.cellkey
    from store import map_sql
    from store.filters import ReportFilter

    saved = core.cellkey.MAX_NOISE
    core.cellkey.MAX_NOISE = 0 if exact else saved
    try:
        frame = map_sql.hex_counts(con, 8, ReportFilter(networks=("KT",), since=since, until=until,
                                                        failures_only=False), k=K, sources=True)
    finally:
        core.cellkey.MAX_NOISE = saved
    [row] = frame.to_dict("records")
    return row


def test_the_map_counts_carry_the_same_noise_as_the_downloads(two_weeks):
    """One hex over week 1: the map's failures are the exact count with the key of the reports
    behind them, the same figure the hex API and the files publish for the same reports."""
    until = WEEK1 + timedelta(days=6)
    exact, shown = _map_counts(two_weeks, WEEK1, until, exact=True), _map_counts(two_weeks, WEEK1, until)
    assert (exact["failures"], exact["samples"], exact["reports"]) == (80, 80, 160)
    def key(kind: str) -> int:
        return key_of(two_weeks, f"observed_at < '2021-10-11' AND kind {kind}")

    assert shown["failures"] == perturbed(80, key("<> 'ok'"), K)
    assert shown["samples"] == perturbed(80, key("= 'ok'"), K)
    assert shown["reports"] == shown["failures"] + perturbed(80, key("= 'ok'"), K)  # the rest: the samples
    download = _hall_row(two_weeks, WEEK1, until)
    assert (download["reports"], download["ok_samples"]) == (shown["failures"], shown["samples"])
    assert shown["reporters"] == min(perturbed(exact["reporters"], key("IS NOT NULL"), K), shown["reports"])
    assert shown["failure_reporters"] == perturbed(exact["failure_reporters"], key("<> 'ok'"), K)


def test_two_map_periods_no_longer_subtract_to_the_small_week(con, monkeypatch):
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", str(K))
    misses = _subtraction_misses(con, lambda since, until: _map_counts(con, since, until)["failures"], "M")
    assert sum(m != 0 for m in misses) >= 15
    assert min(misses) < 0 < max(misses)


# --- My reports ------------------------------------------------------------------------------

def test_my_reports_shows_others_with_the_same_noise(two_weeks):
    """The others beside my report (same hex, same 4-hour bucket, within 30 days): their failures,
    samples and reporters carry the keys of those reports."""
    import core.cellkey
    from evidence import compare_nearby, my_reports

    code = "ASKR-0001-CELLKEYX"
    _load(two_weeks, [_report(code, datetime(2021, 10, 5, 10, 30, tzinfo=SEOUL))])
    mine = my_reports(two_weeks, code)
    assert len(mine) == 1
    saved = core.cellkey.MAX_NOISE
    core.cellkey.MAX_NOISE = 0
    try:
        exact = compare_nearby(two_weeks, code, mine, k=K).networks["KT"]
    finally:
        core.cellkey.MAX_NOISE = saved
    shown = compare_nearby(two_weeks, code, mine, k=K).networks["KT"]

    def key(kind: str) -> int:  # the others in bucket 2 (08-12 h), my own report left out
        return key_of(two_weeks, "hour(timezone('Asia/Seoul', observed_at)) // 4 = 2 AND kind "
                      f"{kind} AND NOT (kind <> 'ok' AND observed_at = '2021-10-05 10:30:00+09')")

    assert (exact.failures, exact.ok_samples, exact.reporters) == (32, 32, 17)  # 15 + 2 people of week 2
    assert shown.failures == perturbed(32, key("<> 'ok'"), K)
    assert shown.ok_samples == perturbed(32, key("= 'ok'"), K)
    # all the line's people: their own noise, never fewer than the people behind one of its figures
    assert shown.reporters >= max(perturbed(17, key("IS NOT NULL"), K), shown.failure_reporters)
    assert abs(shown.reporters - 17) <= MAX_NOISE and shown.failure_reporters <= shown.failures


# --- invariants of the published rows, on the small demo city ---------------------------------

@pytest.mark.parametrize("k", [3, 5])
def test_published_rows_never_contradict_themselves(demo_db, monkeypatch, k):
    """Under the noise: no figure between 0 and k, reporters never above reports, a kind never above its
    group's failures (possible with k = 3 before: a kind row's noise and its group's are unrelated),
    observations = failures + samples, rates inside their intervals; and the answer says it is perturbed."""
    from geo.aggregate import ExportQuery, build
    from geo.export import describe, inline_metadata
    from store.db import connect

    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", str(k))
    con = connect(demo_db, read_only=True)
    cur = con.cursor()
    try:
        agg = build(cur, ExportQuery(res=8, by="hour"))
        rows = pd.DataFrame(agg.records())
        metadata = inline_metadata(describe(agg, generated_at=datetime.now(UTC), rows=agg.rows))
    finally:
        cur.close()
        con.close()
    assert "cell-key noise" in metadata["perturbation"] and "at least" in metadata["suppression"]
    for figure in ("reports", "reporters", "ok_samples", "ok_reporters"):
        values = rows[figure].dropna()
        assert ((values == 0) | (values >= k)).all(), figure
    assert (rows["reporters"].dropna() <= rows["reports"].dropna()).all()
    shown = rows[rows["kind"] == "all_failures"].dropna(subset=["observations"])  # a kind's: its group's
    assert (shown["observations"] == shown["reports"] + shown["ok_samples"]).all()
    rated = rows.dropna(subset=["failure_rate"])
    assert ((rated["rate_low"] <= rated["failure_rate"]) & (rated["failure_rate"] <= rated["rate_high"])).all()
    keys = ["h3_cell", "network", "hour"]
    totals = rows[rows["kind"] == "all_failures"].set_index(keys)[["reports", "reporters"]]
    kinds = rows[rows["kind"] != "all_failures"].join(totals, on=keys, rsuffix="_all")
    assert len(kinds) > 10
    assert (kinds["reports"] <= kinds["reports_all"]).all() and (kinds["reporters"] <= kinds["reporters_all"]).all()


# --- kind rows, and the hex detail's kinds and devices ------------------------------------------

@pytest.fixture
def two_kinds(con, monkeypatch):
    """One hex, KT, one week: 40 people with dropped calls (Galaxy), 30 others with no data (iPhone)."""
    monkeypatch.setenv("DROPMAP_MIN_REPORTERS", str(K))
    start = datetime(2021, 10, 4, 9, tzinfo=SEOUL)
    rows = []
    for p in range(70):
        kind, model = ("dropped_call", "SM-G991N") if p < 40 else ("no_data", "iPhone 13")
        for i in range(2):
            when = start + timedelta(days=i, hours=p % 8)
            rows.append(_report(f"KIND-{p:04d}-CELLKEYX", when, kind=kind) | {"device_model": model})
            rows.append(_report(f"KIND-{p:04d}-CELLKEYX", when + timedelta(minutes=5), kind="ok")
                        | {"device_model": model})
    _load(con, rows)
    return con


def test_the_kind_rows_of_the_files_carry_their_own_reports_noise(two_kinds):
    """/api/v1/hexes and the files, one row per kind: each kind's failures and reporters are its exact
    count perturbed by the key of its own reports, never above the hex's all-failures row."""
    from geo.aggregate import ExportQuery, build

    cur = two_kinds.cursor()
    try:
        rows = build(cur, ExportQuery(res=8, by="all", carrier="KT", since=date(2021, 10, 4),
                                      until=date(2021, 10, 10)), today=date(2022, 1, 1)).records()
    finally:
        cur.close()
    by_kind = {r["kind"]: r for r in rows}
    whole = by_kind["all_failures"]
    moved = 0
    for kind, (reports, reporters) in {"dropped_call": (80, 40), "no_data": (60, 30)}.items():
        key = key_of(two_kinds, f"kind = '{kind}'")
        row = by_kind[kind]
        assert row["reports"] == min(perturbed(reports, key, K), whole["reports"]), kind
        assert row["reporters"] == min(perturbed(reporters, key, K), whole["reporters"]), kind
        moved += (row["reports"], row["reporters"]) != (reports, reporters)
    assert whole["reports"] == perturbed(140, key_of(two_kinds, "kind <> 'ok'"), K)
    assert moved  # the noise is there to see


def test_the_hex_detail_kinds_and_devices_carry_their_own_reports_noise(two_kinds):
    """The map's hex detail: failures and reporters per kind and per phone model are the exact counts
    perturbed by the key of the reports behind each row."""
    from geo import mapdetail, mapview
    from geo.mapquery import MapQuery

    cur = two_kinds.cursor()
    try:
        cell = mapview.cell_at(*HALL, 8)
        detail = mapdetail.cell_detail(cur, MapQuery(res=8, carrier="KT"), cell)
    finally:
        cur.close()
    assert detail.published
    shown, exact = [], []
    kinds = {r.kind: r for r in detail.kinds.itertuples()}
    devices = {r.device_model: r for r in detail.devices.itertuples()}
    for row, where, failures, reporters in (
            (kinds["dropped_call"], "kind = 'dropped_call'", 80, 40), (kinds["no_data"], "kind = 'no_data'", 60, 30),
            (devices["SM-G991N"], "kind <> 'ok' AND device_model = 'SM-G991N'", 80, 40),
            (devices["iPhone 13"], "kind <> 'ok' AND device_model = 'iPhone 13'", 60, 30)):
        key = key_of(two_kinds, where)
        assert (row.failures, row.reporters) == (perturbed(failures, key, K), perturbed(reporters, key, K)), where
        shown.append((row.failures, row.reporters)), exact.append((failures, reporters))
    assert shown != exact  # the noise is there to see
