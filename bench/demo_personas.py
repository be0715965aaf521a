"""What "phone or network?" answers for the demo personas, with the figures docs/DEMO.md quotes.

    .venv/bin/python bench/demo_personas.py DB

DB is a demo city (docs/DEMO.md quotes the default one: `python -m ingest demo --db DB`).
For each persona of ingest/demo_personas.py it prints, from the same evidence code
"My reports" uses: the persona's failures, the verdict, and every compared group with its
failure share (failures / (failures + 'all good' samples)) and the one-sided p-value.
tests/test_demo_personas.py checks the verdicts; this prints the numbers behind them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from evidence import compare_nearby, failures_of, my_reports, phone_or_network  # noqa: E402
from ingest.demo_personas import PERSONAS  # noqa: E402


def _share(line) -> float | None:
    return None if line is None or math.isnan(line.rate) else round(line.rate, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", type=Path)
    args = parser.parse_args()
    con = duckdb.connect(str(args.db), read_only=True)
    try:
        for persona in PERSONAS:
            mine = my_reports(con, persona.code)
            comparison = compare_nearby(con, persona.code, mine)
            verdict = phone_or_network(comparison)
            print(json.dumps({
                "code": persona.code, "expected": persona.answer, "verdict": verdict.code,
                "failures": len(failures_of(mine)),
                "groups": {name: _share(line) for name, line in (comparison.groups if comparison else {}).items()},
                "tests": [{"what": t["what"], "group": _share(t["group"]), "baseline": _share(t["baseline"]),
                           "p_value": t["p_value"]} for t in verdict.tests],
            }, ensure_ascii=False))
    finally:
        con.close()


if __name__ == "__main__":
    main()
