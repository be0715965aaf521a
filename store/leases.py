"""Leases in the PostgreSQL database of a shared store: one replica at a time does a named job.

A lease is one row of ``dropmap_leases`` (store.pg): who holds it and until when, in PostgreSQL's clock, so
replicas whose clocks differ still agree. Taking and renewing are one statement: the row is inserted, or
updated only when it has expired or already belongs to the asker, and PostgreSQL's lock on the conflicting
row makes two askers at the same moment come out with exactly one holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store.pg import connection


@dataclass(frozen=True)
class LeaseState:
    holder: str
    acquired_at: datetime
    expires_at: datetime
    now: datetime  # PostgreSQL's clock when read

    @property
    def is_live(self) -> bool:
        return self.expires_at > self.now


def take_lease(name: str, holder: str, seconds: float, *, location: str | None = None) -> bool:
    """Take or renew lease ``name`` for ``holder`` for ``seconds`` from now; False while another holds it."""
    with connection(location) as con:
        row = con.execute(
            "INSERT INTO dropmap_leases AS l (name, holder, acquired_at, expires_at)"
            " VALUES (%(name)s, %(holder)s, now(), now() + make_interval(secs => %(seconds)s))"
            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,"
            " acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE excluded.acquired_at END"
            " WHERE l.expires_at <= now() OR l.holder = excluded.holder"
            " RETURNING holder",
            {"name": name, "holder": holder, "seconds": float(seconds)},
        ).fetchone()
    return row is not None


def release_lease(name: str, holder: str, *, location: str | None = None) -> bool:
    """Give lease ``name`` up at once if ``holder`` holds it (a replica stopping), so another takes it at its
    next try instead of waiting for it to expire. Whether it was held."""
    with connection(location) as con:
        row = con.execute("UPDATE dropmap_leases SET expires_at = now() WHERE name = %s AND holder = %s"
                          " AND expires_at > now() RETURNING name", [name, holder]).fetchone()
    return row is not None


def lease_state(name: str, *, location: str | None = None) -> LeaseState | None:
    """Lease ``name`` as it stands (expired or not), or None if it was never taken."""
    with connection(location) as con:
        row = con.execute("SELECT holder, acquired_at, expires_at, now() FROM dropmap_leases WHERE name = %s",
                          [name]).fetchone()
    return LeaseState(*row) if row else None
