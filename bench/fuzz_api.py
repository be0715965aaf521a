"""Fuzz the HTTP API against its own OpenAPI document with schemathesis, every check on.

Builds a small demo city in a temporary folder (or uses --db), starts the real site
(`streamlit run app.py`) on a free loopback port with the hourly report limits off (so
that every generated report reaches validation instead of a 429), and runs

    python -m schemathesis.cli --config-file schemathesis.toml run <site>/api/v1/openapi.json --checks all
       --continue-on-failure --seed SEED --max-examples N

from a temporary folder (schemathesis keeps its cache there, not in the repository).
Prints the number of generated cases and of failures; exits with schemathesis's status.
schemathesis.toml holds the one documented exception (see there and docs/SECURITY.md).

    .venv/bin/python bench/fuzz_api.py [--max-examples 20] [--seed 4] [--db PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._site import start_site  # noqa: E402

CONFIG = ROOT / "schemathesis.toml"
SMALL_DEMO = ["--reports", "30000", "--days", "35", "--seed", "7"]
# The hourly report limits off, so that every generated report reaches validation instead of a 429.
SITE_ENV = {"DROPMAP_SCAN_SECONDS": "0", "DROPMAP_RATE_PER_IP": "0", "DROPMAP_RATE_PER_CODE": "0",
            "DROPMAP_SECRET": os.environ.get("DROPMAP_SECRET", "fuzz-secret")}


def schemathesis_command(base: str, *, max_examples: int, seed: int, phases: str | None = None,
                         extra: tuple[str, ...] = ()) -> list[str]:
    # The module, not the `st` script: a console script's #! line can name an interpreter that is gone.
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
               base + "/api/v1/openapi.json", "--checks", "all",
               "--continue-on-failure", "--seed", str(seed), "--max-examples", str(max_examples), "--no-color",
               "--warnings", "off"]
    return command + (["--phases", phases] if phases else []) + list(extra)


def parse_summary(output: str) -> dict:
    """{"cases": N, "failures": N} from schemathesis's closing lines."""
    cases = re.search(r"(\d+) generated", output)
    failures = re.search(r"(\d+) failures?\b", output.splitlines()[-1] if output.strip() else "")
    return {"cases": int(cases.group(1)) if cases else 0, "failures": int(failures.group(1)) if failures else 0}


def fuzz(base: str, *, max_examples: int, seed: int, phases: str | None = None,
         extra: tuple[str, ...] = ()) -> tuple[int, dict, str]:
    """(exit status, summary, full output) of one schemathesis run against ``base``; ``extra``: more options."""
    with tempfile.TemporaryDirectory(prefix="dropmap-fuzz-") as cwd:
        command = schemathesis_command(base, max_examples=max_examples, seed=seed, phases=phases, extra=extra)
        done = subprocess.run(command,
                              cwd=cwd, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    output = done.stdout + done.stderr
    return done.returncode, parse_summary(output), output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=20, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--db", type=Path, help="a database to copy (default: a small demo city, built here)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dropmap-fuzz-site-") as tmp:
        db = Path(tmp) / "site.duckdb"
        if args.db:
            shutil.copy(args.db, db)
        else:
            subprocess.run([sys.executable, "-m", "ingest", "demo", "--db", str(db), *SMALL_DEMO], cwd=ROOT,
                           check=True, stdout=subprocess.DEVNULL)
        site = start_site(db, env=SITE_ENV, log=Path(tmp) / "streamlit.log", ready="/api/v1/openapi.json",
                          timeout=90)
        try:
            started = time.time()
            status, summary, output = fuzz(site.base, max_examples=args.max_examples, seed=args.seed)
            elapsed = time.time() - started
        finally:
            site.stop(timeout=15)
    if status != 0:
        print(output)
    print(f"schemathesis, all checks, seed {args.seed}, max-examples {args.max_examples}: "
          f"{summary['cases']} cases, {summary['failures']} failures, {elapsed:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
