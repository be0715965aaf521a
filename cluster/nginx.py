"""The cluster's load balancer: Debian's `nginx`, configured from the templates in cluster/nginx/.

Each start writes the configuration into ``<folder>/nginx/`` (the replicas' ports, the status folder, the
address to listen on), checks it with ``nginx -t`` and runs nginx in the foreground as the cluster's
child, its logs, pid file and temporary files in that folder.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
from pathlib import Path

from cluster.postgres import MissingPackageError
from cluster.processes import Child, spawn

TEMPLATES = Path(__file__).resolve().parent / "nginx"
WORKER_USER = "www-data"  # Debian's nginx package's user, for the workers when the cluster runs as root
LOGS = ("access.log", "error.log")


DEBIAN_NGINX = "/usr/sbin/nginx"


def executable() -> Path:
    """Debian's nginx, else the PATH's."""
    for candidate in (DEBIAN_NGINX, shutil.which("nginx")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise MissingPackageError("nginx is not installed: the cluster's load balancer is Debian's `nginx` package "
                              "(apt-get install nginx)")


def render(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``{{name}}`` replaced by ``values[name]``; a name without a value is an error."""
    def value(match: re.Match) -> str:
        return values[match.group(1)]

    return re.sub(r"\{\{(\w+)\}\}", value, text)


def worker_user() -> str | None:
    """The user nginx's workers run as: www-data when the cluster runs as root (nginx's master keeps
    root), else nginx runs entirely as the cluster's user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(WORKER_USER)
    except KeyError:
        return "nobody"
    return WORKER_USER


def unreadable_parent(folder: Path, user: str | None) -> Path | None:
    """The first folder above or at ``folder`` that the workers cannot enter (they serve the status files
    from there), or None when every one lets everybody in."""
    if user is None:
        return None
    for part in [folder, *folder.parents]:
        if part.exists() and not part.stat().st_mode & 0o001:
            return part
    return None


class Nginx:
    def __init__(self, folder: Path) -> None:
        self.exe = executable()
        self.folder = folder / "nginx"
        self.conf = self.folder / "nginx.conf"
        self.user = worker_user()

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"

    def write_config(self, *, listen: str, replicas: list[int], status_dir: Path | None,
                     one_writer: bool = True) -> None:
        """The configuration for a balancer on ``listen`` in front of the replicas on ``replicas`` (ports on
        127.0.0.1), serving ``status_dir`` (None: a folder that does not exist, so /status/ answers 404);
        ``one_writer`` sends every report posted to the API to the first replica while it answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o711)  # the workers enter it for their temporary files; they list nothing
        (self.folder / "tmp").mkdir(exist_ok=True)
        self.folder.joinpath("tmp").chmod(0o711)
        servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in replicas)
        if one_writer:  # nginx allows `backup` servers only without `hash`
            writer = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s{' backup' if n else ''};"
                               for n, port in enumerate(replicas))
        else:
            writer = "        hash $remote_addr consistent;\n" + servers
        values = {"folder": str(self.folder), "listen": listen, "servers": servers, "writer": writer,
                  "status_dir": str(status_dir or self.folder / "no-status-files"),
                  "user": f"user {self.user};" if self.user else ""}
        for template in sorted(TEMPLATES.glob("*.conf")):
            (self.folder / template.name).write_text(render(template.read_text(encoding="utf-8"), values))
        for name in LOGS:  # nginx would make them readable by everyone; the error log names client addresses
            log = self.folder / name
            log.touch(mode=0o600)
            log.chmod(0o600)

    def check(self) -> None:
        """Raise RuntimeError with nginx's own words when it refuses the configuration."""
        done = subprocess.run([str(self.exe), "-t", "-q", "-c", str(self.conf), "-e", str(self.folder / "error.log")],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nginx refuses {self.conf}: {done.stderr.strip()}")

    def start(self, env: dict[str, str]) -> Child:
        """nginx in the foreground; SIGQUIT lets it finish the requests under way, SIGTERM would cut them."""
        argv = [str(self.exe), "-c", str(self.conf), "-e", str(self.folder / "error.log")]
        return spawn("nginx", argv, env=env, cwd=self.folder, log=self.folder / "error.log",
                     stop_signal=signal.SIGQUIT, death_signal=signal.SIGTERM)
