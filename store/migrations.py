"""Named, ordered schema migrations, recorded in ``schema_migrations``.

Append new migrations at the end with a new name; never edit one that has
shipped. Each runs in its own transaction.

A shared store (DuckLake) has no PRIMARY KEY or UNIQUE constraints: they are left
out there, and the code never relies on one to refuse a row (it writes with MERGE
or checks first). A new shared store gets the schema as it stands after every
migration at once, read from an in-memory database: DuckLake cannot make a column
of an empty table NOT NULL afterwards, as 0003 and 0005 do.
"""

from __future__ import annotations

import re

import duckdb

from core.errors import StoreError
from store.filters import LOCAL_TIME_COLUMNS, local_time_columns_sql

# Local hour, ISO weekday and date of each report in the city's zone, stored so
# filters and groups on them read one byte instead of computing a time zone per
# row (docs/DATA.md). Backfilled by 0003; store/reports.py fills them on insert.
_ADD_LOCAL_TIME = "".join(
    f"ALTER TABLE reports ADD COLUMN {name} {kind};\n" for name, (kind, _) in LOCAL_TIME_COLUMNS.items()
) + "UPDATE reports SET " + ", ".join(f"{name} = {sql}" for name, sql in local_time_columns_sql().items()) + ";"
# NOT NULL makes any INSERT that forgets them fail instead of hiding rows from time filters.
_REQUIRE_LOCAL_TIME = "".join(f"ALTER TABLE reports ALTER COLUMN {name} SET NOT NULL;\n" for name in LOCAL_TIME_COLUMNS)

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_reports_and_batches",
        """
        CREATE TABLE batches (
            batch_id     UUID PRIMARY KEY,
            source       VARCHAR NOT NULL,      -- web, api, upload:csv, demo ...
            file_name    VARCHAR,
            sha256       VARCHAR,               -- of the file's bytes; NULL for forms/API
            format       VARCHAR,
            received_at  TIMESTAMPTZ NOT NULL,
            rows_read    INTEGER NOT NULL,
            accepted     INTEGER NOT NULL,
            rejected     INTEGER NOT NULL,
            duplicates   INTEGER NOT NULL
        );
        CREATE TABLE reports (
            report_id    UUID NOT NULL,
            observed_at  TIMESTAMPTZ NOT NULL,  -- UTC
            received_at  TIMESTAMPTZ NOT NULL,
            lat          DOUBLE NOT NULL,
            lon          DOUBLE NOT NULL,
            accuracy_m   REAL,
            h3_r6        UBIGINT NOT NULL,
            h3_r7        UBIGINT NOT NULL,
            h3_r8        UBIGINT NOT NULL,
            h3_r9        UBIGINT NOT NULL,
            h3_r10       UBIGINT NOT NULL,
            sig_cd       VARCHAR,               -- district (gu) code of the res-9 cell's centre; NULL outside Seoul
            network      VARCHAR NOT NULL,      -- host radio network: SKT, KT, LGU+
            brand        VARCHAR NOT NULL,      -- brand as sold (the carrier itself or an MVNO)
            mvno         BOOLEAN NOT NULL,
            tech         VARCHAR NOT NULL,      -- 5G, LTE, 3G, unknown
            kind         VARCHAR NOT NULL,      -- a failure kind, or 'ok' for a working-service sample
            device_model VARCHAR,
            reporter     UBIGINT NOT NULL,      -- keyed hash; never the code itself
            ip_hash      UBIGINT,               -- keyed hash of the client IP, when known
            source       VARCHAR NOT NULL,
            batch_id     UUID NOT NULL,
            status       VARCHAR NOT NULL DEFAULT 'ok',   -- ok | flagged
            flag_reason  VARCHAR,
            note         VARCHAR,               -- private: never published
            fingerprint  UBIGINT NOT NULL       -- hash of the report's content, for duplicates
        );
        CREATE TABLE demo_truth (
            network      VARCHAR NOT NULL,
            h3_r8        UBIGINT NOT NULL,
            failure_rate DOUBLE NOT NULL,       -- true P(failure) per attempt in the generator
            PRIMARY KEY (network, h3_r8)
        );
        """,
    ),
    (
        "0002_incidents",
        """
        CREATE TABLE incidents (
            incident_id      VARCHAR PRIMARY KEY,    -- e.g. 'KT-20211025-1116' (network, local onset)
            network          VARCHAR NOT NULL,       -- host network: SKT, KT, LGU+
            status           VARCHAR NOT NULL,       -- suspected | ongoing | recovering | resolved | withdrawn
            confirmed        BOOLEAN NOT NULL,       -- reached 'ongoing' at least once
            scope            VARCHAR NOT NULL,       -- city (서울 전역) | districts
            onset_at         TIMESTAMPTZ NOT NULL,   -- estimated start of the excess (first anomalous minute)
            detected_at      TIMESTAMPTZ NOT NULL,   -- end of the first window that crossed the threshold
            ended_at         TIMESTAMPTZ,            -- estimated end of the excess; NULL while it lasts
            resolved_at      TIMESTAMPTZ,            -- when the rate had stayed in the usual band long enough
            changed_at       TIMESTAMPTZ NOT NULL,   -- time of the last status change (data time)
            as_of            TIMESTAMPTZ NOT NULL,   -- end of the data the last scan saw
            peak_at          TIMESTAMPTZ,
            peak_ratio       DOUBLE,                 -- max over 15-minute windows of observed / usual
            peak_reporters   INTEGER,                -- reporters in that window
            recent_reporters INTEGER,                -- reporters in the 15 minutes before as_of
            recent_expected  DOUBLE,                 -- usual number for those 15 minutes
            reporters        INTEGER NOT NULL,       -- distinct reporters in the affected area
            reports          INTEGER NOT NULL,       -- failure reports in the affected area
            expected         DOUBLE,                 -- usual first reports over the same period and area
            synthetic        BOOLEAN NOT NULL,       -- raised by demo (source='demo') reports
            created_at       TIMESTAMPTZ NOT NULL,   -- wall clock
            updated_at       TIMESTAMPTZ NOT NULL    -- wall clock
        );
        CREATE TABLE incident_history (
            incident_id VARCHAR NOT NULL,
            seq         INTEGER NOT NULL,
            status      VARCHAR NOT NULL,
            happened_at TIMESTAMPTZ NOT NULL,
            note        VARCHAR,
            PRIMARY KEY (incident_id, seq)
        );
        CREATE TABLE incident_areas (
            incident_id VARCHAR NOT NULL,
            sig_cd      VARCHAR NOT NULL,            -- district code; only districts named publicly
            reporters   INTEGER NOT NULL,
            observed    INTEGER NOT NULL,            -- first reports (one per reporter per hour)
            expected    DOUBLE NOT NULL,
            PRIMARY KEY (incident_id, sig_cd)
        );
        CREATE TABLE outage_scan_state (
            name          VARCHAR PRIMARY KEY,
            scanned_until TIMESTAMPTZ,              -- data time the detector has covered
            received_until TIMESTAMPTZ,             -- received_at of the newest report seen
            updated_at    TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE webhook_deliveries (
            delivery_id     UUID PRIMARY KEY,
            incident_id     VARCHAR NOT NULL,
            event           VARCHAR NOT NULL,
            url             VARCHAR NOT NULL,
            body            VARCHAR NOT NULL,
            status          VARCHAR NOT NULL,        -- pending | delivered | failed
            attempts        INTEGER NOT NULL,
            next_attempt_at TIMESTAMPTZ NOT NULL,
            last_error      VARCHAR,
            created_at      TIMESTAMPTZ NOT NULL,
            delivered_at    TIMESTAMPTZ
        );
        """,
    ),
    ("0003_local_time_columns", _ADD_LOCAL_TIME),
    # A step of its own: DuckDB refuses a new constraint in the transaction that updated the rows.
    ("0003_local_time_columns_required", _REQUIRE_LOCAL_TIME),
    (
        # Every moderation action (store.moderation): who, when, what and why. Append-only, like reports.
        "0004_moderation_log",
        """
        CREATE TABLE moderation_log (
            action_id   UUID PRIMARY KEY,
            acted_at    TIMESTAMPTZ NOT NULL,
            operator    VARCHAR NOT NULL,       -- core.operator.token_id of the token used, never the token
            action      VARCHAR NOT NULL,       -- flag | restore | withdraw
            target      VARCHAR NOT NULL,       -- report | cluster | incident
            target_id   VARCHAR NOT NULL,       -- a report_id, a cluster key or an incident_id
            changed     INTEGER NOT NULL,       -- rows whose status changed
            report_ids  UUID[],                 -- the reports changed (flag, restore)
            reason      VARCHAR NOT NULL        -- the operator's words
        );
        """,
    ),
    # Independent sources (docs/SECURITY.md): the network prefix a report came from and the
    # source it counts as in every "k people" rule. Rows stored before count as their reporter.
    (
        "0005_codes_and_sources",
        """
        CREATE TABLE codes (
            code_hash    UBIGINT PRIMARY KEY,   -- keyed hash of the normalised code (= reports.reporter)
            issued_at    TIMESTAMPTZ NOT NULL,  -- when the site issued it, or first saw a code stored before
            prefix_hash  UBIGINT,               -- keyed hash of the /24 or /48 it was issued to; NULL: unknown
            kind         VARCHAR NOT NULL       -- issued | legacy (stored before codes were issued)
        );
        ALTER TABLE reports ADD COLUMN prefix_hash UBIGINT;   -- keyed hash of the client's /24 or /48
        ALTER TABLE reports ADD COLUMN source_id UBIGINT;     -- what the k rules count (ingest.sources)
        UPDATE reports SET source_id = reporter;
        """,
    ),
    ("0005_codes_and_sources_required", "ALTER TABLE reports ALTER COLUMN source_id SET NOT NULL;"),
    # The outage detector's kept history (outages.history): counts per hour, extended scan by scan
    # instead of counted again, and the marks that say from when on a change makes them stale.
    (
        "0006_outage_history",
        """
        CREATE TABLE outage_hours (
            hour          BIGINT NOT NULL,      -- hours since 1970-01-01 00:00 UTC
            network       VARCHAR NOT NULL,
            sig_cd        VARCHAR NOT NULL,
            first_reports INTEGER NOT NULL      -- first reports (outages.series), Seoul's districts only
        );
        CREATE TABLE outage_volume (
            hour    BIGINT NOT NULL,            -- hours since 1970-01-01 00:00 UTC
            reports INTEGER NOT NULL            -- every public report, failures and 'all good'
        );
        CREATE TABLE outage_history_state (
            name          VARCHAR PRIMARY KEY,
            kept_from     BIGINT NOT NULL,      -- the hours [kept_from, kept_until) are kept
            kept_until    BIGINT NOT NULL,
            dedup_minutes INTEGER NOT NULL,     -- the first-report rule they were counted with
            reports_seen  BIGINT NOT NULL,      -- rows of reports when they were last brought up to date
            updated_at    TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE outage_stale (
            since   TIMESTAMPTZ NOT NULL,       -- kept hours from this one on may have changed
            reports BIGINT NOT NULL             -- rows added to reports (0: a moderation change)
        );
        """,
    ),
    # Which reports a change touched, by time: a kept export of a closed period stays valid while
    # reports arrive after it (geo.aggregate.AggregateCache). NULL (rows written before): every period.
    (
        "0007_change_spans",
        """
        ALTER TABLE batches ADD COLUMN first_observed TIMESTAMPTZ;        -- earliest observed_at stored
        ALTER TABLE batches ADD COLUMN last_observed TIMESTAMPTZ;         -- latest observed_at stored
        ALTER TABLE moderation_log ADD COLUMN first_observed TIMESTAMPTZ; -- of the reports changed
        ALTER TABLE moderation_log ADD COLUMN last_observed TIMESTAMPTZ;
        """,
    ),
]


_MIGRATIONS_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")


def apply_migrations(con: duckdb.DuckDBPyConnection, *, shared: bool = False) -> list[str]:
    """Apply the migrations not yet recorded; returns the names applied now. ``shared``: the store is
    DuckLake (no key constraints; a new one gets the current schema at once)."""
    con.execute(portable(_MIGRATIONS_TABLE, shared))
    done = {row[0] for row in con.execute("SELECT name FROM schema_migrations").fetchall()}
    if shared and not done:
        return _create_current_schema(con)
    applied = []
    for name, sql in MIGRATIONS:
        if name not in done:
            _recorded(con, [portable(sql, shared)], [name], f"migration {name}")
            applied.append(name)
    return applied


def _recorded(con: duckdb.DuckDBPyConnection, statements: list[str], names: list[str], what: str) -> None:
    """``statements`` and the record of migrations ``names``, in one transaction: all of it, or none."""
    con.execute("BEGIN TRANSACTION")
    try:
        for sql in statements:
            con.execute(sql)
        con.execute("INSERT INTO schema_migrations (name) SELECT unnest(?::VARCHAR[])", [names])
        con.execute("COMMIT")
    except duckdb.Error as e:
        try:
            con.execute("ROLLBACK")
        except duckdb.TransactionException:  # a failed COMMIT has ended it already; saying so would hide why
            pass
        raise StoreError(f"{what} failed: {str(e).splitlines()[0]}") from e


def portable(sql: str, shared: bool) -> str:
    """``sql`` as a store of this kind takes it: without key constraints in a shared store. A column's key
    becomes NOT NULL, as the key implied; declare the columns of a table's key NOT NULL yourself."""
    if not shared:
        return sql
    sql = re.sub(r",\s*PRIMARY KEY\s*\([^)]*\)", "", sql)  # a table's key: ", PRIMARY KEY (a, b)"
    sql = re.sub(r"(\s+NOT NULL)?\s+PRIMARY KEY\b", " NOT NULL", sql)  # a column's
    return re.sub(r"\s+UNIQUE\b", "", sql)


def current_schema() -> list[str]:
    """CREATE TABLE statements of the schema after every migration, without key constraints (each key's
    columns NOT NULL, as the key made them): read from the columns of an in-memory database."""
    con = duckdb.connect(":memory:")
    try:
        apply_migrations(con)
        other = con.execute("SELECT (SELECT count(*) FROM duckdb_views() WHERE NOT internal)"
                            " + (SELECT count(*) FROM duckdb_sequences())"
                            " + (SELECT count(*) FROM duckdb_indexes())").fetchone()[0]
        if other:  # a migration made something a shared store would not get
            raise StoreError("the schema has views, sequences or indexes; teach current_schema to copy them")
        columns = con.execute("SELECT table_name, column_name, data_type, is_nullable, column_default"
                              " FROM duckdb_columns()"
                              " JOIN duckdb_tables() USING (database_name, schema_name, table_name)"
                              " WHERE database_name = current_database() AND schema_name = 'main'"
                              " AND table_name <> 'schema_migrations' ORDER BY table_name, column_index").fetchall()
    finally:
        con.close()
    tables: dict[str, list[str]] = {}
    for table, column, kind, nullable, default in columns:
        tables.setdefault(table, []).append(f'"{column}" {kind}' + ("" if nullable else " NOT NULL")
                                            + (f" DEFAULT {default}" if default is not None else ""))
    return [f"CREATE TABLE {table} ({', '.join(parts)})" for table, parts in tables.items()]


def _create_current_schema(con: duckdb.DuckDBPyConnection) -> list[str]:
    """A new shared store: every table as the migrations leave it, and every migration recorded."""
    names = [name for name, _ in MIGRATIONS]
    _recorded(con, [portable(sql, True) for sql in current_schema()], names, "creating the schema")
    return names
