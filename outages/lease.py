"""Which replica runs the outage detector and the webhook sender.

With the embedded file there is one site process, and it always runs both (``SoleLease``: no PostgreSQL).
With a shared store (``DROPMAP_STORE=ducklake:postgres:...``) every replica starts both threads, and they
work only in the replica that holds the lease ``outage-detector`` (``DetectorLease``), a row in the catalog's
PostgreSQL database (store.leases). So one replica scans, writes the status files and sends each webhook
delivery; the others skip, and say so in their log once.

Timing, for a scan interval S (DROPMAP_SCAN_SECONDS):

- the lease lasts 1.5 S from PostgreSQL's clock at each renewal;
- a keeper thread in every replica asks for it every S / 5: the holder renews it, the others take it once it
  has expired. It is renewed on its own thread, not by the scan, because a scan can take longer than the
  lease (a replica's first scan replays the stored history), and the lease must not lapse under it;
- a replica holding it counts on it only until 1.25 S after it sent its last successful renewal (by its own
  monotonic clock, started before the request, so never later than PostgreSQL's expiry): a replica that
  stalls stops scanning and sending a quarter interval before anyone else may take over;
- when the holder dies (kill -9, a lost machine), its lease expires at most 1.5 S after its last renewal,
  which came before its death, and another replica takes it within S / 5 after that: at most 1.7 S after
  the death, inside the two intervals the site promises. Its scanner is woken at once and scans;
- a replica that stops cleanly gives the lease up, and another takes it at its next try.

The holder's id is its host name, process id and a random token (two processes that reuse a pid are
still told apart); it is written to the operator's log and to ``dropmap_leases``, never published.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from core.errors import StoreError
from store.leases import lease_state, release_lease, take_lease

log = logging.getLogger("dropmap.outages")

LEASE_NAME = "outage-detector"
LEASE_INTERVALS = 1.5  # the lease lasts this many scan intervals
TRY_INTERVALS = 0.2  # every replica asks for it this often
TRUST_INTERVALS = 1.25  # the holder counts on it this long after sending a renewal


class SoleLease:
    """The embedded file's one process: always the holder."""

    holder = "this process"

    def held(self) -> bool:
        return True

    def keep(self, stop: threading.Event, on_taken: Callable[[], None] | None = None) -> None:
        """Nothing to keep: returns at once."""

    def release(self) -> None:
        """Nothing to give up."""


class DetectorLease:
    """The lease of the outage detector in a shared store (module docstring)."""

    def __init__(self, scan_seconds: float, *, location: str | None = None, name: str = LEASE_NAME) -> None:
        self.name = name
        self.location = location
        self.scan_seconds = scan_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._trusted_until = 0.0  # time.monotonic() until which this replica counts on holding it
        self._said: bool | None = None  # what the log last said: holder or not
        self._failing = False

    def held(self) -> bool:
        """Whether this replica holds the lease now and may scan and send."""
        return time.monotonic() < self._trusted_until

    def try_once(self) -> bool:
        """Take or renew the lease once; whether this replica holds it afterwards."""
        sent = time.monotonic()
        try:
            taken = take_lease(self.name, self.holder, self.scan_seconds * LEASE_INTERVALS, location=self.location)
        except StoreError as e:
            if not self._failing:  # once while it lasts; the lease lapses by itself if it goes on
                log.error("outage detector lease: %s", e)
                self._failing = True
            return self.held()
        if self._failing:
            log.warning("outage detector lease: the store answers again")
            self._failing = False
        self._trusted_until = sent + self.scan_seconds * TRUST_INTERVALS if taken else 0.0
        self._tell(taken)
        return taken

    def keep(self, stop: threading.Event, on_taken: Callable[[], None] | None = None) -> None:
        """Ask for the lease every TRY_INTERVALS of a scan interval until ``stop``; ``on_taken`` runs when this
        replica becomes the holder (the scanner is woken), then give the lease up."""
        while not stop.is_set():
            had = self.held()
            if self.try_once() and not had and on_taken is not None:
                on_taken()
            stop.wait(self.scan_seconds * TRY_INTERVALS)
        self.release()

    def release(self) -> None:
        """Give the lease up (a replica stopping), so another takes it at its next try."""
        held, self._trusted_until = self.held(), 0.0
        if not held:
            return
        try:
            release_lease(self.name, self.holder, location=self.location)
        except StoreError as e:
            log.warning("outage detector lease not given up (it expires by itself): %s", e)

    def _tell(self, taken: bool) -> None:
        """Log when this replica becomes the holder, or stops being it (once each time it changes). As warnings:
        the site sets up no logging of its own, and Python prints warnings and above."""
        if taken == self._said:
            return
        self._said = taken
        if taken:
            log.warning("this replica (%s) now runs the outage detector and the webhook sender", self.holder)
            return
        try:
            state = lease_state(self.name, location=self.location)
        except StoreError:
            state = None
        log.warning("another replica (%s) runs the outage detector and the webhook sender; this one (%s) skips "
                    "its scans and deliveries while that one holds the lease", state.holder if state else "?",
                    self.holder)


def detector_lease(scan_seconds: float, location: str) -> SoleLease | DetectorLease:
    """The lease for the site's store ``location``: shared between replicas for a shared store whose catalog is
    in PostgreSQL, else this process's alone."""
    from store.pg import is_postgres

    return DetectorLease(scan_seconds, location=location) if is_postgres(location) else SoleLease()
