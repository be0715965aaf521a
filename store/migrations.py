"""Named, ordered schema migrations, recorded in ``schema_migrations``.

Append new migrations at the end with a new name; never edit one that has
shipped. Each runs in its own transaction.
"""

from __future__ import annotations

import duckdb

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
]


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations not yet recorded; returns the names applied now."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = {row[0] for row in con.execute("SELECT name FROM schema_migrations").fetchall()}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (name) VALUES (?)", [name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
