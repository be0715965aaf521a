"""python -m outages: detect carrier outages in the stored reports (replays and batch use).

  python -m outages scan [--db PATH] [--at ISO8601] [--lookback-hours H]
      Scans the hours before --at (default: now) as the site's background
      detector does, stores what it finds and prints a JSON list of the
      incidents as of then: the ones this scan touched and any still open.
      --at in the past replays that moment (only reports observed before it count);
      a time without an offset is Seoul time.

  python -m outages replay [--db PATH] [--since ISO8601] [--until ISO8601]
      Walks a whole period (default: every stored report) week by week and
      prints a JSON list of the incidents found in it.

Exit 0 on success, 1 when the database cannot be used (e.g. the site holds it),
2 on a bad argument.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta

from core.city import load_city
from core.errors import DropMapError
from store.db import connect, cursor


def _when(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time; write e.g. 2021-10-25T11:30 or 2021-10-25T02:30Z") from e
    return t if t.tzinfo else t.replace(tzinfo=load_city().tz)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m outages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    scan = sub.add_parser("scan", help="scan the hours before a moment (default: now) and store incidents")
    scan.add_argument("--db", help="database file (default: $DROPMAP_DB or data/dropmap.duckdb)")
    scan.add_argument("--at", type=_when, help="scan as of this time (ISO 8601; default: now)")
    scan.add_argument("--lookback-hours", type=float, default=6.0, help="hours looked at before --at (default 6)")
    replay = sub.add_parser("replay", help="detect over a whole period and store incidents")
    replay.add_argument("--db")
    replay.add_argument("--since", type=_when, help="start (default: the oldest stored report)")
    replay.add_argument("--until", type=_when, help="end (default: an hour after the newest stored report)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        con = connect(args.db)
    except DropMapError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        incidents = _scan(con, args) if args.command == "scan" else _replay(con, args)
    except DropMapError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        con.close()
    print(json.dumps(incidents, ensure_ascii=False, indent=1))
    return 0


def _scan(con, args) -> list[dict]:
    from outages.public import load_public
    from outages.scan import scan
    from store import outages_sql

    at = args.at or datetime.now(UTC)
    result = scan(con, at, lookback=timedelta(hours=args.lookback_hours))
    ids = list(dict.fromkeys(result.incident_ids))
    with cursor(con) as cur:
        rows = [outages_sql.get_incident(cur, i) for i in ids]
        rows += [r for r in outages_sql.open_incidents(cur) if r["incident_id"] not in ids and r["onset_at"] < at]
        return load_public(cur, sorted((r for r in rows if r), key=lambda r: r["onset_at"]))


def _replay(con, args) -> list[dict]:
    from outages.public import load_public
    from outages.scan import replay
    from store import outages_sql
    from store.reports import observed_span

    with cursor(con) as cur:
        first, last = observed_span(cur)
    since = args.since or first
    until = args.until or (last + timedelta(hours=1) if last else None)
    if since is None or until is None:
        return []
    result = replay(con, since, until)
    with cursor(con) as cur:
        rows = [outages_sql.get_incident(cur, i) for i in dict.fromkeys(result.incident_ids)]
        return load_public(cur, sorted((r for r in rows if r), key=lambda r: r["onset_at"]))
