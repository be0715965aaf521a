"""SQL for issued reporter codes (ingest.codes) and the age of a code (ingest.sources)."""

from __future__ import annotations

from datetime import datetime

from store.db import transaction


def record_code(cur, code_hash: int, issued_at: datetime, prefix_hash: int | None, kind: str = "issued") -> None:
    """Remember a code (its keyed hash only): issued now, or a code stored before codes were issued."""
    # Checked, then inserted, under the store's writer lock: a shared store has no key to ignore a second row by,
    # and a MERGE would write a data file for each code there (a small INSERT stays in the catalog).
    with transaction(cur, writes=True):
        cur.execute("INSERT INTO codes (code_hash, issued_at, prefix_hash, kind) SELECT ?, ?, ?, ?"
                    " WHERE NOT EXISTS (SELECT 1 FROM codes WHERE code_hash = ?)",
                    [code_hash, issued_at, prefix_hash, kind, code_hash])


def known_codes(cur, code_hashes: list[int]) -> set[int]:
    """The codes of ``code_hashes`` in the codes table."""
    if not code_hashes:
        return set()
    rows = cur.execute("SELECT code_hash FROM codes WHERE list_contains(?::UBIGINT[], code_hash)",
                       [[int(h) for h in code_hashes]]).fetchall()
    return {int(h) for (h,) in rows}


def first_stored_without_address(cur, reporter: int) -> datetime | None:
    """When ``reporter`` first had a report stored without a client address (before codes were issued,
    or loaded by the operator); None when it never had one.

    Demo rows do not count: the demo's codes are public (docs/DEMO.md names its personas, and the
    fixed seed remakes every one of its tens of thousands of codes), so a code the demo alone holds
    opens My reports but is not accepted for new reports."""
    return cur.execute("SELECT min(received_at) FROM reports WHERE reporter = ? AND prefix_hash IS NULL"
                       " AND source <> 'demo'", [int(reporter)]).fetchone()[0]


def codes_issued_before(cur, code_hashes: list[int], before: datetime) -> set[int]:
    """The codes of ``code_hashes`` issued (or first stored) at or before ``before``."""
    if not code_hashes:
        return set()
    rows = cur.execute("SELECT code_hash FROM codes WHERE list_contains(?::UBIGINT[], code_hash) AND issued_at <= ?",
                       [[int(h) for h in code_hashes], before]).fetchall()
    return {int(h) for (h,) in rows}
