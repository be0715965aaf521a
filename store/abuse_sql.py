"""SQL for the abuse checks (ingest.abuse): a reporter's stored reports near a time span."""

from __future__ import annotations

from datetime import datetime

_NEIGHBOURS = """
SELECT reporter, epoch_us(observed_at) AS micros, lat, lon, accuracy_m, network, kind, status
FROM reports
WHERE observed_at BETWEEN ? AND ?
  AND {reporter_in}
ORDER BY reporter, observed_at
"""
# A few reporters (a form, an API batch): testing each row against the short list plans far
# faster than a semi-join; thousands (an upload with many codes): the semi-join.
SHORT_LIST = 64


def stored_reports_near(cur, reporters: list[int], start: datetime, end: datetime) -> list[tuple]:
    """Stored reports of ``reporters`` observed between ``start`` and ``end`` (UTC), as
    (reporter, observed_at in epoch microseconds, lat, lon, accuracy_m, network, kind, status) tuples."""
    if not reporters:
        return []
    reporter_in = ("list_contains(?::UBIGINT[], reporter)" if len(reporters) <= SHORT_LIST
                   else "reporter IN (SELECT unnest(?::UBIGINT[]))")
    return cur.execute(_NEIGHBOURS.format(reporter_in=reporter_in), [start, end, [int(r) for r in reporters]]
                       ).fetchall()
