"""SQL of the open-data hex aggregates (geo.aggregate, geo.export).

Every statement here binds its values with ``?``; identifiers (the cell
column, the time-bucket expressions) come only from allow-lists in this
module or from ``core.cells.column_for``.

The aggregate is built once per request into a TEMP table on the caller's
cursor (temp tables are private to a cursor), so counting, paging and the
file writers read the same rows without holding them twice in Python.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from core.cellkey import cell_key_sql, perturbed_sql, record_key_sql
from core.cells import column_for
from core.files import FORMULA_STARTS
from store.filters import ReportFilter

AGG_TABLE = "hex_agg"
CELLS_TABLE = "hex_cells"
ALL_FAILURES = "all_failures"

# Time buckets: output column -> the stored local (city zone) time column it is read from
# (store.filters.LOCAL_TIME_COLUMNS: the same values as converting observed_at per row).
BUCKETS: dict[str, tuple[tuple[str, str], ...]] = {
    "hour": (("hour", "local_hour::INTEGER"),),
    "weekday_hour": (("weekday", "local_dow::INTEGER"), ("hour", "local_hour::INTEGER")),
    "date": (("date", "local_date"),),
    # All hours and days together: one row per cell, network and kind, no time column. A hex whose
    # reporters are spread over the day (too few in any one hour) is published here.
    "all": (),
}

# z for a two-sided 95% interval.
_Z = 1.959963984540054

# The aggregate, in steps (group = cell, network, bucket; reporters are distinct sources):
#   base          the reports asked for, each with its record key
#   per_kind      reports and distinct reporters per group x kind
#   residual      distinct reporters behind the failure kinds that are suppressed in a
#                 group; the all_failures row minus the shown kinds equals their sum,
#                 so kind rows are only shown when that residual is 0 or >= k reporters
#   groups        failures, 'all good' samples and their reporters per group
# A figure is shown only when it is 0 or comes from >= k distinct reporters; a row is
# emitted only when it shows at least one figure from >= k reporters. Those rules read the
# exact counts; the figures shown then carry their cell key's noise (core.cellkey): the
# failure figures the key of the row's failure reports, the 'all good' figures the key of
# its samples. Rates and intervals are computed from the figures shown.
# Distinct reporters are counted straight from the reports (count(DISTINCT)): at 100 M
# reports nearly every report is its own group x kind x reporter, and a step grouping by
# reporter first (this query before 2026-12-07) held 12 M groups to count 13 weeks.
_AGGREGATE = """
WITH base AS (
    SELECT {cell_col} AS cell, network{bucket_exprs}, kind, source_id AS reporter, source = 'demo' AS synthetic,
           {record_key} AS record_key
    FROM reports
    WHERE {where}
),
per_kind AS (
    SELECT cell, network{b}, kind, count(*)::BIGINT AS reports, count(DISTINCT reporter) AS reporters,
           bool_or(synthetic) AS synthetic, {kind_key} AS cell_key
    FROM base WHERE kind <> 'ok' GROUP BY ALL
),
small_kinds AS (
    SELECT cell, network{b}, kind FROM per_kind WHERE reporters < $k
),
residual AS (
    SELECT cell, network{b}, count(DISTINCT reporter) AS residual_reporters
    FROM base SEMI JOIN small_kinds USING (cell, network{b}, kind)
    GROUP BY ALL
),
groups AS (
    SELECT cell, network{b},
           (count(*) FILTER (WHERE kind <> 'ok'))::BIGINT AS failures,
           count(DISTINCT reporter) FILTER (WHERE kind <> 'ok') AS failure_reporters,
           (count(*) FILTER (WHERE kind = 'ok'))::BIGINT AS ok_samples,
           count(DISTINCT reporter) FILTER (WHERE kind = 'ok') AS ok_reporters,
           coalesce(bool_or(synthetic) FILTER (WHERE kind = 'ok'), false) AS ok_synthetic,
           bool_or(synthetic) AS synthetic,
           {failure_key} AS failure_key, {ok_key} AS ok_key
    FROM base GROUP BY ALL
),
shown AS (
    SELECT g.*, coalesce(r.residual_reporters, 0) AS residual_reporters,
           (g.failures = 0 OR g.failure_reporters >= $k) AS failures_shown,
           (g.ok_samples = 0 OR g.ok_reporters >= $k) AS ok_shown,
           {ok_samples_shown} AS ok_samples_shown, {ok_reporters_shown} AS ok_reporters_shown
    FROM groups g LEFT JOIN residual r USING (cell, network{b})
    WHERE g.failure_reporters >= $k OR g.ok_reporters >= $k
),
rows AS (
    SELECT cell, network{b}, '{all_failures}' AS kind,
           CASE WHEN failures_shown THEN {failures_shown} END AS reports,
           CASE WHEN failures_shown THEN {failure_reporters_shown} END AS reporters,
           CASE WHEN ok_shown THEN ok_samples_shown END AS ok_samples,
           CASE WHEN ok_shown THEN ok_reporters_shown END AS ok_reporters,
           CASE WHEN failures_shown AND ok_shown THEN {failures_shown} + ok_samples_shown END AS observations,
           synthetic AS is_synthetic
    FROM shown
    UNION ALL
    SELECT k.cell, k.network{k_b}, k.kind,
           least({kind_reports_shown}, {s_failures_shown}),  -- a kind never above all its group's failures
           least({kind_reporters_shown}, {s_failure_reporters_shown}),
           CASE WHEN s.ok_shown THEN s.ok_samples_shown END,
           CASE WHEN s.ok_shown THEN s.ok_reporters_shown END,
           CASE WHEN s.ok_shown THEN {s_failures_shown} + s.ok_samples_shown END,
           k.synthetic OR s.ok_synthetic
    FROM per_kind k JOIN shown s USING (cell, network{b})
    WHERE k.reporters >= $k AND (s.residual_reporters = 0 OR s.residual_reporters >= $k)
)
SELECT *,
       -- A rate needs a denominator: only where 'all good' samples were observed.
       CASE WHEN reports IS NOT NULL AND ok_samples > 0 THEN reports / observations END AS failure_rate,
       CASE WHEN reports IS NOT NULL AND ok_samples > 0 THEN
           greatest(0.0, (reports + $z2 / 2 - $z * sqrt(reports * (observations - reports) / observations
                                                       + $z2 / 4)) / (observations + $z2)) END AS rate_low,
       CASE WHEN reports IS NOT NULL AND ok_samples > 0 THEN
           least(1.0, (reports + $z2 / 2 + $z * sqrt(reports * (observations - reports) / observations
                                                    + $z2 / 4)) / (observations + $z2)) END AS rate_high
FROM rows
"""

def _noisy() -> dict[str, str]:
    """The shown figures (core.cellkey), each with the cell key of its reports."""
    return {
        "kind_key": cell_key_sql("sum(record_key)"),
        "failure_key": cell_key_sql("sum(record_key) FILTER (WHERE kind <> 'ok')"),
        "ok_key": cell_key_sql("sum(record_key) FILTER (WHERE kind = 'ok')"),
        "ok_samples_shown": perturbed_sql("g.ok_samples", "g.ok_key"),
        "ok_reporters_shown": perturbed_sql("g.ok_reporters", "g.ok_key"),
        "failures_shown": perturbed_sql("failures", "failure_key"),
        "failure_reporters_shown": perturbed_sql("failure_reporters", "failure_key"),
        "s_failures_shown": perturbed_sql("s.failures", "s.failure_key"),
        "s_failure_reporters_shown": perturbed_sql("s.failure_reporters", "s.failure_key"),
        "kind_reports_shown": perturbed_sql("k.reports", "k.cell_key"),
        "kind_reporters_shown": perturbed_sql("k.reporters", "k.cell_key"),
    }

_OUTPUT_COLUMNS_HEAD = ("h3_cell", "resolution", "center_lat", "center_lon", "area_km2", "network")
_OUTPUT_COLUMNS_TAIL = ("kind", "reports", "reporters", "ok_samples", "ok_reporters", "observations",
                        "failure_rate", "rate_low", "rate_high", "is_synthetic")


def output_columns(by: str) -> tuple[str, ...]:
    """The columns of an export grouped ``by``, in file order."""
    return (*_OUTPUT_COLUMNS_HEAD, *(name for name, _ in BUCKETS[by]), *_OUTPUT_COLUMNS_TAIL)


def _named(where: str, values: list) -> tuple[str, dict]:
    """ReportFilter's positional ``?`` turned into named ``$f0 ...`` (DuckDB cannot mix both)."""
    parts = where.split("?")
    if len(parts) - 1 != len(values):
        raise AssertionError("placeholder count does not match the bound values")
    text = parts[0] + "".join(f"$f{i}{rest}" for i, rest in enumerate(parts[1:]))
    return text, {f"f{i}": v for i, v in enumerate(values)}


def aggregate_select(*, res: int, by: str, report_filter: ReportFilter | None, k: int) -> tuple[str, dict]:
    """(SELECT of the suppressed aggregate, named values); ``report_filter=None`` selects nothing.

    Rows are keyed by the cell as UBIGINT (``cell``); geo.aggregate adds the cell's id
    string, centre and area.
    """
    buckets = BUCKETS[by]
    if report_filter is None:
        where, params = "FALSE", {}
    else:
        where, params = _named(*report_filter.where())
    # Each bucket list starts with its comma, so by=all (no bucket column) leaves none behind.
    sql = _AGGREGATE.format(
        cell_col=column_for(res),
        bucket_exprs="".join(f", {sql} AS {name}" for name, sql in buckets),
        b="".join(f", {name}" for name, _ in buckets),
        k_b="".join(f", k.{name}" for name, _ in buckets),
        where=where,
        all_failures=ALL_FAILURES,
        record_key=record_key_sql("source_id"),
        **_noisy(),
    )
    return sql, {**params, "k": k, "z": _Z, "z2": _Z * _Z}


def build_aggregate(cur: duckdb.DuckDBPyConnection, *, res: int, by: str, report_filter: ReportFilter | None,
                    k: int) -> int:
    """Create the TEMP aggregate table on ``cur``; ``report_filter=None`` builds it empty.

    Returns its row count.
    """
    sql, params = aggregate_select(res=res, by=by, report_filter=report_filter, k=k)
    cur.execute(f"CREATE OR REPLACE TEMP TABLE {AGG_TABLE} AS {sql}", params)
    return cur.execute(f"SELECT count(*) FROM {AGG_TABLE}").fetchone()[0]


def aggregate_table(cur: duckdb.DuckDBPyConnection) -> pa.Table:
    """The aggregate TEMP table's rows, to keep and restore on another cursor (``restore_aggregate``)."""
    return cur.execute(f"SELECT * FROM {AGG_TABLE}").to_arrow_table()


def restore_aggregate(cur: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """The aggregate TEMP table on ``cur`` from rows kept by ``aggregate_table``."""
    cur.register("hex_agg_kept", table)
    try:
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {AGG_TABLE} AS SELECT * FROM hex_agg_kept")
    finally:
        cur.unregister("hex_agg_kept")


def data_version(cur: duckdb.DuckDBPyConnection) -> tuple:
    """(database file, batches, latest batch, moderation actions): changes whenever reports are
    stored -- every insert of reports adds its batch row in the same transaction (store.reports) --
    and whenever the operator flags or restores reports (the only change to a stored report, logged
    in moderation_log in the same transaction: store.moderation_sql.set_status), so a cached figure
    never keeps a flagged report; and it differs between two stores."""
    return tuple(cur.execute(
        "SELECT (SELECT path FROM duckdb_databases() WHERE database_name = current_database()),"
        " count(*), max(received_at), (SELECT count(*) FROM moderation_log) FROM batches").fetchone())


def period_version(cur: duckdb.DuckDBPyConnection, since: datetime | None, until: datetime) -> tuple:
    """(database file, batches, latest batch, moderation actions) that may have changed reports observed
    in [``since``, ``until``) (``since`` None: from the first): like ``data_version``, but a batch or an
    action whose reports all lie outside the period leaves it as it was. Rows written before their
    spans were kept (NULL) touch every period."""
    return tuple(cur.execute(
        """
        SELECT (SELECT path FROM duckdb_databases() WHERE database_name = current_database()),
               count(*), max(received_at),
               (SELECT count(*) FROM moderation_log
                WHERE changed > 0 AND report_ids IS NOT NULL
                  AND (first_observed IS NULL OR (first_observed < $until
                       AND ($since IS NULL OR last_observed >= $since))))
        FROM batches
        WHERE accepted > 0
          AND (first_observed IS NULL OR (first_observed < $until AND ($since IS NULL OR last_observed >= $since)))
        """, {"since": since, "until": until}).fetchone())


def aggregate_cells(cur: duckdb.DuckDBPyConnection) -> np.ndarray:
    """The distinct cells (uint64) of the aggregate table."""
    rows = cur.execute(f"SELECT DISTINCT cell FROM {AGG_TABLE} ORDER BY cell").fetchnumpy()
    return np.asarray(rows["cell"], dtype=np.uint64)


def register_cells(cur: duckdb.DuckDBPyConnection, cells: pd.DataFrame) -> None:
    """Make ``cells`` (cell, h3_cell, center_lat, center_lon, area_km2) joinable as a TEMP table."""
    cur.register("hex_cells_frame", cells)
    cur.execute(f"CREATE OR REPLACE TEMP TABLE {CELLS_TABLE} AS SELECT * FROM hex_cells_frame")
    cur.unregister("hex_cells_frame")


def output_query(*, res: int, by: str, kind_order: list[str], limit: int | None = None,
                 offset: int = 0) -> tuple[str, list]:
    """(SELECT over the aggregate in file column order, bound values), sorted stably for paging."""
    buckets = "".join(f"a.{name}, " for name, _ in BUCKETS[by])
    tail = ", ".join(f"a.{name}" for name in _OUTPUT_COLUMNS_TAIL)
    sql = (
        f"SELECT c.h3_cell, ?::INTEGER AS resolution, c.center_lat, c.center_lon, c.area_km2, a.network, "
        f"{buckets}{tail} "
        f"FROM {AGG_TABLE} a JOIN {CELLS_TABLE} c USING (cell) "
        f"ORDER BY c.h3_cell, a.network, {buckets}list_position(?, a.kind)"
    )
    params: list = [res, kind_order]
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [int(limit), int(offset)]
    return sql, params


# core.files.FORMULA_STARTS as the body of a regular-expression class: '-' escaped, tab and CR spelled out.
_FORMULA_CLASS = "".join({"-": "\\-", "\t": "\\t", "\r": "\\r"}.get(c, c) for c in FORMULA_STARTS)


def csv_safe_sql(column: str) -> str:
    """SQL for a text column that spreadsheets will not run as a formula.

    A cell starting with = + - @ (or tab/CR) gets a leading apostrophe (OWASP's advice).
    """
    return (f"CASE WHEN regexp_matches({column}, '^[{_FORMULA_CLASS}]') "
            f"THEN '''' || {column} ELSE {column} END")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def write_csv(cur: duckdb.DuckDBPyConnection, sql: str, params: list, path: str) -> None:
    """COPY the query to a UTF-8 CSV with a header; every text column made formula-safe."""
    relation = cur.sql(sql, params=params)
    projected = ", ".join(
        f"{csv_safe_sql(_quoted(name))} AS {_quoted(name)}" if str(kind) == "VARCHAR" else _quoted(name)
        for name, kind in zip(relation.columns, relation.types, strict=True)
    )
    target = _string_literal(path)
    cur.execute(f"COPY (SELECT {projected} FROM ({sql})) TO {target} (FORMAT csv, HEADER true)", params)


def _string_literal(text: str) -> str:
    """A SQL string literal (COPY's target cannot be a bound value)."""
    return "'" + str(text).replace("'", "''") + "'"


def write_parquet(cur: duckdb.DuckDBPyConnection, sql: str, params: list, path: str) -> None:
    """COPY the query to Parquet (zstd), streamed by DuckDB."""
    cur.execute(f"COPY ({sql}) TO {_string_literal(path)} (FORMAT parquet, COMPRESSION zstd)", params)


def arrow_batches(cur: duckdb.DuckDBPyConnection, sql: str, params: list,
                  batch_rows: int = 100_000) -> pa.RecordBatchReader:
    """The query's rows as a stream of Arrow record batches."""
    return cur.execute(sql, params).to_arrow_reader(batch_rows)


def fetch_frame(cur: duckdb.DuckDBPyConnection, sql: str, params: list) -> pd.DataFrame:
    return cur.execute(sql, params).df()


def data_span(cur: duckdb.DuckDBPyConnection, report_filter: ReportFilter) -> tuple[datetime | None,
                                                                                    datetime | None]:
    """First and last observation (UTC) among the reports ``report_filter`` selects."""
    where, params = report_filter.where()
    return tuple(cur.execute(f"SELECT min(observed_at), max(observed_at) FROM reports WHERE {where}",
                             params).fetchone())


def has_synthetic(cur: duckdb.DuckDBPyConnection) -> bool:
    """Whether any row of the aggregate table rests on synthetic (demo) reports."""
    return bool(cur.execute(f"SELECT coalesce(bool_or(is_synthetic), false) FROM {AGG_TABLE}").fetchone()[0])
