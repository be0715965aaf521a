"""The store: one connection factory, ordered migrations, UTC sessions, a clear refusal while locked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

import store.migrations
from core import settings
from core.errors import DatabaseLockedError, StoreError
from store.db import close_shared, connect, shared_connection
from store.migrations import MIGRATIONS, apply_migrations


def test_migrations_are_applied_in_order_and_recorded(db_path):
    con = connect(db_path)
    names = [n for (n,) in con.execute("SELECT name FROM schema_migrations ORDER BY applied_at, name").fetchall()]
    assert names == [name for name, _ in MIGRATIONS]
    assert names[0] == "0001_reports_and_batches"
    assert apply_migrations(con) == []  # nothing left to apply
    con.close()
    assert apply_migrations(connect(db_path)) == []


def test_migration_names_are_unique_and_ordered():
    names = [name for name, _ in MIGRATIONS]
    assert len(set(names)) == len(names)
    assert names == sorted(names)


def test_reports_table_has_the_documented_columns(con):
    columns = {name: kind for name, kind in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'reports'").fetchall()}
    for res in (6, 7, 8, 9, 10):
        assert columns[f"h3_r{res}"] == "UBIGINT"
    assert columns["observed_at"] == "TIMESTAMP WITH TIME ZONE"
    assert columns["reporter"] == "UBIGINT" and columns["ip_hash"] == "UBIGINT"
    assert "reporter_code" not in columns and "ip" not in columns


def test_a_failing_migration_is_rolled_back_and_explained(db_path, monkeypatch):
    monkeypatch.setattr(store.migrations, "MIGRATIONS",
                        [*MIGRATIONS, ("9999_broken", "CREATE TABLE half_done (x INT); SELEC oops")])
    with pytest.raises(StoreError, match="9999_broken"):
        connect(db_path)
    monkeypatch.setattr(store.migrations, "MIGRATIONS", MIGRATIONS)
    con = connect(db_path)
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'half_done'"
                       ).fetchone() == (0,)


def test_sessions_are_utc_in_every_cursor(con):
    assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    assert con.cursor().execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)


def test_read_only_needs_an_existing_database(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        connect(tmp_path / "missing.duckdb", read_only=True)


def test_shared_connection_is_one_per_path(db_path):
    try:
        assert shared_connection(db_path) is shared_connection(db_path)
        assert shared_connection(db_path).cursor().execute("SELECT count(*) FROM reports").fetchone() == (0,)
    finally:
        close_shared()


HOLDER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()  # hold the file until the test closes our stdin
""")


@pytest.mark.parametrize("read_only", [False, True])
def test_another_process_holding_the_file_gives_a_clear_refusal(db_path, read_only):
    connect(db_path).close()  # the file exists, with its schema
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(DatabaseLockedError) as e:
            connect(db_path, read_only=read_only)
        message = str(e.value)
        assert f"process {holder.pid}" in message
        assert "Stop the site first" in message and "POST /api/v1/reports" in message
        assert "\n" not in message
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    connect(db_path).close()  # free again once the holder is gone


def test_other_open_errors_are_store_errors(tmp_path):
    path = tmp_path / "not_a_db.duckdb"
    path.write_bytes(b"this is not a database file at all" * 100)
    with pytest.raises(StoreError):
        connect(path)


def test_site_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("DROPMAP_SECRET", "from-env")
    assert settings.site_secret() == b"from-env"


def test_site_secret_is_generated_once_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("DROPMAP_SECRET", raising=False)
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path)
    first = settings.site_secret()
    key_file = tmp_path / "secret.key"
    assert len(first) == 64 and key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert settings.site_secret() == first
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]  # no temporary files left


def test_site_secret_is_never_committed():
    ignored = (Path(__file__).parent.parent / ".gitignore").read_text()
    assert "data/secret.key" in ignored.split()


def test_an_emptied_secret_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("DROPMAP_SECRET", raising=False)
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path)
    (tmp_path / "secret.key").write_text("")
    with pytest.raises(StoreError, match="is empty"):
        settings.site_secret()


def test_a_replaced_secret_file_is_read_again(tmp_path, monkeypatch):
    # The key is read once per version of the file, never kept after the file changes.
    monkeypatch.delenv("DROPMAP_SECRET", raising=False)
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path)
    key_file = tmp_path / "secret.key"
    key_file.write_text("first-secret\n")
    reads = []
    real_read = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self) or real_read(self, *a, **k))
    assert settings.site_secret() == b"first-secret"
    assert settings.site_secret() == settings.site_secret() == b"first-secret"
    assert reads == [key_file]  # read once while the file stays the same
    replacement = tmp_path / "new.key"
    replacement.write_text("second-secret-longer\n")
    replacement.replace(key_file)
    assert settings.site_secret() == b"second-secret-longer"


def test_the_connection_factory_is_the_only_duckdb_connect_on_the_database():
    root = Path(__file__).parent.parent
    offenders = []
    for path in [*root.glob("*/*.py"), *root.glob("*.py")]:
        if path.parts[-2] in ("tests", "bench", ".venv") or path.name == "db.py":
            continue
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if "duckdb.connect(" in line and ":memory:" not in line:
                offenders.append(f"{path.relative_to(root)}: {line.strip()}")
    assert offenders == []


def test_duckdb_version_is_the_pinned_one():
    pinned = [line for line in (Path(__file__).parent.parent / "requirements.txt").read_text().splitlines()
              if line.startswith("duckdb==")]
    assert pinned == [f"duckdb=={duckdb.__version__}"]
    assert os.environ.get("DROPMAP_SECRET")  # tests never touch the real secret


def test_the_database_and_its_log_are_owner_only(tmp_path):
    """Exact places and notes: a file made under a loose umask is tightened when the store opens it, and
    the write-ahead log DuckDB makes afterwards is owner-only too."""
    path = tmp_path / "loose.duckdb"
    before = os.umask(0o022)
    try:
        duckdb.connect(str(path)).close()
        assert path.stat().st_mode & 0o777 == 0o644  # as DuckDB makes it under 022
        con = connect(path)
        try:
            con.execute("CREATE TABLE t AS SELECT 1 AS a")
            con.execute("INSERT INTO t VALUES (2)")
            wal = path.with_name(path.name + ".wal")
            assert wal.exists()
            assert wal.stat().st_mode & 0o777 == 0o600
        finally:
            con.close()
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(before)


def test_duckdb_memory_is_limited_by_the_setting(db_path, monkeypatch):
    from store.db import connect

    monkeypatch.setenv("DROPMAP_DUCKDB_MEMORY", "512MB")
    con = connect(db_path)
    try:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] in ("488.2 MiB", "512.0 MB")
    finally:
        con.close()
    monkeypatch.setenv("DROPMAP_DUCKDB_MEMORY", "lots")
    with pytest.raises(StoreError, match="DROPMAP_DUCKDB_MEMORY='lots'.*e.g. 4GB"):
        connect(db_path)
