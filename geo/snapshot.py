"""The standard open-data snapshot: fixed file names a carrier can fetch nightly.

res 8, by hour of week (weekday_hour), the 13 complete weeks ending with the
last complete week of data, one file per host network in each format, plus
their manifests, an index.json, the data dictionary and the licence. The site
serves the folder at /app/static/opendata/ (Streamlit static serving).

Only the process that holds the database can read it (DuckDB), so while the
site runs, ``python -m geo snapshot --site URL`` asks the site to write the
snapshot (POST /api/v1/snapshots, authorised by a token derived from the site
secret, which only the machine's operator has).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from core.settings import ROOT
from core.vocab import NETWORKS
from geo.aggregate import PERIOD_NOTES, ExportQuery, build, data_dates, snapshot_period, today_local
from geo.export import FORMATS, LICENCE, SUFFIXES, write_export, write_json_atomically

SNAPSHOT_DIR = ROOT / "static" / "opendata"
SNAPSHOT_URL = "/app/static/opendata/"
SNAPSHOT_RES = 8
SNAPSHOT_BY = "weekday_hour"
_SLUGS = {"SKT": "skt", "KT": "kt", "LGU+": "lguplus"}
_DOCS = (ROOT / "docs" / "DATA.md", ROOT / "LICENSE-DATA.md")


def snapshot_file_name(network: str, fmt: str) -> str:
    """The stable name of one snapshot file, e.g. dropmap_r8_weekday_hour_kt.csv."""
    return f"dropmap_r{SNAPSHOT_RES}_{SNAPSHOT_BY}_{_SLUGS[network]}{SUFFIXES[fmt]}"


def write_snapshot(cur, out_dir: str | Path | None = None, *, today: date | None = None,
                   now: datetime | None = None) -> dict:
    """Write every snapshot file into ``out_dir``; returns the index (also written as index.json)."""
    out_dir = Path(out_dir) if out_dir is not None else SNAPSHOT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(UTC)
    # One period for every carrier, so the files are comparable with each other.
    _, last = data_dates(cur, ExportQuery(res=SNAPSHOT_RES, by=SNAPSHOT_BY))
    period = snapshot_period(last, today or today_local(now))
    files = []
    synthetic = False
    for network in NETWORKS:
        query = ExportQuery(res=SNAPSHOT_RES, by=SNAPSHOT_BY, carrier=network,
                            since=period.since if period else None, until=period.until if period else None)
        agg = build(cur, query, period=period)  # period None: no complete week yet, files are empty
        for fmt in FORMATS:
            name = snapshot_file_name(network, fmt)
            manifest = write_export(agg, fmt, out_dir / name, now=now)
            synthetic = synthetic or manifest["synthetic"]
            files.append({
                "network": network, "format": fmt, "file": name, "manifest": name + ".manifest.json",
                "url": SNAPSHOT_URL + name, "rows": manifest["rows"], "bytes": manifest["bytes"],
                "sha256": manifest["sha256"], "media_type": manifest["media_type"],
            })
    for doc in _DOCS:
        if doc.exists():
            shutil.copyfile(doc, out_dir / doc.name)
    index = {
        "dataset": "DropMap (끊김지도) hex aggregates, standard snapshot",
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "licence": LICENCE,
        "data_dictionary": "DATA.md",
        "resolution": SNAPSHOT_RES,
        "by": SNAPSHOT_BY,
        "period": None if period is None else {
            "since": period.since.isoformat(), "until": period.until.isoformat(), "days": period.days,
            "notes": [PERIOD_NOTES[n][1] for n in period.notes],
        },
        "synthetic": synthetic,
        "files": files,
    }
    write_json_atomically(out_dir / "index.json", index)
    _public(out_dir)
    return index


def _public(out_dir: Path) -> None:
    """Open data are for everyone: readable by any user of the machine (a proxy or sync job that serves
    them), whatever the umask of the process that wrote them (the site's is 077, store.db.owner_only)."""
    for folder in (out_dir.parent, out_dir) if out_dir == SNAPSHOT_DIR else (out_dir,):
        folder.chmod(folder.stat().st_mode | 0o755)
    for file in out_dir.iterdir():
        if file.is_file():
            file.chmod(file.stat().st_mode | 0o644)


def read_index(out_dir: str | Path | None = None) -> dict | None:
    """The last snapshot's index.json, or None when there is none (or it is unreadable)."""
    folder = Path(out_dir) if out_dir is not None else SNAPSHOT_DIR
    try:
        return json.loads((folder / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
