"""Signal-logger exports: service working -> an 'ok' sample, no service -> 'no_service'; neighbours skipped."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.errors import UnreadableFileError
from ingest.formats import opencellid, towercollector
from ingest.loader import load_file
from ingest.readers import read_file

DATA = Path(__file__).parent / "data"


def test_towercollector_rows_and_the_rule():
    raw = read_file(DATA / "towercollector.csv")
    assert raw.fmt == "towercollector"
    # Record 2 is a neighbouring cell: skipped, and the numbers still point into the file.
    assert raw.row_numbers.tolist() == [1, 3, 4]
    assert raw.frame["kind"].tolist() == ["ok", "ok", "no_service"]  # record 4: unknown cell id, no signal
    assert raw.frame["tech"].tolist() == ["LTE", "5G", "LTE"]
    assert raw.frame["carrier"].tolist() == ["450-08", "450-05", "450-08"]
    assert raw.frame["observed_at"].tolist()[0] == "2021-10-25T02:16:00.000Z"
    assert raw.frame["device_model"].tolist()[0] == "SM-G991N"


def test_opencellid_signal_is_asu_or_dbm():
    raw = read_file(DATA / "opencellid.csv")
    assert raw.fmt == "opencellid"
    # -98 dBm: ok; ASU 23: ok; cell id 0: no service; ASU 99 means unknown: no service.
    assert raw.frame["kind"].tolist() == ["ok", "ok", "no_service", "no_service"]
    assert raw.frame["accuracy_m"].tolist() == ["8", "5", "12", "12"]


def test_logger_files_load_into_samples_and_failures(con):
    result = load_file(con, DATA / "towercollector.csv")
    assert (result.accepted, result.rejected, result.duplicates) == (3, 0, 0)
    rows = con.execute("SELECT kind, network, tech, source, strftime(timezone('Asia/Seoul', observed_at), '%H:%M') "
                       "FROM reports ORDER BY observed_at").fetchall()
    assert rows == [("ok", "KT", "LTE", "upload:towercollector", "11:16"),
                    ("ok", "SKT", "5G", "upload:towercollector", "11:20"),
                    ("no_service", "KT", "LTE", "upload:towercollector", "11:21")]


def _table(**columns) -> pd.DataFrame:
    n = max(len(v) for v in columns.values())
    return pd.DataFrame({k: pd.array(v + [None] * (n - len(v)), dtype="string") for k, v in columns.items()})


@pytest.mark.parametrize(("cell", "dbm", "rsrp", "asu", "expected"), [
    ("21504001", "-98", None, None, "ok"),
    ("21504001", None, "-110", None, "ok"),
    ("21504001", None, None, "20", "ok"),
    ("21504001", None, None, "99", "no_service"),  # ASU 99: unknown
    ("21504001", None, None, None, "no_service"),
    ("2147483647", "-98", None, None, "no_service"),  # Integer.MAX_VALUE: cell unknown
    ("-1", "-98", None, None, "no_service"),
    (None, "-98", None, None, "no_service"),
    ("21504001", "0", None, None, "no_service"),  # 0 dBm is no reading
])
def test_towercollector_outcome_table(cell, dbm, rsrp, asu, expected):
    table = _table(mcc=["450"], mnc=["8"], cell_id=[cell], dbm=[dbm], rsrp=[rsrp], asu=[asu], neighboring=["false"],
                   lat=["37.5"], lon=["127.0"], measured_at=["2021-10-25T02:16:00.000Z"], net_type=["LTE"])
    frame, rows = towercollector.to_fields(table)
    assert frame["kind"].tolist() == [expected]
    assert rows.tolist() == [1]


def test_towercollector_upper_case_header_and_missing_plmn():
    table = _table(MCC=["", "450"], MNC=["", "6"], CELL_ID=["1", "2"], DBM=["-90", "-90"], NEIGHBORING=["0", "1"])
    frame, rows = towercollector.to_fields(table)
    assert rows.tolist() == [1]  # '1' marks a neighbour too
    assert frame["carrier"].isna().tolist() == [True]  # no PLMN: rejected later as a missing carrier


@pytest.mark.parametrize(("header", "expected"), [
    ("lat,lon,mcc,mnc,sid,lac,tac,nid,cellid,bid,psc,pci,signal,ta,measured_at,rating,speed,direction,act,devn", True),
    ('"lat","lon","mcc","mnc","cellid","signal","measured_at","act"', True),
    ("lat,lon,carrier,kind,observed_at", False),
])
def test_opencellid_sniff(header, expected):
    assert opencellid.sniff(header) is expected


def test_opencellid_tower_database_is_refused_with_a_reason():
    with pytest.raises(UnreadableFileError, match="cell-tower database"):
        opencellid.sniff("radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal")


def test_cdma_rows_use_bid_as_the_cell():
    table = _table(lat=["37.5"], lon=["127.0"], mcc=["450"], mnc=["5"], cellid=[None], bid=["77"], signal=["-80"],
                   measured_at=["2021-10-25 02:16:00.000Z"], act=["CDMA"])
    frame, _ = opencellid.to_fields(table)
    assert frame["kind"].tolist() == ["ok"]
    assert frame["tech"].tolist() == ["unknown"]
