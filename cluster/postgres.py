"""The cluster's PostgreSQL: Debian's `postgresql` package, its data and its Unix socket in one folder.

The server listens on no TCP address, only on a socket in ``<folder>/pg/``, a folder that only the
server's user (and root) may enter; so the ``trust`` authentication initdb is given lets in exactly the
cluster's own processes. As root the server runs as the ``postgres`` user, as PostgreSQL requires.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from cluster.processes import Child, spawn

PORT = 5432  # names the socket file only; no TCP port is opened
USER = "dropmap"  # the database role the replicas use
DATABASE = "dropmap"


class MissingPackageError(RuntimeError):
    """A Debian package the cluster needs is not installed."""


def binaries() -> Path:
    """The folder of initdb and postgres: the newest Debian PostgreSQL, else the PATH's."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda f: int(f.split("/")[-2]), reverse=True):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise MissingPackageError("PostgreSQL is not installed: the cluster's shared store needs Debian's `postgresql` "
                              "package (apt-get install postgresql)")


def server_user() -> str | None:
    """The user the server runs as: ``postgres`` when the cluster runs as root, else the cluster's own."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as e:
        raise MissingPackageError("running as root, the cluster starts PostgreSQL as the `postgres` user, which "
                                  "Debian's `postgresql` package creates; it is missing") from e
    return "postgres"


class Postgres:
    """The server of ``folder`` (``<folder>/pg/``): initialised on first use, started, stopped."""

    def __init__(self, folder: Path) -> None:
        self.bin = binaries()
        self.user = server_user()
        self.folder = folder / "pg"
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"

    def location(self, *, database: str = DATABASE) -> str:
        """The DROPMAP_STORE of ``database`` on this server."""
        return f"ducklake:postgres:dbname={database} host={self.folder} port={PORT} user={USER}"

    def initialise(self) -> bool:
        """Make the data folder on first use; whether it was made now."""
        if (self.data / "PG_VERSION").exists():
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        if self.user:
            shutil.chown(self.folder, self.user, self.user)
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", USER, "-E", "UTF8"],
                       check=True, capture_output=True, user=self.user, group=self._group())
        return True

    def start(self, env: dict[str, str]) -> Child:
        """Start the server as a child of the cluster (a fast shutdown on SIGINT)."""
        argv = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(PORT), "-k", str(self.folder),
                "-c", "listen_addresses=", "-c", "max_connections=200"]
        self.log.touch(mode=0o600)
        if self.user:
            shutil.chown(self.log, self.user, self.user)
        # SIGINT: a fast shutdown (clients disconnected, a checkpoint); SIGQUIT: immediate, recovered at next start.
        return spawn("PostgreSQL", argv, env=env, cwd=self.folder, log=self.log, stop_signal=signal.SIGINT,
                     death_signal=signal.SIGINT, quit_signal=signal.SIGQUIT, user=self.user)

    def _group(self) -> int | None:
        return pwd.getpwnam(self.user).pw_gid if self.user else None

    def is_ready(self) -> bool:
        """Whether the server accepts connections on its socket."""
        done = subprocess.run([str(self.bin / "pg_isready"), "-q", "-h", str(self.folder), "-p", str(PORT), "-U", USER],
                              capture_output=True)
        return done.returncode == 0

    def _client(self, program: str, *args: str) -> str:
        done = subprocess.run([str(self.bin / program), "-h", str(self.folder), "-p", str(PORT), "-U", USER, *args],
                              check=True, capture_output=True, text=True)
        return done.stdout

    def has_database(self, name: str = DATABASE) -> bool:
        listed = self._client("psql", "-X", "-l", "-A", "-t", "-d", "postgres")
        return name in {line.split("|")[0] for line in listed.splitlines()}

    def create_database(self, name: str = DATABASE) -> None:
        self._client("createdb", name)

    def drop_database(self, name: str = DATABASE) -> None:
        self._client("dropdb", "--if-exists", name)
