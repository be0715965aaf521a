"""python -m geo: open-data exports of the hex aggregates.

  python -m geo export --res R --format csv|parquet|geoparquet|geojson --out PATH [--db PATH]
                       [--carrier C] [--since DATE] [--until DATE] [--by hour|weekday_hour|date|all]
                       [--demo include|exclude]
      Writes PATH and PATH.manifest.json; prints the manifest (one JSON object).
      Periods are local (Seoul) dates. Hour buckets (and by=all) widen to whole
      Monday-Sunday weeks and end with the last complete week; by=date ends yesterday.
      `python -m geo export --help` explains every option.

  python -m geo snapshot [--db PATH] [--out DIR] [--site URL]
      Writes the standard set (res 8, by weekday_hour, the last 13 complete weeks,
      one file per carrier in each format, index.json) to DIR (default static/opendata,
      served at /app/static/opendata/). While the site runs it holds the database:
      pass --site http://127.0.0.1:PORT and the site writes the snapshot itself.
      Nightly, from cron:
          15 3 * * * cd /srv/dropmap && .venv/bin/python -m geo snapshot --site http://127.0.0.1:8501

Exit status: 0 done; 2 a bad parameter (stderr names it and the fix); 1 the
database could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

from core.errors import DatabaseLockedError, DropMapError, InputError
from geo.aggregate import BY_CHOICES, DEMO_CHOICES, EXPORT_RESOLUTIONS, QueryErrors, parse_query
from geo.export import FORMATS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m geo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser(
        "export", help="write hex aggregates to a file (+ PATH.manifest.json)",
        description="Write the public hex aggregates (H3 cell x network x time bucket x failure kind) to "
                    "OUT and their manifest to OUT.manifest.json. A figure resting on fewer than k distinct "
                    "reporters (DROPMAP_MIN_REPORTERS) is left empty; a row with none is left out.")
    export.add_argument("--res", type=int, default=8, choices=EXPORT_RESOLUTIONS,
                        help="H3 resolution of the hexes: 7 (about 5.2 km2), 8 (about 0.74 km2, default), "
                             "9 (about 0.1 km2)")
    export.add_argument("--format", required=True, choices=FORMATS,
                        help="csv (UTF-8, header), parquet (zstd), geoparquet (hex polygons, WGS84 lon/lat, "
                             "for geopandas/QGIS) or geojson (RFC 7946 FeatureCollection)")
    export.add_argument("--out", required=True, help="file to write; its manifest goes to OUT.manifest.json")
    export.add_argument("--db", help="database file (default: $DROPMAP_DB or data/dropmap.duckdb)")
    export.add_argument("--carrier", help="host network: SKT, KT or LGU+ (MVNO reports count under their "
                                          "host network; default: all three, a row per network)")
    export.add_argument("--since", help="first local (Seoul) date, e.g. 2021-09-27 (default: the first report)")
    export.add_argument("--until", help="last local date, inclusive (default: the last complete period)")
    export.add_argument("--by", default="hour", choices=BY_CHOICES,
                        help="time bucket, local Seoul time: hour (hour of day 0-23, default), weekday_hour "
                             "(weekday 1-7 x hour), date (calendar day) or all (every hour and day together: "
                             "one row per hex, network and kind). hour, weekday_hour and all cover whole "
                             "Monday-Sunday weeks; date ends yesterday")
    export.add_argument("--demo", default="include", choices=DEMO_CHOICES,
                        help="synthetic demo rows: include (marked is_synthetic, default) or exclude")
    snapshot = sub.add_parser(
        "snapshot", help="write the standard nightly snapshot set",
        description="Write the standard set (res 8, by weekday_hour, the last 13 complete weeks, one file per "
                    "carrier in each format, and index.json).")
    snapshot.add_argument("--db", help="database file (default: $DROPMAP_DB or data/dropmap.duckdb); "
                                       "not with --site")
    snapshot.add_argument("--out", help="folder to write (default: static/opendata, served at "
                                        "/app/static/opendata/); not with --site")
    snapshot.add_argument("--site", help="URL of the running site, e.g. http://127.0.0.1:8501: the site, which "
                                         "holds the database, then writes the snapshot itself")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "export":
            result = _export(args)
        elif args.site:
            result = _snapshot_via_site(args)
        else:
            result = _snapshot(args)
    except QueryErrors as e:
        for error in e.errors:
            print(f"error: --{error.field} {error.value!r}: {error.message}", file=sys.stderr)
        return 2
    except InputError as e:
        print(f"error: --{e.field} {e.value!r}: {e.message}", file=sys.stderr)
        return 2
    except DatabaseLockedError as e:
        print(f"error: {e} For open data while the site runs: GET /api/v1/hexes, the snapshot files at "
              "/app/static/opendata/, or `python -m geo snapshot --site URL`.", file=sys.stderr)
        return 1
    except DropMapError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _export(args) -> dict:
    from geo.export import export
    from store.db import connect, cursor

    query = parse_query({"res": str(args.res), "by": args.by, "carrier": args.carrier, "since": args.since,
                         "until": args.until, "demo": args.demo})
    con = connect(args.db, read_only=True)
    try:
        with cursor(con) as cur:
            return export(cur, query, args.format, args.out)
    finally:
        con.close()


def _snapshot(args) -> dict:
    from geo.snapshot import write_snapshot
    from store.db import connect, cursor

    con = connect(args.db, read_only=True)
    try:
        with cursor(con) as cur:
            return _summary(write_snapshot(cur, args.out))
    finally:
        con.close()


def _snapshot_via_site(args) -> dict:
    from core.operator import operator_token

    if args.out or args.db:
        raise InputError("site", args.site, "the site writes into its own static/opendata from its own "
                                            "database; drop --out and --db, or drop --site")
    url = args.site.rstrip("/") + "/api/v1/snapshots"
    request = urllib.request.Request(url, method="POST", data=b"",
                                     headers={"Authorization": f"Bearer {operator_token()}"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return _summary(json.loads(response.read()))
    except urllib.error.HTTPError as e:
        raise DropMapError(f"the site at {args.site} answered {e.code}: {e.read().decode('utf-8', 'replace')}") from e
    except urllib.error.URLError as e:
        raise DropMapError(f"cannot reach the site at {args.site} ({e.reason}); is it running?") from e


def _summary(index: dict) -> dict:
    return {"generated_at": index["generated_at"], "period": index["period"], "synthetic": index["synthetic"],
            "files": [{"file": f["file"], "rows": f["rows"], "sha256": f["sha256"]} for f in index["files"]]}
