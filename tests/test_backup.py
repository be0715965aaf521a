"""Backups (store.backup, python -m store backup): a consistent copy, directly or from the running site."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import ROOT, start_site

from ingest.loader import Origin, load_frame
from store.cli import main
from store.db import connect

BASE = datetime(2026, 1, 5, 0, 0)


def report(n: int) -> dict:
    """One reporter walking 220 m every 6 minutes: never a near-duplicate, never implausible travel."""
    return {"lat": 37.45 + 0.002 * (n % 100), "lon": 126.85 + 0.0001 * (n // 100), "carrier": "KT",
            "kind": "dropped_call", "observed_at": (BASE + timedelta(minutes=6 * n)).isoformat() + "+09:00"}


def post(url: str, n: int) -> list[str]:
    request = urllib.request.Request(url + "/api/v1/reports", data=json.dumps(report(n)).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201
        return json.loads(answer.read())["ids"]


def ids_in(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [str(r[0]) for r in con.execute("SELECT report_id FROM reports").fetchall()]
    finally:
        con.close()


def test_backup_of_a_database_no_site_holds(db_path, tmp_path):
    con = connect(db_path)  # a backup copies the file: never the shared store of DROPMAP_TEST_STORE=shared
    load_frame(con, pd.DataFrame([report(n) for n in range(7)]), Origin(source="web"))
    con.close()
    target = tmp_path / "copies" / "copy.duckdb"
    assert main(["backup", str(target), "--db", str(db_path)]) == 0
    assert sorted(ids_in(target)) == sorted(ids_in(db_path)) and len(ids_in(target)) == 7
    copy = connect(target)  # the copy is a whole database: it opens, its migrations are recorded
    assert copy.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] >= 5
    copy.close()
    assert main(["backup", str(target), "--db", str(db_path)]) == 1  # never overwrites
    assert target.stat().st_mode & 0o777 == 0o600  # owner-only: exact places and private notes


@pytest.fixture
def empty_db(tmp_path) -> Path:
    path = tmp_path / "empty.duckdb"
    connect(path).close()
    return path


@pytest.fixture
def running(empty_db, tmp_path_factory):
    sites = start_site(empty_db, tmp_path_factory, DROPMAP_RATE_PER_IP="0", DROPMAP_RATE_PER_CODE="0")
    yield next(sites)
    sites.close()


def test_backup_while_the_site_runs_and_posts(running, tmp_path):
    url, db = running["url"], running["db"]
    before = [i for n in range(20) for i in post(url, n)]
    assert len(before) == 20
    # Another client keeps posting while the copy is made.
    during, stop = [], threading.Event()

    def keep_posting():
        n = 1000
        while not stop.is_set() and n < 1400:
            during.extend(post(url, n))
            n += 1

    writer = threading.Thread(target=keep_posting)
    writer.start()
    target = tmp_path / "backup.duckdb"
    try:
        done = subprocess.run([sys.executable, "-m", "store", "backup", str(target), "--db", str(db)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["via"] == url  # found through <db>.site.json, made by the site itself
    copied = ids_in(target)  # restore: the copy opens on its own
    assert len(copied) == len(set(copied)) == result["reports"]
    assert set(before) <= set(copied)  # everything acknowledged before the backup is in it
    assert set(copied) <= set(before) | set(during)  # and nothing that was never acknowledged
    assert running["process"].poll() is None  # the site kept running
    assert target.stat().st_mode & 0o777 == 0o600  # owner-only, whatever the umask


def test_backup_route_needs_the_operator_token(running):
    for header in ({}, {"Authorization": "Bearer " + "0" * 32}):
        request = urllib.request.Request(running["url"] + "/api/v1/operator/backup", data=b"", method="POST",
                                         headers=header)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=30)
        assert e.value.code == 401


def test_cli_help_is_its_docstring_and_prints_the_token(capsys):
    from core.operator import operator_token
    from store import cli

    assert cli._parser().description == cli.__doc__ and "python -m store backup PATH" in cli.__doc__
    assert main(["operator-token"]) == 0
    assert capsys.readouterr().out.strip() == operator_token()


def test_backup_of_a_missing_database_says_so(tmp_path, capsys):
    assert main(["backup", str(tmp_path / "copy.duckdb"), "--db", str(tmp_path / "none.duckdb")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "copy.duckdb").exists()
