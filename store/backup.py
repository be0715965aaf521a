"""Consistent copies of the database, taken by the process that owns it.

DuckDB lets one process open the file, so a copy of a running site's database
must be made *inside* the site: ``backup_database`` runs ``COPY FROM DATABASE``
into a new file (one statement, one snapshot: reports committed after it
started are simply not in the copy, and no half-written batch ever is), then
moves the finished file into place. ``python -m store backup`` (store/cli.py)
asks the running site for such a copy over HTTP (``POST /api/v1/operator/backup``,
operator token), or makes it itself when no site holds the file.

The site announces where it listens in a small file beside the database
(``<db>.site.json``: pid and URL) so the command can find it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from core.errors import StoreError

_TARGET = "dropmap_backup_target"  # the copy's catalog name while it is attached


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def backup_database(con: duckdb.DuckDBPyConnection, target: str | Path) -> dict:
    """Copy the whole database of ``con`` to the new file ``target``; returns {"path", "bytes", "reports"}.

    The copy is written under a temporary name beside ``target`` and renamed when
    complete, so ``target`` is either absent or a whole, openable database.
    """
    target = Path(target).resolve()
    if target.exists():
        raise StoreError(f"{target} exists already; choose a new file name for the backup")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    for stale in (partial, Path(f"{partial}.wal")):
        stale.unlink(missing_ok=True)
    cur = con.cursor()
    try:
        source = cur.execute("SELECT current_database()").fetchone()[0]
        # ATTACH takes no bound parameters; the path is the operator's own (CLI argument or a temp dir).
        cur.execute(f"ATTACH {_literal(str(partial))} AS {_TARGET} (READ_ONLY false)")
        try:
            cur.execute(f"COPY FROM DATABASE {_identifier(source)} TO {_TARGET}")
        finally:
            cur.execute(f"DETACH {_TARGET}")
    except duckdb.Error as e:
        partial.unlink(missing_ok=True)
        raise StoreError(f"backup to {target} failed: {str(e).splitlines()[0]}") from e
    finally:
        cur.close()
    os.chmod(partial, 0o600)  # owner-only, whatever the umask: a backup holds exact places and private notes
    reports = count_reports(partial)
    os.replace(partial, target)
    return {"path": str(target), "bytes": target.stat().st_size, "reports": reports}


def count_reports(path: str | Path) -> int:
    """Reports in a database file (opened read-only; proves a copy opens)."""
    from store.db import connect

    con = connect(path, read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM reports").fetchone()[0])
    finally:
        con.close()


def site_file(db: str | Path) -> Path:
    """Where the site serving ``db`` announces its pid and URL."""
    return Path(f"{Path(db).resolve()}.site.json")


def announce_site(db: str | Path, url: str) -> Path:
    """Write ``<db>.site.json`` (owner-only) for ``python -m store backup`` to find the site."""
    path = site_file(db)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    os.chmod(partial, 0o600)
    os.replace(partial, path)
    return path


def forget_site(db: str | Path) -> None:
    """Remove the announcement if it is this process's own."""
    path = site_file(db)
    site = read_site(db)
    if site is not None and site.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def read_site(db: str | Path) -> dict | None:
    """The announcement of the site serving ``db`` ({"pid", "url"}), or None."""
    try:
        return json.loads(site_file(db).read_text())
    except (OSError, ValueError):
        return None
