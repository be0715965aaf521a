"""Background outage detector living in the site's process.

Two daemon threads, started by the app's lifespan (api.lifespan):

- the scanner, every DROPMAP_SCAN_SECONDS (0 turns it off), scans the hours
  before now on its own cursor of the shared connection; on its first run
  (or when reports about old times arrive, e.g. an uploaded log) it replays
  from the oldest new observation, so a fresh demo database gets its history;
  after each scan it writes the static status files (outages.static_status);
- the webhook sender, every few seconds, sends queued deliveries.

Neither ever lets an exception out: it is logged and the loop goes on, so a
bad minute cannot take the site down.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from core import settings
from outages import static_status, webhooks
from outages.scan import LOOKBACK, ScanResult, replay
from store import outages_sql
from store.db import cursor

log = logging.getLogger("dropmap.outages")
SEND_SECONDS = 5.0

_stop = threading.Event()
_threads: list[threading.Thread] = []


def tick(con, now: datetime | None = None) -> ScanResult:
    """One scan: catch up on anything not yet scanned, then the last hours; queue webhooks; write the
    static status files (a failure there is logged and the scan's result stands)."""
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
        if hooks:
            webhooks.enqueue(cur, result.events, hooks, now=now)
        return result


def _scanner(seconds: float) -> None:
    from store.db import shared_connection

    while not _stop.is_set():
        try:
            result = tick(shared_connection(settings.store_location()))
            if result.events:
                log.info("outage scan: %s", result.events)
        except Exception:  # noqa: BLE001 - the site must outlive any failed scan
            log.exception("outage scan failed; trying again in %s s", seconds)
        _stop.wait(seconds)


def _sender() -> None:
    while not _stop.is_set():
        try:
            hooks = webhooks.load_hooks()
            if hooks:
                with cursor() as cur:
                    webhooks.deliver_due(cur, hooks)
        except Exception:  # noqa: BLE001
            log.exception("webhook delivery failed; trying again")
        _stop.wait(SEND_SECONDS)


def start_background() -> None:
    """Start the scanner and the webhook sender (no-op when DROPMAP_SCAN_SECONDS is 0)."""
    seconds = settings.get_int("DROPMAP_SCAN_SECONDS")
    if seconds <= 0 or any(t.is_alive() for t in _threads):
        return
    _stop.clear()
    _threads[:] = [threading.Thread(target=_scanner, args=(seconds,), name="outage-scanner", daemon=True),
                   threading.Thread(target=_sender, name="webhook-sender", daemon=True)]
    for thread in _threads:
        thread.start()


def stop_background(timeout: float = 5.0) -> None:
    """Ask both threads to stop and wait a little for them."""
    _stop.set()
    for thread in _threads:
        thread.join(timeout)
    _threads.clear()
