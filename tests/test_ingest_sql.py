"""Pieces of ingest's SQL that trade work for speed: each must give exactly the slower form's answer."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

import store.reports
from ingest.loader import Origin, load_file, load_frame
from ingest.validate import validate_frame
from store import ingest_sql

NOW = datetime(2021, 11, 1, tzinfo=UTC)


def test_trimmed_equals_trim_for_every_character_at_either_end():
    texts = [chr(c) + "x" + chr(c) for c in range(0x3001) if not 0xD800 <= c < 0xE000]
    texts += [chr(c) + "x" for c in (0x20, 0xA0, 0x3000)] + ["x" + chr(c) for c in (0x20, 0x2009, 0x3000)]
    texts += ["", " ", "\u3000", "é", "x\ufeff", "\ufeffx", "2021-10-25 11:16\u00a0", None]
    con = duckdb.connect()
    different = con.execute(f"SELECT list(t) FROM (SELECT unnest(?) AS t) WHERE "
                            f"({ingest_sql.trimmed('t')}) IS DISTINCT FROM trim(t)", [texts]).fetchone()[0]
    assert different is None


@pytest.mark.parametrize("text", ["\u30002021-10-25 11:16\u3000", "\u00a02021-10-25T11:16:00+09:00 ",
                                  " 2021-10-25 11:16:00 KST\u2003"])
def test_times_with_spaces_around_read_as_without(text):
    frame = pd.DataFrame({"lat": ["37.5665"] * 2, "lon": ["126.978"] * 2, "carrier": ["KT"] * 2,
                          "kind": ["dropped_call"] * 2, "observed_at": [text, text.strip(" \u3000\u00a0\u2003")]})
    good, problems = validate_frame(frame, now=NOW)
    assert problems.errors == [] and len(good) == 2
    assert good["observed_at"].iloc[0] == good["observed_at"].iloc[1]


@pytest.mark.parametrize(("options", "error", "expected"), [
    (ingest_sql.CSV_OPTIONS, "CSV Error on Line: 1 ... Maximum line size of 2000000 bytes exceeded",
     ingest_sql.LONG_LINES),
    (ingest_sql.CSV_OPTIONS + ingest_sql.LONG_LINES, "Maximum line size of 67108864 bytes exceeded", None),
    (ingest_sql.CSV_OPTIONS, "... try again with parallel=false ...", ingest_sql.SERIAL),
    (ingest_sql.CSV_OPTIONS + ingest_sql.SERIAL, "... parallel=false ...", None),
    (ingest_sql.CSV_OPTIONS, "Could not convert string", None),
])
def test_csv_options_are_retried_only_where_they_help(options, error, expected):
    again = ingest_sql.retry_options(options, Exception(error))
    assert again == (None if expected is None else options + expected)


def test_a_line_longer_than_the_default_limit_further_down_the_file_is_read(con, tmp_path):
    path = tmp_path / "late.csv"  # the sniffer sees only the first rows: the long line fails the full read
    good = "37.5665,126.978,KT,no_data,2021-10-25 11:16,ok\n"
    path.write_text("lat,lon,carrier,kind,observed_at,note\n" + good * 30_000
                    + f"37.5547,126.9707,SKT,no_data,2021-10-25 11:17,{'y' * 3_000_000}\n", encoding="utf-8")
    result = load_file(con, path)
    assert (result.rows_read, result.rejected) == (30_001, 0)
    assert [(w["row"], w["field"]) for w in result.warnings] == [(30_001, "note")]


def _frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"lat": [37.5665 + i * 1e-4 for i in range(n)], "lon": [126.978] * n, "carrier": ["KT"] * n,
                         "kind": ["no_data"] * n, "observed_at": ["2021-10-25T11:16:00+09:00"] * n})


def test_a_failing_insert_raises_its_own_error_and_stores_nothing(con, monkeypatch):
    twelve = ", ".join("?" * 12)
    monkeypatch.setattr(store.reports, "_INSERT_BATCH", f"INSERT INTO no_such_table VALUES ({twelve})")
    with pytest.raises(duckdb.CatalogException, match="no_such_table"):
        load_frame(con, _frame(3), Origin(source="web"), now=NOW, allow_quick=False)
    assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == 0
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is True
