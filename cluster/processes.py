"""The cluster's child processes: each in a process group of its own, ended when the cluster ends.

Every child starts in a new session (so a Ctrl-C in the terminal reaches the cluster only, which then
stops its children in order: the balancer, the replicas, the database last), and asks the kernel to
signal it when the cluster's process dies (``PR_SET_PDEATHSIG``), so a cluster killed with -9 leaves
nothing running either. A child's own children (nginx's workers, PostgreSQL's backends) share its group,
which ``Child.kill`` ends at once.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)  # loaded here, not in the forked child


def _die_with(parent: int, sig: int):
    """A ``preexec_fn``: the child gets ``sig`` when ``parent`` dies (it runs after the user is changed,
    which would clear the setting)."""
    def prepare() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before the line above
            os.kill(os.getpid(), sig)
    return prepare


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    stop_signal: int  # what asks it to stop cleanly
    log: Path | None
    quit_signal: int | None = None  # what ends it at once yet cleanly (PostgreSQL's SIGQUIT), before SIGKILL

    @property
    def pid(self) -> int:
        return self.proc.pid

    def is_running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Ask the child (its group's leader) to stop cleanly."""
        self._signal(self.stop_signal)

    def kill(self) -> None:
        """End the child and everything in its process group at once (its ``quit_signal`` first, for a
        moment: PostgreSQL's backends each have a group of their own, and leave when told by the server)."""
        if self.quit_signal is not None and self.is_running():
            self._signal(self.quit_signal)
            if self.wait(2):
                return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.wait(10)

    def _signal(self, sig: int) -> None:
        if self.is_running():
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def wait(self, seconds: float) -> bool:
        """Whether the child ended within ``seconds``."""
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def describe_exit(self) -> str:
        code = self.proc.returncode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"code {code}"
        return f"{self.name} exited with {how}" + (f"; see {self.log}" if self.log else "")


def spawn(name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log: Path | None,
          stop_signal: int = signal.SIGTERM, death_signal: int = signal.SIGTERM, quit_signal: int | None = None,
          user: str | None = None) -> Child:
    """Start ``argv`` as a child of its own group, its output appended to ``log`` (None: inherited), running
    as ``user`` when given (the cluster then runs as root). Call from the main thread only: the kernel
    signals the child when the thread that started it ends."""
    output = log.open("ab") if log else None
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT if output else None, start_new_session=True,
                                preexec_fn=_die_with(os.getpid(), death_signal), user=user, group=_group_of(user))
    finally:
        if output:
            output.close()
    return Child(name, proc, stop_signal, log, quit_signal)


def _group_of(user: str | None) -> int | None:
    if user is None:
        return None
    import pwd

    return pwd.getpwnam(user).pw_gid


def stop_all(children: list[Child], *, seconds: float, killed: Callable[[], bool]) -> None:
    """Ask each running child to stop, wait up to ``seconds`` for all of them, then kill the rest. Returns
    early, the rest killed, once ``killed()`` is true (a second Ctrl-C)."""
    for child in children:
        child.stop()
    deadline = time.monotonic() + seconds
    while any(c.is_running() for c in children) and time.monotonic() < deadline and not killed():
        time.sleep(0.1)
    for child in children:
        child.kill()  # a child that ended may leave one of its own behind in its group (nginx's workers)
