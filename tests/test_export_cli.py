"""python -m geo export / snapshot: files, manifests, exit codes and messages."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import date

import pyarrow.parquet as pq
import pytest
from opendata_data import build_store

from core.settings import ROOT
from geo.cli import main
from geo.snapshot import read_index, snapshot_file_name, write_snapshot


@pytest.fixture(scope="module")
def db_file(tmp_path_factory):
    """One small store for the module; every test opens and closes its own connection."""
    return build_store(tmp_path_factory.mktemp("cli") / "cli.duckdb", seed=5, n=1500, reporters=25, source="demo")


def test_export_writes_file_and_manifest(db_file, tmp_path, capsys):
    out = tmp_path / "kt.csv"
    code = main(["export", "--res", "8", "--format", "csv", "--out", str(out), "--db", str(db_file),
                 "--carrier", "KT", "--since", "2021-10-18", "--until", "2021-10-24", "--by", "hour"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    manifest = json.loads((tmp_path / "kt.csv.manifest.json").read_text())
    assert printed == manifest
    assert manifest["query"] == {"res": 8, "by": "hour", "carrier": "KT", "since": "2021-10-18",
                                 "until": "2021-10-24", "demo": "include"}
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["synthetic"] is True and "SYNTHETIC" in manifest["synthetic_note"]
    lines = out.read_text().splitlines()
    assert len(lines) == manifest["rows"] + 1 and all(",KT," in line for line in lines[1:])


def test_export_can_leave_demo_rows_out(db_file, tmp_path, capsys):
    out = tmp_path / "real.parquet"
    assert main(["export", "--format", "parquet", "--out", str(out), "--db", str(db_file), "--demo", "exclude"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["synthetic"] is False and manifest["query"]["demo"] == "exclude"
    assert not any(pq.read_table(out).column("is_synthetic").to_pylist())


BAD = [
    (["--since", "2021-02-30"], "--since"),
    (["--carrier", "Verizon"], "--carrier"),
    (["--carrier", "헬로모바일 KT"], "--carrier"),
    (["--since", "2021-10-31", "--until", "2021-10-01"], "--since"),
]


@pytest.mark.parametrize("extra, named", BAD)
def test_bad_parameters_exit_2_naming_the_field(db_file, tmp_path, capsys, extra, named):
    out = tmp_path / "x.csv"
    assert main(["export", "--format", "csv", "--out", str(out), "--db", str(db_file), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and named in err
    assert not out.exists()


def test_argparse_rejects_unknown_choices(tmp_path):
    for extra in (["--res", "10"], ["--format", "xlsx"], ["--by", "minute"]):
        with pytest.raises(SystemExit) as caught:
            main(["export", "--format", "csv", "--out", str(tmp_path / "x"), *extra])
        assert caught.value.code == 2


def test_missing_database_exits_1(tmp_path, capsys):
    assert main(["export", "--format", "csv", "--out", str(tmp_path / "x.csv"),
                 "--db", str(tmp_path / "nope.duckdb")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_locked_database_says_what_to_use_instead(db_file, tmp_path, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[2]); from store.db import connect; "
                               "c = connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)",
         str(db_file), str(ROOT)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["export", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--db", str(db_file)]) == 1
        err = capsys.readouterr().err
        assert "held by process" in err and "/api/v1/hexes" in err and "snapshot" in err
    finally:
        holder.kill()
        holder.wait()


def test_module_entry_point_prints_help():
    result = subprocess.run([sys.executable, "-m", "geo", "export", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "--format" in result.stdout and "--by" in result.stdout


# --- snapshots -------------------------------------------------------------------------


def test_snapshot_writes_the_standard_set(db_file, tmp_path, capsys):
    out = tmp_path / "opendata"
    assert main(["snapshot", "--db", str(db_file), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    index = read_index(out)
    assert printed["generated_at"] == index["generated_at"]
    assert index["resolution"] == 8 and index["by"] == "weekday_hour"
    # The data ends Sunday 2021-10-24: 13 whole weeks back from there.
    assert index["period"]["since"] == "2021-07-26" and index["period"]["until"] == "2021-10-24"
    assert index["period"]["days"] == 91 and index["synthetic"] is True
    assert len(index["files"]) == 12
    assert {f["network"] for f in index["files"]} == {"SKT", "KT", "LGU+"}
    for entry in index["files"]:
        data = (out / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["url"] == "/app/static/opendata/" + entry["file"]
        manifest = json.loads((out / entry["manifest"]).read_text())
        assert manifest["query"]["carrier"] == entry["network"] and manifest["query"]["since"] == "2021-07-26"
    assert (out / "DATA.md").exists() and (out / "LICENSE-DATA.md").exists()
    assert snapshot_file_name("LGU+", "geoparquet") == "dropmap_r8_weekday_hour_lguplus_geo.parquet"
    assert not list(out.glob(".*partial"))


def test_snapshot_is_stable_within_a_week(db_file, tmp_path):
    from store.db import connect

    con = connect(db_file, read_only=True)
    try:
        first = write_snapshot(con.cursor(), tmp_path / "a", today=date(2021, 10, 26))
        second = write_snapshot(con.cursor(), tmp_path / "b", today=date(2021, 10, 30))
    finally:
        con.close()
    assert first["period"] == second["period"]
    assert [f["sha256"] for f in first["files"] if f["format"] == "csv"] == \
           [f["sha256"] for f in second["files"] if f["format"] == "csv"]


def test_snapshot_via_site_refuses_local_paths(capsys):
    assert main(["snapshot", "--site", "http://127.0.0.1:9", "--out", "/tmp/x"]) == 2
    assert "--site" in capsys.readouterr().err


def test_snapshot_via_unreachable_site_exits_1(capsys):
    assert main(["snapshot", "--site", "http://127.0.0.1:9"]) == 1
    assert "cannot reach the site" in capsys.readouterr().err


def test_snapshot_files_are_readable_by_everyone_whatever_the_umask(db_file, tmp_path):
    """The site's umask is 077 (its database is private); the open data it writes are public."""
    import os

    from store.db import connect

    before = os.umask(0o077)
    try:
        con = connect(db_file, read_only=True)
        try:
            write_snapshot(con.cursor(), tmp_path / "open", today=date(2021, 10, 26))
        finally:
            con.close()
    finally:
        os.umask(before)
    assert (tmp_path / "open").stat().st_mode & 0o755 == 0o755
    modes = {f.name: f.stat().st_mode & 0o644 for f in (tmp_path / "open").iterdir()}
    assert modes and set(modes.values()) == {0o644}, modes
