"""What replicas of one shared store share besides the data (issue "Scale out", part 3): the outage detector runs
in exactly one replica at a time, under a lease in the catalog's PostgreSQL, and another takes over within two
scan intervals when its holder is killed; a queued webhook delivery is sent once; the rate limits count in
PostgreSQL, so a quota charged through one replica is spent for all. With the embedded file nothing of this
needs PostgreSQL."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ROOT, free_port, start_site

from core import settings
from core.errors import RateLimitedError
from core.operator import OperatorRefusedError, operator_token
from outages import service
from outages.lease import LEASE_NAME, DetectorLease, SoleLease, detector_lease
from store import outages_sql, pg
from store.db import close_shared, connect, cursor
from store.leases import lease_state, release_lease, take_lease
from store.limits import AttemptGuard, RateLimiter, uses_shared_counters

SCAN = 4  # seconds between scans in the replicas started here; the takeover deadline is two of them


@pytest.fixture(autouse=True)
def _closed_connections():
    yield
    pg.close_all()
    close_shared()


def _create(location: str) -> None:
    """Create the shared store once, before replicas open it together."""
    connect(location).close()


class Replica:
    """tests/replica.py in its own process: a replica's detector, sender and lease keeper; its log lines kept."""

    def __init__(self, location: str, **env: str) -> None:
        environment = {**os.environ, "DROPMAP_STORE": location, "DROPMAP_SCAN_SECONDS": str(SCAN), **env}
        self.process = subprocess.Popen([sys.executable, "-u", str(ROOT / "tests" / "replica.py")], cwd=ROOT,
                                        env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, seconds: float) -> re.Match | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        return None

    def own_id(self, seconds: float) -> str:
        """This replica's holder id, from the first thing it says about the lease."""
        found = self.wait_for(r"this replica \((\S+)\) now runs|this one \((\S+)\) skips", seconds)
        assert found, "\n".join(self.lines)
        return found.group(1) or found.group(2)

    def count(self, pattern: str) -> int:
        return sum(1 for line in list(self.lines) if re.search(pattern, line))

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(5)  # every line it wrote is read


def _holder() -> str | None:
    state = lease_state(LEASE_NAME)
    return state.holder if state is not None and state.is_live else None


def test_two_replicas_contend_one_runs_the_detector_and_the_other_takes_over_when_it_is_killed(shared_store):
    _create(shared_store)
    first, second = Replica(shared_store), Replica(shared_store)
    try:
        ids = {first: first.own_id(120), second: second.own_id(120)}
        assert ids[first] != ids[second]
        holder = _holder()
        assert holder in ids.values()
        winner, loser = (first, second) if ids[first] == holder else (second, first)
        # Exactly one won: it says it runs the detector, the other that the winner does and it skips.
        assert winner.count(r"now runs the outage detector") == 1
        assert loser.count(r"now runs the outage detector") == 0
        assert loser.wait_for(rf"another replica \({re.escape(ids[winner])}\) runs the outage detector", 5)
        assert winner.wait_for(rf"outage scan done by {re.escape(ids[winner])}", 120)
        time.sleep(2 * SCAN)  # two more intervals: the winner keeps the lease and scans, the loser never does
        assert winner.count("outage scan done") >= 2
        assert loser.count("outage scan done") == 0
        assert _holder() == ids[winner]

        killed_at = time.monotonic()
        winner.kill()
        while _holder() != ids[loser] and time.monotonic() < killed_at + 2 * SCAN:
            time.sleep(0.05)
        assert _holder() == ids[loser], "no takeover within two scan intervals of kill -9:\n" + "\n".join(loser.lines)
        assert loser.wait_for(rf"this replica \({re.escape(ids[loser])}\) now runs the outage detector", 5)
        assert loser.wait_for(rf"outage scan done by {re.escape(ids[loser])}", 60)  # it scans now
    finally:
        first.stop()
        second.stop()


def test_a_replica_that_stops_gives_the_lease_up(shared_store):
    _create(shared_store)
    replica = Replica(shared_store)
    try:
        own = replica.own_id(120)
        assert _holder() == own  # alone: it holds the lease
        replica.stop()
        assert replica.count("replica stopped") == 1, "\n".join(replica.lines)
        assert _holder() is None  # given up, not left to expire: another replica takes it at its next try
    finally:
        replica.stop()


class _Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that answers slowly, so that two senders would overlap if both sent."""

    received: list[str] = []

    def do_POST(self):  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append(self.headers["X-DropMap-Delivery"])
        time.sleep(3)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_queued_webhook_delivery_is_sent_once_by_two_replicas(shared_store, tmp_path):
    _create(shared_store)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Receiver)
    _Receiver.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    hooks = tmp_path / "webhooks.json"
    hooks.write_text(json.dumps({"hooks": [{"url": url, "secret": "s", "events": ["opened"]}]}), encoding="utf-8")
    delivery = str(uuid.uuid4())
    now = datetime.now(UTC)
    con = connect()
    with cursor(con) as cur:
        outages_sql.add_deliveries(cur, [(delivery, "KT-20211025-1116", "opened", url, '{"event": "opened"}',
                                          now - timedelta(minutes=1), now)])
    replicas = [Replica(shared_store, DROPMAP_WEBHOOKS=str(hooks)) for _ in range(2)]
    try:
        for replica in replicas:
            replica.own_id(120)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with cursor(con) as cur:
                status = cur.execute("SELECT status FROM webhook_deliveries WHERE delivery_id = ?",
                                     [delivery]).fetchone()[0]
            if status == "delivered":
                break
            time.sleep(0.5)
        assert status == "delivered"
        time.sleep(2 * service.SEND_SECONDS)  # both senders have looked again
        assert _Receiver.received == [delivery]
    finally:
        for replica in replicas:
            replica.stop()
        server.shutdown()
        con.close()


def _post(url: str) -> tuple[int, dict, dict]:
    """Status, headers (names in lower case) and JSON body of an empty POST to ``url``."""
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, headers, body = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, e.headers, e.read()
    return status, {name.lower(): value for name, value in headers.items()}, json.loads(body)


def test_a_quota_charged_through_one_replica_is_spent_for_the_others(shared_store, tmp_path, tmp_path_factory):
    """Two real sites on one shared store, one client alternating between them: the network's three codes an
    hour are three in all, not three per replica."""
    _create(shared_store)
    env = {"DROPMAP_STORE": shared_store, "DROPMAP_LAKE_DATA": str(tmp_path / "lake"),
           "DROPMAP_CODES_PER_PREFIX": "3"}
    sites = [start_site(tmp_path / "unused.duckdb", tmp_path_factory, **env) for _ in range(2)]
    try:
        one, two = (next(site) for site in sites)
        answers = [_post(site["url"] + "/api/v1/codes") for site in (one, two, one, two, one)]
        assert [status for status, _, _ in answers] == [201, 201, 201, 429, 429]
        for _, headers, body in answers[3:]:
            assert 1 <= int(headers["retry-after"]) <= 3600 + 60
            assert "at most 3 new codes per hour per network prefix" in json.dumps(body)
        assert len({body["code"] for _, _, body in answers[:3]}) == 3
    finally:
        for site in sites:
            site.close()


def test_a_report_quota_charged_in_another_process_is_seen_here(shared_store, monkeypatch):
    """The report limits (ingest.abuse) charged by another process, then refused here, all or nothing."""
    from ingest.abuse import reserve_quota

    _create(shared_store)
    script = ("from ingest.abuse import reserve_quota\n"
              "reserve_quota(code_hash=11, ip_hash=22, prefix_hash=33, count=4)\n")
    environment = {**os.environ, "DROPMAP_STORE": shared_store, "DROPMAP_RATE_PER_CODE": "5"}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment, check=True, timeout=120)
    monkeypatch.setenv("DROPMAP_RATE_PER_CODE", "5")
    with pytest.raises(RateLimitedError) as refused:
        reserve_quota(code_hash=11, ip_hash=23, prefix_hash=33, count=2)  # 4 + 2 > 5 for the code
    assert refused.value.scope == "reporter code" and refused.value.retry_after >= 1
    reserve_quota(code_hash=11, ip_hash=23, prefix_hash=33, count=1)  # the refused charge took nothing
    with pytest.raises(RateLimitedError):
        reserve_quota(code_hash=11, ip_hash=24, count=1)


# --- the shared counters and the lease, in one process -------------------------------------------------------

def test_shared_counts_are_all_or_nothing_and_say_when_to_retry(shared_store):
    assert uses_shared_counters()
    limiter = RateLimiter(window_seconds=60, name="test")
    limiter.reserve([("ip", 9, 2)], 2)
    with pytest.raises(RateLimitedError) as refused:
        limiter.reserve([("code", 1, 10), ("ip", 9, 2)], 1)
    assert refused.value.scope == "ip"
    assert 1 <= refused.value.retry_after <= 61  # a bucket of one second, counted until its end leaves the window
    limiter.reserve([("code", 1, 10)], 10)  # the code was not charged for the refused request
    with pytest.raises(RateLimitedError):
        limiter.check([("code", 1, 10)], 1)
    with pytest.raises(RateLimitedError) as refused:
        limiter.reserve([("other", 2, 3)], 4)  # more than the limit at once: never
    assert refused.value.retry_after == 60
    limiter.reserve([("off", 3, 0)], 1000)  # 0 turns a limit off
    # Another process's limiter of that name counts the same rows; a limiter without a name stays in memory.
    with pytest.raises(RateLimitedError):
        RateLimiter(window_seconds=60, name="test").reserve([("ip", 9, 2)], 1)
    RateLimiter(window_seconds=60).reserve([("ip", 9, 2)], 2)
    limiter.clear()
    limiter.reserve([("ip", 9, 2)], 2)


def test_replicas_charging_one_key_at_once_never_pass_its_limit(shared_store):
    limiter = RateLimiter(window_seconds=3600, name="race")
    passed, refused = [], []

    def charge():
        for _ in range(25):
            try:
                limiter.reserve([("address", "203.0.113.7", 60)], 1)
                passed.append(1)
            except RateLimitedError:
                refused.append(1)

    threads = [threading.Thread(target=charge) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(passed), len(refused)) == (60, 140)


def test_wrong_operator_tokens_are_counted_across_replicas(shared_store):
    """Two guards of one name stand for two replicas: the network one blocked is blocked at the other."""
    one, two = (AttemptGuard(per_address=2, total=5, window_seconds=60, name="operator-test") for _ in range(2))
    good = operator_token(b"s")
    for guard in (one, two):
        with pytest.raises(OperatorRefusedError, match="wrong"):
            guard.check("guess", "10.0.0.1", b"s")
    with pytest.raises(OperatorRefusedError, match="too many") as refused:
        one.check(good, "10.0.0.9", b"s")  # even the right token, from the blocked network
    assert 1 <= refused.value.retry_after <= 61
    assert two.check(good, "10.0.1.1", b"s").startswith("op-")  # another network gets in


def test_one_lease_holder_at_a_time(shared_store):
    _create(shared_store)
    assert take_lease("job", "a", 30)
    assert not take_lease("job", "b", 30)
    assert take_lease("job", "a", 0.5)  # the holder renews
    time.sleep(0.6)
    assert take_lease("job", "b", 30)  # expired: taken
    assert not take_lease("job", "a", 30)
    assert not release_lease("job", "a")  # only the holder gives it up
    assert release_lease("job", "b")
    assert take_lease("job", "a", 30)
    results: dict[str, bool] = {}
    barrier = threading.Barrier(8)

    def contend(name: str) -> None:
        barrier.wait()
        results[name] = take_lease("race", name, 30)

    threads = [threading.Thread(target=contend, args=(f"r{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results.values()) == 1
    assert lease_state("race").holder == next(name for name, won in results.items() if won)


def test_the_detector_lease_counts_on_itself_only_while_renewed(shared_store):
    _create(shared_store)
    one, two = DetectorLease(0.4, location=shared_store), DetectorLease(0.4, location=shared_store)
    assert one.try_once() and one.held()
    assert not two.try_once() and not two.held()
    time.sleep(0.55)  # 1.25 intervals without a renewal: one no longer counts on it, though it has not expired
    assert not one.held()
    assert not two.try_once()
    time.sleep(0.1)  # 1.5 intervals: expired, and two takes it
    assert two.try_once() and two.held()
    assert not one.try_once() and not one.held()
    two.release()
    assert not two.held() and one.try_once()


@pytest.mark.parametrize("held, queued", [(False, False), (True, True)])
def test_a_scan_whose_lease_was_lost_queues_no_webhooks(demo_db, tmp_path, monkeypatch, held, queued):
    hooks = tmp_path / "webhooks.json"
    hooks.write_text(json.dumps({"hooks": [{"url": "http://127.0.0.1:9/hook", "secret": "s"}]}), encoding="utf-8")
    monkeypatch.setenv("DROPMAP_WEBHOOKS", str(hooks))
    kt_minute = datetime(2021, 10, 25, 2, 45, tzinfo=UTC)  # 11:45 in Seoul, the 2021 KT outage under way
    con = connect(demo_db)
    try:
        result = service.tick(con, now=kt_minute, held=lambda: held)
        assert any(event == "opened" for _, event, _ in result.events)
        with cursor(con) as cur:
            assert (not outages_sql.deliveries(cur).empty) == queued
    finally:
        con.close()


def test_the_embedded_file_needs_no_postgresql(db_path, monkeypatch):
    import psycopg

    def refuse(*args, **kwargs):
        raise AssertionError("the embedded file must not reach PostgreSQL")

    monkeypatch.setattr(psycopg, "connect", refuse)
    monkeypatch.setenv("DROPMAP_SCAN_SECONDS", "1")
    assert not uses_shared_counters()
    limiter = RateLimiter(window_seconds=60, name="embedded")
    limiter.reserve([("ip", 1, 2)], 2)
    with pytest.raises(RateLimitedError):
        limiter.reserve([("ip", 1, 2)], 1)
    guard = AttemptGuard(per_address=1, total=5, window_seconds=60, name="embedded-guard")
    with pytest.raises(OperatorRefusedError, match="wrong"):
        guard.check("guess", "10.0.0.1", b"s")
    with pytest.raises(OperatorRefusedError, match="too many"):
        guard.check(operator_token(b"s"), "10.0.0.1", b"s")
    lease = detector_lease(1, settings.store_location())
    assert isinstance(lease, SoleLease) and lease.held()
    assert isinstance(detector_lease(1, "ducklake:/srv/meta.ducklake"), SoleLease)  # no PostgreSQL, no lease
    service.start_background()
    try:
        assert sorted(t.name for t in service._threads) == ["outage-scanner", "webhook-sender"]  # no lease keeper
        from store.db import shared_connection

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with cursor(shared_connection()) as cur:
                if outages_sql.scan_state(cur)[0] is not None:
                    break
            time.sleep(0.2)
        with cursor(shared_connection()) as cur:
            assert outages_sql.scan_state(cur)[0] is not None  # the one process scanned
    finally:
        service.stop_background()
