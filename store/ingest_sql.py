"""All of ingest's SQL: raw rows in, the checks every row goes through, staged rows out.

A load works in one DuckDB cursor: the store's (``python -m ingest load``,
uploads, the API, the demo) or the in-memory scratch database's
(``validate_frame`` alone). Its TEMP views and tables are private to that
cursor. In order:

  raw      row (1-based record number) + one VARCHAR column per field present:
           a VIEW over the TABLE ``raw_rows`` read from a file, or over a registered frame;
  checked  TABLE: texts cleaned, numbers and times parsed, swapped coordinates fixed,
           carrier/kind/tech looked up, ``problems`` (bit i: check i holds) and ``bad``;
           when staging, also the reporter's and the IP's keyed hashes;
  staged   VIEW: the good rows of checked beside a registered table of what Python
           computed from them (H3 cells, district, fingerprint); or a TABLE a
           flagger rewrote. store.reports inserts from it.

Values travel as bound parameters; identifiers are our own field names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import duckdb

from store.reports import STAGED_COLUMNS  # the stored columns, in the order store.reports inserts them

_lock = threading.Lock()
_scratch: duckdb.DuckDBPyConnection | None = None


def scratch_cursor() -> duckdb.DuckDBPyConnection:
    """A fresh connection to the process-wide in-memory scratch database (UTC)."""
    global _scratch
    with _lock:
        if _scratch is None:
            _scratch = duckdb.connect(":memory:")
            # GLOBAL: every cursor is a new connection and inherits only global settings.
            _scratch.execute("SET GLOBAL TimeZone = 'UTC'")
        cur = _scratch.cursor()
    quiet(cur)
    return cur


def quiet(cur: duckdb.DuckDBPyConnection) -> None:
    """No progress bar: it is a per-connection setting and would write over the CLI's stderr."""
    cur.execute("SET enable_progress_bar = false")


# --- reading CSV -----------------------------------------------------------------

# Every value as text (validation parses it); short rows padded with NULL, long
# rows get extra columns (ignored); stray quotes kept as text.
CSV_OPTIONS = "all_varchar = true, header = true, null_padding = true, strict_mode = false"
# DuckDB's parallel reader cannot pad short rows when a quoted field holds a
# line break; such files are read again on one thread (``SERIAL``).
SERIAL = ", parallel = false"
NEEDS_SERIAL = "parallel=false"
# A line longer than DuckDB's default (2 MB) is read again allowing 64 MB, so a
# huge note is cut to length by validation instead of failing the file. Not the
# default: a buffer must hold the longest line, and with 64 MB the whole file
# fits one buffer and is read on one thread.
LONG_LINES = ", max_line_size = 67108864"
NEEDS_LONG_LINES = "Maximum line size of"


def retry_options(options: str, error: Exception) -> str | None:
    """The reader options to try again with after ``error``, or None when no other options would help."""
    text = str(error)
    if NEEDS_LONG_LINES in text and LONG_LINES not in options:
        return options + LONG_LINES
    if NEEDS_SERIAL in text and SERIAL not in options:
        return options + SERIAL
    return None


def _with_retries(read, options: str):
    """(``read(options)``, the options it worked with): read again with other options while an error
    names a fix (``retry_options``: a long line, a quoted line break further on than the sniffer looked)."""
    while True:
        try:
            return read(options), options
        except duckdb.Error as e:
            options = retry_options(options, e)
            if options is None:
                raise


def csv_header(cur: duckdb.DuckDBPyConnection, path: str) -> tuple[list[str], str]:
    """The column names DuckDB sniffs from the file, and the reader options that work for it."""
    def describe(options: str) -> list[str]:
        rows = cur.execute(f"DESCRIBE SELECT * FROM read_csv($path, {options})", {"path": path}).fetchall()
        return [r[0] for r in rows]

    return _with_retries(describe, CSV_OPTIONS)


def csv_into_raw(cur: duckdb.DuckDBPyConnection, path: str, options: str, n_columns: int,
                 fields_by_position: dict[int, str]) -> None:
    """View ``raw`` over a CSV read into memory: record numbers and the mapped columns, renamed to fields.

    Read once into memory (again with other options when an error names a fix): the checks
    look at it twice (spellings, then rows), and reading the file twice costs more than keeping it.
    """
    names = ", ".join(f"'c{i}'" for i in range(n_columns))  # our own names: header text never enters SQL
    select = ", ".join(f"c{pos} AS {field}" for pos, field in fields_by_position.items()) or "NULL AS no_field"
    # The record number is the table's rowid + 1: with insertion order preserved
    # (forced for this statement), DuckDB's parallel reader stores rows in file
    # order (tests/test_readers.py checks it on a multi-chunk file). A window
    # function would number them on one thread; this reads on all of them.
    cur.execute("SET SESSION preserve_insertion_order = true")
    try:
        _with_retries(lambda opts: cur.execute(f"CREATE OR REPLACE TEMP TABLE raw_rows AS SELECT {select} "
                                               f"FROM read_csv($path, {opts}, names = [{names}])", {"path": path}),
                      options)
    finally:
        cur.execute("RESET SESSION preserve_insertion_order")
    fields = "".join(f", {field}" for field in fields_by_position.values())
    cur.execute(f"CREATE OR REPLACE TEMP VIEW raw AS SELECT rowid + 1 AS row{fields} FROM raw_rows")


def csv_as_text_frame(cur: duckdb.DuckDBPyConnection, path: str, options: str):
    """The whole CSV as a DataFrame of text, columns as named in the file (logger formats)."""
    return _with_retries(lambda opts: cur.execute(f"SELECT * FROM read_csv($path, {opts})", {"path": path}).df(),
                         options)[0]


def records_table(cur: duckdb.DuckDBPyConnection, fields: tuple[str, ...]) -> None:
    """An empty scratch table ``raw_records`` (record number and one text column per field) that
    ``append_records`` fills a batch at a time; ``frame_raw_view(cur, "raw_records", ...)`` reads it."""
    columns = "".join(f", {field} VARCHAR" for field in fields)  # field names: ingest.fields, not input
    cur.execute(f"CREATE OR REPLACE TEMP TABLE raw_records (row BIGINT{columns})")


def append_records(cur: duckdb.DuckDBPyConnection, frame) -> None:
    """Add a batch (``row`` and some field-named text columns) to ``raw_records``."""
    cur.register("records_batch", frame)
    try:
        cur.execute("INSERT INTO raw_records BY NAME SELECT * FROM records_batch")
    finally:
        cur.unregister("records_batch")


def frame_raw_view(cur: duckdb.DuckDBPyConnection, frame_name: str, fields: list[str]) -> None:
    """View ``raw`` over a registered frame that has ``row`` and field-named columns."""
    select = "".join(f", CAST({field} AS VARCHAR) AS {field}" for field in fields)
    cur.execute(f"CREATE OR REPLACE TEMP VIEW raw AS SELECT CAST(row AS BIGINT) AS row{select} FROM {frame_name}")


# --- cleaning and parsing ------------------------------------------------------------

# White space that is not a plain space becomes one; other control characters
# and the bidi / zero-width marks that can disguise text are removed.
_SPACES = r"\t\n\x0b\x0c\r\x{85}\x{a0}\x{2028}\x{2029}\x{3000}"
_CONTROLS = r"\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\x{61c}\x{200b}-\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}\x{feff}"


def _clean(column: str) -> str:
    return (f"nullif(trim(CASE WHEN regexp_matches({column}, '[{_SPACES}{_CONTROLS}]') "
            f"THEN regexp_replace(regexp_replace({column}, '[{_SPACES}]', ' ', 'g'), '[{_CONTROLS}]', '', 'g') "
            f"ELSE {column} END), '')")


def _degrees(text: str) -> str:
    # A single comma is a decimal comma ('37,5665' from a semicolon CSV); degrees
    # never carry thousands separators.
    return (f"TRY_CAST(CASE WHEN NOT contains({text}, ',') THEN {text} "
            rf"WHEN regexp_full_match({text}, '[+-]?\d+,\d+') THEN replace({text}, ',', '.') END AS DOUBLE)")


def _metres(text: str) -> str:
    # '1,200' is a thousands separator, '12,5' a decimal comma.
    return (f"TRY_CAST(CASE WHEN NOT contains({text}, ',') THEN {text} "
            rf"WHEN regexp_full_match({text}, '\d{{1,3}}(,\d{{3}})+(\.\d+)?') THEN replace({text}, ',', '') "
            rf"WHEN regexp_full_match({text}, '\d+,\d+') THEN replace({text}, ',', '.') END AS DOUBLE)")


# A time that names its zone: an offset, Z, UTC/GMT/KST or an IANA name after the clock time.
_HAS_ZONE = r"\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|UTC|GMT|KST|[+-]\d\d(:?\d\d)?|[A-Za-z]+/[A-Za-z_]+)$"
_LAYOUTS = ("'%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y.%m.%d %H:%M:%S', '%Y.%m.%d %H:%M', "
            "'%Y.%m.%d_%H.%M.%S', '%Y%m%d%H%M%S', '%Y년 %m월 %d일 %H:%M:%S', '%Y년 %m월 %d일 %H:%M', "
            "'%Y년 %m월 %d일 %H시 %M분', '%Y-%m-%d %p %I:%M:%S', '%Y-%m-%d %p %I:%M', "
            "'%Y/%m/%d %p %I:%M:%S', '%Y/%m/%d %p %I:%M', '%Y.%m.%d %p %I:%M:%S', '%Y.%m.%d %p %I:%M'")


def _zone_fixed(text: str) -> str:
    """A zoned time in the shape DuckDB parses: KST as +09:00, no space before the offset,
    seconds present, +09 as +09:00."""
    text = f"replace({text}, 'KST', '+09:00')"
    text = rf"regexp_replace({text}, '\s+([+-]\d)', '\1')"
    text = rf"regexp_replace({text}, '([T ]\d\d?:\d\d)([+-]|Z|z)', '\1:00\2')"
    return rf"regexp_replace({text}, '([+-]\d\d)$', '\1:00')"


def _time(text: str) -> str:
    """TIMESTAMPTZ of a time text; naive times are wall-clock times in $zone."""
    # The zone is checked first: casting '...+09:00' to a naive TIMESTAMP would
    # silently drop the offset. Each fallback runs only where the cheaper form failed.
    zoned = f"coalesce(TRY_CAST({text} AS TIMESTAMPTZ), TRY_CAST({_zone_fixed(text)} AS TIMESTAMPTZ))"
    korean = f"replace(replace({text}, '오전', 'AM'), '오후', 'PM')"  # Korean Excel: 2021-10-25 오후 1:16:00
    naive = f"coalesce(TRY_CAST({text} AS TIMESTAMP), try_strptime({korean}, [{_LAYOUTS}]))"
    return (f"CASE WHEN regexp_matches({text}, '{_HAS_ZONE}') THEN {zoned} "
            f"WHEN length({text}) = 13 AND regexp_full_match({text}, '\\d{{13}}') "
            f"THEN epoch_ms(CAST({text} AS BIGINT)) AT TIME ZONE 'UTC' "  # epoch ms (Tower Collector)
            f"WHEN length({text}) = 10 AND regexp_full_match({text}, '\\d{{10}}') "
            f"THEN to_timestamp(CAST({text} AS BIGINT)) "
            f"ELSE coalesce(timezone($zone, {naive}), TRY_CAST({text} AS TIMESTAMPTZ)) END")


# Looked up (carrier, kind, tech) or hashed (reporter code) in Python, once per
# distinct spelling: these are only trimmed here.
VOCABULARY = {"carrier": ("carrier", "network"), "kind": ("kind",), "tech": ("tech",),
              "reporter": ("reporter_code",)}
STORED_TEXTS = ("device_model", "note")  # kept as given, cleaned and cut to length


def _text(field: str, present: set[str]) -> str:
    # Not trimmed: casts ignore surrounding spaces, the vocabulary folds them,
    # and trimming every value of a million rows costs more than the checks.
    return field if field in present else "CAST(NULL AS VARCHAR)"


# DuckDB's trim() removes the Unicode space separators (category Zs) at either
# end, and nothing else. Most values have none there, and testing the first
# and last character is cheaper than trimming every value of a million rows.
_ZS = (" ", "\u00a0", "\u1680", *(chr(c) for c in range(0x2000, 0x200B)), "\u202f", "\u205f", "\u3000")


def trimmed(text: str) -> str:
    """SQL: ``trim(text)``, computed only where an end of ``text`` is a space (same result, cheaper)."""
    first = ", ".join(str(ord(c)) for c in _ZS)
    last = " OR ".join(f"ends_with({text}, '{c}')" for c in _ZS)
    return f"CASE WHEN ascii({text}) IN ({first}) OR {last} THEN trim({text}) ELSE {text} END"


def blank(text: str) -> str:
    """SQL: ``text`` is missing or only spaces (``text`` evaluated lazily: use after a cheaper test)."""
    return f"({text} IS NULL OR trim({text}) = '')"


def distinct_values(cur: duckdb.DuckDBPyConnection, present: set[str]) -> dict[str, list[tuple]]:
    """Distinct spellings per vocabulary (carrier with network, kind, tech, reporter code)."""
    out = {}
    for name, columns in VOCABULARY.items():
        texts = ", ".join(f"{_text(c, present)} AS {c}" for c in columns)
        out[name] = cur.execute(f"SELECT DISTINCT {texts} FROM raw WHERE {_text(columns[0], present)} IS NOT NULL"
                                ).fetchall()
    return out


# --- checks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One rule: rows where ``condition`` holds get (field, value, message); warnings keep the row.

    ``condition`` is SQL over the parsed columns (see build_checked); ``value``
    and ``message`` are SQL over table ``checked`` (columns SHOWN, messages,
    bound parameters).
    """

    field: str
    condition: str
    value: str
    message: str
    warning: bool = False


# Texts kept in ``checked`` only for rows with a problem, to show back: one
# struct column ``shown`` (NULL on the many good rows, so it costs little to
# store); ``flagged_rows`` unpacks it beside device_model and note.
SHOWN = ("lat_text", "lon_text", "time_text", "accuracy_text", "carrier", "network", "kind", "tech", "status",
         "carrier_message", "kind_message", "tech_message")

_STAGING_COLUMNS = """,
    coalesce(rm.reporter, CAST($fallback_reporter AS UBIGINT)) AS reporter, CAST($ip_hash AS UBIGINT) AS ip_hash,
    CAST($prefix_hash AS UBIGINT) AS prefix_hash,
    coalesce(rm.source_id, CAST($fallback_source AS UBIGINT)) AS source_id"""
_STAGING_JOIN = "LEFT JOIN reporter_map rm ON f.reporter_code = rm.code"


def build_checked(cur: duckdb.DuckDBPyConnection, present: set[str], checks: list[Check],
                  params: dict[str, object], caps: dict[str, int], *, all_clear: str | None = None,
                  staging: bool = False) -> None:
    """Table ``checked`` from view ``raw`` and the lookup tables carrier_map, kind_map, tech_map.

    One row per raw row: ``problems`` (bit i set: check i holds), ``bad`` (an
    error holds), the normalised values, and the SHOWN texts where a problem is
    (struct ``shown``).
    ``all_clear`` is a cheap condition that implies no check holds: most rows
    pass it, and only the others have every check evaluated.
    With ``staging``, also the reporter's keyed hash and the IP's; that needs
    table ``reporter_map`` (code, reporter, source_id) and parameters fallback_reporter, ip_hash,
    prefix_hash and fallback_source.
    """
    bits = " | ".join(f"(CAST(coalesce({c.condition}, false) AS UBIGINT) << {i})" for i, c in enumerate(checks))
    errors = sum(1 << i for i, c in enumerate(checks) if not c.warning)
    in_region = "(lat_n BETWEEN $lat_min AND $lat_max AND lon_n BETWEEN $lon_min AND $lon_max)"
    swapped_in = "(lon_n BETWEEN $lat_min AND $lat_max AND lat_n BETWEEN $lon_min AND $lon_max)"
    texts = ", ".join(f"{_text(f, present)} AS {f}" for f in ("carrier", "network", "kind", "tech", "status"))
    stored = ", ".join(f"{_clean(f) if f in present else 'CAST(NULL AS VARCHAR)'} AS {f}" for f in STORED_TEXTS)
    code_cut = f"left(reporter_code, {int(caps['reporter_code'])})"
    shown = ", ".join(f"'{c}': {c}" for c in SHOWN)
    shown = f"CASE WHEN problems <> 0 THEN {{{shown}, 'reporter_code': {code_cut}}} END AS shown"
    problems = bits or "CAST(0 AS UBIGINT)"
    if all_clear:
        problems = f"CASE WHEN {all_clear} THEN CAST(0 AS UBIGINT) ELSE {problems} END"
    capped = ", ".join(f"left({f}, {int(caps[f])}) AS {f}" for f in STORED_TEXTS)
    if not staging:  # validation alone returns the codes; a load stores only their keyed hashes
        capped += f", {code_cut} AS reporter_code"
    sql = f"""
    CREATE OR REPLACE TEMP TABLE checked AS
    WITH t AS (
        SELECT row, {_text('lat', present)} AS lat_text, {_text('lon', present)} AS lon_text,
               {trimmed(_text('observed_at', present))} AS time_text, {_text('accuracy_m', present)} AS accuracy_text,
               {texts}, {stored}, {_text('reporter_code', present)} AS reporter_code
        FROM raw
    ), n AS (
        SELECT *, {_degrees('lat_text')} AS lat_n, {_degrees('lon_text')} AS lon_n,
               {_time('time_text')} AS observed_at, {_metres('accuracy_text')} AS accuracy_m
        FROM t
    ), s AS (
        SELECT *, coalesce(isfinite(lat_n) AND isfinite(lon_n) AND NOT {in_region} AND {swapped_in}, false)
                  AS swapped
        FROM n
    ), v AS (
        SELECT s.*,
            CASE WHEN swapped THEN lon_n ELSE lat_n END AS lat,
            CASE WHEN swapped THEN lat_n ELSE lon_n END AS lon,
            cm.network AS network_v, cm.brand AS brand_v, cm.mvno AS mvno_v, cm.message AS carrier_message,
            cm.network_id, cm.brand_id,
            km.value AS kind_v, km.message AS kind_message, km.value_id AS kind_id,
            tm.value AS tech_v, tm.message AS tech_message
        FROM s
        LEFT JOIN carrier_map cm ON s.carrier = cm.carrier AND coalesce(s.network, '') = cm.network_text
        LEFT JOIN kind_map km ON s.kind = km.text
        LEFT JOIN tech_map tm ON s.tech = tm.text
    ), f AS (
        SELECT *, {problems} AS problems FROM v
    )
    SELECT row, problems, (problems & CAST({errors} AS UBIGINT)) <> 0 AS bad,
           observed_at, lat, lon, TRY_CAST(accuracy_m AS FLOAT) AS accuracy_m,
           network_v AS network_name, brand_v AS brand, coalesce(mvno_v, false) AS mvno,
           coalesce(tech_v, 'unknown') AS tech_name, kind_v AS kind_name, {capped},
           coalesce(trim(status), 'ok') AS status_name, network_id, brand_id, kind_id, {shown}
           {_STAGING_COLUMNS if staging else ''}
    FROM f {_STAGING_JOIN if staging else ''}
    """
    cur.execute(sql, params)


def count_flags(cur: duckdb.DuckDBPyConnection, n_checks: int) -> tuple[int, list[int]]:
    """Rows checked, and rows flagged by each check."""
    counts = "".join(f", count(*) FILTER (WHERE problems & CAST({1 << i} AS UBIGINT) <> 0)" for i in range(n_checks))
    row = cur.execute(f"SELECT count(*){counts} FROM checked").fetchone()
    return row[0], list(row[1:])


def count_bad(cur: duckdb.DuckDBPyConnection) -> int:
    return cur.execute("SELECT count(*) FILTER (WHERE bad) FROM checked").fetchone()[0]


def raw_frame(cur: duckdb.DuckDBPyConnection):
    """Table or view ``raw`` as a DataFrame, in record order."""
    return cur.execute("SELECT * FROM raw ORDER BY row").df()


def raw_count(cur: duckdb.DuckDBPyConnection) -> int:
    return cur.execute("SELECT count(*) FROM raw").fetchone()[0]


def raw_chunk(cur: duckdb.DuckDBPyConnection, after_row: int, rows: int):
    """The next ``rows`` rows of ``raw`` after record ``after_row``, as a DataFrame (an upload is
    stored chunk by chunk, never held whole in pandas)."""
    return cur.execute("SELECT * FROM raw WHERE row > ? ORDER BY row LIMIT ?", [after_row, rows]).df()


def flagged_rows(cur: duckdb.DuckDBPyConnection, checks: list[Check], indexes: list[int],
                 messages: dict[str, str], limit: int) -> list[tuple]:
    """(row, check index, value, message) of the first ``limit`` problems, by row then check."""
    if not indexes:
        return []
    flagged = "(SELECT row, problems, device_model, note, shown.* FROM checked WHERE problems <> 0)"
    parts = [f"SELECT row, {i} AS check_no, CAST({checks[i].value} AS VARCHAR) AS value, "
             f"{checks[i].message} AS message FROM {flagged} WHERE problems & CAST({1 << i} AS UBIGINT) <> 0"
             for i in indexes]
    sql = " UNION ALL ".join(parts) + f" ORDER BY row, check_no LIMIT {int(limit)}"
    return cur.execute(sql, messages).fetchall()


def _good_select(row: str = "row", *, codes: bool = True) -> str:
    return (f"{row} AS row, observed_at, lat, lon, accuracy_m, network_name AS network, brand, mvno, "
            f"tech_name AS tech, kind_name AS kind, device_model, note, {'reporter_code, ' if codes else ''}"
            "status_name AS status")


def good_rows(cur: duckdb.DuckDBPyConnection):
    """The rows that passed every check, in file order, as an Arrow table (validation only)."""
    return cur.execute(f"SELECT {_good_select()} FROM checked WHERE NOT bad ORDER BY row").fetch_arrow_table()


def good_numbers(cur: duckdb.DuckDBPyConnection) -> dict:
    """Numeric columns of the good rows, as numpy arrays, in the table's order (see ``staged_view``)."""
    return cur.execute("""
        SELECT row, epoch_us(observed_at) AS micros, lat, lon, network_id, brand_id, kind_id, reporter
        FROM checked WHERE NOT bad
    """).fetchnumpy()


# The good rows, in the order ``good_numbers`` read them, beside the registered
# table of values computed from those arrays. A SELECT without ORDER BY keeps
# a table's insertion order (DuckDB's preserve_insertion_order, on by default),
# so POSITIONAL JOIN pairs each row with its own values; ``staged_misaligned``
# checks that before anything is stored.
_GOOD_AND_COMPUTED = "(SELECT * FROM checked WHERE NOT bad) c POSITIONAL JOIN {computed} n"


def staged_view(cur: duckdb.DuckDBPyConnection, computed: str) -> None:
    """View ``staged``: the good rows of ``checked`` with every stored column.

    ``computed`` names a registered table with row, h3_r6..h3_r10, sig_cd and fingerprint.
    """
    good = _good_select(row="c.row", codes=False)
    cur.execute(f"""
        CREATE OR REPLACE TEMP VIEW staged AS
        SELECT {good}, n.h3_r6, n.h3_r7, n.h3_r8, n.h3_r9, n.h3_r10, n.sig_cd, reporter, ip_hash,
               CAST(NULL AS VARCHAR) AS flag_reason, n.fingerprint, prefix_hash, source_id
        FROM {_GOOD_AND_COMPUTED.format(computed=computed)}
    """)


def staged_misaligned(cur: duckdb.DuckDBPyConnection, computed: str) -> int:
    """Rows whose computed values belong to another row (must be 0)."""
    return cur.execute(f"SELECT count(*) FROM {_GOOD_AND_COMPUTED.format(computed=computed)} "
                       "WHERE c.row IS DISTINCT FROM n.row").fetchone()[0]


def staged_frame(cur: duckdb.DuckDBPyConnection):
    """The staged rows as a DataFrame (for a flagger), in file order."""
    return cur.execute(f"SELECT row, {', '.join(STAGED_COLUMNS)} FROM staged ORDER BY row").df()


def replace_staged(cur: duckdb.DuckDBPyConnection, frame_name: str) -> None:
    """Table ``staged`` (replacing the view) from a registered frame with the staged columns."""
    cur.execute("DROP VIEW IF EXISTS staged")
    cur.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT CAST(row AS BIGINT) AS row, "
                f"{', '.join(STAGED_COLUMNS)} FROM {frame_name}")
