"""store.cache: results kept per data version, fresh enough for DROPMAP_CACHE_SECONDS, then served while
computed again in the background; one computation per key; memory bounded; stores never mixed."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from store.cache import ResultCache, size_of
from store.db import close_shared, connect, shared_connection

CALLS: list[str] = []


def batches(cur) -> int:
    CALLS.append("batches")
    return cur.execute("SELECT count(*) FROM batches").fetchone()[0]


def slow_batches(cur) -> int:
    time.sleep(0.3)
    return batches(cur)


def frame_of(cur, rows: int) -> pd.DataFrame:
    CALLS.append(f"frame {rows}")
    return pd.DataFrame({"text": [f"row {i:06d}" for i in range(rows)]})


def broken(cur) -> int:
    CALLS.append("broken")
    raise RuntimeError("the read failed")


def slow_broken(cur) -> int:
    time.sleep(0.3)
    return broken(cur)


def numbered(cur, i: int) -> int:
    CALLS.append(threading.current_thread().name)
    return i


FAIL_FROM_NOW_ON = []


def fails_later(cur) -> int:
    if FAIL_FROM_NOW_ON:
        raise RuntimeError("the store is too slow now")
    return batches(cur)


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "cache.duckdb"
    connect(path).close()
    monkeypatch.setenv("DROPMAP_DB", str(path))
    monkeypatch.setenv("DROPMAP_CACHE_SECONDS", "1")
    monkeypatch.setattr("store.cache.VERSION_SECONDS", 0.0)  # every read sees the newest data version
    CALLS.clear()
    yield path
    close_shared()


def _add_batch(path) -> None:
    cur = shared_connection(path).cursor()
    cur.execute("INSERT INTO batches VALUES (uuid(), 'web', NULL, NULL, NULL, now(), 1, 1, 0, 0, NULL, NULL)")
    cur.close()


def test_the_same_data_is_answered_from_the_kept_copy(store):
    cache = ResultCache(max_bytes=1 << 20)
    assert cache.read(batches) == 0 and cache.read(batches) == 0
    assert CALLS == ["batches"]
    assert cache.stats().hits == 1 and cache.stats().misses == 1


def test_new_data_show_after_the_cache_time_and_one_computation(store):
    cache = ResultCache(max_bytes=1 << 20)
    assert cache.read(batches) == 0
    _add_batch(store)
    assert cache.read(batches) == 0  # fresh enough: computed less than DROPMAP_CACHE_SECONDS ago
    time.sleep(1.1)
    assert cache.read(batches) == 0  # old and out of date: still served, computed again meanwhile
    cache.wait()
    assert cache.read(batches) == 1
    assert CALLS == ["batches", "batches"]
    assert cache.stats().refreshes == 1 and cache.stats().stale_hits == 2


def test_an_entry_too_old_for_changed_data_is_computed_while_the_visitor_waits(store):
    cache = ResultCache(max_bytes=1 << 20)
    assert cache.read(batches) == 0
    _add_batch(store)
    time.sleep(3.1)  # three times DROPMAP_CACHE_SECONDS=1: never served out of date
    assert cache.read(batches) == 1
    assert cache.stats().misses == 2 and cache.stats().stale_hits == 0


def test_a_failed_refresh_does_not_keep_old_figures_for_ever(store):
    """A refresh that fails leaves the old answer only until it is too old; then the visitor computes
    and sees the error (as before the cache), instead of old figures served indefinitely."""
    FAIL_FROM_NOW_ON.clear()
    cache = ResultCache(max_bytes=1 << 20)
    assert cache.read(fails_later) == 0
    _add_batch(store)
    FAIL_FROM_NOW_ON.append(True)
    time.sleep(1.1)
    assert cache.read(fails_later) == 0  # served out of date; the refresh fails in the background
    cache.wait()
    time.sleep(2.0)
    with pytest.raises(RuntimeError, match="too slow"):
        cache.read(fails_later)
    FAIL_FROM_NOW_ON.clear()


def test_moderation_is_never_answered_from_an_older_copy(store):
    """The operator flags reports: no visitor is served figures computed before, however fresh."""
    cache = ResultCache(max_bytes=1 << 20)
    assert cache.read(batches) == 0
    _add_batch(store)
    cur = shared_connection(store).cursor()
    cur.execute("INSERT INTO moderation_log VALUES"
                " (uuid(), now(), 'op', 'flag', 'report', 'x', 1, NULL, 'test', NULL, NULL)")
    cur.close()
    assert cache.read(batches) == 1  # computed less than DROPMAP_CACHE_SECONDS ago, yet computed again


def test_stale_entries_are_computed_again_one_at_a_time(store):
    cache = ResultCache(max_bytes=1 << 20)
    for i in range(40):
        cache.read(numbered, i)
    _add_batch(store)
    time.sleep(1.1)
    started = time.perf_counter()
    assert [cache.read(numbered, i) for i in range(40)] == list(range(40))
    assert time.perf_counter() - started < 1.0  # served at once, not computed while waiting
    assert sum(t.name == "cache-refresh" for t in threading.enumerate()) <= 1
    cache.wait()
    assert cache.stats().refreshes == 40
    assert set(CALLS[40:]) == {"cache-refresh"}


def test_visitors_waiting_for_a_failed_computation_get_its_error(store):
    cache = ResultCache(max_bytes=1 << 20)
    errors = []

    def ask() -> None:
        try:
            cache.read(slow_broken)
        except RuntimeError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == ["the read failed"] * 4 and CALLS == ["broken"]


def test_visitors_asking_at_once_share_one_computation(store):
    cache = ResultCache(max_bytes=1 << 20)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(cache.read(slow_batches))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [0, 0, 0, 0] and CALLS == ["batches"]


def test_memory_stays_within_its_bound(store):
    one = size_of(pd.DataFrame({"text": [f"row {i:06d}" for i in range(1000)]}))
    cache = ResultCache(max_bytes=one * 5)
    for rows in range(1000, 1008):
        cache.read(frame_of, rows)
    stats = cache.stats()
    assert stats.bytes <= stats.max_bytes and stats.entries < 8 and stats.evictions > 0
    cache.read(frame_of, 1007)  # the most recent is kept
    assert CALLS.count("frame 1007") == 1
    cache.read(frame_of, 1000)  # the least recent went first
    assert CALLS.count("frame 1000") == 2
    cache.read(frame_of, 5000)  # larger than a quarter of the bound: answered, not kept
    cache.read(frame_of, 5000)
    assert CALLS.count("frame 5000") == 2


def test_two_stores_never_share_an_entry(store, tmp_path, monkeypatch):
    cache = ResultCache(max_bytes=1 << 20)
    _add_batch(store)
    assert cache.read(batches) == 1
    other = tmp_path / "other.duckdb"
    connect(other).close()
    monkeypatch.setenv("DROPMAP_DB", str(other))
    assert cache.read(batches) == 0


def test_a_failed_read_is_not_kept(store):
    cache = ResultCache(max_bytes=1 << 20)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="the read failed"):
            cache.read(broken)
    assert CALLS == ["broken", "broken"] and cache.stats().entries == 0


def test_sizes_count_what_a_frame_holds():
    frame = pd.DataFrame({"text": ["x" * 100] * 1000})
    assert size_of(frame) > 100_000
    assert size_of({"a": frame, "b": (frame, frame)}) > 3 * 100_000


def test_views_kept_current_are_computed_in_the_background_never_while_a_visitor_waits(store, monkeypatch):
    """``keep_current`` (called on a timer for the map's opening and whole-record views) computes a view
    before anyone asks, and again once reports arrive and DROPMAP_CACHE_SECONDS have passed, or at
    once after a moderation action: visitors are answered from the kept copy, never kept waiting."""
    cache = ResultCache(max_bytes=1 << 20)
    assert cache.keep_current(batches) is True
    cache.wait()
    assert cache.read(batches) == 0 and cache.stats().misses == 0
    assert cache.keep_current(batches) is False  # up to date: nothing to do
    _add_batch(store)
    assert cache.keep_current(batches) is False  # out of date, but younger than DROPMAP_CACHE_SECONDS
    time.sleep(1.05)
    assert cache.keep_current(batches) is True
    cache.wait()
    assert cache.read(batches) == 1 and cache.stats().misses == 0
    cur = shared_connection(store).cursor()
    cur.execute("INSERT INTO moderation_log VALUES"
                " (uuid(), now(), 'op', 'flag', 'report', 'x', 1, NULL, 'test', NULL, NULL)")
    cur.close()
    assert cache.keep_current(batches) is True  # at once: a flagged report must not stay on the map
    cache.wait()
    assert cache.stats().misses == 0 and CALLS == ["batches"] * 3


def test_the_site_keeps_the_opening_and_the_whole_record_views(tmp_path, monkeypatch):
    """Over a record longer than the recent window, the site keeps both views a visitor gets without
    choosing anything; the map page then computes neither of them."""
    from geo import mapview
    from geo.mapquery import recent_window
    from ingest.demo import DemoOptions, build_demo
    from store.cache import RESULTS

    path = tmp_path / "long.duckdb"
    con = connect(path)
    build_demo(con, DemoOptions(reports=3000, days=140, seed=5))
    con.close()
    monkeypatch.setenv("DROPMAP_DB", str(path))
    try:
        with shared_connection(path).cursor() as cur:
            views = mapview.kept_views(cur)
            first, last = mapview.map_sql.data_period(cur)
        assert [(v.since, v.until) for v in views] == [recent_window(first, views[0].until), (first, last)]
        assert views[0].since > first  # 140 days: the window is 13 weeks of them
        mapview.keep_views().join()
        RESULTS.wait()
        computed = RESULTS.stats().misses
        for view in views:
            assert RESULTS.read(mapview.level_view, view).query == view
        assert RESULTS.stats().misses == computed
    finally:
        RESULTS.clear()
        close_shared()


def long_count(cur) -> int:
    CALLS.append("long_count")
    return cur.execute("SELECT count(*) FROM range(400000000) t(i) WHERE i % 7 = 3").fetchone()[0]


def test_background_work_has_its_own_time_limit_not_a_requests(store, monkeypatch):
    """A visitor's read stops at DROPMAP_QUERY_MS; the kept views computed in the background, which
    nobody waits for, stop only at DROPMAP_BUILD_MS (the whole record at 100 M takes seconds)."""
    from store.read import QueryTimeout

    monkeypatch.setenv("DROPMAP_QUERY_MS", "50")
    cache = ResultCache(max_bytes=1 << 20)
    with pytest.raises(QueryTimeout):
        cache.read(long_count)
    monkeypatch.setenv("DROPMAP_BUILD_MS", "600000")
    assert cache.keep_current(long_count)
    cache.wait()
    assert cache.read(long_count) == 57142857  # kept: served without a computation
    assert CALLS == ["long_count", "long_count"]


ENDLESS_STARTED = threading.Event()


def endless(cur) -> int:
    ENDLESS_STARTED.set()
    return cur.execute("SELECT sum(i) FROM range(1000000000000) t(i)").fetchone()[0]


def test_a_view_being_computed_is_not_queued_again_and_stop_interrupts_it(store, monkeypatch):
    """The keeper asks every DROPMAP_CACHE_SECONDS: a view the worker is computing is not queued a
    second time; the site's shutdown (stop) interrupts it instead of waiting up to DROPMAP_BUILD_MS."""
    monkeypatch.setenv("DROPMAP_BUILD_MS", "600000")
    ENDLESS_STARTED.clear()
    cache = ResultCache(max_bytes=1 << 20)
    assert cache.keep_current(endless) is True
    assert ENDLESS_STARTED.wait(30)
    assert cache.keep_current(endless) is False  # being computed: not queued again
    cache.stop()
    assert cache._worker is None and cache.stats().refreshes == 0  # interrupted, not finished
