"""python -m ingest load: one JSON object, exit 0 when read, 2 when unreadable, 1 when the store refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ingest.cli import main

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The real command, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "ingest", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ}, timeout=120)


def test_load_prints_one_json_object_and_exits_0(db_path):
    done = run_cli("load", str(DATA / "reports_mixed.csv"), "--db", str(db_path))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert list(summary)[:5] == ["batch_id", "accepted", "rejected", "duplicates", "errors"]
    assert (summary["accepted"], summary["rejected"], summary["duplicates"]) == (4, 6, 1)
    assert summary["errors"][0] == {"row": 4, "field": "lat/lon", "value": "91, 126.978",
                                    "message": "outside the area covered (South Korea: lat 33.0–38.7, lon 124.5–131.0);"
                                               " check the sign and the order"}
    assert done.stderr == ""


def test_unreadable_file_exits_2_with_one_line(tmp_path, db_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(os.urandom(64) + b"\x00")
    done = run_cli("load", str(path), "--db", str(db_path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


HOLDER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from store.db import connect
    con = connect(sys.argv[1])  # as the site does
    print("holding", flush=True)
    sys.stdin.read()
""")


def test_refuses_clearly_while_the_site_holds_the_database(db_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path), str(ROOT)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        done = run_cli("load", str(DATA / "reports_good.csv"), "--db", str(db_path))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "held by process" in done.stderr and "Stop the site first" in done.stderr
    assert done.stderr.count("\n") == 1


def test_every_row_rejected_still_exits_0(tmp_path, db_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("lat,lon,carrier,kind,observed_at\n999,999,nope,nope,never\n", encoding="utf-8")
    assert main(["load", str(path), "--db", str(db_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["accepted"], summary["rejected"]) == (0, 1)
    assert {e["field"] for e in summary["errors"]} == {"lat/lon", "carrier", "kind", "observed_at"}


def test_loading_twice_adds_nothing(db_path, capsys):
    assert main(["load", str(DATA / "reports_cp949.csv"), "--db", str(db_path)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["load", str(DATA / "reports_cp949.csv"), "--db", str(db_path)]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (first["accepted"], second["accepted"], second["duplicates"]) == (2, 0, 2)


@pytest.mark.parametrize(("name", "fmt"), [("reports.geojson", "geojson"), ("reports.jsonl", "jsonl"),
                                           ("towercollector.csv", "towercollector"), ("opencellid.csv", "opencellid"),
                                           ("reports_tab.tsv", "csv")])
def test_every_format_can_be_named(db_path, capsys, name, fmt):
    assert main(["load", str(DATA / name), "--db", str(db_path), "--format", fmt]) == 0
    assert json.loads(capsys.readouterr().out)["accepted"] > 0


@pytest.mark.parametrize(("name", "fmt"), [("reports.geojson", "csv"), ("reports_good.csv", "geojson"),
                                           ("reports_good.csv", "towercollector")])
def test_the_wrong_format_is_an_error_not_a_crash(db_path, capsys, name, fmt):
    code = main(["load", str(DATA / name), "--db", str(db_path), "--format", fmt])
    out = capsys.readouterr()
    if code == 0:  # read, but nothing in it made sense as that format
        assert json.loads(out.out)["accepted"] == 0
    else:
        assert code == 2 and out.err.startswith("error: ")


@pytest.mark.parametrize("args", [["load", "/no/such/file.csv"], ["load", str(DATA / "empty.csv")],
                                  ["load", str(DATA / "not_object.json")]])
def test_unreadable_inputs_exit_2_without_creating_a_database(tmp_path, capsys, args):
    db = tmp_path / "fresh.duckdb"
    assert main([*args, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    if "no/such" in args[1]:
        assert not db.exists()


def test_reporter_code_option_names_the_uploader(db_path, capsys):
    assert main(["load", str(DATA / "reports_semicolon.csv"), "--db", str(db_path),
                 "--reporter-code", "ABCD-EFGH-JKLM"]) == 0
    from ingest.identity import keyed_hash
    from store.db import connect

    con = connect(db_path)
    assert con.execute("SELECT DISTINCT reporter FROM reports").fetchall() == [(keyed_hash("code", "ABCDEFGHJKLM"),)]
    con.close()
