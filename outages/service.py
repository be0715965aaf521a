"""Background outage detector living in the site's process.

Two daemon threads, started by the app's lifespan (api.lifespan):

- the scanner, every DROPMAP_SCAN_SECONDS (0 turns it off), scans the hours
  before now on its own cursor of the shared connection; on its first run
  (or when reports about old times arrive, e.g. an uploaded log) it replays
  from the oldest new observation, so a fresh demo database gets its history;
  after each scan it writes the static status files (outages.static_status);
- the webhook sender, every few seconds, sends queued deliveries.

Both work only while this process holds the detector's lease (outages.lease): always with the
embedded file; with a shared store, in one replica at a time, and a third thread keeps the lease
(takes it, renews it, gives it up at shutdown). So a scan runs once per interval across the
replicas and a delivery is sent by one of them.

Neither ever lets an exception out: it is logged and the loop goes on, so a
bad minute cannot take the site down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from core import settings
from outages import static_status, webhooks
from outages.lease import DetectorLease, SoleLease, detector_lease
from outages.scan import LOOKBACK, ScanResult, replay
from store import outages_sql
from store.db import cursor

log = logging.getLogger("dropmap.outages")
SEND_SECONDS = 5.0

_stop = threading.Event()
_wake = threading.Event()  # the scanner's wait: set when this replica takes the lease, and to stop
_threads: list[threading.Thread] = []


def tick(con, now: datetime | None = None, *, held: Callable[[], bool] | None = None) -> ScanResult:
    """One scan: catch up on anything not yet scanned, then the last hours; queue webhooks; write the
    static status files (a failure there is logged and the scan's result stands).

    ``held`` (the detector's lease): when it says the lease was lost during the scan, the scan's events
    queue no deliveries, since another replica may be scanning and queueing them by now."""
    now = now or datetime.now(UTC)
    with cursor(con) as cur:
        scanned, received = outages_sql.scan_state(cur)
        oldest_new, newest_received = outages_sql.reports_received_since(cur, received)
        since = now - LOOKBACK
        if scanned is not None:
            since = min(since, scanned - LOOKBACK)
        if oldest_new is not None:
            since = min(since, oldest_new - LOOKBACK)
        result = replay(con, since, now, now=now)
        scanned, _ = outages_sql.scan_state(cur)
        outages_sql.save_scan_state(cur, scanned or now, newest_received or received, now)
        static_status.publish(cur, now)  # before the webhooks: a bad webhooks file must not stop the page
        hooks = webhooks.load_hooks()
        if hooks and held is not None and not held():
            log.warning("the outage detector's lease was lost during a scan: its %d events queue no webhooks",
                        len(result.events))
        elif hooks:
            webhooks.enqueue(cur, result.events, hooks, now=now)
        return result


def scan_once(lease: SoleLease | DetectorLease) -> ScanResult | None:
    """The scanner's step: a scan when this process holds the lease, else nothing (None)."""
    from store.db import shared_connection

    if not lease.held():
        return None
    result = tick(shared_connection(settings.store_location()), held=lease.held)
    log.debug("outage scan done by %s", lease.holder)
    return result


def send_once(lease: SoleLease | DetectorLease) -> list[tuple[str, str]]:
    """The webhook sender's step: the due deliveries sent when this process holds the lease, else none."""
    if not lease.held():
        return []
    hooks = webhooks.load_hooks()
    if not hooks:
        return []
    with cursor() as cur:
        return webhooks.deliver_due(cur, hooks, still_held=lease.held)


def _scanner(seconds: float, lease: SoleLease | DetectorLease) -> None:
    while not _stop.is_set():
        try:
            result = scan_once(lease)
            if result is not None and result.events:
                log.info("outage scan: %s", result.events)
        except Exception:  # noqa: BLE001 - the site must outlive any failed scan
            log.exception("outage scan failed; trying again in %s s", seconds)
        _wake.wait(seconds)
        _wake.clear()


def _sender(lease: SoleLease | DetectorLease) -> None:
    while not _stop.is_set():
        try:
            send_once(lease)
        except Exception:  # noqa: BLE001
            log.exception("webhook delivery failed; trying again")
        _stop.wait(SEND_SECONDS)


def start_background() -> None:
    """Start the scanner and the webhook sender, and with a shared store the keeper of the detector's lease
    (no-op when DROPMAP_SCAN_SECONDS is 0)."""
    seconds = settings.get_int("DROPMAP_SCAN_SECONDS")
    if seconds <= 0 or any(t.is_alive() for t in _threads):
        return
    _stop.clear()
    _wake.clear()
    lease = detector_lease(seconds, settings.store_location())
    _threads[:] = [threading.Thread(target=_scanner, args=(seconds, lease), name="outage-scanner", daemon=True),
                   threading.Thread(target=_sender, args=(lease,), name="webhook-sender", daemon=True)]
    if isinstance(lease, DetectorLease):
        _threads.append(threading.Thread(target=lease.keep, args=(_stop, _wake.set), name="detector-lease",
                                         daemon=True))
    for thread in _threads:
        thread.start()


def stop_background(timeout: float = 5.0) -> None:
    """Ask the threads to stop (the lease is given up) and wait a little for them."""
    _stop.set()
    _wake.set()
    for thread in _threads:
        thread.join(timeout)
    _threads.clear()
