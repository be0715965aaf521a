"""One replica's background work, without its pages: the outage detector, the webhook sender and, with a shared
store, the keeper of the detector's lease, started exactly as the site's lifespan starts them
(``outages.service.start_background``). For tests/test_shared_state.py, which starts two of these on one shared
store (DROPMAP_STORE, DROPMAP_SCAN_SECONDS in the environment) and reads what they log on stdout. Runs until
it is killed; SIGTERM stops it cleanly (the lease is given up)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from outages.service import start_background, stop_background  # noqa: E402 - after the path is set

logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(created).3f %(name)s %(message)s")
logging.getLogger("dropmap.outages").setLevel(logging.DEBUG)  # one line per scan: "outage scan done by ..."

stopped = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopped.set())
start_background()
print("replica started", flush=True)
while not stopped.wait(0.2):  # woken now and then: SIGTERM may land on another thread, and Python runs its
    pass                      # handler only when the main thread runs again
stop_background()
print("replica stopped", flush=True)
