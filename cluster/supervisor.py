"""Start the cluster in order, watch it, and stop it in the reverse order.

PostgreSQL first (initialised, its database made and the demo city built on first use), then the
replicas, all at once, then nginx once every replica answers. A replica that exits is started again
(after 2 s, longer when it keeps failing); PostgreSQL or nginx exiting stops the whole cluster. A
first SIGINT or SIGTERM stops nginx (requests under way finish), then the replicas, then PostgreSQL; a
second one kills every process group at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cluster.nginx import Nginx, unreadable_parent
from cluster.postgres import MissingPackageError, Postgres
from cluster.processes import Child, spawn, stop_all
from core import settings

RESTART_SECONDS = (2, 60)  # a replica's first restart waits 2 s, doubling up to 60 s while it keeps failing
STEADY_SECONDS = 60  # a replica that ran this long before it exited is restarted after the shortest wait


class Stopping(Exception):
    """A SIGINT or SIGTERM arrived: stop the cluster."""


class ClusterError(RuntimeError):
    """The cluster cannot start or go on; the message says why and what to do."""


def say(text: str) -> None:
    print(f"cluster: {text}", file=sys.stderr, flush=True)


@dataclass
class Options:
    replicas: int = 3
    port: int = 8501
    replica_port: int | None = None  # the first replica's; None: the port after the balancer's
    address: str = ""  # nginx listens on every address, as `make run`'s Streamlit does
    folder: Path = settings.ROOT / ".cache" / "cluster"
    detector_replicas: int = 1
    one_writer: bool = True  # every report posted to the API goes to the first replica while it answers
    demo: list[str] = field(default_factory=list)  # extra arguments of `python -m ingest demo`
    build_demo: bool = True
    ready_seconds: float = 600


@dataclass
class Replica:
    port: int
    child: Child | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None


def write_nginx_only(options: Options) -> int:
    """Write and check the balancer's configuration for replicas that something else runs (the Procfile);
    print how to start nginx with it."""
    cluster = Cluster(options)
    try:
        cluster.folder.mkdir(parents=True, exist_ok=True)
        cluster.folder.chmod(0o711)
        cluster.nginx = Nginx(cluster.folder)
        status_dir = settings.status_dir()
        conf = cluster.write_nginx(status_dir.resolve() if status_dir else None)
    except (MissingPackageError, RuntimeError) as e:
        say(str(e))
        return 1
    print(f"{cluster.nginx.exe} -c {conf} -e {conf.parent / 'error.log'}")
    return 0


class Cluster:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.folder = options.folder.resolve()
        self.signals = 0
        self.postgres: Postgres | None = None
        self.children: dict[str, Child] = {}  # PostgreSQL, nginx, the demo's builder
        first = options.replica_port or options.port + 1
        self.replicas = [Replica(first + n) for n in range(options.replicas)]
        self.nginx: Nginx | None = None
        self.env: dict[str, str] = {}
        self.wrote_state = False

    # --- signals -----------------------------------------------------------------------------------

    def on_signal(self, signum, _frame) -> None:
        """Count the signal; the main loop acts on it within 0.1 s (a handler that waited on a child could
        wait on the very lock the interrupted code holds)."""
        self.signals += 1
        # os.write: print() may be under way in the interrupted code, and is not reentrant.
        if self.signals == 1:
            os.write(2, f"cluster: {signal.Signals(signum).name}: stopping (again to kill at once)\n".encode())
        elif self.signals == 2:
            os.write(2, b"cluster: killing every process of the cluster\n")

    def _check(self) -> None:
        if self.signals:
            raise Stopping

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._check()
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    # --- start -------------------------------------------------------------------------------------

    def run(self) -> int:
        """Start, watch until a signal or a failure, stop; the exit status."""
        previous = {sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        umask = os.umask(0o077)  # the children's: the store's files and the logs hold places and addresses
        status = 0
        try:
            self.start()
            self.watch()
        except Stopping:
            pass
        except (ClusterError, MissingPackageError) as e:
            say(str(e))
            status = 1
        except subprocess.CalledProcessError as e:  # initdb, createdb...; a Ctrl-C reaches them too
            if not self.signals:
                say(f"{' '.join(map(str, e.cmd))} failed: {(e.stderr or '').strip()}")
                status = 1
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.umask(umask)
        return status

    def start(self) -> None:
        self._refuse_a_second_cluster()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o711)  # PostgreSQL's and nginx's users enter their own folders below it
        for name in ("logs", "replicas"):
            (self.folder / name).mkdir(exist_ok=True)
        self.nginx = Nginx(self.folder)  # a missing package is named before anything starts
        location = os.environ.get("DROPMAP_STORE", "").strip() or self._start_postgres()
        self.env = self._replica_environment(location)
        status_dir = settings.status_dir()
        if status_dir is not None:
            status_dir = status_dir.resolve()
            blocked = unreadable_parent(status_dir, self.nginx.user)
            if blocked:
                say(f"nginx's workers ({self.nginx.user}) cannot enter {blocked}: /status/ will answer 403 "
                    "(give the folders above DROPMAP_STATUS_DIR o+x, or set it elsewhere)")
        for replica in self.replicas:
            self._start_replica(replica)
        self._wait_for_replicas()
        self.write_nginx(status_dir)
        self.children["nginx"] = self.nginx.start(dict(os.environ))
        self._wait(lambda: self._answers(self.options.port, self._local_address()), 30, "nginx did not answer",
                   self.children["nginx"])
        self._write_state()
        host = self.options.address or "localhost"
        replicas = f"{len(self.replicas)} replica{'s' if len(self.replicas) > 1 else ''}"
        say(f"DropMap on http://{host}:{self.options.port} ({replicas} on "
            f"{', '.join(str(r.port) for r in self.replicas)}; status files at /status/); Ctrl-C stops it")

    def _refuse_a_second_cluster(self) -> None:
        try:
            running = json.loads((self.folder / "cluster.json").read_text())["pid"]
            command = Path(f"/proc/{int(running)}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, KeyError, TypeError):
            return  # none, or one that ended without tidying up (killed)
        if b"cluster" not in command:
            return  # its number belongs to another process now
        raise ClusterError(f"a cluster (process {running}) runs on {self.folder} already: stop it first, or give "
                           "this one another --folder")

    def write_nginx(self, status_dir: Path | None) -> Path:
        """nginx's configuration for this cluster, checked; its path."""
        address = self.options.address
        bracketed = f"[{address}]" if ":" in address and not address.startswith("[") else address
        listen = f"{bracketed}:{self.options.port}" if address else str(self.options.port)
        self.nginx.write_config(listen=listen, replicas=[r.port for r in self.replicas], status_dir=status_dir,
                                one_writer=self.options.one_writer)
        self.nginx.check()
        return self.nginx.conf

    def _start_postgres(self) -> str:
        self.postgres = postgres = Postgres(self.folder)
        if postgres.initialise():
            say(f"PostgreSQL initialised in {postgres.data}")
        self.children["postgres"] = postgres.start(dict(os.environ))
        self._wait(postgres.is_ready, 60, "PostgreSQL did not start", self.children["postgres"])
        building = self.folder / "demo-building"  # left behind by a build cut short
        if building.exists():
            postgres.drop_database()  # start again from nothing
            shutil.rmtree(self.folder / "lake", ignore_errors=True)
        if not postgres.has_database():  # first use; a store that exists is used as it is
            if self.options.build_demo:
                building.write_text(f"a build of the demo city started at {time.strftime('%Y-%m-%d %H:%M')}\n")
            postgres.create_database()
            if self.options.build_demo:
                self._build_demo(postgres.location())
            building.unlink(missing_ok=True)
        return postgres.location()

    def _build_demo(self, location: str) -> None:
        log = self.folder / "logs" / "demo.log"
        say(f"building the demo city into the shared store (about 30 s; {log})")
        env = {**os.environ, "DROPMAP_STORE": location, "DROPMAP_LAKE_DATA": str(self.folder / "lake"),
               "DROPMAP_SECRET": self._secret()}
        argv = [sys.executable, "-m", "ingest", "demo", "--db", location, *self.options.demo]
        builder = self.children["demo"] = spawn("the demo's build", argv, env=env, cwd=settings.ROOT, log=log)
        while builder.is_running():
            self._sleep(0.2)
        del self.children["demo"]
        if builder.proc.returncode != 0:
            raise ClusterError(builder.describe_exit())

    def _secret(self) -> str:
        """The site secret, read or made once (data/secret.key) and given to every replica: codes and address
        hashes must agree whichever replica computes them."""
        return settings.site_secret().decode("utf-8")

    def _replica_environment(self, location: str) -> dict[str, str]:
        secret = self._secret()
        status_dir = settings.status_dir()
        env = {**os.environ, "DROPMAP_STORE": location, "DROPMAP_SECRET": secret,
               # nginx appends the address it saw to X-Forwarded-For: one proxy more than the ones before it.
               "DROPMAP_TRUSTED_PROXIES": str(settings.get_int("DROPMAP_TRUSTED_PROXIES") + 1),
               "DROPMAP_STATUS_DIR": str(status_dir.resolve()) if status_dir else "off",
               # One cookie secret: Streamlit's XSRF cookie, set by one replica, still holds on another.
               "STREAMLIT_SERVER_COOKIE_SECRET": hmac.new(secret.encode(), b"dropmap-streamlit-cookie",
                                                          hashlib.sha256).hexdigest()}
        if self.postgres is not None:  # the cluster's own store; another store keeps the environment's
            env["DROPMAP_LAKE_DATA"] = str(self.folder / "lake")
        return env

    def _start_replica(self, replica: Replica) -> None:
        index = self.replicas.index(replica)
        env = {**self.env, "DROPMAP_DB": str(self.folder / "replicas" / f"replica-{replica.port}.duckdb")}
        if index >= self.options.detector_replicas:
            env["DROPMAP_SCAN_SECONDS"] = "0"
        argv = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(replica.port),
                "--server.address", "127.0.0.1", "--server.headless", "true"]
        replica.child = spawn(f"replica {replica.port}", argv, env=env, cwd=settings.ROOT,
                              log=self.folder / "logs" / f"replica-{replica.port}.log")
        replica.started = time.monotonic()
        replica.restart_at = None

    def _wait_for_replicas(self) -> None:
        for replica in self.replicas:
            self._wait(lambda r=replica: self._answers(r.port), self.options.ready_seconds,
                       f"replica {replica.port} did not answer", replica.child)

    def _wait(self, ready, seconds: float, failure: str, child: Child) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            if not child.is_running():
                raise ClusterError(child.describe_exit())
            if time.monotonic() > deadline:
                raise ClusterError(f"{failure} within {seconds:.0f} s" + (f"; see {child.log}" if child.log else ""))
            self._sleep(0.3)

    def _local_address(self) -> str:
        """Where this process reaches the balancer: its address, or loopback when it listens on every one."""
        address = self.options.address
        if address in ("", "*", "0.0.0.0", "::", "[::]"):
            return "127.0.0.1"
        return address if ":" not in address or address.startswith("[") else f"[{address}]"

    @staticmethod
    def _answers(port: int, host: str = "127.0.0.1") -> bool:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/_stcore/health", timeout=5) as answer:
                return answer.status == 200
        except OSError:
            return False

    # --- watch -------------------------------------------------------------------------------------

    def watch(self) -> None:
        """Until a signal: restart replicas that exit; PostgreSQL or nginx exiting ends the cluster."""
        while True:
            for child in self.children.values():
                if not child.is_running():
                    raise ClusterError(f"{child.describe_exit()}; stopping the cluster")
            now = time.monotonic()
            for replica in self.replicas:
                if replica.restart_at is None and not replica.child.is_running():
                    steady = now - replica.started >= STEADY_SECONDS
                    replica.failures = 0 if steady else replica.failures + 1
                    wait = min(RESTART_SECONDS[0] * 2 ** replica.failures, RESTART_SECONDS[1])
                    say(f"{replica.child.describe_exit()}; starting it again in {wait} s")
                    replica.restart_at = now + wait
                elif replica.restart_at is not None and now >= replica.restart_at:
                    self._start_replica(replica)
                    self._write_state()
            self._sleep(0.5)

    def _write_state(self) -> None:
        """``<folder>/cluster.json``: the processes and ports of the running cluster (tests, the operator)."""
        state = {"pid": os.getpid(), "port": self.options.port,
                 "balancer": {"pid": self.children["nginx"].pid, "access_log": str(self.nginx.access_log)}
                 if "nginx" in self.children else None,
                 "postgres": {"pid": self.children["postgres"].pid} if "postgres" in self.children else None,
                 "replicas": [{"port": r.port, "pid": r.child.pid if r.child and r.child.is_running() else None,
                               "log": str(r.child.log) if r.child else None} for r in self.replicas]}
        partial = self.folder / ".cluster.json.partial"
        partial.write_text(json.dumps(state, indent=1))
        os.replace(partial, self.folder / "cluster.json")
        self.wrote_state = True

    # --- stop --------------------------------------------------------------------------------------

    def stop(self) -> None:
        """nginx, then the replicas (and a demo build), then PostgreSQL; killed once a second signal came."""
        def killed() -> bool:
            return self.signals >= 2

        if not self.children and not any(r.child for r in self.replicas):
            return  # nothing was started
        order = [[self.children.get("nginx")], [r.child for r in self.replicas] + [self.children.get("demo")],
                 [self.children.get("postgres")]]
        for group, seconds in zip(order, (10, 30, 30), strict=True):
            running = [c for c in group if c is not None]
            if running:
                stop_all(running, seconds=seconds, killed=killed)
        if self.wrote_state:
            (self.folder / "cluster.json").unlink(missing_ok=True)
        say("stopped")
