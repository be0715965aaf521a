"""Properties: random rows and random bytes never crash the loader, and every row read is accounted for."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import UnreadableFileError
from ingest.cli import main
from ingest.loader import Origin, load_file, load_frame
from store.db import connect

NOW = datetime(2021, 11, 1, tzinfo=UTC)
FIELDS = ("lat", "lon", "carrier", "kind", "observed_at", "tech", "accuracy_m", "device_model", "note",
          "reporter_code", "network")
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Plausible values, hostile values and plain noise, mixed.
VALUES = st.one_of(
    st.none(),
    st.sampled_from(["37.5665", "126.978", "37,5665", "KT", "SK텔레콤", "헬로모바일", "450-05", "dropped_call", "먹통",
                     "ok", "2021-10-25T11:16:00+09:00", "2021/10/25 11:16", "1635128160000", "LTE", "NR", "12",
                     "1,200", "nan", "-inf", "1e400", "99999-01-01", "infinity", "<script>alert(1)</script>",
                     "=cmd|' /C calc'!A0", "\u202egnp.exe", "\x00\x1b[2J", "x" * 5000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=30),
    st.booleans(),
)


@pytest.fixture(scope="module")
def store_con(tmp_path_factory):
    con = connect(tmp_path_factory.mktemp("props") / "props.duckdb")
    yield con
    con.close()


@SETTINGS
@given(st.lists(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=len(FIELDS)), max_size=12))
def test_random_rows_never_crash_and_add_up(store_con, records):
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    before = store_con.execute("SELECT count(*) FROM reports").fetchone()[0]
    result = load_frame(store_con, frame, Origin(source="web"), now=NOW)
    after = store_con.execute("SELECT count(*) FROM reports").fetchone()[0]
    assert result.accepted + result.rejected + result.duplicates == result.rows_read == len(frame)
    assert after - before == result.accepted
    assert result.error_count >= result.rejected  # every rejected row has at least one error
    for error in result.errors:
        assert set(error) == {"row", "field", "value", "message"}
        assert 1 <= error["row"] <= len(frame)


HEADERS = st.sampled_from([b"", b"lat,lon,carrier,kind,observed_at\n", b"\xef\xbb\xbflat;lon;carrier;kind;time\n",
                           b'{"lat": 37.5, "lon": 127.0', b'{"type": "FeatureCollection", "features": [',
                           b"mcc,mnc,lac,cell_id,measured_at,net_type,neighboring,lat,lon\r\n"])
NAMES = st.sampled_from(["f.csv", "f.jsonl", "f.geojson", "f.json", "f.txt", "f.tsv", "f"])


@SETTINGS
@given(HEADERS, st.binary(max_size=400), NAMES)
def test_random_bytes_never_crash_the_loader(store_con, tmp_path_factory, header, body, name):
    path = tmp_path_factory.mktemp("bytes") / name
    path.write_bytes(header + body)
    try:
        result = load_file(store_con, path)
    except UnreadableFileError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert result.accepted + result.rejected + result.duplicates == result.rows_read


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=200))
def test_random_bytes_through_the_cli_exit_0_or_2(tmp_path_factory, data):
    work = tmp_path_factory.mktemp("cli")
    path = work / "upload.csv"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["load", str(path), "--db", str(work / "cli.duckdb")])
    assert code in (0, 2)
    if code == 2:
        assert out.getvalue() == "" and err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1
    else:
        import json

        summary = json.loads(out.getvalue())
        assert summary["accepted"] + summary["rejected"] + summary["duplicates"] >= 0
        # Every record read is accounted for, and the printed counts are the stored batch's.
        con = connect(work / "cli.duckdb", read_only=True)
        try:
            stored = con.execute("SELECT rows_read, accepted, rejected, duplicates FROM batches WHERE batch_id = ?",
                                 [summary["batch_id"]]).fetchone()
            reports = con.execute("SELECT count(*) FROM reports WHERE batch_id = ?", [summary["batch_id"]]).fetchone()
        finally:
            con.close()
        assert stored[1:] == (summary["accepted"], summary["rejected"], summary["duplicates"])
        assert stored[0] == sum(stored[1:])
        assert reports[0] == summary["accepted"]
