"""A private PostgreSQL server for the shared-store tests: Debian's `postgresql` package, started in a
temporary folder on a free port (Unix socket only) and stopped afterwards. Nothing is downloaded.

As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def server_binaries() -> Path | None:
    """The folder of initdb and pg_ctl (cluster.postgres.binaries: the one place that looks); None if absent."""
    from cluster.postgres import MissingPackageError, binaries

    try:
        return binaries()
    except MissingPackageError:
        return None


@dataclass(frozen=True)
class Server:
    folder: Path  # holds the socket
    port: int
    binaries: Path
    as_user: tuple[str, ...]

    def create_database(self, name: str) -> str:
        """A new database; returns its DROPMAP_STORE location."""
        subprocess.run([*self.as_user, str(self.binaries / "createdb"), "-h", str(self.folder), "-p", str(self.port),
                        "-U", "dropmap", name], check=True, capture_output=True)
        return f"ducklake:postgres:dbname={name} host={self.folder} port={self.port} user=dropmap"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server():
    binaries = server_binaries()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    as_user: tuple[str, ...] = ("runuser", "-u", "postgres", "--") if os.geteuid() == 0 else ()
    folder = Path(tempfile.mkdtemp(prefix="dropmap-pg-"))  # not under pytest's folders: the server's user reads it
    if as_user:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()
    run = [*as_user, str(binaries / "pg_ctl"), "-D", str(data)]
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "dropmap", "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run([*run, "-o", f"-p {port} -k {folder} -c listen_addresses='' -c fsync=off", "-l",
                    str(folder / "server.log"), "-w", "start"], check=True, capture_output=True)
    try:
        yield Server(folder, port, binaries, as_user)
    finally:
        subprocess.run([*run, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
