"""`python -m cluster` (what `make cluster` runs): PostgreSQL, two replicas on the shared store and nginx in
front of them, started on free ports over a small demo city. Pages, the API and the static status files
answer through the balancer; a report sent through it or straight to either replica is counted by every
replica, from one client address and with one secret; with a replica killed the rest keep answering and
the replica comes back; SIGINT stops everything and leaves no process behind. Without starting anything:
a missing Debian package is named, and nginx accepts the configuration the templates give.

Only deadlines, no timing assertions."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, SMALL_DEMO

sys.path.insert(0, str(ROOT))
from bench._clients import free_run, page_session  # noqa: E402

DEMO = f"--reports {SMALL_DEMO['reports']} --days {SMALL_DEMO['days']} --seed {SMALL_DEMO['seed']}"
CLIENT = "127.0.0.2"  # the test's client address (all of 127/8 is this machine), not the balancer's 127.0.0.1


def _missing_package() -> str | None:
    from cluster.nginx import executable
    from cluster.postgres import MissingPackageError, binaries

    try:
        binaries()
        executable()
    except MissingPackageError as e:
        return str(e)
    return None


def _request(port: int, method: str, path: str, body: dict | None = None, *,
             source: str = CLIENT) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def _until(check: Callable[[], object], seconds: float, what: str, cluster: subprocess.Popen | None = None):
    """The first true value of ``check()`` within ``seconds``; fails naming ``what``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cluster is not None and cluster.poll() is not None:
            pytest.fail(f"the cluster exited with {cluster.returncode} while waiting for {what}")
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"no {what} within {seconds:.0f} s")


def _stats(port: int) -> dict | None:
    status, _, body = _request(port, "GET", "/api/v1/stats")
    return json.loads(body) if status == 200 else None


def _descendants(root: int) -> dict[int, str]:
    """Every process under ``root`` (children, theirs...), with its start time (a pid is not reused unseen)."""
    parents: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
            started[int(entry.name)] = fields[19]
    found, todo = {}, [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found[child] = started[child]
            todo.append(child)
    return found


def _alive(pid: int, started: str) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == started and fields[0] != "Z"


def _page_session(port: int) -> bool:
    """A visitor's first page through the balancer: GET /, Streamlit's websocket opened (the Upgrade passed on)
    and the home page run to its end (bench/_clients.py, as the cluster bench measures it)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    # In a thread of its own: the suite's browser fixture may run an event loop in this one.
    with ThreadPoolExecutor(1) as pool:  # .result() raises unless the page finished cleanly
        pool.submit(lambda: asyncio.run(asyncio.wait_for(page_session(port, CLIENT), 180))).result()
    return True


def _logged(access_log: Path, path: str) -> str:
    """The balancer's log line of the latest request for ``path`` (nginx writes it once it has answered)."""
    def line() -> str | None:
        lines = [entry for entry in access_log.read_text().splitlines() if f' {path}" ' in entry]
        return lines[-1] if lines else None
    return _until(line, 10, f"a logged request for {path}")


def _report(n: int) -> dict:
    return {"lat": 37.50 + 0.01 * n, "lon": 127.00 + 0.01 * n, "carrier": "SKT", "kind": "no_data",
            "observed_at": f"2021-10-2{n}T1{n}:00:00+09:00"}


@pytest.fixture
def cluster_folder():
    """A folder outside pytest's (which only root may enter): PostgreSQL's and nginx's users go in."""
    folder = Path(tempfile.mkdtemp(prefix="dropmap-cluster-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_two_replicas_behind_the_balancer(cluster_folder):
    missing = _missing_package()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    port = free_run(3)
    replicas = (port + 1, port + 2)
    env = {**os.environ, "DROPMAP_CACHE_SECONDS": "1", "DROPMAP_SCAN_SECONDS": "2",
           "DROPMAP_STATUS_DIR": str(cluster_folder / "status")}
    env.pop("DROPMAP_TRUSTED_PROXIES", None)
    log = (cluster_folder / "cluster.log").open("w")
    cluster = subprocess.Popen([sys.executable, "-m", "cluster", "--replicas", "2", "--port", str(port),
                                "--address", "127.0.0.1", "--folder", str(cluster_folder), "--demo", DEMO],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        state = _until(lambda: (cluster_folder / "cluster.json").exists()
                       and json.loads((cluster_folder / "cluster.json").read_text()), 600, "running cluster", cluster)
        assert [r["port"] for r in state["replicas"]] == list(replicas)

        # A page and the totals, through the balancer.
        status, _, page = _request(port, "GET", "/")
        assert status == 200 and b"<noscript>" in page
        assert _page_session(port)
        before = _stats(port)
        assert before["reports"] > 0 and before["synthetic"] is True

        # One report through the balancer, one straight to each replica, all from one address.
        for where in (port, *replicas):
            status, _, body = _request(where, "POST", "/api/v1/reports", _report(where - port))
            assert status == 201, body
        for replica in replicas:
            _until(lambda r=replica: (_stats(r) or {}).get("reports") == before["reports"] + 3, 60,
                   f"the three reports counted by replica {replica}")
            # One reporter: the balancer passed the client's address on (DROPMAP_TRUSTED_PROXIES), and every
            # replica hashed it with the same secret.
            assert _stats(replica)["reporters"] == before["reporters"] + 1

        # The status files, from disk: nginx answers them without a replica.
        _until(lambda: (cluster_folder / "status" / "status.json").exists(), 120, "status files written")
        status, headers, body = _request(port, "GET", "/status/status.json")
        assert status == 200 and headers["content-type"].startswith("application/json")
        assert "max-age=30" in headers["cache-control"] and json.loads(body)["detector"]
        access_log = Path(state["balancer"]["access_log"])
        assert "upstream=- " in _logged(access_log, "/status/status.json")

        # Kill the replica the balancer sends this client to: the other replica and the balancer go on.
        assert _request(port, "GET", "/api/v1/openapi.json")[0] == 200  # asked once: its log line is this one
        used = _logged(access_log, "/api/v1/openapi.json").split("upstream=127.0.0.1:")[1].split()[0]
        (victim,) = [r for r in state["replicas"] if str(r["port"]) == used]
        (other,) = [p for p in replicas if p != victim["port"]]
        os.kill(victim["pid"], signal.SIGKILL)
        assert _stats(other)["reports"] == before["reports"] + 3
        assert _until(lambda: _stats(port), 30, "the balancer's answer without the killed replica")
        status, _, body = _until(lambda: (a := _request(port, "POST", "/api/v1/reports", _report(4)))[0] == 201
                                 and a, 30, "a report accepted without the killed replica")
        # The cluster starts the replica again.
        _until(lambda: _request(victim["port"], "GET", "/_stcore/health", source="127.0.0.1")[0] == 200, 300,
               "the killed replica started again", cluster)

        # SIGINT: everything stops, nothing is left.
        processes = _descendants(cluster.pid)
        assert len(processes) >= 2 + 1 + 2  # replicas, PostgreSQL, nginx and their own
        cluster.send_signal(signal.SIGINT)
        assert cluster.wait(timeout=120) == 0
        _until(lambda: not [pid for pid, started in processes.items() if _alive(pid, started)], 30,
               "end of every process of the cluster")
        for where in (port, *replicas):
            with pytest.raises(OSError):
                _request(where, "GET", "/_stcore/health", source="127.0.0.1")
        assert not (cluster_folder / "cluster.json").exists()
    finally:
        if cluster.poll() is None:  # its children get their signal when it dies (PR_SET_PDEATHSIG)
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
        print((cluster_folder / "cluster.log").read_text())


# --- without starting anything -------------------------------------------------------------------

@pytest.mark.parametrize(("module", "package"), [("postgres", "`postgresql`"), ("nginx", "`nginx`")])
def test_a_missing_debian_package_is_named(module, package, monkeypatch, tmp_path, capsys):
    import cluster.__main__
    import cluster.nginx
    import cluster.postgres

    if module == "postgres":
        monkeypatch.setattr(cluster.postgres.glob, "glob", lambda pattern: [])
        monkeypatch.setattr(cluster.postgres.shutil, "which", lambda name: None)
    else:
        monkeypatch.setattr(cluster.nginx, "DEBIAN_NGINX", str(tmp_path / "no-nginx"))
        monkeypatch.setattr(cluster.nginx.shutil, "which", lambda name: None)
    monkeypatch.delenv("DROPMAP_STORE", raising=False)
    before = signal.getsignal(signal.SIGINT)
    assert cluster.__main__.main(["--folder", str(tmp_path / "cluster")]) == 1
    message = capsys.readouterr().err
    assert package in message and "apt-get install" in message
    assert not (tmp_path / "cluster" / "cluster.json").exists()
    assert signal.getsignal(signal.SIGINT) == before  # the handlers are given back


@pytest.mark.parametrize("one_writer", [True, False])
def test_nginx_accepts_the_balancer_configuration(one_writer, cluster_folder):
    """The templates give a configuration `nginx -t` accepts: replicas by client address, the websocket
    passed on, the status folder from disk, and the API's reports to one replica (or by address)."""
    missing = _missing_package()
    if missing:
        pytest.skip(missing)
    from cluster.nginx import Nginx

    nginx = Nginx(cluster_folder)
    nginx.write_config(listen="127.0.0.1:18500", replicas=[18501, 18502, 18503],
                       status_dir=cluster_folder / "status", one_writer=one_writer)
    nginx.check()
    conf = nginx.conf.read_text()
    replicas, writer = conf.split("upstream dropmap_replicas {")[1].split("upstream dropmap_writer {")
    writer = writer.split("}")[0]
    assert "hash $remote_addr consistent;" in replicas and replicas.count("server 127.0.0.1:") == 3
    assert ("backup" in writer) == one_writer and ("hash $remote_addr" in writer) != one_writer
    assert writer.count("server 127.0.0.1:1850") == 3 and "server 127.0.0.1:18501 " in writer
    assert f"alias {cluster_folder / 'status'}/;" in conf and "location /_stcore/stream" in conf
    proxy = (nginx.folder / "proxy.conf").read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in proxy and "$proxy_add_x_forwarded_for" in proxy
    assert "{{" not in conf + proxy
    assert all((nginx.folder / log).stat().st_mode & 0o077 == 0 for log in ("access.log", "error.log"))


def test_a_template_name_without_a_value_is_an_error():
    from cluster.nginx import render

    assert render("listen {{listen}};", {"listen": "8501"}) == "listen 8501;"
    with pytest.raises(KeyError):
        render("alias {{status_dir}}/;", {"listen": "8501"})
