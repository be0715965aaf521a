"""python -m ingest: load report files into the store, or build the demo city.

  python -m ingest load PATH [--db PATH] [--format auto|csv|jsonl|geojson|towercollector|opencellid]
                            [--reporter-code CODE]
      Prints one JSON object {"batch_id", "accepted", "rejected", "duplicates", "errors": [...]}
      (and "warnings", "ignored_columns" when there are any). Loading the same file again
      adds nothing: its rows come back as duplicates.
      Exit 0 when the file was read (even if every row was rejected); 2 when it could not be
      read or its format is unknown; 1 when the database refused (for example while the
      running site holds it). One line on stderr says why. Input rules: docs/INPUT.md.

  python -m ingest demo [--db PATH] [--reports N] [--days D] [--seed S]
                       [--weak clustered|isolated|mixed] [--subtle]
      Builds the synthetic Seoul (source='demo'); prints a JSON summary. --weak chooses the
      kind of weak places in its ground truth: footprints of 7 hexes, single hexes, or some
      of each (default mixed); --subtle makes them only 1.5x-3x the usual failure rate
      instead of 3x-8x. The documented personas' stories hold in every kind: docs/DEMO.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from core.errors import DropMapError, UnreadableFileError
from ingest.demo_truth import WEAK_KINDS
from ingest.readers import FORMATS
from store.db import connect


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="load a report file (CSV, JSON Lines, GeoJSON, logger exports)")
    load.add_argument("path")
    load.add_argument("--db", help="database file (default: $DROPMAP_DB or data/dropmap.duckdb)")
    load.add_argument("--format", default="auto", choices=FORMATS)
    load.add_argument("--reporter-code", help="the uploader's reporter code, for rows without one")
    demo = sub.add_parser("demo", help="build the synthetic demo city (source='demo')")
    demo.add_argument("--db")
    demo.add_argument("--reports", type=int, default=None, help="number of failure reports")
    demo.add_argument("--days", type=int, default=None, help="days of ordinary traffic")
    demo.add_argument("--seed", type=int, default=None)
    demo.add_argument("--weak", choices=WEAK_KINDS, default=None,
                      help="kind of weak places: footprints of 7 hexes, single hexes, or both (default mixed)")
    demo.add_argument("--subtle", action="store_true", help="weak places only 1.5x-3x the usual rate")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "load":
            return _load(args)
        return _demo(args)
    except UnreadableFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except DropMapError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _load(args) -> int:
    from pathlib import Path

    from ingest.loader import load_file

    if not Path(args.path).is_file():  # before the database is opened (or created)
        raise UnreadableFileError(f"{args.path}: no such file")
    con = connect(args.db)
    try:
        result = load_file(con, args.path, fmt=args.format, reporter_code=args.reporter_code)
    finally:
        con.close()
    print(json.dumps(result.summary(), ensure_ascii=False))
    return 0


def _demo(args) -> int:
    from ingest.demo import DemoOptions, build_demo

    defaults = DemoOptions()
    options = DemoOptions(
        reports=args.reports if args.reports is not None else defaults.reports,
        days=args.days if args.days is not None else defaults.days,
        seed=args.seed if args.seed is not None else defaults.seed,
        weak=args.weak if args.weak is not None else defaults.weak,
        subtle=args.subtle,
    )
    con = connect(args.db)
    try:
        summary = build_demo(con, options)
    finally:
        con.close()
    print(json.dumps(summary, ensure_ascii=False, default=str))
    return 0
