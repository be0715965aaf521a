"""The real site for a benchmark: `streamlit run app.py` on a free loopback port over one database.

Every bench script that needs the running site starts it here, so the command line, the
loopback address, the wait for readiness and the way it is stopped are written once:

    from bench._site import start_site
    site = start_site(db, env={"DROPMAP_SCAN_SECONDS": "0"}, log=folder / "site.log")
    try:
        ... site.base ...            # "http://127.0.0.1:PORT"
    finally:
        site.stop()

The site listens on 127.0.0.1 only. ``env`` is added to this process's environment (with
``DROPMAP_DB`` set to ``db``); each script names the settings it changes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Site:
    proc: subprocess.Popen
    port: int
    log: Path | None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (the site shuts down normally), SIGKILL if it has not ended after ``timeout`` seconds."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL to the site's process group (started with ``new_session=True``): no shutdown code runs."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def start_site(db: Path, *, env: dict[str, str] | None = None, root: Path = ROOT, log: Path | None = None,
               append_log: bool = False, ready: str = "/_stcore/health", timeout: float = 120,
               new_session: bool = False, port: int | None = None) -> Site:
    """Start the site from checkout ``root`` over ``db`` and wait until ``ready`` answers 200.

    ``log`` takes the site's output (appended to with ``append_log``; none kept without ``log``);
    ``new_session`` puts the site in its own process group, for ``Site.kill``. Raises RuntimeError,
    naming the log, when the site exits or does not answer within ``timeout`` seconds."""
    port = port or free_port()
    environment = {**os.environ, **(env or {}), "DROPMAP_DB": str(db)}
    output = log.open("a" if append_log else "w") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1"],
            cwd=root, env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=new_session)
    finally:
        if log:
            output.close()
    site = Site(proc, port, log)
    where = f"; see {log}" if log else ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the site exited with {proc.returncode}{where}")
        if _answers(site.base + ready):
            return site
        time.sleep(0.3)
    if new_session:
        site.kill()
    else:
        site.stop(timeout=5)
    raise RuntimeError(f"the site did not answer {ready} within {timeout:.0f} s{where}")
