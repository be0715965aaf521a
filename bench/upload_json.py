"""Memory and time of reading a JSON upload: read a batch at a time against parsed whole.

Usage: .venv/bin/python bench/upload_json.py [--records 300000] [--repeat 3]

Writes a JSON list of report objects (and the same reports as a GeoJSON FeatureCollection), then
reads each file in a fresh process, three ways, and prints peak resident memory (VmHWM) and
wall time, the median of --repeat runs:

- duckdb   baseline: DuckDB's own ``read_json`` of the list into an in-memory table;
- streamed what an upload does now: ``ingest.readers.read_into_raw`` (ingest.json_stream);
- whole    what it did before: ``json.loads`` of the whole text, ``records_from_json``,
           ``records_to_fields`` (one DataFrame of every record), ``frame_into_raw``.

Ratios are to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

READERS = {
    "duckdb": """
import duckdb
con = duckdb.connect()
con.execute("CREATE TABLE t AS SELECT * FROM read_json(?, format='array', records=true)", [PATH])
rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
""",
    "streamed": """
from store import ingest_sql
from ingest.readers import read_into_raw
cur = ingest_sql.scratch_cursor()
read_into_raw(cur, Path(PATH))
rows = ingest_sql.raw_count(cur)
""",
    "whole": """
import json
import numpy as np
from store import ingest_sql
from ingest.readers import decode_text, records_from_json, records_to_fields
from ingest.validate import frame_into_raw
text, _ = decode_text(Path(PATH).read_bytes())
records, bad = records_from_json(json.loads(text))
frame, ignored = records_to_fields(records)
cur = ingest_sql.scratch_cursor()
frame_into_raw(cur, frame, np.arange(1, len(frame) + 1))
rows = ingest_sql.raw_count(cur)
""",
}

RUN = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
PATH = {path!r}
start = time.perf_counter()
{body}
seconds = time.perf_counter() - start
# VmHWM: this program's own peak (ru_maxrss would keep the parent's across exec)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(rows, seconds, peak)
"""


def write_files(folder: Path, n: int) -> tuple[Path, Path]:
    reports = [{"lat": round(37.45 + (i % 1000) / 5000, 6), "lon": round(126.9 + (i % 997) / 4000, 6),
                "carrier": ("KT", "SKT", "LGU+")[i % 3], "kind": "dropped_call",
                "observed_at": f"2021-10-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}",
                "device_model": "SM-S911N", "note": "지하철 2호선 강남역 부근에서 통화가 끊김"} for i in range(n)]
    listed = folder / "reports.json"
    listed.write_text(json.dumps(reports, ensure_ascii=False), encoding="utf-8")
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.pop("lon"), r.pop("lat")]},
                 "properties": r} for r in reports]
    collection = folder / "reports.geojson"
    collection.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                          encoding="utf-8")
    return listed, collection


def measure(reader: str, path: Path) -> tuple[int, float, float]:
    code = RUN.format(root=str(ROOT), path=str(path), body=READERS[reader])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    rows, seconds, kib = out.stdout.split()
    return int(rows), float(seconds), int(kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        listed, collection = write_files(Path(tmp), args.records)
        print(f"{args.records:,} reports: list {listed.stat().st_size / 2**20:.0f} MB, "
              f"GeoJSON {collection.stat().st_size / 2**20:.0f} MB; median of {args.repeat}")
        base = None
        print(f"{'file':8} {'reader':9} {'rows':>9} {'seconds':>8} {'peak MB':>8} "
              f"{'time ratio':>10} {'memory ratio':>12}")
        for name, path, readers in (("list", listed, ("duckdb", "streamed", "whole")),
                                    ("geojson", collection, ("streamed", "whole"))):
            for reader in readers:
                runs = [measure(reader, path) for _ in range(args.repeat)]
                rows = runs[0][0]
                seconds = statistics.median(r[1] for r in runs)
                peak = statistics.median(r[2] for r in runs)
                if base is None:
                    base = (seconds, peak)
                print(f"{name:8} {reader:9} {rows:>9,} {seconds:>8.2f} {peak:>8.0f} "
                      f"{seconds / base[0]:>10.1f} {peak / base[1]:>12.1f}")


if __name__ == "__main__":
    main()
