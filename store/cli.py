"""python -m store: the operator's commands for the database.

  python -m store backup PATH [--db DB] [--site URL]
      Makes a consistent copy of the database in the new file PATH and prints
      one JSON object {"path", "bytes", "reports", "via"}. While the site runs
      it holds the file, so the copy is made by the site itself: the command
      finds it through <DB>.site.json (written by the site when it starts), or
      --site URL, and asks it with the operator token (POST /api/v1/operator/backup).
      When no site holds the file, the command copies it directly ("via": "file").

  python -m store order [--db DB] [--fix]
      Says how well the reports are stored in time order (store.reports.time_order):
      {"row_groups", "overlap", "wide_row_groups", "rows_in_wide"}. An overlap near 1.0
      means a view of some weeks reads only those weeks. --fix writes every report again
      in time order (the site must be stopped: it holds the file) and prints the order
      before and after.

  python -m store operator-token
      Prints the operator token (derived from the site secret: DROPMAP_SECRET or
      data/secret.key). It opens the moderation page (/moderation) and
      authorises backups over HTTP. Keep it to yourself.

Exit 0 on success, 1 when the copy could not be made, 2 on a bad argument.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from core import settings
from core.errors import DatabaseLockedError, DropMapError, StoreError
from core.operator import operator_token
from store.backup import backup_database, count_reports, read_site
from store.db import connect, file_only
from store.reports import store_in_time_order, time_order

TIMEOUT_SECONDS = 600


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m store", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    backup = sub.add_parser("backup", help="a consistent copy of the database, even while the site runs")
    backup.add_argument("path", help="the new file to write (must not exist)")
    backup.add_argument("--db", help="database file (default: $DROPMAP_DB or data/dropmap.duckdb)")
    backup.add_argument("--site", help="URL of the running site (default: from <db>.site.json)")
    order = sub.add_parser("order", help="how well the reports are stored in time order; --fix rewrites them")
    order.add_argument("--db", help="database file (default: $DROPMAP_DB or data/dropmap.duckdb)")
    order.add_argument("--fix", action="store_true", help="write every report again in time order")
    sub.add_parser("operator-token", help="print the operator token (moderation page, backups over HTTP)")
    return parser


def backup_through_site(url: str, target: Path) -> dict:
    """Ask the site at ``url`` for a copy and write it to ``target`` (complete, or not at all)."""
    if target.exists():
        raise StoreError(f"{target} exists already; choose a new file name for the backup")
    request = urllib.request.Request(url.rstrip("/") + "/api/v1/operator/backup", method="POST", data=b"",
                                     headers={"Authorization": f"Bearer {operator_token()}"})
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        # Owner-only from the first byte: a backup holds exact places and private notes.
        private = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer, os.fdopen(private, "wb") as out:
            shutil.copyfileobj(answer, out, 1 << 20)
    except urllib.error.HTTPError as e:
        partial.unlink(missing_ok=True)
        raise StoreError(f"the site at {url} refused the backup ({e.code}): {e.read()[:300].decode(errors='replace')}"
                         ) from e
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise StoreError(f"cannot reach the site at {url} ({e}); is it running? pass --site URL") from e
    reports = count_reports(partial)  # the copy opens and holds reports: only then is it put in place
    os.replace(partial, target)
    return {"path": str(target.resolve()), "bytes": target.stat().st_size, "reports": reports, "via": url}


def backup(path: str, db: str | None, site: str | None) -> dict:
    target = Path(path)
    if not db:
        file_only("python -m store backup")
    if site:
        return backup_through_site(site, target)
    db_path = Path(db) if db else settings.db_path()
    try:
        con = connect(db_path, read_only=True)
    except DatabaseLockedError:
        announced = read_site(db_path)
        if not announced:
            raise StoreError(f"database {db_path} is held by another process that announced no site "
                             f"({db_path}.site.json); pass --site URL of the running site") from None
        return backup_through_site(announced["url"], target)
    try:
        return {**backup_database(con, target), "via": "file"}
    finally:
        con.close()


def order(db: str | None, fix: bool) -> dict:
    if not db:
        file_only("python -m store order")
    con = connect(Path(db) if db else settings.db_path(), read_only=not fix)
    try:
        before = time_order(con.cursor())
        if not fix:
            return before
        store_in_time_order(con)
        return {"before": before, "after": time_order(con.cursor())}
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "operator-token":
        print(operator_token())
        return 0
    try:
        result = order(args.db, args.fix) if args.command == "order" else backup(args.path, args.db, args.site)
    except DropMapError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0
